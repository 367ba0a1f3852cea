// The OTLP/HTTP JSON encoding (http/json) of the otlp exporter's payloads
// (otlp_model.h), per the OTLP specification's JSON mapping: lowerCamelCase
// field names, trace and span ids as hex strings, 64-bit integers as decimal
// strings, enums as integers, AnyValue wrappers ({"stringValue":...}).
//
// Pure functions, callable from any thread.
#pragma once

#include "exporters/otlp/otlp_model.h"

#include <boost/json/value.hpp>

#include <span>
#include <string>

namespace gw::exporters::otlp {

// JSON value -> OTLP AnyValue (objects become kvlistValue, integers
// intValue strings, integers past INT64_MAX doubleValue, null an empty
// AnyValue).
boost::json::value toAnyValue(const boost::json::value& v);

// Bodies of POST /v1/logs, /v1/traces and /v1/metrics, from a model
// (buildModel) or from a batch.
std::string logsJson(const LogsModel& logs);
std::string tracesJson(const TracesModel& traces);
std::string metricsJson(const MetricsModel& metrics);
std::string logsJson(std::span<const RecordPtr> batch, const Attributes& extra_resource);
std::string tracesJson(std::span<const RecordPtr> batch, const Attributes& extra_resource);
std::string metricsJson(std::span<const RecordPtr> batch, const Attributes& extra_resource);

}  // namespace gw::exporters::otlp
