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
#include <cstdint>
#include <optional>
#include <string>

namespace gw {

enum class RequestOutcome { kSuccess, kError, kCancelled };

struct RequestRecord {
  using SteadyTime = std::chrono::steady_clock::time_point;

  // Identity and tracking headers (SPEC section 3).
  std::string id;  // x-request-id, or generated
  std::optional<std::string> thread_id, org_id, user_id, project_id, project_name, experiment_id;

  std::string provider;  // "" when routing failed before a provider was chosen
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
  std::optional<std::string> error_type;  // gateway-side error, closed set (docs/records.md)
  std::optional<std::string> provider_request_id;

  ResponseObservation observation;  // usage, stream chunks, provider errors
};

}  // namespace gw
