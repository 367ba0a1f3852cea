// The facts of one request record that exporters index, tag or aggregate
// on, typed. Filled once by whoever makes the record (the record builder,
// or gw::fieldsFromJson for a record read back from the spool) so that no
// exporter walks the record's JSON to find them and every exporter reads
// them the same way. Each field is what the record's JSON holds at the path
// in its comment (docs/records.md), nullopt where that is null or absent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gw {

struct RecordFields {
  std::string id;                          // attributes.id
  std::string timestamp;                   // timestamp, as in the record (RFC 3339)
  std::optional<std::int64_t> unix_nanos;  // the timestamp parsed; nullopt when malformed
  std::string name;                        // name
  std::optional<std::string> service_name, service_version, environment;  // resource.*
  std::optional<std::string> provider, model, project_id, project_name, org_id, user_id, thread_id,
      experiment_id;  // attributes.* (project_name: attributes.metadata.project_name)
  std::optional<std::string> status, path, method, error_type, provider_error_type,
      provider_request_id, route;             // attributes.metadata.*
  std::optional<std::string> response_model;  // attributes.response.model
  std::optional<std::string> response_id;     // attributes.response.id
  // Why the model stopped, per generation, from attributes.response: each
  // choice's finish_reason (Chat Completions), the stop_reason (Messages
  // API), or incomplete_details.reason else status (Responses API). Empty
  // when the response gives none.
  std::vector<std::string> finish_reasons;
  // attributes.metadata.cost_status
  std::optional<std::string> cost_status;
  // The upstream the request was sent to (its base URL's host and port; a
  // routed request's last attempt), for OTLP's server.address/server.port.
  // Not a record member: set only for a record built in this process, not
  // one read back from the spool.
  std::optional<std::string> provider_address;
  std::optional<std::int64_t> provider_port;
  std::optional<std::int64_t> input_tokens, output_tokens, total_tokens;  // attributes.metadata.tokens.*
  // attributes.metadata.tokens.{cached_input,cache_creation,reasoning}: parts
  // of input (cache reads, cache writes) and of output (reasoning).
  std::optional<std::int64_t> cached_input_tokens, cache_creation_tokens, reasoning_tokens;
  std::optional<std::int64_t> status_code, provider_status_code, request_size, response_size;
  std::optional<double> cost, latency_ms, ttfb_ms, provider_latency_ms;  // attributes.metadata.*
  bool streamed = false;  // attributes.request.stream == true

  bool operator==(const RecordFields&) const = default;
};

}  // namespace gw
