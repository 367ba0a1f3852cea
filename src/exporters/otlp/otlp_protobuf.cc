#include "exporters/otlp/otlp_protobuf.h"

#include "common/json_sax_defaults.h"
#include "exporters/otlp/otlp_wire.h"
#include "telemetry/record_json.h"

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "google/rpc/status.pb.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value.hpp>

#include <functional>
#include <optional>
#include <vector>

namespace gw::exporters::otlp {
namespace json = boost::json;
namespace pb = opentelemetry::proto;
namespace {

using wire::Writer;

// Field numbers of the messages written here (proto/opentelemetry/proto/).
namespace f {
// ExportLogsServiceRequest.resource_logs, ExportTraceServiceRequest.resource_spans,
// ExportMetricsServiceRequest.resource_metrics
constexpr unsigned kResourceItems = 1;
// ResourceLogs/ResourceSpans/ResourceMetrics
constexpr unsigned kResource = 1, kScopeItems = 2;
// ScopeLogs/ScopeSpans/ScopeMetrics
constexpr unsigned kScope = 1, kItems = 2;
// Resource
constexpr unsigned kResourceAttributes = 1;
// InstrumentationScope
constexpr unsigned kInstrumentationName = 1, kInstrumentationVersion = 2;
// KeyValue
constexpr unsigned kKey = 1, kValue = 2;
// AnyValue (a oneof: every member is written when set)
constexpr unsigned kString = 1, kBool = 2, kInt = 3, kDouble = 4, kArray = 5, kKvlist = 6;
// ArrayValue.values, KeyValueList.values
constexpr unsigned kListValues = 1;
// LogRecord
constexpr unsigned kLogTime = 1, kLogSeverityNumber = 2, kLogSeverityText = 3, kLogBody = 5, kLogAttributes = 6,
                   kLogTraceId = 9, kLogSpanId = 10, kLogObservedTime = 11, kLogEventName = 12;
// Span, Span.Event, Status
constexpr unsigned kSpanTraceId = 1, kSpanSpanId = 2, kSpanName = 5, kSpanKind = 6, kSpanStart = 7, kSpanEnd = 8,
                   kSpanAttributes = 9, kSpanEvents = 11, kSpanStatus = 15;
constexpr unsigned kEventTime = 1, kEventName = 2;
constexpr unsigned kStatusMessage = 2, kStatusCode = 3;
constexpr unsigned kStatusCodeError = 2;  // STATUS_CODE_ERROR
// Metric, Histogram, HistogramDataPoint
constexpr unsigned kMetricName = 1, kMetricDescription = 2, kMetricUnit = 3, kMetricHistogram = 9;
constexpr unsigned kHistogramPoints = 1, kHistogramTemporality = 2;
constexpr unsigned kPointStart = 2, kPointTime = 3, kPointCount = 4, kPointSum = 5, kPointBuckets = 6,
                   kPointBounds = 7, kPointAttributes = 9, kPointMin = 11, kPointMax = 12;
}  // namespace f

// "0af7..." -> raw bytes, as an id field (a trace id: 16 bytes, a span
// id: 8) when set. The ids come from traceIdFor/spanIdFor: 32 or 16
// lower-case hex digits.
void idField(Writer& w, unsigned field, const std::string& hex) {
  char bytes[16];
  const std::size_t n = std::min(hex.size() / 2, sizeof bytes);
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>((nibble(hex[2 * i]) << 4) | nibble(hex[2 * i + 1]));
  w.bytesIfSet(field, std::string_view(bytes, n));
}

std::string_view view(const json::string& s) { return {s.data(), s.size()}; }

// An AnyValue holding a scalar (one field, none for null): its size is known
// before it is written, so the messages around it are written with their
// lengths.
struct Scalar {
  enum Kind { kNull, kString, kBool, kInt, kDouble } kind = kNull;
  std::string_view text;  // kString
  std::uint64_t bits = 0;  // kBool, kInt: the varint; kDouble: the IEEE bits
};

// Bytes of the AnyValue message of `s`.
std::size_t anyValueSize(const Scalar& s) {
  switch (s.kind) {
    case Scalar::kNull: return 0;
    case Scalar::kString: return wire::lengthFieldSize(f::kString, s.text.size());
    case Scalar::kBool: return 2;
    case Scalar::kInt: return 1 + wire::varintSize(s.bits);
    case Scalar::kDouble: return 9;
  }
  return 0;
}

// The AnyValue's fields, at `p` (room made for anyValueSize(s)).
void putAnyValueFields(char*& p, const Scalar& s) {
  switch (s.kind) {
    case Scalar::kNull: return;
    case Scalar::kString:
      Writer::putTag(p, f::kString, wire::kLength);
      Writer::putVarint(p, s.text.size());
      Writer::putBytes(p, s.text);
      return;
    case Scalar::kBool:
    case Scalar::kInt:
      Writer::putTag(p, s.kind == Scalar::kBool ? f::kBool : f::kInt, wire::kVarint);
      Writer::putVarint(p, s.bits);
      return;
    case Scalar::kDouble:
      Writer::putTag(p, f::kDouble, wire::kFixed64);
      Writer::putFixed64(p, s.bits);
      return;
  }
}

// A KeyValue (as `field`) whose value is a scalar: its size is known, so it
// is written in one run.
void scalarKeyValue(Writer& w, unsigned field, std::string_view key, const Scalar& s) {
  const std::size_t value = anyValueSize(s);
  const std::size_t key_bytes = key.empty() ? 0 : wire::lengthFieldSize(f::kKey, key.size());
  const std::size_t kv = key_bytes + wire::lengthFieldSize(f::kValue, value);
  char* p = w.at(wire::lengthFieldSize(field, kv));
  Writer::putTag(p, field, wire::kLength);
  Writer::putVarint(p, kv);
  if (!key.empty()) {
    Writer::putTag(p, f::kKey, wire::kLength);
    Writer::putVarint(p, key.size());
    Writer::putBytes(p, key);
  }
  Writer::putTag(p, f::kValue, wire::kLength);
  Writer::putVarint(p, value);
  putAnyValueFields(p, s);
  w.advanceTo(p);
}

// An AnyValue (as `field`) whose value is a scalar.
void scalarAnyValue(Writer& w, unsigned field, const Scalar& s) {
  const std::size_t value = anyValueSize(s);
  char* p = w.at(wire::lengthFieldSize(field, value));
  Writer::putTag(p, field, wire::kLength);
  Writer::putVarint(p, value);
  putAnyValueFields(p, s);
  w.advanceTo(p);
}

// The scalar of a parsed value; nullopt for an array or object. The mapping
// of the JSON encoding's toAnyValue (otlp_serializer.h): integers past
// INT64_MAX are doubles, null is the empty AnyValue.
std::optional<Scalar> scalarOf(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return Scalar{};
    case json::kind::bool_: return Scalar{Scalar::kBool, {}, v.get_bool() ? 1u : 0u};
    case json::kind::int64: return Scalar{Scalar::kInt, {}, static_cast<std::uint64_t>(v.get_int64())};
    case json::kind::uint64: return Scalar{Scalar::kDouble, {}, wire::bitsOf(static_cast<double>(v.get_uint64()))};
    case json::kind::double_: return Scalar{Scalar::kDouble, {}, wire::bitsOf(v.get_double())};
    case json::kind::string: return Scalar{Scalar::kString, view(v.get_string()), 0};
    case json::kind::array:
    case json::kind::object: return std::nullopt;
  }
  return std::nullopt;
}

void keyValue(Writer& w, unsigned field, std::string_view key, const json::value& v);

// The fields of the AnyValue of an array or object.
void compositeFields(Writer& w, const json::value& v) {
  if (const auto* array = v.if_array()) {
    const auto values = w.open(f::kArray);
    for (const auto& item : *array) {
      if (auto s = scalarOf(item)) {
        scalarAnyValue(w, f::kListValues, *s);
        continue;
      }
      const auto value = w.open(f::kListValues);
      compositeFields(w, item);
      w.close(value);
    }
    w.close(values);
    return;
  }
  const auto list = w.open(f::kKvlist);
  for (const auto& [k, item] : v.get_object()) keyValue(w, f::kListValues, {k.data(), k.size()}, item);
  w.close(list);
}

void keyValue(Writer& w, unsigned field, std::string_view key, const json::value& v) {
  if (auto s = scalarOf(v)) return scalarKeyValue(w, field, key, *s);
  const auto kv = w.open(field);
  w.bytesIfSet(f::kKey, key);
  const auto value = w.open(f::kValue);
  compositeFields(w, v);
  w.close(value);
  w.close(kv);
}

void attributes(Writer& w, unsigned field, const KeyValues& attrs) {
  for (const auto& a : attrs) keyValue(w, field, a.key, a.value);
}

// Sets the tag of each field in [p, end), length-delimited fields with
// one-byte tags, to `tag`.
void retag(char* p, const char* end, char tag) {
  while (p < end) {
    *p++ = tag;
    std::uint64_t length = 0;
    for (unsigned shift = 0;; shift += 7) {
      const auto byte = static_cast<unsigned char>(*p++);
      length |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
    p += length;
  }
}

// A request's attributes as repeated KeyValue fields numbered `field`
// (LogRecord.attributes or Span.attributes): encoded by the first signal
// that writes them, and copied by the other with each field's tag changed.
void requestAttributes(Writer& w, unsigned field, const RequestAttributes& attrs) {
  static_assert(wire::tagSize(f::kLogAttributes) == 1 && wire::tagSize(f::kSpanAttributes) == 1);
  const std::size_t start = w.size();
  if (attrs.protobuf.empty()) {
    attributes(w, field, attrs.values);
    attrs.protobuf.assign(w.bytesFrom(start), w.size() - start);
    return;
  }
  w.raw(attrs.protobuf);
  const char tag = static_cast<char>((field << 3) | wire::kLength);
  if (attrs.protobuf.front() != tag) retag(w.bytesFrom(start), w.bytesFrom(w.size()), tag);
}

// The resource, then the opening of the ScopeLogs/-Spans/-Metrics with its
// scope, that every ResourceLogs/-Spans/-Metrics starts with; returns what
// closes that ScopeLogs/-Spans/-Metrics once its items are written.
std::size_t openResourceAndScope(Writer& w, const KeyValues& resource) {
  const auto r = w.open(f::kResource);
  attributes(w, f::kResourceAttributes, resource);
  w.close(r);
  const auto scope_items = w.open(f::kScopeItems);
  const auto scope = w.open(f::kScope);
  w.bytesIfSet(f::kInstrumentationName, kScopeName);
  w.bytesIfSet(f::kInstrumentationVersion, GW_VERSION);
  w.close(scope);
  return scope_items;
}

// A record's text as the fields of a log body: the kvlist_value of its JSON
// object, each value mapped as keyValue maps a parsed one, in one pass over
// the text (no tree). The record builder writes objects without duplicate
// keys, so the pass sees what the parsed tree holds.
class BodyWriter : public JsonSaxDefaults {
 public:
  // `text` is the whole document, parsed in one call: what the parser hands
  // over as a view into it stays valid until the parse ends.
  BodyWriter(Writer& w, std::string_view text) : w_(w), text_(text) { frames_.reserve(16); }

  bool root_is_object = false;

  bool on_object_begin(boost::system::error_code&) {
    if (!started_) root_is_object = true;
    return openComposite(true);
  }
  bool on_object_end(std::size_t, boost::system::error_code&) { return closeComposite(); }
  bool on_array_begin(boost::system::error_code&) { return openComposite(false); }
  bool on_array_end(std::size_t, boost::system::error_code&) { return closeComposite(); }
  bool on_key_part(json::string_view s, std::size_t, boost::system::error_code&) {
    key_copy_.append(s.data(), s.size());
    return true;
  }
  // A key without escapes is a view into the text; any other is copied.
  bool on_key(json::string_view s, std::size_t, boost::system::error_code&) {
    const std::less_equal<const char*> before;  // a total order, also for pointers into other buffers
    const char* end = text_.data() + text_.size();
    if (key_copy_.empty() && before(text_.data(), s.data()) && before(s.data() + s.size(), end)) {
      key_ = {s.data(), s.size()};
    } else {
      key_ = key_copy_.append(s.data(), s.size());
    }
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, boost::system::error_code&) {
    part_.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t, boost::system::error_code&) {
    std::string_view text(s.data(), s.size());
    if (!part_.empty()) text = part_.append(text);
    scalar({Scalar::kString, text, 0});
    part_.clear();
    return true;
  }
  bool on_int64(std::int64_t v, json::string_view, boost::system::error_code&) {
    return scalar({Scalar::kInt, {}, static_cast<std::uint64_t>(v)});
  }
  bool on_uint64(std::uint64_t v, json::string_view, boost::system::error_code&) {
    return scalar({Scalar::kDouble, {}, wire::bitsOf(static_cast<double>(v))});
  }
  bool on_double(double v, json::string_view, boost::system::error_code&) {
    return scalar({Scalar::kDouble, {}, wire::bitsOf(v)});
  }
  bool on_bool(bool v, boost::system::error_code&) { return scalar({Scalar::kBool, {}, v ? 1u : 0u}); }
  bool on_null(boost::system::error_code&) { return scalar({}); }

 private:
  // An open object or array, and the AnyValue (and, in an object, the
  // KeyValue) that holds it in its parent.
  struct Frame {
    bool object;
    std::size_t list;    // the KeyValueList or ArrayValue
    std::size_t value;   // its AnyValue; 0 for the root
    std::size_t member;  // its KeyValue when the parent is an object, else 0
  };

  bool inObject() const { return !frames_.empty() && frames_.back().object; }

  bool scalar(const Scalar& s) {
    started_ = true;
    if (frames_.empty()) return true;  // a document that is no object: thrown away
    if (inObject()) {
      scalarKeyValue(w_, f::kListValues, key_, s);
      key_copy_.clear();
    } else {
      scalarAnyValue(w_, f::kListValues, s);
    }
    return true;
  }

  bool openComposite(bool object) {
    started_ = true;
    Frame frame{object, 0, 0, 0};
    if (!frames_.empty()) {
      if (inObject()) {
        frame.member = w_.open(f::kListValues);
        w_.bytesIfSet(f::kKey, key_);
        key_copy_.clear();
        frame.value = w_.open(f::kValue);
      } else {
        frame.value = w_.open(f::kListValues);
      }
    }
    frame.list = w_.open(object ? f::kKvlist : f::kArray);
    frames_.push_back(frame);
    return true;
  }

  bool closeComposite() {
    const Frame frame = frames_.back();
    frames_.pop_back();
    w_.close(frame.list);
    if (frame.value) w_.close(frame.value);
    if (frame.member) w_.close(frame.member);
    return true;
  }

  Writer& w_;
  std::vector<Frame> frames_;
  std::string_view text_;
  std::string_view key_;   // the key of the member whose value comes next
  std::string key_copy_;   // its text when it is not a view into text_
  std::string part_;       // a string value delivered in parts
  bool started_ = false;
};

// The fields of a log body (an AnyValue): the record's text as a kvlist, or
// an empty kvlist when the text is not a JSON object (as
// TelemetryRecord::json() reads it).
void logBodyFields(Writer& w, std::string_view text) {
  const std::size_t start = w.size();
  json::parse_options options;
  options.max_depth = kMaxRecordDepth;
  json::basic_parser<BodyWriter> parser(options, w, text);
  boost::system::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  bool ok = !ec && parser.handler().root_is_object;
  for (char c : text.substr(ok ? used : text.size()))
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') ok = false;
  if (ok) return;
  w.truncate(start);
  w.close(w.open(f::kKvlist));
}

void packedFixed64(Writer& w, unsigned field, std::span<const std::uint64_t> values) {
  if (values.empty()) return;
  w.tag(field, wire::kLength);
  w.varint(8 * values.size());
  for (auto v : values) w.fixed64(v);
}

void packedDouble(Writer& w, unsigned field, std::span<const double> values) {
  if (values.empty()) return;
  w.tag(field, wire::kLength);
  w.varint(8 * values.size());
  for (auto v : values) w.fixed64(wire::bitsOf(v));
}

// About what a span with the attributes of a chat completion takes: the
// traces request is reserved at once for its spans.
constexpr std::size_t kSpanBytes = 1024;

}  // namespace

std::string logsProtobuf(const LogsModel& logs) {
  std::string out;
  std::size_t text_bytes = 0, records = 0;
  for (const auto& group : logs)
    for (const auto& l : group.items) text_bytes += l.record->serialized.size(), ++records;
  out.reserve(text_bytes + text_bytes / 4 + 1024 * records);
  Writer w(out);
  for (const auto& group : logs) {
    const auto resource_logs = w.open(f::kResourceItems);
    const auto scope_logs = openResourceAndScope(w, group.resource);
    for (const auto& l : group.items) {
      const auto log = w.open(f::kItems);
      w.fixed64IfSet(f::kLogTime, static_cast<std::uint64_t>(l.time_unix_nano));
      w.varintIfSet(f::kLogSeverityNumber, static_cast<std::uint64_t>(l.severity_number));
      w.bytesIfSet(f::kLogSeverityText, l.severity_text);
      const auto body = w.open(f::kLogBody);
      logBodyFields(w, l.record->serialized);
      w.close(body);
      requestAttributes(w, f::kLogAttributes, *l.attributes);
      idField(w, f::kLogTraceId, l.trace_id);
      idField(w, f::kLogSpanId, l.span_id);
      w.fixed64IfSet(f::kLogObservedTime, static_cast<std::uint64_t>(l.time_unix_nano));
      w.bytesIfSet(f::kLogEventName, l.event_name);
      w.close(log);
    }
    w.close(scope_logs);
    w.close(resource_logs);
  }
  w.finish();
  return out;
}

std::string tracesProtobuf(const TracesModel& traces) {
  std::string out;
  std::size_t spans = 0;
  for (const auto& group : traces) spans += group.items.size();
  out.reserve(kSpanBytes * spans + 1024);  // taken at once by the writer's first growth
  Writer w(out);
  for (const auto& group : traces) {
    const auto resource_spans = w.open(f::kResourceItems);
    const auto scope_spans = openResourceAndScope(w, group.resource);
    for (const auto& s : group.items) {
      const auto span = w.open(f::kItems);
      idField(w, f::kSpanTraceId, s.trace_id);
      idField(w, f::kSpanSpanId, s.span_id);
      w.bytesIfSet(f::kSpanName, s.name);
      w.varintIfSet(f::kSpanKind, static_cast<std::uint64_t>(s.kind));
      w.fixed64IfSet(f::kSpanStart, static_cast<std::uint64_t>(s.start_time_unix_nano));
      w.fixed64IfSet(f::kSpanEnd, static_cast<std::uint64_t>(s.end_time_unix_nano));
      requestAttributes(w, f::kSpanAttributes, *s.attributes);
      for (const auto& e : s.events) {
        const auto event = w.open(f::kSpanEvents);
        w.fixed64IfSet(f::kEventTime, static_cast<std::uint64_t>(e.time_unix_nano));
        w.bytesIfSet(f::kEventName, e.name);
        w.close(event);
      }
      if (s.error) {
        const auto status = w.open(f::kSpanStatus);
        w.bytesIfSet(f::kStatusMessage, s.status_message);
        w.varintIfSet(f::kStatusCode, f::kStatusCodeError);
        w.close(status);
      }
      w.close(span);
    }
    w.close(scope_spans);
    w.close(resource_spans);
  }
  w.finish();
  return out;
}

std::string metricsProtobuf(const MetricsModel& metrics) {
  std::string out;
  Writer w(out);
  for (const auto& group : metrics) {
    const auto resource_metrics = w.open(f::kResourceItems);
    const auto scope_metrics = openResourceAndScope(w, group.resource);
    for (const auto& h : group.items) {
      const auto metric = w.open(f::kItems);
      w.bytesIfSet(f::kMetricName, h.name);
      w.bytesIfSet(f::kMetricDescription, h.description);
      w.bytesIfSet(f::kMetricUnit, h.unit);
      const auto histogram = w.open(f::kMetricHistogram);  // a oneof member: written when set
      for (const auto& p : h.points) {
        const auto point = w.open(f::kHistogramPoints);
        w.fixed64IfSet(f::kPointStart, static_cast<std::uint64_t>(p.start_time_unix_nano));
        w.fixed64IfSet(f::kPointTime, static_cast<std::uint64_t>(p.time_unix_nano));
        w.fixed64IfSet(f::kPointCount, p.count);
        w.doubleField(f::kPointSum, p.sum);  // optional, always set
        packedFixed64(w, f::kPointBuckets, p.bucket_counts);
        packedDouble(w, f::kPointBounds, h.bounds);
        attributes(w, f::kPointAttributes, p.attributes);
        w.doubleField(f::kPointMin, p.min);
        w.doubleField(f::kPointMax, p.max);
        w.close(point);
      }
      w.varintIfSet(f::kHistogramTemporality, HistogramData::kTemporality);
      w.close(histogram);
      w.close(metric);
    }
    w.close(scope_metrics);
    w.close(resource_metrics);
  }
  w.finish();
  return out;
}

std::string logsProtobuf(std::span<const RecordPtr> batch, const Attributes& extra) {
  return logsProtobuf(buildLogs(batch, extra));
}
std::string tracesProtobuf(std::span<const RecordPtr> batch, const Attributes& extra) {
  return tracesProtobuf(buildTraces(batch, extra));
}
std::string metricsProtobuf(std::span<const RecordPtr> batch, const Attributes& extra) {
  return metricsProtobuf(buildMetrics(batch, extra));
}

std::optional<std::string> protobufPartialSuccessMessage(std::string_view signal, std::string_view body) {
  auto message = [&](auto response) -> std::optional<std::string> {
    if (!response.ParseFromArray(body.data(), static_cast<int>(body.size()))) return std::nullopt;
    if (!response.has_partial_success() || response.partial_success().error_message().empty()) return std::nullopt;
    return response.partial_success().error_message();
  };
  if (signal == "logs") return message(pb::collector::logs::v1::ExportLogsServiceResponse{});
  if (signal == "traces") return message(pb::collector::trace::v1::ExportTraceServiceResponse{});
  if (signal == "metrics") return message(pb::collector::metrics::v1::ExportMetricsServiceResponse{});
  return std::nullopt;
}

std::optional<std::string> protobufStatusMessage(std::string_view body) {
  google::rpc::Status status;
  if (!status.ParseFromArray(body.data(), static_cast<int>(body.size()))) return std::nullopt;
  return status.message();
}

}  // namespace gw::exporters::otlp
