#include "exporters/common/testing/test_records.h"
#include "exporters/otlp/otlp_model.h"
#include "exporters/otlp/otlp_serializer.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <map>
#include <thread>

namespace gw::exporters::otlp {
namespace {
using namespace gw::exporters::testing;
namespace json = boost::json;

std::vector<RecordPtr> goldenBatch() {
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
          })};
}

// The scope carries the gateway's version: keep the golden files version-free.
std::string pretty(std::string compact) {
  const std::string scope = std::string(R"("version":")") + GW_VERSION + "\"";
  for (auto pos = compact.find(scope); pos != std::string::npos; pos = compact.find(scope))
    compact.replace(pos, scope.size(), R"("version":"GW_VERSION")");
  return compact + "\n";
}

TEST(OtlpSerializer, LogsMatchGolden) {
  auto batch = goldenBatch();
  expectGolden(pretty(logsJson(batch, {{"host.name", "gw-1"}})), "otlp/logs.json");
}
TEST(OtlpSerializer, TracesMatchGolden) {
  auto batch = goldenBatch();
  expectGolden(pretty(tracesJson(batch, {})), "otlp/traces.json");
}
TEST(OtlpSerializer, MetricsMatchGolden) {
  auto batch = goldenBatch();
  expectGolden(pretty(metricsJson(batch, {})), "otlp/metrics.json");
}

TEST(OtlpSerializer, ARoutedRequestNamesItsRoute) {
  auto plain = makeRecord();
  auto tree = json::parse(plain->serialized).as_object();
  tree["attributes"].as_object()["metadata"].as_object()["route"] = "smart";
  auto batch = std::vector<RecordPtr>{recordFromTree(tree), plain};
  auto spans = json::parse(tracesJson(batch, {}));
  const auto& list = spans.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").as_array();
  ASSERT_EQ(list.size(), 2u);
  auto routeOf = [](const json::value& span) -> std::string {
    for (const auto& kv : span.at("attributes").as_array())
      if (kv.at("key") == "ai_gateway.route") return std::string(kv.at("value").at("stringValue").as_string());
    return "(none)";
  };
  EXPECT_EQ(routeOf(list[0]), "smart");
  EXPECT_EQ(routeOf(list[1]), "(none)");
}

TEST(OtlpSerializer, IdsAreHexOfTheRightLength) {
  EXPECT_EQ(traceIdFor("6F1C2A4E-8B3D-4C5E-9F01-23456789ABCD"), "6f1c2a4e8b3d4c5e9f0123456789abcd");
  auto t = traceIdFor("not-a-uuid");
  EXPECT_EQ(t.size(), 32u);
  EXPECT_EQ(t, traceIdFor("not-a-uuid"));
  EXPECT_NE(t, traceIdFor("not-a-uuid2"));
  EXPECT_EQ(spanIdFor("x").size(), 16u);
  EXPECT_EQ(t.find_first_not_of("0123456789abcdef"), std::string::npos);
  // The derivations otlp_model.h gives, against sha256sum: the first 16
  // bytes of SHA-256(id), the first 8 of SHA-256("span:" + id), the same
  // from every thread.
  EXPECT_EQ(t, "2184a32a3bae6ad756d745ec8678ad6a");
  EXPECT_EQ(spanIdFor("x"), "e922e2f6beb12376");
  std::string from_thread;
  std::thread([&] { from_thread = spanIdFor("x") + traceIdFor("not-a-uuid"); }).join();
  EXPECT_EQ(from_thread, "e922e2f6beb12376" + t);
  // What is not 32 hex digits and 4 dashes, or is all zeros, is hashed.
  for (const std::string id : {"00000000-0000-0000-0000-000000000000", "6f1c2a4e-8b3d-4c5e-9f01-23456789abc-",
                               "6f1c2a4e-8b3d-4c5e-9f01-23456789abcg", "6f1c2a4e08b3d04c5e09f01023456789abcd"}) {
    const std::string trace = traceIdFor(id);
    EXPECT_EQ(trace.size(), 32u) << id;
    EXPECT_EQ(trace, traceIdFor(id)) << id;
    std::string compact = id;
    std::erase(compact, '-');
    EXPECT_NE(trace, compact) << id;
  }
  // The dashes may stand anywhere.
  EXPECT_EQ(traceIdFor("----6f1c2a4e8b3d4c5e9f0123456789abcd"), "6f1c2a4e8b3d4c5e9f0123456789abcd");
}

TEST(OtlpSerializer, AnyValueMapping) {
  auto v = toAnyValue(json::parse(R"({"s":"x","i":-3,"u":18446744073709551615,"d":1.5,"b":true,"n":null,"a":[1]})"));
  auto s = json::serialize(v);
  EXPECT_NE(s.find(R"({"key":"i","value":{"intValue":"-3"}})"), std::string::npos) << s;
  EXPECT_NE(s.find(R"({"key":"u","value":{"doubleValue":1.8446744073709552E19}})"), std::string::npos) << s;
  EXPECT_NE(s.find(R"({"key":"n","value":{}})"), std::string::npos);
  EXPECT_NE(s.find(R"({"arrayValue":{"values":[{"intValue":"1"}]}})"), std::string::npos);
  EXPECT_NE(s.find(R"({"doubleValue":1.5E0})"), std::string::npos);
}

