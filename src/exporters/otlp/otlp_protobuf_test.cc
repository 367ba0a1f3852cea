#include "exporters/common/testing/test_records.h"
#include "exporters/otlp/fake_otlp_receiver.h"
#include "exporters/otlp/otlp_protobuf.h"
#include "exporters/otlp/otlp_serializer.h"

#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

namespace gw::exporters::otlp {
namespace {
using namespace gw::exporters::testing;
namespace json = boost::json;
namespace pb = opentelemetry::proto;

// A record from another deployment environment whose client body holds
// every JSON kind, including an integer past INT64_MAX.
RecordPtr otherEnvironmentRecord() {
  json::object tree(makeRecordWith([](RecordSpec& s) { s.id = "req-other-env"; })->json(), json::storage_ptr());
  tree["resource"].as_object()["deployment.environment"] = "staging";
  tree["attributes"].as_object()["request"] =
      json::parse(R"({"model":"gpt-4o","n":1,"seed":18446744073709551615,"t":0.5,"b":false,"x":null,)"
                  R"("list":[1,"two",[3],{"k":"v"}],"e":{},"unicode":"h\u00e9 \ud83d\ude00"})");
  return recordFromTree(tree);
}

// The batch of the JSON golden files (otlp_serializer_test.cc) plus records
// that exercise the remaining branches: another resource, a client body with
// every JSON kind (including an integer past INT64_MAX), a streamed request.
std::vector<RecordPtr> roundTripBatch() {
  return {makeRecordWith([](RecordSpec& s) {
            s.id = "6f1c2a4e-8b3d-4c5e-9f01-23456789abcd";
            s.stream = true;
          }),
          makeRecordWith([](RecordSpec& s) {
            s.id = "client-chosen-id";
            s.model = "gpt-4o";
            s.status = "error";
            s.status_code = 502;
            s.error_type = "upstream_http_error";
            s.latency_ms = 30;
            s.input_tokens = 5000;
            s.cost = std::nullopt;
          }),
          otherEnvironmentRecord()};
}

// The requests as the classes protoc generates from proto/ serialize them,
// built from the same model (otlp_model.h), the log body from the record's
// parsed tree: what the wire writer (otlp_wire.h) must reproduce byte for byte.
namespace reference {

std::string hexToBytes(const std::string& hex) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<char>((nibble(hex[2 * i]) << 4) | nibble(hex[2 * i + 1]));
  return out;
}

void toAnyValue(const json::value& v, pb::common::v1::AnyValue* out);

void toKeyValueList(const json::object& object, pb::common::v1::KeyValueList* out) {
  for (const auto& [k, item] : object) {
    auto* kv = out->add_values();
    kv->set_key(std::string(k));
    toAnyValue(item, kv->mutable_value());
  }
}

void toAnyValue(const json::value& v, pb::common::v1::AnyValue* out) {
  switch (v.kind()) {
    case json::kind::null: return;
    case json::kind::bool_: out->set_bool_value(v.get_bool()); return;
    case json::kind::int64: out->set_int_value(v.get_int64()); return;
    case json::kind::uint64: out->set_double_value(static_cast<double>(v.get_uint64())); return;
    case json::kind::double_: out->set_double_value(v.get_double()); return;
    case json::kind::string: out->set_string_value(std::string(v.get_string())); return;
    case json::kind::array: {
      auto* values = out->mutable_array_value();
      for (const auto& item : v.get_array()) toAnyValue(item, values->add_values());
      return;
    }
    case json::kind::object: toKeyValueList(v.get_object(), out->mutable_kvlist_value()); return;
  }
}

template <class Repeated>
void addAttributes(const KeyValues& attrs, Repeated* out) {
  for (const auto& a : attrs) {
    auto* kv = out->Add();
    kv->set_key(std::string(a.key));
    toAnyValue(a.value, kv->mutable_value());
  }
}

void setScope(pb::common::v1::InstrumentationScope* scope) {
  scope->set_name(kScopeName);
  scope->set_version(GW_VERSION);
}

std::string logs(std::span<const RecordPtr> batch, const Attributes& extra) {
  pb::collector::logs::v1::ExportLogsServiceRequest request;
  for (const auto& group : buildLogs(batch, extra)) {
    auto* resource_logs = request.add_resource_logs();
    addAttributes(group.resource, resource_logs->mutable_resource()->mutable_attributes());
    auto* scope_logs = resource_logs->add_scope_logs();
    setScope(scope_logs->mutable_scope());
    for (const auto& l : group.items) {
      auto* log = scope_logs->add_log_records();
      log->set_time_unix_nano(static_cast<std::uint64_t>(l.time_unix_nano));
      log->set_observed_time_unix_nano(static_cast<std::uint64_t>(l.time_unix_nano));
      log->set_severity_number(static_cast<pb::logs::v1::SeverityNumber>(l.severity_number));
      log->set_severity_text(l.severity_text);
      log->set_event_name(l.event_name);
      toKeyValueList(l.record->json(), log->mutable_body()->mutable_kvlist_value());
      addAttributes(l.attributes->values, log->mutable_attributes());
      log->set_trace_id(hexToBytes(l.trace_id));
      log->set_span_id(hexToBytes(l.span_id));
    }
  }
  return request.SerializeAsString();
}

std::string traces(std::span<const RecordPtr> batch, const Attributes& extra) {
  pb::collector::trace::v1::ExportTraceServiceRequest request;
  for (const auto& group : buildTraces(batch, extra)) {
    auto* resource_spans = request.add_resource_spans();
    addAttributes(group.resource, resource_spans->mutable_resource()->mutable_attributes());
    auto* scope_spans = resource_spans->add_scope_spans();
    setScope(scope_spans->mutable_scope());
    for (const auto& s : group.items) {
      auto* span = scope_spans->add_spans();
      span->set_trace_id(hexToBytes(s.trace_id));
      span->set_span_id(hexToBytes(s.span_id));
      span->set_name(s.name);
      span->set_kind(static_cast<pb::trace::v1::Span::SpanKind>(s.kind));
      span->set_start_time_unix_nano(static_cast<std::uint64_t>(s.start_time_unix_nano));
      span->set_end_time_unix_nano(static_cast<std::uint64_t>(s.end_time_unix_nano));
      addAttributes(s.attributes->values, span->mutable_attributes());
      for (const auto& e : s.events) {
        auto* event = span->add_events();
        event->set_time_unix_nano(static_cast<std::uint64_t>(e.time_unix_nano));
        event->set_name(e.name);
      }
      if (s.error) {
        span->mutable_status()->set_code(pb::trace::v1::Status::STATUS_CODE_ERROR);
        span->mutable_status()->set_message(s.status_message);
      }
    }
  }
  return request.SerializeAsString();
}

std::string metrics(std::span<const RecordPtr> batch, const Attributes& extra) {
  pb::collector::metrics::v1::ExportMetricsServiceRequest request;
  for (const auto& group : buildMetrics(batch, extra)) {
    auto* resource_metrics = request.add_resource_metrics();
    addAttributes(group.resource, resource_metrics->mutable_resource()->mutable_attributes());
    auto* scope_metrics = resource_metrics->add_scope_metrics();
    setScope(scope_metrics->mutable_scope());
    for (const auto& h : group.items) {
      auto* metric = scope_metrics->add_metrics();
      metric->set_name(h.name);
      metric->set_description(h.description);
      metric->set_unit(h.unit);
      auto* histogram = metric->mutable_histogram();
      histogram->set_aggregation_temporality(
          static_cast<pb::metrics::v1::AggregationTemporality>(HistogramData::kTemporality));
      for (const auto& p : h.points) {
        auto* point = histogram->add_data_points();
        addAttributes(p.attributes, point->mutable_attributes());
        point->set_start_time_unix_nano(static_cast<std::uint64_t>(p.start_time_unix_nano));
        point->set_time_unix_nano(static_cast<std::uint64_t>(p.time_unix_nano));
        point->set_count(p.count);
        point->set_sum(p.sum);
        for (auto b : p.bucket_counts) point->add_bucket_counts(b);
        for (auto b : h.bounds) point->add_explicit_bounds(b);
        point->set_min(p.min);
        point->set_max(p.max);
      }
    }
  }
  return request.SerializeAsString();
}

}  // namespace reference

struct Signal {
  const char* path;
  std::string (*json)(std::span<const RecordPtr>, const Attributes&);
  std::string (*protobuf)(std::span<const RecordPtr>, const Attributes&);
};
const Signal kSignals[] = {{"/v1/logs", &logsJson, &logsProtobuf},
                           {"/v1/traces", &tracesJson, &tracesProtobuf},
                           {"/v1/metrics", &metricsJson, &metricsProtobuf}};

// protobuf bytes -> parse (generated classes) -> protobuf's own JSON mapping
// -> the same document as the JSON encoder's, field for field.
TEST(OtlpProtobuf, RoundTripCarriesTheSameFieldsAsJson) {
  auto batch = roundTripBatch();
  const Attributes extra{{"host.name", "gw-1"}};
  for (const auto& signal : kSignals) {
    SCOPED_TRACE(signal.path);
    const std::string bytes = signal.protobuf(batch, extra);
    auto decoded = testing::protobufToOtlpJson(signal.path, bytes);
    ASSERT_TRUE(decoded) << decoded.error();
    auto from_protobuf = testing::canonicalOtlpJson(*decoded);
    auto from_json = testing::canonicalOtlpJson(json::parse(signal.json(batch, extra)));
    EXPECT_EQ(from_protobuf, from_json) << "protobuf: " << json::serialize(from_protobuf).substr(0, 3000)
                                        << "\njson:     " << json::serialize(from_json).substr(0, 3000);
  }
}

// A record whose body holds what the one-pass body encoding must map as the
// parsed tree is: every JSON kind, negative and large integers, escapes in
// keys and strings (long enough to be handed over in parts), non-ASCII
// text, empty keys, strings, objects and arrays, nulls in arrays, and
// members long enough for lengths of two and three bytes.
RecordPtr edgeCaseRecord() {
  json::object tree(makeRecordWith([](RecordSpec& s) { s.id = "req-edge"; })->json(), json::storage_ptr());
  json::object body;
  body["negative"] = -1;
  body["min"] = INT64_MIN;
  body["big"] = 18446744073709551615ull;
  body["pi"] = 3.14159;
  body["zero"] = 0.0;
  body["t"] = true;
  body["f"] = false;
  body["null"] = nullptr;
  body[""] = "empty key";
  body["empty"] = "";
  body["escaped"] = "quote \" backslash \\ newline \n tab \t nul " + std::string(1, '\0') + " end";
  body["unicode"] = "h\u00e9 \u4e2d \U0001F600";
  body["list"] = json::array{nullptr, 1, "two", json::array{}, json::object{}, json::array{json::array{3}}};
  body["object"] = json::object{};
  body["long"] = std::string(300, 'x');
  body["longer"] = std::string(20000, 'y');
  // Escaped keys and strings, and long ones that the parser hands over in parts.
  body["key \"quoted\"\n"] = "value";
  body["escaped long"] = std::string(9000, '"') + "\n" + std::string(9000, '\\');
  body[std::string(9000, '"')] = json::object{{std::string(5000, '\t'), std::string(5000, '\t')}};
  json::object nested;
  nested["deep"] = json::object{{"deeper", json::array{std::string(200, 'z'), json::object{{"k", std::string(150, 'w')}}}}};
  body["nested"] = std::move(nested);
  tree["attributes"].as_object()["request"] = std::move(body);
  return recordFromTree(tree);
}

TEST(OtlpProtobuf, WritesWhatTheGeneratedClassesSerializeByteForByte) {
  auto batch = roundTripBatch();
  batch.push_back(edgeCaseRecord());
  for (int i = 0; i < 30; ++i)  // a batch past 16 KB: lengths of three bytes at every level
    batch.push_back(makeRecordWith([i](RecordSpec& s) { s.id = "req-many-" + std::to_string(i); }));
  for (const Attributes& extra : {Attributes{}, Attributes{{"host.name", "gw-1"}, {"service.name", "ignored"}}}) {
    EXPECT_EQ(logsProtobuf(batch, extra), reference::logs(batch, extra));
    EXPECT_EQ(tracesProtobuf(batch, extra), reference::traces(batch, extra));
    EXPECT_EQ(metricsProtobuf(batch, extra), reference::metrics(batch, extra));
  }
  // One model for both signals, as the exporter encodes it: a request's
  // attributes are encoded for the first signal and copied for the other,
  // in either order.
  for (const bool traces_first : {true, false}) {
    const BatchModel model = buildModel(batch, {});
    std::string traces, logs;
    if (traces_first) traces = tracesProtobuf(model.traces);
    logs = logsProtobuf(model.logs);
    if (!traces_first) traces = tracesProtobuf(model.traces);
    EXPECT_EQ(logs, reference::logs(batch, {})) << traces_first;
    EXPECT_EQ(traces, reference::traces(batch, {})) << traces_first;
  }
  // One record at a time, too: lengths under 128 bytes stay one byte.
  for (const auto& r : batch) {
    std::span<const RecordPtr> one(&r, 1);
    EXPECT_EQ(logsProtobuf(one, {}), reference::logs(one, {}));
    EXPECT_EQ(tracesProtobuf(one, {}), reference::traces(one, {}));
    EXPECT_EQ(metricsProtobuf(one, {}), reference::metrics(one, {}));
  }
}

// A record whose text is not a JSON object (it cannot come from the record
// builder) gets an empty body, as its parsed tree is an empty object.
TEST(OtlpProtobuf, ABodyThatIsNoObjectIsAnEmptyKvlist) {
  const auto good = makeRecordWith([](RecordSpec& s) { s.id = "req-text"; });
  for (const std::string& text : {std::string("[1,2]"), std::string("\"text\""), good->serialized + " x",
                                 good->serialized.substr(0, good->serialized.size() / 2)}) {
    std::vector<RecordPtr> batch{std::make_shared<const TelemetryRecord>(good->id, text, good->fields)};
    EXPECT_EQ(logsProtobuf(batch, {}), reference::logs(batch, {})) << text.substr(0, 100);
    pb::collector::logs::v1::ExportLogsServiceRequest logs;
    ASSERT_TRUE(logs.ParseFromString(logsProtobuf(batch, {})));
    const auto& body = logs.resource_logs(0).scope_logs(0).log_records(0).body();
    EXPECT_TRUE(body.has_kvlist_value());
    EXPECT_EQ(body.kvlist_value().values_size(), 0);
  }
}

// The same JSON goldens as the JSON encoder's: the protobuf encoding of the
// golden batch, decoded, is the golden content.
TEST(OtlpProtobuf, DecodedGoldenBatchMatchesJsonGoldens) {
  const auto all = roundTripBatch();
  const std::vector<RecordPtr> batch(all.begin(), all.begin() + 2);
  struct Case {
    const char* path;
    std::string bytes;
    const char* golden;
  } cases[] = {{"/v1/logs", logsProtobuf(batch, {{"host.name", "gw-1"}}), "otlp/logs.json"},
               {"/v1/traces", tracesProtobuf(batch, {}), "otlp/traces.json"},
               {"/v1/metrics", metricsProtobuf(batch, {}), "otlp/metrics.json"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.golden);
    std::ifstream in(std::string(GW_TESTDATA_DIR) + "/exporters/" + c.golden);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(text.empty());
    // The goldens keep the version out; put it back.
    for (auto pos = text.find("GW_VERSION"); pos != std::string::npos; pos = text.find("GW_VERSION"))
      text.replace(pos, 10, GW_VERSION);
    auto decoded = testing::protobufToOtlpJson(c.path, c.bytes);
    ASSERT_TRUE(decoded) << decoded.error();
    EXPECT_EQ(testing::canonicalOtlpJson(*decoded), testing::canonicalOtlpJson(json::parse(text)));
  }
}

TEST(OtlpProtobuf, WireDetailsOfOneSpanAndLog) {
  auto batch = roundTripBatch();
  pb::collector::trace::v1::ExportTraceServiceRequest traces;
  ASSERT_TRUE(traces.ParseFromString(tracesProtobuf(batch, {})));
  ASSERT_EQ(traces.resource_spans_size(), 2);  // production and staging
  const auto& scope_spans = traces.resource_spans(0).scope_spans(0);
  EXPECT_EQ(scope_spans.scope().name(), "magicapi-gateway");
  EXPECT_EQ(scope_spans.scope().version(), GW_VERSION);
  ASSERT_EQ(scope_spans.spans_size(), 2);
  const auto& span = scope_spans.spans(0);
  // The UUID request id is the trace id, as raw bytes.
  EXPECT_EQ(span.trace_id(), std::string("\x6f\x1c\x2a\x4e\x8b\x3d\x4c\x5e\x9f\x01\x23\x45\x67\x89\xab\xcd", 16));
  EXPECT_EQ(span.span_id().size(), 8u);
  EXPECT_EQ(span.kind(), pb::trace::v1::Span::SPAN_KIND_CLIENT);
  EXPECT_FALSE(span.has_status());
  const auto& failed = scope_spans.spans(1);
  EXPECT_EQ(failed.status().code(), pb::trace::v1::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(failed.status().message(), "upstream_http_error");
  EXPECT_GT(failed.end_time_unix_nano(), failed.start_time_unix_nano());

  pb::collector::logs::v1::ExportLogsServiceRequest logs;
  ASSERT_TRUE(logs.ParseFromString(logsProtobuf(batch, {})));
  const auto& log = logs.resource_logs(0).scope_logs(0).log_records(1);
  EXPECT_EQ(log.severity_number(), pb::logs::v1::SEVERITY_NUMBER_ERROR);
  EXPECT_EQ(log.trace_id(), failed.trace_id());
  EXPECT_EQ(log.span_id(), failed.span_id());
  ASSERT_TRUE(log.body().has_kvlist_value());
  EXPECT_EQ(log.body().kvlist_value().values(0).key(), "timestamp");

  // The client body's integer past INT64_MAX is a double, as in JSON.
  const auto& other = logs.resource_logs(1).scope_logs(0).log_records(0);
  std::string seen = other.body().DebugString();
  EXPECT_NE(seen.find("double_value: 1.8446744073709552e+19"), std::string::npos) << seen.substr(0, 2000);

  pb::collector::metrics::v1::ExportMetricsServiceRequest metrics;
  ASSERT_TRUE(metrics.ParseFromString(metricsProtobuf(batch, {})));
  const auto& m = metrics.resource_metrics(0).scope_metrics(0).metrics(0);
  EXPECT_EQ(m.name(), "gen_ai.client.token.usage");
  ASSERT_TRUE(m.has_histogram());
  EXPECT_EQ(m.histogram().aggregation_temporality(), pb::metrics::v1::AGGREGATION_TEMPORALITY_DELTA);
  const auto& point = m.histogram().data_points(0);
  EXPECT_EQ(point.bucket_counts_size(), point.explicit_bounds_size() + 1);
  EXPECT_TRUE(point.has_sum());
  EXPECT_TRUE(point.has_min());
  EXPECT_TRUE(point.has_max());
}

TEST(OtlpProtobuf, EmptyAndUnexportableBatchesAreEmptyRequests) {
  std::vector<RecordPtr> batch{makeRecordWith([](RecordSpec& s) { s.timestamp = "bad"; })};
  EXPECT_EQ(logsProtobuf(batch, {}), "");  // an ExportLogsServiceRequest with no field set
  EXPECT_EQ(tracesProtobuf({}, {}), "");
  EXPECT_EQ(metricsProtobuf({}, {}), "");
}

TEST(OtlpProtobuf, PartialSuccessAndStatusMessages) {
  pb::collector::logs::v1::ExportLogsServiceResponse logs;
  logs.mutable_partial_success()->set_rejected_log_records(2);
  logs.mutable_partial_success()->set_error_message("2 records too large");
  EXPECT_EQ(protobufPartialSuccessMessage("logs", logs.SerializeAsString()), "2 records too large");
  pb::collector::metrics::v1::ExportMetricsServiceResponse metrics;
  metrics.mutable_partial_success()->set_rejected_data_points(1);
  metrics.mutable_partial_success()->set_error_message("bad point");
  EXPECT_EQ(protobufPartialSuccessMessage("metrics", metrics.SerializeAsString()), "bad point");
  pb::collector::trace::v1::ExportTraceServiceResponse traces;
  EXPECT_EQ(protobufPartialSuccessMessage("traces", traces.SerializeAsString()), std::nullopt);  // full success
  EXPECT_EQ(protobufPartialSuccessMessage("traces", "\xff\xff\xff"), std::nullopt);               // malformed
  EXPECT_EQ(protobufPartialSuccessMessage("other", logs.SerializeAsString()), std::nullopt);

  google::rpc::Status status;
  status.set_code(3);
  status.set_message("resource_spans[0]: invalid trace id");
  EXPECT_EQ(protobufStatusMessage(status.SerializeAsString()), "resource_spans[0]: invalid trace id");
  EXPECT_EQ(protobufStatusMessage("\x0a\x05" "ab"), std::nullopt);  // truncated
}

TEST(OtlpProtobuf, StrictDecoderRejectsWhatIsNotARequest) {
  // Garbage, a truncated request, and a message of the wrong type whose field
  // numbers do not fit (unknown fields).
  EXPECT_FALSE(testing::protobufToOtlpJson("/v1/logs", "\xff\xff\xff\xff"));
  auto bytes = logsProtobuf(makeRecords(1), {});
  EXPECT_FALSE(testing::protobufToOtlpJson("/v1/logs", bytes.substr(0, bytes.size() / 2)));
  pb::logs::v1::ResourceLogs resource_logs;
  resource_logs.mutable_resource();
  // ResourceLogs + field 16 (fixed32) = 1, a field ResourceLogs does not have.
  std::string inner = resource_logs.SerializeAsString() + std::string("\x85\x01\x01\x00\x00\x00", 6);
  const std::string wrong = std::string("\x0a") + static_cast<char>(inner.size()) + inner;
  auto decoded = testing::protobufToOtlpJson("/v1/logs", wrong);
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().find("unknown fields"), std::string::npos) << decoded.error();
  // Ids of the wrong length.
  pb::collector::trace::v1::ExportTraceServiceRequest traces;
  auto* s = traces.add_resource_spans()->add_scope_spans()->add_spans();
  s->set_trace_id("short");
  s->set_span_id("12345678");
  s->set_name("x");
  EXPECT_FALSE(testing::protobufToOtlpJson("/v1/traces", traces.SerializeAsString()));
}

}  // namespace
}  // namespace gw::exporters::otlp
