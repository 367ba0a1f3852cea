// Typed view of the fields of a SPEC section 5 request record that the
// exporters index, tag or aggregate on. Shared by every exporter so that each
// reads the record the same way; the full record stays in TelemetryRecord.
//
// Pure functions, callable from any thread.
#pragma once

#include "gw/exporter.h"

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gw::exporters {

struct RecordFields {
  std::string id;
  std::string timestamp;                 // as in the record (RFC 3339)
  std::optional<std::int64_t> unix_nanos;  // parsed timestamp; nullopt when malformed
  std::string name;
  std::optional<std::string> service_name, service_version, environment;
  std::optional<std::string> provider, model, project_id, project_name, org_id, user_id, thread_id,
      experiment_id;
  std::optional<std::string> status, path, method, error_type, provider_error_type, provider_request_id;
  std::optional<std::string> response_model;  // attributes.response.model
  std::optional<std::int64_t> input_tokens, output_tokens, total_tokens;
  std::optional<std::int64_t> status_code, provider_status_code, request_size, response_size;
  std::optional<double> cost, latency_ms, ttfb_ms, provider_latency_ms;
  bool streamed = false;  // attributes.request.stream == true
};

RecordFields readFields(const TelemetryRecord& record);

// RFC 3339 ("2024-05-01T12:00:00.123Z", "...+02:00") to nanoseconds since the epoch.
std::optional<std::int64_t> parseRfc3339(std::string_view text);
// Nanoseconds since the epoch to "2024-05-01T12:00:00.123Z".
std::string formatRfc3339Millis(std::int64_t unix_nanos);

// OpenTelemetry GenAI semantic-convention values for a record:
// gen_ai.operation.name from the route ("chat", "text_completion",
// "embeddings", else "generate_content"), gen_ai.provider.name from the
// gateway's provider name ("aws.bedrock", "openai", "anthropic", "groq", ...).
std::string genAiOperationName(const std::optional<std::string>& path);
std::string genAiProviderName(const std::optional<std::string>& provider);

// Helpers for walking untrusted JSON without exceptions.
const boost::json::value* findPath(const boost::json::object& root, std::initializer_list<std::string_view> path);
std::optional<std::string> stringAt(const boost::json::object& root, std::initializer_list<std::string_view> path);
std::optional<std::int64_t> intAt(const boost::json::object& root, std::initializer_list<std::string_view> path);
std::optional<double> numberAt(const boost::json::object& root, std::initializer_list<std::string_view> path);

}  // namespace gw::exporters
