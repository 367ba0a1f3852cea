#include "exporters/common/testing/test_records.h"
#include "exporters/otlp/fake_otlp_receiver.h"
#include "exporters/otlp/otlp_exporter.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace gw::exporters::otlp {
namespace {
using namespace gw::exporters::testing;
using Kind = ExportResult::Kind;
namespace json = boost::json;

Options optionsFor(const std::string& base, Protocol protocol = Protocol::kHttpProtobuf) {
  Options o;
  o.protocol = protocol;
  o.logs_url = base + "/v1/logs";
  o.metrics_url = base + "/v1/metrics";
  o.traces_url = base + "/v1/traces";
  // Generous: these tests are about what is sent, not about speed, and a
  // sanitizer build on a loaded machine is slow.
  o.timeout = std::chrono::milliseconds(30000);
  return o;
}

// Every behaviour holds in both encodings.
class OtlpExporterTest : public ::testing::TestWithParam<Protocol> {};

std::string contentTypeOf(Protocol p) {
  return p == Protocol::kHttpProtobuf ? "application/x-protobuf" : "application/json";
}

std::string attr(const json::object& item, const std::string& key) {
  for (const auto& kv : item.at("attributes").as_array())
    if (kv.at("key").as_string() == key) return json::serialize(kv.at("value"));
  return "";
}

// The requests the receiver's duration histograms counted.
std::uint64_t durationCount(const testing::FakeOtlpReceiver& receiver) {
  std::uint64_t n = 0;
  for (const auto& m : receiver.metrics())
    if (m.at("name").as_string() == "gen_ai.client.operation.duration")
      for (const auto& p : m.at("histogram").at("dataPoints").as_array())
        n += std::stoull(std::string(p.at("count").as_string()));
  return n;
}

TEST_P(OtlpExporterTest, DeliversOneSpanOneLogAndMetricsPerRequest) {
  testing::FakeOtlpReceiver receiver;
  receiver.server().start();
  auto o = optionsFor(receiver.url(), GetParam());
  o.headers = {{"x-api-key", "k1"}};
  o.gzip = true;
  OtlpExporter exporter(o);
  auto batch = makeRecords(6);
  auto r = exporter.exportBatch(batch);
  ASSERT_EQ(r.kind, Kind::kSuccess) << r.message;
  EXPECT_TRUE(receiver.violations().empty()) << receiver.violations().front();
  auto spans = receiver.spans();
  auto logs = receiver.logRecords();
  ASSERT_EQ(spans.size(), 6u);
  ASSERT_EQ(logs.size(), 6u);
  EXPECT_EQ(spans[2].at("name").as_string(), "chat gpt-4o-mini");
  EXPECT_EQ(attr(spans[2], "gen_ai.usage.input_tokens"), R"({"intValue":"12"})");
  EXPECT_EQ(attr(spans[2], "gen_ai.provider.name"), R"({"stringValue":"openai"})");
  EXPECT_EQ(logs[2].at("traceId"), spans[2].at("traceId"));
  std::uint64_t token_count = 0;
  for (const auto& m : receiver.metrics())
    if (m.at("name").as_string() == "gen_ai.client.token.usage")
      for (const auto& p : m.at("histogram").at("dataPoints").as_array())
        token_count += std::stoull(std::string(p.at("count").as_string()));
  EXPECT_EQ(token_count, 12u);  // input + output per request
  for (const auto& req : receiver.server().requests()) {
    EXPECT_TRUE(req.gzipped);
    EXPECT_EQ(req.header("x-api-key").value_or(""), "k1");
    EXPECT_EQ(req.header("content-type").value_or(""), contentTypeOf(GetParam()));
  }
  EXPECT_EQ(receiver.encodings(), std::vector<std::string>(3, contentTypeOf(GetParam())));
}

TEST_P(OtlpExporterTest, DownAtStartIsRetryable) {
  OtlpExporter exporter(optionsFor("http://127.0.0.1:" + std::to_string(unusedPort()), GetParam()));
  EXPECT_EQ(exporter.exportBatch(makeRecords(1)).kind, Kind::kRetryable);
}

TEST_P(OtlpExporterTest, FailedSignalIsRetriedWithoutResendingTheOthers) {
  testing::FakeOtlpReceiver receiver;
  receiver.server().start();
  OtlpExporter exporter(optionsFor(receiver.url(), GetParam()));
  receiver.failNext("/v1/metrics", 1, 503);
  auto batch = makeRecords(3);
  EXPECT_EQ(exporter.exportBatch(batch).kind, Kind::kRetryable);
  EXPECT_EQ(exporter.exportBatch(batch).kind, Kind::kSuccess);
  EXPECT_EQ(receiver.spans().size(), 3u);       // not 6
  EXPECT_EQ(receiver.logRecords().size(), 3u);  // not 6
  EXPECT_EQ(durationCount(receiver), 3u);
}

// A retried batch that gained records (the pipeline's next batch after a
// failure can hold more): the signal that went through sends only the new
// ones, the others the whole batch.
TEST_P(OtlpExporterTest, ARetriedBatchWithNewRecordsSendsEachRecordOncePerSignal) {
  testing::FakeOtlpReceiver receiver;
  receiver.server().start();
  OtlpExporter exporter(optionsFor(receiver.url(), GetParam()));
  receiver.failNext("/v1/logs", 1, 503);
  auto batch = makeRecords(3);
  EXPECT_EQ(exporter.exportBatch(batch).kind, Kind::kRetryable);
  EXPECT_EQ(receiver.spans().size(), 3u);
  EXPECT_EQ(receiver.logRecords().size(), 0u);
  auto more = makeRecords(5);  // ids 0..4: the first three are the batch's
  EXPECT_EQ(exporter.exportBatch(more).kind, Kind::kSuccess);
  std::vector<std::string> span_ids, log_ids;
  for (const auto& s : receiver.spans()) span_ids.push_back(attr(s, "ai_gateway.request.id"));
  for (const auto& l : receiver.logRecords()) log_ids.push_back(attr(l, "ai_gateway.request.id"));
  std::sort(span_ids.begin(), span_ids.end());
  std::sort(log_ids.begin(), log_ids.end());
  std::vector<std::string> all;
  for (const auto& r : more) all.push_back(json::serialize(json::object{{"stringValue", r->id}}));
  std::sort(all.begin(), all.end());
  EXPECT_EQ(span_ids, all) << "each span once";
  EXPECT_EQ(log_ids, all) << "each log once";
  EXPECT_EQ(durationCount(receiver), 5u);
}

TEST_P(OtlpExporterTest, Http429WithRetryAfter) {
  testing::FakeOtlpReceiver receiver;
  receiver.server().start();
  OtlpExporter exporter(optionsFor(receiver.url(), GetParam()));
  receiver.failNext("/v1/traces", 1, 429, "5");
  auto r = exporter.exportBatch(makeRecords(1));
  EXPECT_EQ(r.kind, Kind::kRetryable);
  ASSERT_TRUE(r.retry_after);
  EXPECT_EQ(r.retry_after->count(), 5000);
}

TEST_P(OtlpExporterTest, Http400IsPermanent) {
  testing::FakeOtlpReceiver receiver;
  receiver.server().start();
  OtlpExporter exporter(optionsFor(receiver.url(), GetParam()));
  receiver.failNext("/v1/logs", 1, 400);
  EXPECT_EQ(exporter.exportBatch(makeRecords(1)).kind, Kind::kPermanent);
}

TEST_P(OtlpExporterTest, OneBadRecordRejectedOthersDelivered) {
  testing::FakeOtlpReceiver receiver;
  receiver.server().start();
  OtlpExporter exporter(optionsFor(receiver.url(), GetParam()));
  auto batch = makeRecords(3);
  batch[1] = makeRecordWith([](RecordSpec& s) {
    s.id = "bad";
    s.timestamp = "13/13/2024";
  });
  auto r = exporter.exportBatch(batch);
  EXPECT_EQ(r.kind, Kind::kPermanent);
  EXPECT_EQ(r.rejected_indexes, (std::vector<std::size_t>{1}));
  EXPECT_EQ(receiver.spans().size(), 2u);
}

TEST_P(OtlpExporterTest, ResourceAttributesFromRecordAndEnvironment) {
  testing::FakeOtlpReceiver receiver;
  receiver.server().start();
  auto o = optionsFor(receiver.url(), GetParam());
  o.resource_attributes = {{"host.name", "gw-1"}, {"service.name", "ignored"}};
  OtlpExporter exporter(o);
  ASSERT_EQ(exporter.exportBatch(makeRecords(1)).kind, Kind::kSuccess);
  auto resources = receiver.resources();
  ASSERT_FALSE(resources.empty());
  auto s = json::serialize(resources[0]);
  EXPECT_NE(s.find(R"({"key":"service.name","value":{"stringValue":"noveum_ai_gateway"}})"), std::string::npos) << s;
  EXPECT_NE(s.find(R"({"key":"host.name","value":{"stringValue":"gw-1"}})"), std::string::npos) << s;
  EXPECT_EQ(s.find("ignored"), std::string::npos);
}

TEST_P(OtlpExporterTest, ErrorStatusMessageIsReadable) {
  testing::FakeOtlpReceiver receiver;
  receiver.server().start();
  OtlpExporter exporter(optionsFor(receiver.url(), GetParam()));
  receiver.failNext("/v1/traces", 1, 503);
  auto r = exporter.exportBatch(makeRecords(1));
  EXPECT_EQ(r.kind, Kind::kRetryable);
  // The google.rpc.Status message, whatever the encoding: no binary bytes.
  EXPECT_NE(r.message.find("HTTP 503: "), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("unavailable"), std::string::npos) << r.message;
  for (unsigned char c : r.message) EXPECT_GE(c, 0x20) << r.message;
}

std::string encodingName(const ::testing::TestParamInfo<Protocol>& p) {
  return p.param == Protocol::kHttpProtobuf ? "protobuf" : "json";
}
INSTANTIATE_TEST_SUITE_P(Encodings, OtlpExporterTest, ::testing::Values(Protocol::kHttpProtobuf, Protocol::kHttpJson),
                         encodingName);

// One batch through each encoding: the receiver decodes both to the same content.
TEST(OtlpExporterEncodings, ProtobufAndJsonDeliverTheSameContent) {
  testing::FakeOtlpReceiver as_protobuf, as_json;
  as_protobuf.server().start();
  as_json.server().start();
  auto batch = makeRecords(5);
  batch.push_back(makeRecordWith([](RecordSpec& s) {
    s.id = "failed-stream";
    s.stream = true;
    s.status = "error";
    s.status_code = 500;
    s.error_type = "upstream_error";
  }));
  auto o = optionsFor(as_protobuf.url(), Protocol::kHttpProtobuf);
  o.resource_attributes = {{"host.name", "gw-1"}};
  OtlpExporter protobuf_exporter(o);
  o = optionsFor(as_json.url(), Protocol::kHttpJson);
  o.resource_attributes = {{"host.name", "gw-1"}};
  OtlpExporter json_exporter(o);
  ASSERT_EQ(protobuf_exporter.exportBatch(batch).kind, Kind::kSuccess);
  ASSERT_EQ(json_exporter.exportBatch(batch).kind, Kind::kSuccess);
  EXPECT_TRUE(as_protobuf.violations().empty());
  EXPECT_TRUE(as_json.violations().empty());
  auto canonical = [](const std::vector<json::object>& items) {
    json::array out;
    for (const auto& i : items) out.push_back(testing::canonicalOtlpJson(i));
    return out;
  };
  ASSERT_EQ(as_protobuf.spans().size(), 6u);
  EXPECT_EQ(canonical(as_protobuf.spans()), canonical(as_json.spans()));
  EXPECT_EQ(canonical(as_protobuf.logRecords()), canonical(as_json.logRecords()));
  EXPECT_EQ(canonical(as_protobuf.metrics()), canonical(as_json.metrics()));
  EXPECT_EQ(canonical(as_protobuf.resources()), canonical(as_json.resources()));
}

}  // namespace
}  // namespace gw::exporters::otlp
