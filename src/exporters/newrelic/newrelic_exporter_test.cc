#include "exporters/common/testing/fake_http_server.h"
#include "exporters/common/testing/test_records.h"
#include "gw/config_source.h"
#include "exporters/newrelic/newrelic_exporter.h"
#include "gw/exporter_registry.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <mutex>

namespace gw::exporters::newrelic {
namespace {
using namespace gw::exporters::testing;
using Kind = ExportResult::Kind;
namespace json = boost::json;

// Strict stand-in for New Relic's Log and Metric APIs: Api-Key, gzip, the
// [{"common":..., "logs"|"metrics": [...]}] shape, metric types and fields.
class FakeNewRelic {
 public:
  explicit FakeNewRelic(std::string key) : key_(std::move(key)), server_([this](const ReceivedRequest& r) { return handle(r); }) {
    server_.start();
  }
  std::string url() const { return server_.url(); }
  FakeHttpServer& server() { return server_; }
  void failNext(int n, int status, std::string retry_after = "") {
    std::lock_guard lock(m_);
    fail_ = n;
    status_ = status;
    retry_after_ = std::move(retry_after);
  }
  double countSum(const std::string& name) {
    std::lock_guard lock(m_);
    double total = 0;
    for (const auto& m : metrics_)
      if (m.at("name").as_string() == name) total += m.at("value").to_number<double>();
    return total;
  }
  std::size_t logCount() {
    std::lock_guard lock(m_);
    return logs_.size();
  }
  std::vector<std::string> violations() {
    std::lock_guard lock(m_);
    return violations_;
  }

 private:
  FakeResponse handle(const ReceivedRequest& r) {
    std::lock_guard lock(m_);
    auto bad = [&](std::string why) {
      violations_.push_back(why);
      return FakeResponse::json(400, R"({"error":")" + why + "\"}");
    };
    if (r.header("Api-Key").value_or("") != key_) return FakeResponse::json(403, R"({"error":"invalid key"})");
    if (fail_ > 0) {
      --fail_;
      auto res = FakeResponse::json(status_, "{}");
      if (!retry_after_.empty()) res.headers.emplace_back("Retry-After", retry_after_);
      return res;
    }
    if (!r.gzipped) return bad("expected gzip");
    json::error_code ec;
    auto doc = json::parse(r.body, ec);
    if (ec || !doc.is_array() || doc.as_array().empty()) return bad("payload must be a non-empty array");
    const bool logs = r.target == "/log/v1";
    if (!logs && r.target != "/metric/v1") return FakeResponse::json(404, "{}");
    for (const auto& block : doc.as_array()) {
      if (!block.is_object()) return bad("block must be an object");
      const auto& b = block.as_object();
      if (const auto* common = b.if_contains("common"); common && !common->is_object()) return bad("common must be an object");
      const auto* items = b.if_contains(logs ? "logs" : "metrics");
      if (!items || !items->is_array()) return bad("missing item array");
      const std::int64_t common_interval =
          b.contains("common") && b.at("common").as_object().contains("interval.ms") ? b.at("common").at("interval.ms").as_int64() : 0;
      for (const auto& item : items->as_array()) {
        if (!item.is_object()) return bad("item must be an object");
        const auto& o = item.as_object();
        if (logs) {
          if (!o.contains("message") && !o.contains("attributes")) return bad("log needs message or attributes");
          if (o.contains("timestamp") && !o.at("timestamp").is_int64()) return bad("timestamp must be an integer");
          logs_.push_back(o);
        } else {
          if (!o.contains("name") || !o.at("name").is_string()) return bad("metric name");
          std::string type = o.contains("type") ? std::string(o.at("type").as_string()) : "gauge";
          if (type == "count") {
            if (!o.at("value").is_number()) return bad("count value must be a number");
            if (!o.contains("interval.ms") && common_interval <= 0) return bad("count needs interval.ms");
          } else if (type == "summary") {
            const auto* v = o.at("value").if_object();
            if (!v || !v->contains("count") || !v->contains("sum") || !v->contains("min") || !v->contains("max"))
              return bad("summary needs count, sum, min, max");
          } else if (type != "gauge") {
            return bad("unknown metric type " + type);
          }
          metrics_.push_back(o);
        }
      }
    }
    return FakeResponse::json(202, R"({"requestId":"00000000-0000-0000-0000-000000000000"})");
  }

