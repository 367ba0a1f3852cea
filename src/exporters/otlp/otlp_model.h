// What the otlp exporter sends, built once from a batch of request records
// and independent of the encoding: the JSON writer (otlp_serializer.h) and
// the protobuf writer (otlp_protobuf.h) both encode these structures, so the
// two encodings carry the same content by construction.
//
// - logs: one LogRecord per request (body = the whole record; the span's
//   attributes; trace/span ids of the request's span),
// - traces: one CLIENT span per request, "{gen_ai.operation.name}
//   {gen_ai.request.model}", from request received to response finished,
//   with an event at the first byte,
// - metrics: the GenAI client histograms with the semantic conventions'
//   bucket boundaries, as DELTA points covering the batch.
// The attributes follow the OpenTelemetry GenAI semantic conventions
// (otlp_genai.h; checked against their definitions by otlp_semconv_test.cc);
// a request that is no GenAI operation has none of the gen_ai.* ones.
//
// Records are grouped by resource in first-seen order, so each resource
// appears once per request. buildModel derives what the three signals share
// (a record's resource, attributes and ids) once per record; the exporter
// calls it once per batch. Pure functions, callable from any thread (a
// model's encoders, from one thread at a time: RequestAttributes).
#pragma once

#include "gw/exporter.h"

#include <boost/json/value.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gw::exporters::otlp {

// Extra resource attributes (OTEL_RESOURCE_ATTRIBUTES).
using Attributes = std::vector<std::pair<std::string, std::string>>;

// An attribute whose value is plain JSON: string, integer, double, bool,
// array, object (a key-value list) or null (the empty AnyValue). Its key is
// a literal, or the name of a resource attribute in the Attributes a model
// was built from: a model must not outlive those Attributes.
struct KeyValue {
  std::string_view key;
  boost::json::value value;
};
using KeyValues = std::vector<KeyValue>;

inline constexpr const char* kScopeName = "magicapi-gateway";

// A request's attributes, shared by its span and its log.
struct RequestAttributes {
  KeyValues values;
  // Their protobuf encoding, as the first protobuf encoder that wrote them
  // did (LogRecord.attributes or Span.attributes fields, otlp_protobuf.cc):
  // the other signal copies it and changes each field's tag. A model is
  // encoded from one thread at a time.
  mutable std::string protobuf;
};

struct LogRecordData {
  std::int64_t time_unix_nano = 0;  // response finished; also the observed time
  int severity_number = 0;          // SeverityNumber: 9 INFO, 17 ERROR
  std::string severity_text;
  std::string event_name;
  RecordPtr record;                                     // body: the whole record
  std::shared_ptr<const RequestAttributes> attributes;  // the same as its span's
  std::string trace_id;                         // 32 hex digits
  std::string span_id;                          // 16 hex digits
};

struct SpanEventData {
  std::int64_t time_unix_nano = 0;
  std::string name;
};

struct SpanData {
  std::string trace_id, span_id;  // hex
  std::string name;
  int kind = 3;  // SPAN_KIND_CLIENT, per the GenAI conventions
  std::int64_t start_time_unix_nano = 0, end_time_unix_nano = 0;
  std::shared_ptr<const RequestAttributes> attributes;  // the same as its log's
  std::vector<SpanEventData> events;
  bool error = false;  // status ERROR with status_message; else status unset
  std::string status_message;
};

struct HistogramPointData {
  KeyValues attributes;
  std::int64_t start_time_unix_nano = 0, time_unix_nano = 0;
  std::uint64_t count = 0;
  double sum = 0, min = 0, max = 0;
  std::vector<std::uint64_t> bucket_counts;  // bounds.size() + 1
};

struct HistogramData {
  std::string name, description, unit;
  std::span<const double> bounds;
  std::vector<HistogramPointData> points;  // ordered by attributes: deterministic
  static constexpr int kTemporality = 1;   // AGGREGATION_TEMPORALITY_DELTA
};

template <class Item>
struct ResourceGroup {
  KeyValues resource;
  std::vector<Item> items;
};

using LogsModel = std::vector<ResourceGroup<LogRecordData>>;
using TracesModel = std::vector<ResourceGroup<SpanData>>;
using MetricsModel = std::vector<ResourceGroup<HistogramData>>;  // only non-empty histograms

// The three signals of one batch. Records that are not exportable() are
// left out.
struct BatchModel {
  LogsModel logs;
  TracesModel traces;
  MetricsModel metrics;
};
// The model refers to the names in `extra_resource` and must not outlive it.
BatchModel buildModel(std::span<const RecordPtr> batch, const Attributes& extra_resource);

// One signal of buildModel's (the same bound on its lifetime).
LogsModel buildLogs(std::span<const RecordPtr> batch, const Attributes& extra_resource);
TracesModel buildTraces(std::span<const RecordPtr> batch, const Attributes& extra_resource);
MetricsModel buildMetrics(std::span<const RecordPtr> batch, const Attributes& extra_resource);

// 32 hex digits: the request id itself when it is a UUID, else the first 16
// bytes of its SHA-256. Stable, so every signal of a request correlates.
std::string traceIdFor(const std::string& request_id);
// 16 hex digits from SHA-256("span:" + id).
std::string spanIdFor(const std::string& request_id);

// True when a record can be expressed in OTLP (it has an id and a valid timestamp).
bool exportable(const TelemetryRecord& record);

inline constexpr double kTokenBuckets[] = {1,       4,       16,       64,       256,      1024,     4096,
                                           16384,   65536,   262144,   1048576,  4194304,  16777216, 67108864};
inline constexpr double kDurationBuckets[] = {0.01, 0.02, 0.04, 0.08,  0.16,  0.32,  0.64,
                                              1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};

}  // namespace gw::exporters::otlp
