#include "common/anthropic_error.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace gw {

std::string_view anthropicErrorType(int http_status) {
  switch (http_status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503:
    case 529: return "overloaded_error";
    case 504: return "timeout_error";
    default: break;
  }
  return http_status >= 400 && http_status < 500 ? "invalid_request_error" : "api_error";
}

std::string anthropicErrorBody(const Error& error) {
  boost::json::object inner;
  inner["type"] = anthropicErrorType(error.http_status);
  inner["message"] = error.message;
  boost::json::object outer;
  outer["type"] = "error";
  outer["error"] = std::move(inner);
  return boost::json::serialize(outer);
}

std::string anthropicErrorEvent(const Error& error) {
  return "event: error\ndata: " + anthropicErrorBody(error) + "\n\n";
}

}  // namespace gw