  std::mutex m_;
  std::string key_;
  int fail_ = 0, status_ = 503;
  std::string retry_after_;
  std::vector<json::object> logs_, metrics_;
  std::vector<std::string> violations_;
  FakeHttpServer server_;
};

Options optionsFor(const std::string& url) {
  Options o;
  o.license_key = "nr-license";
  o.log_url = url + "/log/v1";
  o.metric_url = url + "/metric/v1";
  // Generous: these tests are about what is sent, not about speed, and a
  // sanitizer build on a loaded machine is slow.
  o.timeout = std::chrono::milliseconds(30000);
  return o;
}

TEST(NewRelicOptions, RegisteredRegionsAndErrors) {
  ExporterRegistry registry;
  registerBuiltinExporters(registry);
  EXPECT_NE(registry.find("newrelic"), nullptr);
  auto missing = Options::fromConfig(ConfigSource({}, {}));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message.rfind("NEW_RELIC_LICENSE_KEY: ", 0), 0u);
  auto eu = Options::fromConfig(ConfigSource({{"NEW_RELIC_LICENSE_KEY", "k"}, {"NEW_RELIC_REGION", "eu"}}, {}));
  ASSERT_TRUE(eu);
  EXPECT_EQ(eu->log_url, "https://log-api.eu.newrelic.com/log/v1");
  EXPECT_EQ(eu->metric_url, "https://metric-api.eu.newrelic.com/metric/v1");
  auto us = Options::fromConfig(ConfigSource({{"NEW_RELIC_LICENSE_KEY", "k"}}, {}));
  ASSERT_TRUE(us);
  EXPECT_EQ(us->log_url, "https://log-api.newrelic.com/log/v1");
  auto region = Options::fromConfig(ConfigSource({{"NEW_RELIC_LICENSE_KEY", "k"}, {"NEW_RELIC_REGION", "APAC"}}, {}));
  ASSERT_FALSE(region);
  EXPECT_EQ(region.error().message.rfind("NEW_RELIC_REGION: ", 0), 0u);
  auto url = Options::fromConfig(ConfigSource({{"NEW_RELIC_LICENSE_KEY", "k"}, {"NEW_RELIC_LOG_URL", "x"}}, {}));
  ASSERT_FALSE(url);
  EXPECT_EQ(url.error().message.rfind("NEW_RELIC_LOG_URL: ", 0), 0u);
}

TEST(NewRelicSerializer, MetricsAndLogsMatchGolden) {
  std::vector<RecordPtr> batch{makeRecord(), makeRecordWith([](RecordSpec& s) {
                                 s.id = "req-2";
                                 s.timestamp = "2024-05-01T12:00:10.123Z";
                                 s.latency_ms = 200;
                               })};
  expectGolden(metricsJson(batch) + "\n", "newrelic/metrics.json");
  expectGolden(logsPayload(std::vector<std::string>{logEntryJson(*batch[0])}, *batch[0]) + "\n", "newrelic/logs.json");
}

TEST(NewRelicExporter, SendsMetricsAndLogs) {
  FakeNewRelic nr("nr-license");
  NewRelicExporter exporter(optionsFor(nr.url()));
  auto r = exporter.exportBatch(makeRecords(7));
  ASSERT_EQ(r.kind, Kind::kSuccess) << r.message;
  EXPECT_TRUE(nr.violations().empty()) << nr.violations().front();
  EXPECT_EQ(nr.countSum("ai_gateway.requests"), 7);
  EXPECT_EQ(nr.logCount(), 7u);
}

TEST(NewRelicExporter, FailuresMapToRetryableOrPermanent) {
  NewRelicExporter down(optionsFor("http://127.0.0.1:" + std::to_string(unusedPort())));
  EXPECT_EQ(down.exportBatch(makeRecords(1)).kind, Kind::kRetryable);
  FakeNewRelic nr("nr-license");
  NewRelicExporter exporter(optionsFor(nr.url()));
  nr.failNext(1, 429, "9");
  auto r = exporter.exportBatch(makeRecords(1));
  EXPECT_EQ(r.kind, Kind::kRetryable);
  ASSERT_TRUE(r.retry_after);
  EXPECT_EQ(r.retry_after->count(), 9000);
  nr.failNext(1, 503);
  EXPECT_EQ(exporter.exportBatch(makeRecords(1)).kind, Kind::kRetryable);
  nr.failNext(1, 400);
  EXPECT_EQ(exporter.exportBatch(makeRecords(1, "other")).kind, Kind::kPermanent);
  FakeNewRelic wrong("different-key");
  NewRelicExporter bad_key(optionsFor(wrong.url()));
  auto denied = bad_key.exportBatch(makeRecords(1));
  EXPECT_EQ(denied.kind, Kind::kPermanent);
  EXPECT_EQ(denied.message.find("nr-license"), std::string::npos);
}

TEST(NewRelicExporter, RetryAfterLogFailureDoesNotRecountMetrics) {
  FakeNewRelic nr("nr-license");
  NewRelicExporter exporter(optionsFor(nr.url()));
  auto batch = makeRecords(3);
  // Metrics go first and succeed; fail the logs request once.
  nr.server().setHandler([](const ReceivedRequest& r) {
    if (r.target == "/log/v1") return FakeResponse::json(503, "{}");
    return FakeResponse::json(202, "{}");
  });
  EXPECT_EQ(exporter.exportBatch(batch).kind, Kind::kRetryable);
  nr.server().setHandler([](const ReceivedRequest&) { return FakeResponse::json(202, "{}"); });
  EXPECT_EQ(exporter.exportBatch(batch).kind, Kind::kSuccess);
  int metric_posts = 0;
  for (const auto& r : nr.server().requests()) metric_posts += r.target == "/metric/v1";
  EXPECT_EQ(metric_posts, 1);
}

TEST(NewRelicExporter, OversizedRecordRejectedOthersDelivered) {
  FakeNewRelic nr("nr-license");
  NewRelicExporter exporter(optionsFor(nr.url()));
  auto batch = makeRecords(3);
  auto huge = makeRecordWith([](RecordSpec& s) { s.id = "huge"; });
  auto big = std::make_shared<TelemetryRecord>(huge->id, std::string(kMaxLogsPayloadBytes + 1, 'x'), huge->fields);
  batch.insert(batch.begin() + 1, big);
  auto r = exporter.exportBatch(batch);
  EXPECT_EQ(r.kind, Kind::kPermanent);
  EXPECT_EQ(r.rejected_indexes, (std::vector<std::size_t>{1}));
  EXPECT_EQ(nr.logCount(), 3u);
}

}  // namespace
}  // namespace gw::exporters::newrelic
