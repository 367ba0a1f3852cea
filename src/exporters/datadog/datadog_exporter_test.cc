#include "exporters/common/testing/fake_http_server.h"
#include "exporters/common/testing/test_records.h"
#include "gw/config_source.h"
#include "exporters/datadog/datadog_exporter.h"
#include "gw/exporter_registry.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>

namespace gw::exporters::datadog {
namespace {
using namespace gw::exporters::testing;
using Kind = ExportResult::Kind;
namespace json = boost::json;

std::optional<std::string> inflateZlib(const std::string& data) {
  std::string out(64 * 1024 * 1024, '\0');
  uLongf size = out.size();
  if (uncompress(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(data.data()),
                 data.size()) != Z_OK)
    return std::nullopt;
  out.resize(size);
  return out;
}

// Strict stand-in for Datadog's intakes: API key, JSON shapes of
// /api/v2/series, /api/v1/distribution_points and /api/v2/logs, the
// documented logs limits.
class FakeDatadog {
 public:
  explicit FakeDatadog(std::string key) : key_(std::move(key)), server_([this](const ReceivedRequest& r) { return handle(r); }) {
    server_.start();
  }
  std::string url() const { return server_.url(); }
  FakeHttpServer& server() { return server_; }
  void failNext(int n, int status, std::string retry_after = "") {
    std::lock_guard lock(m_);
    fail_ = n;
    fail_status_ = status;
    retry_after_ = std::move(retry_after);
  }
  double metricSum(const std::string& metric) {
    std::lock_guard lock(m_);
    double total = 0;
    for (const auto& s : series_)
      if (s.at("metric").as_string() == metric)
        for (const auto& p : s.at("points").as_array()) total += p.at("value").to_number<double>();
    return total;
  }
  // The values of every distribution point of `metric`, in arrival order.
  std::vector<double> distributionValues(const std::string& metric) {
    std::lock_guard lock(m_);
    std::vector<double> out;
    for (const auto& s : distributions_)
      if (s.at("metric").as_string() == metric)
        for (const auto& p : s.at("points").as_array())
          for (const auto& v : p.as_array()[1].as_array()) out.push_back(v.to_number<double>());
    return out;
  }
  std::vector<json::object> distributionSeries() {
    std::lock_guard lock(m_);
    return distributions_;
  }
  void distributionsUnknown(bool on) {
    std::lock_guard lock(m_);
    distributions_unknown_ = on;
  }
  std::vector<json::object> logs() {
    std::lock_guard lock(m_);
    return logs_;
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
      return FakeResponse::json(400, R"({"errors":[")" + why + R"("]})");
    };
    if (r.header("DD-API-KEY").value_or("") != key_) return FakeResponse::json(403, R"({"errors":["Forbidden"]})");
    if (fail_ > 0) {
      --fail_;
      auto res = FakeResponse::json(fail_status_, R"({"errors":["Rate limit exceeded"]})");
      if (!retry_after_.empty()) res.headers.emplace_back("Retry-After", retry_after_);
      return res;
    }
    if (r.header("Content-Type").value_or("") != "application/json") return bad("content type");
    json::error_code ec;
    if (r.target == "/api/v1/distribution_points") {
      if (distributions_unknown_) return FakeResponse::json(404, R"({"errors":["Not found"]})");
      // Datadog documents deflate for this endpoint.
      if (r.header("Content-Encoding").value_or("") != "deflate") return bad("distribution points must be deflated");
      auto body = inflateZlib(r.body);
      if (!body) return bad("malformed deflate body");
      auto d = json::parse(*body, ec);
      if (ec || !d.is_object() || !d.as_object().contains("series") || !d.at("series").is_array())
        return bad("series must be an array");
      for (const auto& s : d.at("series").as_array()) {
        const auto* o = s.if_object();
        if (!o || !o->contains("metric") || !o->at("metric").is_string()) return bad("metric name");
        if (o->contains("type") && o->at("type") != json::value("distribution")) return bad("type must be distribution");
        if (o->contains("host") && !o->at("host").is_string()) return bad("host must be a string");
        if (!o->contains("points") || !o->at("points").is_array() || o->at("points").as_array().empty()) return bad("points");
        for (const auto& p : o->at("points").as_array()) {
          const auto* pair = p.if_array();
          if (!pair || pair->size() != 2 || !(*pair)[0].is_int64() || !(*pair)[1].is_array() ||
              (*pair)[1].as_array().empty())
            return bad("point must be [timestamp, [values...]]");
          for (const auto& v : (*pair)[1].as_array())
            if (!v.is_number()) return bad("values must be numbers");
        }
        if (o->contains("tags"))
          for (const auto& t : o->at("tags").as_array())
            if (!t.is_string()) return bad("tags must be strings");
        distributions_.push_back(*o);
      }
      return FakeResponse::json(202, R"({"status":"ok"})");
    }
    auto doc = json::parse(r.body, ec);
    if (ec) return bad("invalid JSON");
    if (r.target == "/api/v2/series") {
      if (!doc.is_object() || !doc.as_object().contains("series") || !doc.at("series").is_array())
        return bad("series must be an array");
      for (const auto& s : doc.at("series").as_array()) {
        const auto* o = s.if_object();
        if (!o || !o->contains("metric") || !o->at("metric").is_string()) return bad("metric name");
        if (!o->contains("type") || !o->at("type").is_int64() || o->at("type").as_int64() < 0 || o->at("type").as_int64() > 3)
          return bad("type must be 0..3");
        if (!o->contains("points") || !o->at("points").is_array() || o->at("points").as_array().empty()) return bad("points");
        for (const auto& p : o->at("points").as_array())
          if (!p.is_object() || !p.as_object().contains("timestamp") || !p.at("timestamp").is_int64() ||
              !p.as_object().contains("value") || !p.at("value").is_number())
            return bad("point must have integer timestamp and numeric value");
        if (o->contains("tags"))
          for (const auto& t : o->at("tags").as_array())
            if (!t.is_string()) return bad("tags must be strings");
        series_.push_back(*o);
      }
      return FakeResponse::json(202, R"({"errors":[]})");
    }
    if (r.target == "/api/v2/logs") {
      if (r.body.size() > kMaxLogsPayloadBytes) return FakeResponse::json(413, R"({"errors":["Payload too large"]})");
      if (!doc.is_array()) return bad("logs must be an array");
      if (doc.as_array().size() > kMaxLogsPerRequest) return bad("more than 1000 logs");
      for (const auto& l : doc.as_array()) {
        if (!l.is_object() || !l.as_object().contains("message") || !l.at("message").is_string())
          return bad("log entry needs a message");
        logs_.push_back(l.as_object());
      }
      return FakeResponse::json(202, "{}");
    }
    return FakeResponse::json(404, R"({"errors":["Not found"]})");
  }

