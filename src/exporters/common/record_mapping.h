// What the HTTP exporters derive from a record's fields (gw::RecordFields,
// filled by the record builder: TelemetryRecord::fields), shared so that
// each exporter maps them the same way.
//
// Pure functions, callable from any thread.
#pragma once

#include "gw/exporter.h"
#include "telemetry/record_json.h"

#include <cstdint>
#include <optional>
#include <string>

namespace gw::exporters {

// Nanoseconds since the epoch to "2024-05-01T12:00:00.123Z".
std::string formatRfc3339Millis(std::int64_t unix_nanos);

// OpenTelemetry GenAI semantic-convention values for a record:
// gen_ai.operation.name from the route ("chat", "text_completion",
// "embeddings", else "generate_content"), gen_ai.provider.name from the
// gateway's provider name ("aws.bedrock", "openai", "anthropic", "groq", ...).
std::string genAiOperationName(const std::optional<std::string>& path);
std::string genAiProviderName(const std::optional<std::string>& provider);

}  // namespace gw::exporters
