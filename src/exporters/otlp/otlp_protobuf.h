// The OTLP/HTTP protobuf encoding (http/protobuf, the OTLP default) of the
// otlp exporter's payloads (otlp_model.h): serialized
// ExportLogsServiceRequest / ExportTraceServiceRequest /
// ExportMetricsServiceRequest messages of the definitions in proto/ (the
// OTLP 1.x field numbers).
//
// The requests are written field by field into one string (otlp_wire.h),
// byte for byte what the classes protoc generates from proto/ serialize
// (otlp_protobuf_test.cc compares them), without building those messages:
// a log's body is encoded from the record's text in one pass, without its
// parsed tree. The generated classes read the receivers' answers and stay
// out of this header, so only otlp_protobuf.cc and the tests include
// protobuf headers. Pure functions, callable from any thread.
#pragma once

#include "exporters/otlp/otlp_model.h"

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace gw::exporters::otlp {

// Bodies of POST /v1/logs, /v1/traces and /v1/metrics, from a model
// (buildModel) or from a batch.
std::string logsProtobuf(const LogsModel& logs);
std::string tracesProtobuf(const TracesModel& traces);
std::string metricsProtobuf(const MetricsModel& metrics);
std::string logsProtobuf(std::span<const RecordPtr> batch, const Attributes& extra_resource);
std::string tracesProtobuf(std::span<const RecordPtr> batch, const Attributes& extra_resource);
std::string metricsProtobuf(std::span<const RecordPtr> batch, const Attributes& extra_resource);

// The partial-success error message of an Export*ServiceResponse body for
// `signal` ("logs", "traces", "metrics"); nullopt when the body does not
// parse or says nothing.
std::optional<std::string> protobufPartialSuccessMessage(std::string_view signal, std::string_view body);

// The message of a google.rpc.Status body (what an OTLP/HTTP receiver sends
// with a 4xx/5xx in the protobuf encoding); nullopt when it does not parse.
std::optional<std::string> protobufStatusMessage(std::string_view body);

}  // namespace gw::exporters::otlp