  std::mutex m_;
  std::string key_;
  int fail_ = 0, fail_status_ = 503;
  std::string retry_after_;
  bool distributions_unknown_ = false;
  std::vector<json::object> series_, distributions_, logs_;
  std::vector<std::string> violations_;
  FakeHttpServer server_;
};

Options optionsFor(const std::string& url) {
  Options o;
  o.api_key = "dd-test-key";
  o.url = url;
  o.logs_url = url;
  o.tags = {"env:test"};
  // Generous: these tests are about what is sent, not about speed, and a
  // sanitizer build on a loaded machine is slow.
  o.timeout = std::chrono::milliseconds(30000);
  return o;
}

TEST(DatadogOptions, RegisteredAndRequiresApiKey) {
  ExporterRegistry registry;
  registerBuiltinExporters(registry);
  EXPECT_NE(registry.find("datadog"), nullptr);
  auto missing = Options::fromConfig(ConfigSource({}, {}));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message.rfind("DD_API_KEY: ", 0), 0u);
  auto eu = Options::fromConfig(ConfigSource({{"DD_API_KEY", "k"}, {"DD_SITE", "datadoghq.eu"}, {"DD_TAGS", "env:prod team:ml"}}, {}));
  ASSERT_TRUE(eu);
  EXPECT_EQ(eu->url, "https://api.datadoghq.eu");
  EXPECT_EQ(eu->logs_url, "https://http-intake.logs.datadoghq.eu");
  EXPECT_EQ(eu->tags, (std::vector<std::string>{"env:prod", "team:ml"}));
  auto bad = Options::fromConfig(ConfigSource({{"DD_API_KEY", "secret-key"}, {"DD_URL", "nope"}}, {}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.rfind("DD_URL: ", 0), 0u);
  EXPECT_EQ(bad.error().message.find("secret-key"), std::string::npos);
}

TEST(DatadogSerializer, SeriesAndLogsMatchGolden) {
  std::vector<RecordPtr> batch{makeRecord(), makeRecordWith([](RecordSpec& s) {
                                 s.id = "req-2";
                                 s.latency_ms = 150;
                               }),
                               makeRecordWith([](RecordSpec& s) {
                                 s.id = "req-3";
                                 s.status = "error";
                                 s.status_code = 429;
                               })};
  expectGolden(seriesJson(batch, {"env:test"}) + "\n", "datadog/series.json");
  expectGolden(logEntryJson(*batch[2], {"env:test"}, "gw-1") + "\n", "datadog/log_entry.json");
  expectGolden(distributionsJson(batch, {"env:test"}, "gw-1") + "\n", "datadog/distributions.json");
}

TEST(DatadogSerializer, DistributionsCarryEveryValueOfTheBatch) {
  std::vector<RecordPtr> batch;
  for (int i = 0; i < 4; ++i)
    batch.push_back(makeRecordWith([i](RecordSpec& s) {
      s.id = "d-" + std::to_string(i);
      s.latency_ms = 100 + i;
      s.ttfb_ms = 10 + i;
      s.provider_latency_ms = 90 + i;
      s.input_tokens = i;
      s.output_tokens = 2 * i;
      if (i == 3) s.model = "other";
    }));
  auto doc = json::parse(distributionsJson(batch, {"env:test"}, ""));
  std::map<std::string, std::vector<double>> by_metric_model;
  for (const auto& s : doc.at("series").as_array()) {
    const auto& tags = s.at("tags").as_array();
    EXPECT_EQ(tags.back(), json::value("env:test"));
    EXPECT_FALSE(s.as_object().contains("host"));
    EXPECT_EQ(s.at("type"), json::value("distribution"));
    ASSERT_EQ(s.at("points").as_array().size(), 1u);
    auto& values = by_metric_model[std::string(s.at("metric").as_string()) + "|" + std::string(tags[1].as_string())];
    for (const auto& v : s.at("points").as_array()[0].as_array()[1].as_array()) values.push_back(v.to_number<double>());
  }
  using V = std::vector<double>;
  EXPECT_EQ(by_metric_model["ai_gateway.request.duration|model:gpt-4o-mini"], (V{100, 101, 102}));
  EXPECT_EQ(by_metric_model["ai_gateway.request.duration|model:other"], (V{103}));
  EXPECT_EQ(by_metric_model["ai_gateway.request.ttfb|model:gpt-4o-mini"], (V{10, 11, 12}));
  EXPECT_EQ(by_metric_model["ai_gateway.provider.latency|model:other"], (V{93}));
  EXPECT_EQ(by_metric_model["ai_gateway.request.tokens.input|model:gpt-4o-mini"], (V{0, 1, 2}));
  EXPECT_EQ(by_metric_model["ai_gateway.request.tokens.output|model:other"], (V{6}));
  EXPECT_EQ(by_metric_model.size(), 10u);
  EXPECT_EQ(distributionsJson({}, {}, ""), "");
}

TEST(DatadogExporter, SendsMetricsAndLogsWithKeyAndGzip) {
  FakeDatadog dd("dd-test-key");
  DatadogExporter exporter(optionsFor(dd.url()));
  auto r = exporter.exportBatch(makeRecords(5));
  ASSERT_EQ(r.kind, Kind::kSuccess) << r.message;
  EXPECT_TRUE(dd.violations().empty());
  EXPECT_EQ(dd.metricSum("ai_gateway.requests"), 5);
  EXPECT_EQ(dd.metricSum("ai_gateway.tokens.input"), 10 + 11 + 12 + 13 + 14);
  EXPECT_EQ(dd.logs().size(), 5u);
  EXPECT_EQ(dd.distributionValues("ai_gateway.request.duration").size(), 5u);
  auto inputs = dd.distributionValues("ai_gateway.request.tokens.input");
  std::sort(inputs.begin(), inputs.end());
  EXPECT_EQ(inputs, (std::vector<double>{10, 11, 12, 13, 14}));
  for (const auto& req : dd.server().requests()) {
    if (req.target != "/api/v1/distribution_points") {
      EXPECT_TRUE(req.gzipped) << req.target;
    }
  }
}

TEST(DatadogExporter, EndpointWithoutDistributionsIsWarnedOnceAndNotDropped) {
  FakeDatadog dd("dd-test-key");
  dd.distributionsUnknown(true);
  DatadogExporter exporter(optionsFor(dd.url()));
  ASSERT_EQ(exporter.exportBatch(makeRecords(3)).kind, Kind::kSuccess);
  EXPECT_FALSE(exporter.distributionsEnabled());
  ASSERT_EQ(exporter.exportBatch(makeRecords(2, "more")).kind, Kind::kSuccess);
  int distribution_requests = 0;
  for (const auto& r : dd.server().requests()) distribution_requests += r.target == "/api/v1/distribution_points";
  EXPECT_EQ(distribution_requests, 1);  // asked once, then never again
  EXPECT_EQ(dd.logs().size(), 5u);
  EXPECT_EQ(dd.metricSum("ai_gateway.requests"), 5);
  EXPECT_TRUE(dd.violations().empty());

  Options off = optionsFor(dd.url());
  off.distributions = false;
  DatadogExporter disabled(off);
  EXPECT_FALSE(disabled.distributionsEnabled());
  auto opts = Options::fromConfig(ConfigSource({{"DD_API_KEY", "k"}, {"DD_DISTRIBUTIONS", "false"}}, {}));
  ASSERT_TRUE(opts);
  EXPECT_FALSE(opts->distributions);
}

TEST(DatadogExporter, RefusedDistributionPointsAreSkippedNotDropped) {
  FakeDatadog dd("dd-test-key");
  DatadogExporter exporter(optionsFor(dd.url()));
  dd.server().setHandler([](const ReceivedRequest& r) {
    if (r.target == "/api/v1/distribution_points") return FakeResponse::json(400, R"({"errors":["bad points"]})");
    return FakeResponse::json(202, "{}");
  });
  auto r = exporter.exportBatch(makeRecords(3));
  EXPECT_EQ(r.kind, Kind::kSuccess) << r.message;
  EXPECT_TRUE(r.rejected_indexes.empty());
  EXPECT_TRUE(exporter.distributionsEnabled());  // only 404/405 switch them off
  std::map<std::string, int> per_target;
  for (const auto& req : dd.server().requests()) ++per_target[req.target];
  EXPECT_EQ(per_target["/api/v2/logs"], 1);
  EXPECT_EQ(per_target["/api/v1/distribution_points"], 1);
}

TEST(DatadogExporter, DistributionsFailureRetryResendsNeitherSeriesNorPoints) {
  FakeDatadog dd("dd-test-key");
  DatadogExporter exporter(optionsFor(dd.url()));
  auto batch = makeRecords(3);
  // series ok, distribution_points 503 once, then everything ok.
  std::atomic<int> calls = 0;
  dd.server().setHandler([&calls](const ReceivedRequest& r) {
    ++calls;
    if (r.target == "/api/v1/distribution_points" && calls == 2) return FakeResponse::json(503, "{}");
    return FakeResponse::json(202, "{}");
  });
  EXPECT_EQ(exporter.exportBatch(batch).kind, Kind::kRetryable);
  EXPECT_EQ(exporter.exportBatch(batch).kind, Kind::kSuccess);
  EXPECT_EQ(exporter.exportBatch(batch).kind, Kind::kSuccess);  // all delivered: nothing is sent again
  std::map<std::string, int> per_target;
  for (const auto& r : dd.server().requests()) ++per_target[r.target];
  EXPECT_EQ(per_target["/api/v2/series"], 1);
  EXPECT_EQ(per_target["/api/v1/distribution_points"], 2);
  EXPECT_EQ(per_target["/api/v2/logs"], 1);
  EXPECT_TRUE(exporter.distributionsEnabled());
}

TEST(DatadogExporter, WrongKeyIsPermanent) {
  FakeDatadog dd("other");
  DatadogExporter exporter(optionsFor(dd.url()));
  auto r = exporter.exportBatch(makeRecords(1));
  EXPECT_EQ(r.kind, Kind::kPermanent);
  EXPECT_EQ(r.message.find("dd-test-key"), std::string::npos);
}

TEST(DatadogExporter, DownAtStartAnd429And5xxAreRetryable) {
  DatadogExporter down(optionsFor("http://127.0.0.1:" + std::to_string(unusedPort())));
  EXPECT_EQ(down.exportBatch(makeRecords(1)).kind, Kind::kRetryable);
  FakeDatadog dd("dd-test-key");
  DatadogExporter exporter(optionsFor(dd.url()));
  dd.failNext(1, 429, "30");
  auto r = exporter.exportBatch(makeRecords(1));
  EXPECT_EQ(r.kind, Kind::kRetryable);
  ASSERT_TRUE(r.retry_after);
  EXPECT_EQ(r.retry_after->count(), 30000);
  dd.failNext(1, 500);
  EXPECT_EQ(exporter.exportBatch(makeRecords(1)).kind, Kind::kRetryable);
}

TEST(DatadogExporter, LogsFailureRetryDoesNotRecountMetrics) {
  FakeDatadog dd("dd-test-key");
  DatadogExporter exporter(optionsFor(dd.url()));
  auto batch = makeRecords(4);
  // The series request goes through, the logs request (second) fails once.
  std::atomic<int> calls = 0;  // touched only by the server thread
  dd.server().setHandler([&calls](const ReceivedRequest& r) {
    ++calls;
    if (r.target == "/api/v2/logs" && calls == 3) return FakeResponse::json(503, "{}");
    return FakeResponse::json(202, "{}");
  });
  EXPECT_EQ(exporter.exportBatch(batch).kind, Kind::kRetryable);
  EXPECT_EQ(exporter.exportBatch(batch).kind, Kind::kSuccess);
  int series_requests = 0, logs_requests = 0;
  for (const auto& r : dd.server().requests()) {
    if (r.target == "/api/v2/series") ++series_requests;
    if (r.target == "/api/v2/logs") ++logs_requests;
  }
  EXPECT_EQ(series_requests, 1);  // metrics were not sent twice
  EXPECT_EQ(logs_requests, 2);
}

TEST(DatadogExporter, SplitsLogsAtTheCountLimitAndRejectsOversizedEntries) {
  FakeDatadog dd("dd-test-key");
  DatadogExporter exporter(optionsFor(dd.url()));
  auto batch = makeRecords(1001);
  auto huge = makeRecordWith([](RecordSpec& s) { s.id = "huge"; });
  auto big = std::make_shared<TelemetryRecord>(huge->id, std::string(kMaxLogEntryBytes + 10, 'x'), huge->fields);
  batch.push_back(big);
  auto r = exporter.exportBatch(batch);
  EXPECT_EQ(r.kind, Kind::kPermanent);
  EXPECT_EQ(r.rejected_indexes, (std::vector<std::size_t>{1001}));
  EXPECT_EQ(dd.logs().size(), 1001u);
  EXPECT_TRUE(dd.violations().empty());
  EXPECT_EQ(dd.metricSum("ai_gateway.requests"), 1002);
}

}  // namespace
}  // namespace gw::exporters::datadog
