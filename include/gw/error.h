// Errors and results shared by every layer of the gateway.
//
// The request path does not throw: functions that can fail return
// gw::Result<T>. An Error carries what the client will be told (an HTTP status
// and the OpenAI error shape); its message must never contain a secret.
#pragma once

#include <boost/system/result.hpp>

#include <string>
#include <utility>

namespace gw {

struct Error {
  // A constructor (not an aggregate) so that Result<int>/Result<bool> never
  // mistake a value for an Error.
  Error() = default;
  Error(int status, std::string error_type, std::string error_code, std::string error_message)
      : http_status(status), type(std::move(error_type)), code(std::move(error_code)),
        message(std::move(error_message)) {}

  int http_status = 500;
  std::string type;     // OpenAI "error.type", e.g. "invalid_request_error"
  std::string code;     // OpenAI "error.code", e.g. "invalid_json"
  std::string message;  // human readable; never contains a secret
  int retry_after_seconds = 0;  // > 0: the response tells the client when to retry (Retry-After)

  static Error badRequest(std::string code, std::string message) {
    return {400, "invalid_request_error", std::move(code), std::move(message)};
  }
  static Error unauthorized(std::string code, std::string message) {
    return {401, "authentication_error", std::move(code), std::move(message)};
  }
  static Error tooLarge(std::string message) {
    return {413, "invalid_request_error", "request_too_large", std::move(message)};
  }
  static Error badGateway(std::string code, std::string message) {
    return {502, "upstream_error", std::move(code), std::move(message)};
  }
  static Error gatewayTimeout(std::string message) {
    return {504, "upstream_error", "upstream_timeout", std::move(message)};
  }
  // The gateway cannot take the request now (MAX_INFLIGHT_BODY_BYTES).
  static Error overloaded(std::string message, int retry_after_seconds) {
    Error e{503, "server_error", "overloaded", std::move(message)};
    e.retry_after_seconds = retry_after_seconds;
    return e;
  }
  static Error internal(std::string message) {
    return {500, "server_error", "internal_error", std::move(message)};
  }
};

template <class T>
using Result = boost::system::result<T, Error>;
using Status = Result<void>;

inline Status ok() { return {}; }

}  // namespace gw
