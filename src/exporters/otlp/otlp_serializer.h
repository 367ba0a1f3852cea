// Pure functions from request records to OTLP/HTTP JSON payloads, per the
// OTLP specification's JSON mapping: lowerCamelCase field names, trace and
// span ids as hex strings, 64-bit integers as decimal strings, enums as
// integers, AnyValue wrappers ({"stringValue":...}).
//
// - logs: one LogRecord per request (body = the whole record as an AnyValue
//   kvlist; gen_ai.* attributes; trace/span ids of the request's span),
// - traces: one CLIENT span per request, "{operation} {model}", from request
//   received to response finished, with an event at the first byte,
// - metrics: the GenAI client histograms with the semantic conventions'
//   bucket boundaries, as DELTA points covering the batch.
#pragma once

#include "gw/exporter.h"

#include <boost/json/value.hpp>

#include <span>
#include <string>
#include <utility>
#include <vector>

namespace gw::exporters::otlp {

using Attributes = std::vector<std::pair<std::string, std::string>>;

// 32 hex digits: the request id itself when it is a UUID, else the first 16
// bytes of its SHA-256. Stable, so every signal of a request correlates.
std::string traceIdFor(const std::string& request_id);
// 16 hex digits from SHA-256("span:" + id).
std::string spanIdFor(const std::string& request_id);

// JSON value -> OTLP AnyValue (objects become kvlistValue, integers
// intValue strings, null an empty AnyValue).
boost::json::value toAnyValue(const boost::json::value& v);

// True when a record can be expressed in OTLP (it has an id and a valid timestamp).
bool exportable(const TelemetryRecord& record);

std::string logsJson(std::span<const RecordPtr> batch, const Attributes& extra_resource);
std::string tracesJson(std::span<const RecordPtr> batch, const Attributes& extra_resource);
std::string metricsJson(std::span<const RecordPtr> batch, const Attributes& extra_resource);

inline constexpr double kTokenBuckets[] = {1,       4,       16,       64,       256,      1024,     4096,
                                           16384,   65536,   262144,   1048576,  4194304,  16777216, 67108864};
inline constexpr double kDurationBuckets[] = {0.01, 0.02, 0.04, 0.08,  0.16,  0.32,  0.64,
                                              1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};

}  // namespace gw::exporters::otlp