TEST(OtlpSerializer, HistogramBucketsFollowTheConventions) {
  // 850 ms falls in (0.64, 1.28]; 12 tokens in (4, 16]; 30 in (16, 64].
  auto metrics = json::parse(metricsJson(makeRecords(1), {}));
  const auto& list = metrics.at("resourceMetrics").at(0).at("scopeMetrics").at(0).at("metrics").as_array();
  ASSERT_EQ(list.size(), 2u);  // not streamed: no time_to_first_chunk
  const auto& tokens = list[0].as_object();
  EXPECT_EQ(tokens.at("name").as_string(), "gen_ai.client.token.usage");
  EXPECT_EQ(tokens.at("unit").as_string(), "{token}");
  const auto& points = tokens.at("histogram").at("dataPoints").as_array();
  ASSERT_EQ(points.size(), 2u);
  const auto& duration = list[1].at("histogram").at("dataPoints").at(0);
  EXPECT_EQ(duration.at("bucketCounts").at(7).as_string(), "1");
  EXPECT_EQ(duration.at("explicitBounds").as_array().size(), 14u);
  EXPECT_EQ(duration.at("count").as_string(), "1");
}

// A batch's points are those of its records, each alone, added up per
// histogram and attribute set, whatever the order of the records: runs of
// records with the same attributes, alternating models and providers,
// errors between successes, streamed and not.
TEST(OtlpSerializer, ABatchsPointsAreTheSumOfItsRecordsPoints) {
  const auto record = [](int i, const std::string& model, const std::string& provider, bool error, bool stream) {
    return makeRecordWith([&](RecordSpec& s) {
      s.id = "req-" + std::to_string(i);
      s.model = model;
      s.provider = provider;
      s.stream = stream;
      s.input_tokens = 10 + i;
      s.output_tokens = 100 * i;
      s.latency_ms = 10.0 * i;
      s.ttfb_ms = 2.0 * i;
      if (error) {
        s.status = "error";
        s.status_code = 502;
        s.error_type = i % 2 ? "upstream_http_error" : "timeout";
      }
    });
  };
  const std::vector<RecordPtr> batch = {
      record(1, "a", "openai", false, false), record(2, "a", "openai", false, false),
      record(3, "b", "openai", false, true),  record(4, "a", "openai", true, false),
      record(5, "a", "openai", false, true),  record(6, "a", "anthropic", false, false),
      record(7, "a", "openai", true, false),  record(8, "b", "openai", false, true),
      record(9, "b", "openai", true, true),   record(10, "a", "openai", false, false)};

  // histogram name + attributes -> the point's sums.
  struct Sums {
    std::uint64_t count = 0;
    double sum = 0, min = 1e300, max = -1e300;
    std::vector<std::uint64_t> buckets;
    bool operator==(const Sums&) const = default;
  };
  using Points = std::map<std::string, Sums>;
  const auto collect = [](const MetricsModel& model, Points& out) {
    for (const auto& group : model)
      for (const auto& h : group.items)
        for (const auto& p : h.points) {
          json::array attrs;
          for (const auto& a : p.attributes) attrs.push_back(json::array{json::string(a.key), a.value});
          Sums& s = out[h.name + " " + json::serialize(attrs)];
          s.count += p.count;
          s.sum += p.sum;
          s.min = std::min(s.min, p.min);
          s.max = std::max(s.max, p.max);
          s.buckets.resize(p.bucket_counts.size());
          for (std::size_t i = 0; i < p.bucket_counts.size(); ++i) s.buckets[i] += p.bucket_counts[i];
        }
  };
  Points together, alone;
  collect(buildMetrics(batch, {}), together);
  for (const auto& r : batch) collect(buildMetrics(std::span(&r, 1), {}), alone);
  EXPECT_EQ(together.size(), alone.size());
  for (const auto& [key, sums] : alone) {
    ASSERT_TRUE(together.count(key)) << key;
    EXPECT_EQ(together[key].count, sums.count) << key;
    EXPECT_DOUBLE_EQ(together[key].sum, sums.sum) << key;
    EXPECT_EQ(together[key].min, sums.min) << key;
    EXPECT_EQ(together[key].max, sums.max) << key;
    EXPECT_EQ(together[key].buckets, sums.buckets) << key;
  }
  // The batch has a point per distinct attribute set, not per record.
  std::uint64_t durations = 0;
  for (const auto& [key, sums] : together)
    if (key.starts_with("gen_ai.client.operation.duration ")) durations += sums.count;
  EXPECT_EQ(durations, batch.size());
  EXPECT_LT(together.size(), 3 * batch.size());
}

TEST(OtlpSerializer, UnexportableRecordsAreLeftOut) {
  std::vector<RecordPtr> batch{makeRecordWith([](RecordSpec& s) { s.timestamp = "bad"; })};
  EXPECT_FALSE(exportable(*batch[0]));
  EXPECT_EQ(logsJson(batch, {}), R"({"resourceLogs":[]})");
}

}  // namespace
}  // namespace gw::exporters::otlp
