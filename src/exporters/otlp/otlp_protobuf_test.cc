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
