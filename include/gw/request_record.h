// The raw facts of one proxied request, as the request path observed them.
//
// The request path fills a RequestRecord and hands it to the telemetry
// pipeline (TelemetrySink::submit) when the response is finished. Everything
// expensive -- JSON building, body capping, cost lookup, metrics -- happens
// later on the telemetry thread (see src/telemetry/record_builder.h), so that
// recording costs the request path only moves and one queue push.
//
// Secrets never enter a RequestRecord: no header other than the tracking
// headers is copied, and bodies are scrubbed of keys by the record builder.
#pragma once

#include "gw/provider.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <string_view>

namespace gw {

enum class RequestOutcome { kSuccess, kError, kCancelled };

// What went wrong on the gateway's side of a request: the closed set of the
// record's metadata.error_type (docs/records.md) and of the error_type label
// of ai_gateway_errors_total.
enum class ErrorType {
  kInvalidRequest,       // malformed request, unknown provider, a body the provider cannot express (400)
  kAuthentication,       // x-gateway-key or provider credentials (401)
  kRequestTooLarge,      // MAX_REQUEST_BODY_BYTES (413)
  kOverloaded,           // MAX_INFLIGHT_BODY_BYTES (503)
  kUpstreamUnreachable,  // DNS, connect, TLS, connection limit (502, 503)
  kUpstreamBroken,       // malformed answer or broken connection (502, or a final error event)
  kUpstreamTimeout,      // UPSTREAM_TIMEOUT_MS, UPSTREAM_CONNECT_TIMEOUT_MS (504)
  kUpstreamHttpError,    // the provider answered >= 400 (its status)
  kClientDisconnected,   // the client left before the response finished
  kInternal,             // a bug or resource exhaustion in the gateway (500)
};
inline constexpr std::size_t kErrorTypeCount = static_cast<std::size_t>(ErrorType::kInternal) + 1;

// The name records and metrics carry ("upstream_broken"...).
constexpr std::string_view toString(ErrorType type) {
  switch (type) {
    case ErrorType::kInvalidRequest: return "invalid_request";
    case ErrorType::kAuthentication: return "authentication";
    case ErrorType::kRequestTooLarge: return "request_too_large";
    case ErrorType::kOverloaded: return "overloaded";
    case ErrorType::kUpstreamUnreachable: return "upstream_unreachable";
    case ErrorType::kUpstreamBroken: return "upstream_broken";
    case ErrorType::kUpstreamTimeout: return "upstream_timeout";
    case ErrorType::kUpstreamHttpError: return "upstream_http_error";
    case ErrorType::kClientDisconnected: return "client_disconnected";
    case ErrorType::kInternal: return "internal";
  }
  return "internal";
}

struct RequestRecord {
  using SteadyTime = std::chrono::steady_clock::time_point;

  // Identity and tracking headers (docs/configuration.md).
  std::string id;  // x-request-id, or generated
  std::optional<std::string> thread_id, org_id, user_id, project_id, project_name, experiment_id;

  std::string provider;  // "" when routing failed before a provider was chosen
  // The provider's LiteLLM name (ProviderConfig::pricing_provider), under
  // which the cost is looked up; "" when no provider was chosen.
  std::string pricing_provider;
  std::string model;     // as sent upstream (prefix removed)
  std::string method;
  std::string path;

  // Bodies as the client sent / received them. For streams, response_body is
  // empty and observation.chunks holds what was sent.
  std::string request_body;
  std::string response_body;
  bool request_body_truncated = false;   // only the start was kept (request_size has the whole)
  bool response_body_truncated = false;  // capture stopped at the budget
  bool streamed = false;

  // Timings (monotonic). Unset optionals become null in the record.
  std::chrono::system_clock::time_point wall_start;
  SteadyTime received;
  std::optional<SteadyTime> first_byte_sent;
  std::optional<SteadyTime> upstream_sent;
  std::optional<SteadyTime> upstream_finished;
  SteadyTime finished;

  std::uint64_t request_size = 0;   // body bytes received from the client
  std::uint64_t response_size = 0;  // body bytes sent to the client

  RequestOutcome outcome = RequestOutcome::kSuccess;
  int status_code = 0;
  std::optional<int> provider_status_code;
  std::optional<ErrorType> error_type;  // gateway-side error
  std::optional<std::string> provider_request_id;
  // The upstream the request was sent to (UpstreamRequest::endpoint: the
  // provider's host and port, not a proxy's); "" and 0 when none was tried.
  std::string provider_address;
  std::uint16_t provider_port = 0;

  ResponseObservation observation;  // usage, stream chunks, provider errors

  // A routed request (docs/routing.md): the model of the route the client
  // asked for ("" when the request was not routed), and every attempt in
  // the order made; the last one answered the client.
  struct Attempt {
    std::string provider;
    std::string model;
    int status_code = 0;  // the upstream's status; 0 when none was read
    std::optional<ErrorType> error_type;
    double latency_s = 0;  // request sent (or connection asked for) to the attempt's end
  };
  std::string route;
  std::vector<Attempt> attempts;

  // A request made with a virtual key (docs/keys-and-budgets.md): the key's
  // id ("" otherwise; never the key). `usage_accounted`: the record's tokens
  // and cost are added to the key's, project's or user's counters (a key,
  // or a project or user budget, applied to the request).
  std::string virtual_key_id;
  bool usage_accounted = false;
};

}  // namespace gw
