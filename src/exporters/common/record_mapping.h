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

}  // namespace gw::exporters
