// Telemetry end to end: start() from settings and config, submit records as
// the request path does, and see them built, measured and delivered.
#include "telemetry/telemetry.h"

#include "fake_exporter.h"

#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <thread>

namespace gw {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::FakeExporter;

// Polls `done` until it holds or 20 s pass (no fixed sleeps).
template <class F>
bool eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

class TelemetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gw-telemetry-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    registerBuiltinExporters(registry_);
    registry_.add("fake", [this](const ExporterContext&) -> Result<std::unique_ptr<Exporter>> {
      auto e = std::make_unique<FakeExporter>();
      fake_ = e.get();
      return std::unique_ptr<Exporter>(std::move(e));
    });
    settings_.enabled_exporters = {"fake", "prometheus"};
    settings_.deployment_environment = "test";
  }
  void TearDown() override { fs::remove_all(dir_); }

  ConfigSource config(std::map<std::string, std::string> extra = {}) {
    extra.emplace("TELEMETRY_SPOOL_DIR", dir_.string());
    extra.emplace("TELEMETRY_BATCH_SIZE", "10");
    extra.emplace("TELEMETRY_FLUSH_INTERVAL_MS", "20");
    return ConfigSource(extra, {});
  }

  static std::unique_ptr<RequestRecord> request(int i) {
    auto r = std::make_unique<RequestRecord>();
    r->id = "id-" + std::to_string(i);
    r->provider = "openai";
    r->model = "gpt-4o";
    r->method = "POST";
    r->path = "/v1/chat/completions";
    r->wall_start = std::chrono::system_clock::now();
    r->received = std::chrono::steady_clock::now();
    r->upstream_sent = r->received + 1ms;
    r->upstream_finished = r->received + 90ms;
    r->first_byte_sent = r->received + 91ms;
    r->finished = r->received + 92ms;
    r->status_code = 200;
    r->provider_status_code = 200;
    r->request_body = R"({"model":"gpt-4o","messages":[]})";
    r->response_body = R"({"id":"x","usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}})";
    return r;
  }

  fs::path dir_;
  ExporterRegistry registry_;
  Settings settings_;
  FakeExporter* fake_ = nullptr;
};

TEST(BuiltinExporters, EveryBuiltinExporterIsRegisteredUnderItsName) {
  ExporterRegistry registry;
  registerBuiltinExporters(registry);
  EXPECT_TRUE(registry.validate());
  for (const char* name : {"console", "prometheus"}) EXPECT_NE(registry.find(name), nullptr) << name;
}

// The telemetry thread keeps each (provider, model)'s series once resolved:
// interleaved models and statuses must still land in their own series, and
// a series appears only once it has a value.
TEST_F(TelemetryTest, MetricsKeepEachModelAndStatusApart) {
  auto t = Telemetry::start(settings_, config(), registry_);
  ASSERT_TRUE(t) << t.error().message;
  auto& telemetry = **t;
  for (int i = 0; i < 30; ++i) {
    auto r = request(i);
    if (i % 3 == 1) r->model = "gpt-4o-mini";
    if (i % 3 == 2) {
      r->model = "no-usage-model";
      r->response_body = R"({"id":"x"})";
    }
    if (i % 5 == 0) {
      r->status_code = 429;
      r->provider_status_code = 429;
    }
    telemetry.submit(std::move(r));
  }
  ASSERT_TRUE(eventually([&] { return fake_->allIds().size() == 30; }));
  auto text = *telemetry.metricsText();
  auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
  // i % 3 == 0 and i % 5 == 0: 0, 15 -> 2 of 10 are 429.
  EXPECT_TRUE(has(R"(ai_gateway_requests_total{provider="openai",model="gpt-4o",status_code="200"} 8)")) << text;
  EXPECT_TRUE(has(R"(ai_gateway_requests_total{provider="openai",model="gpt-4o",status_code="429"} 2)"));
  EXPECT_TRUE(has(R"(ai_gateway_requests_total{provider="openai",model="gpt-4o-mini",status_code="200"} 8)"));
  EXPECT_TRUE(has(R"(ai_gateway_requests_total{provider="openai",model="gpt-4o-mini",status_code="429"} 2)"));
  EXPECT_TRUE(has(R"(ai_gateway_requests_total{provider="openai",model="no-usage-model",status_code="429"} 2)"));
  EXPECT_TRUE(has(R"(ai_gateway_request_duration_seconds_count{provider="openai",model="gpt-4o-mini"} 10)"));
  EXPECT_TRUE(has(R"(ai_gateway_tokens_total{provider="openai",model="gpt-4o",type="output"} 50)")) << text;
  EXPECT_TRUE(has(R"(ai_gateway_tokens_total{provider="openai",model="gpt-4o-mini",type="input"} 100)"));
  EXPECT_TRUE(has(R"(ai_gateway_errors_total{provider="openai",error_type="upstream_http_error"} 6)"));
  EXPECT_EQ(text.find(R"(ai_gateway_tokens_total{provider="openai",model="no-usage-model")"), std::string::npos);
  EXPECT_EQ(text.find(R"(ai_gateway_cost_usd_total{provider="openai",model="no-usage-model")"), std::string::npos);
  telemetry.shutdown(1s);
}

// Cached, cache-creation and reasoning tokens are parts of input and
// output: each has its own type of ai_gateway_tokens_total, and a part a
// provider does not report has no series.
TEST_F(TelemetryTest, TokenPartsHaveTheirOwnTypes) {
  auto t = Telemetry::start(settings_, config(), registry_);
  ASSERT_TRUE(t) << t.error().message;
  auto& telemetry = **t;
  for (int i = 0; i < 3; ++i) {
    auto r = request(i);
    r->observation.usage.input = 100;
    r->observation.usage.output = 40;
    r->observation.usage.total = 140;
    r->observation.usage.cached_input = 60;
    r->observation.usage.reasoning = 25;
    if (i == 0) r->observation.usage.cache_creation = 30;
    telemetry.submit(std::move(r));
  }
  ASSERT_TRUE(eventually([&] { return fake_->allIds().size() == 3; }));
  auto text = *telemetry.metricsText();
  auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
  EXPECT_TRUE(has(R"(ai_gateway_tokens_total{provider="openai",model="gpt-4o",type="input"} 300)")) << text;
  EXPECT_TRUE(has(R"(ai_gateway_tokens_total{provider="openai",model="gpt-4o",type="output"} 120)"));
  EXPECT_TRUE(has(R"(ai_gateway_tokens_total{provider="openai",model="gpt-4o",type="cached_input"} 180)"));
  EXPECT_TRUE(has(R"(ai_gateway_tokens_total{provider="openai",model="gpt-4o",type="cache_creation"} 30)"));
  EXPECT_TRUE(has(R"(ai_gateway_tokens_total{provider="openai",model="gpt-4o",type="reasoning"} 75)"));
  telemetry.shutdown(1s);
}

// ai_gateway_cost_lookups_total counts every record once, by its
// metadata.cost_status.
TEST_F(TelemetryTest, CostLookupsCountEveryRecordByStatus) {
  auto t = Telemetry::start(settings_, config(), registry_);
  ASSERT_TRUE(t) << t.error().message;
  auto& telemetry = **t;
  for (int i = 0; i < 10; ++i) {
    auto r = request(i);
    if (i >= 3 && i < 5) r->model = "unpriced-model-zz9";  // unpriced
    if (i == 5) r->response_body = R"({"id":"x"})";       // no_usage
    if (i >= 6) {                                          // error
      r->status_code = 503;
      r->provider_status_code = 503;
      r->outcome = RequestOutcome::kError;
      r->response_body = R"({"error":{"type":"overloaded"}})";
    }
    telemetry.submit(std::move(r));
  }
  ASSERT_TRUE(eventually([&] { return fake_->allIds().size() == 10; }));
  auto text = *telemetry.metricsText();
  auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
  EXPECT_TRUE(has(R"(ai_gateway_cost_lookups_total{status="priced"} 3)")) << text;
  EXPECT_TRUE(has(R"(ai_gateway_cost_lookups_total{status="unpriced"} 2)"));
  EXPECT_TRUE(has(R"(ai_gateway_cost_lookups_total{status="no_usage"} 1)"));
  EXPECT_TRUE(has(R"(ai_gateway_cost_lookups_total{status="error"} 4)"));
  telemetry.shutdown(1s);
}

TEST_F(TelemetryTest, DeliversBuildsAndMeasuresEveryRecord) {
  auto t = Telemetry::start(settings_, config(), registry_);
  ASSERT_TRUE(t) << t.error().message;
  auto& telemetry = **t;
  ASSERT_NE(fake_, nullptr);
  telemetry.requestStarted();
  telemetry.requestStarted();
  telemetry.requestEnded();
  for (int i = 0; i < 25; ++i) telemetry.submit(request(i));
  ASSERT_TRUE(eventually([&] { return fake_->allIds().size() == 25; }));

  auto ids = fake_->allIds();
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end());

  auto text = telemetry.metricsText();
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("ai_gateway_requests_total{provider=\"openai\",model=\"gpt-4o\",status_code=\"200\"} 25\n"),
            std::string::npos) << *text;
  EXPECT_NE(text->find("ai_gateway_tokens_total{provider=\"openai\",model=\"gpt-4o\",type=\"input\"} 250\n"),
            std::string::npos);
  EXPECT_NE(text->find("ai_gateway_active_requests 1\n"), std::string::npos);
  EXPECT_NE(text->find("ai_gateway_request_duration_seconds_count{provider=\"openai\",model=\"gpt-4o\"} 25\n"),
            std::string::npos);
  EXPECT_NE(text->find("ai_gateway_overhead_seconds_count{provider=\"openai\",model=\"gpt-4o\"} 25\n"),
            std::string::npos);
  EXPECT_NE(text->find("ai_gateway_cost_usd_total{provider=\"openai\",model=\"gpt-4o\"}"), std::string::npos);
  EXPECT_TRUE(eventually([&] {
    return telemetry.metricsText()->find(
               "ai_gateway_exporter_records_total{exporter=\"fake\",outcome=\"exported\"} 25\n") != std::string::npos;
  }));

  auto health = telemetry.exporterHealth();
  EXPECT_EQ(boost::json::serialize(health.at("fake")),
            R"({"state":"healthy","breaker":"closed","queue_depth":0,"spooled":0,"dropped":0})");
  EXPECT_EQ(health.at("prometheus").at("state"), "healthy");
  EXPECT_TRUE(health.at("prometheus").at("breaker").is_null());

  telemetry.shutdown(1s);
  EXPECT_EQ(fake_->shutdown_calls.load(), 1);
  telemetry.submit(request(99));  // after shutdown: counted, not lost silently
  EXPECT_EQ(telemetry.recordsDropped(), 1u);
  telemetry.shutdown(1s);  // idempotent
}

TEST_F(TelemetryTest, ShutdownFlushesWhatIsQueued) {
  auto t = Telemetry::start(settings_, config({{"TELEMETRY_BATCH_SIZE", "1000"}, {"TELEMETRY_FLUSH_INTERVAL_MS", "3600000"}}),
                            registry_);
  ASSERT_TRUE(t) << t.error().message;
  for (int i = 0; i < 5; ++i) (*t)->submit(request(i));
  (*t)->shutdown(5s);
  EXPECT_EQ(fake_->allIds().size(), 5u);
  EXPECT_EQ(fake_->flush_calls.load(), 1);
}

TEST_F(TelemetryTest, ADeadBackendSpoolsAndTheNextStartReplays) {
  {
    auto t = Telemetry::start(settings_, config({{"TELEMETRY_BREAKER_FAILURES", "1"}}), registry_);
    ASSERT_TRUE(t);
    fake_->behaviour = [](std::span<const RecordPtr>) { return ExportResult::retryable("down"); };
    for (int i = 0; i < 30; ++i) (*t)->submit(request(i));
    ASSERT_TRUE(eventually([&] { return (*t)->exporterHealth().at("fake").at("state") == "down"; }));
    EXPECT_TRUE(eventually([&] { return (*t)->exporterHealth().at("fake").at("breaker") == "open"; }));
    (*t)->shutdown(2s);
    EXPECT_EQ((*t)->exporterHealth().at("fake").at("spooled"), 30);
  }
  auto t = Telemetry::start(settings_, config(), registry_);
  ASSERT_TRUE(t);
  ASSERT_TRUE(eventually([&] { return fake_->allIds().size() == 30; }));
  (*t)->shutdown(1s);
  EXPECT_EQ(fake_->allIds().size(), 30u);
}

TEST_F(TelemetryTest, ConfigErrorsNameTheVariable) {
  auto starts_with = [&](std::map<std::string, std::string> env, std::string_view var) {
    auto t = Telemetry::start(settings_, config(env), registry_);
    ASSERT_FALSE(t);
    EXPECT_TRUE(t.error().message.starts_with(var)) << t.error().message;
  };
  starts_with({{"TELEMETRY_BATCH_SIZE", "0"}}, "TELEMETRY_BATCH_SIZE");
  starts_with({{"TELEMETRY_SPOOL_FSYNC", "sometimes"}}, "TELEMETRY_SPOOL_FSYNC");
  settings_.enabled_exporters = {"console"};
  starts_with({{"CONSOLE_PRETTY", "perhaps"}}, "CONSOLE_PRETTY");
}

TEST_F(TelemetryTest, UnknownExporterOrFailingFactoryStopsStartup) {
  settings_.enabled_exporters = {"nope"};
  auto unknown = Telemetry::start(settings_, config(), registry_);
  ASSERT_FALSE(unknown);
  EXPECT_TRUE(unknown.error().message.starts_with("ENABLED_EXPORTERS")) << unknown.error().message;
  EXPECT_NE(unknown.error().message.find("prometheus"), std::string::npos);

  registry_.add("broken", [](const ExporterContext&) -> Result<std::unique_ptr<Exporter>> {
    return configError("BROKEN_URL", "malformed URL");
  });
  settings_.enabled_exporters = {"broken"};
  auto broken = Telemetry::start(settings_, config(), registry_);
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().message.rfind("BROKEN_URL", 0), 0u) << broken.error().message;

  // A plugin whose name() is not the name it registered.
  registry_.add("alias", [](const ExporterContext&) -> Result<std::unique_ptr<Exporter>> {
    return std::make_unique<FakeExporter>("other");
  });
  settings_.enabled_exporters = {"alias"};
  auto misnamed = Telemetry::start(settings_, config(), registry_);
  ASSERT_FALSE(misnamed);
  EXPECT_TRUE(misnamed.error().message.starts_with("ENABLED_EXPORTERS")) << misnamed.error().message;
  EXPECT_NE(misnamed.error().message.find("'alias' names itself 'other'"), std::string::npos)
      << misnamed.error().message;

  settings_.pricing_file = "/nonexistent/prices.json";
  settings_.enabled_exporters = {};
  auto pricing = Telemetry::start(settings_, config(), registry_);
  ASSERT_FALSE(pricing);
  EXPECT_TRUE(pricing.error().message.starts_with("PRICING_FILE")) << pricing.error().message;
}

TEST_F(TelemetryTest, NoPrometheusMeansNoMetricsText) {
  settings_.enabled_exporters = {"console"};
  auto t = Telemetry::start(settings_, config(), registry_);
  ASSERT_TRUE(t);
  EXPECT_FALSE((*t)->metricsText());
  (*t)->shutdown(0ms);
}

}  // namespace
}  // namespace gw

namespace gw {
namespace {

// Records waiting for the telemetry thread are bounded in bytes
// (TELEMETRY_INGEST_MAX_BYTES): past it they are dropped and counted, never
// held. Every record is either delivered or counted as dropped.
TEST_F(TelemetryTest, IngestIsBoundedInBytes) {
  auto t = Telemetry::start(settings_, config({{"TELEMETRY_INGEST_MAX_BYTES", "1000000"},
                                               {"TELEMETRY_QUEUE_SIZE", "100000"},
                                               {"TELEMETRY_QUEUE_MAX_BYTES", "1000000000"}}),
                            registry_);
  ASSERT_TRUE(t) << t.error().message;
  constexpr int kRecords = 400;
  const std::string body = R"({"model":"gpt-4o","messages":[{"role":"user","content":")" + std::string(200000, 'x') + R"("}]})";
  for (int i = 0; i < kRecords; ++i) {
    auto r = request(i);
    r->request_body = body;
    (*t)->submit(std::move(r));
  }
  (*t)->shutdown(10s);
  const auto dropped = (*t)->recordsDropped();
  EXPECT_GT(dropped, 0u) << "400 records of 200 KB cannot all wait within 1 MB";
  EXPECT_EQ(fake_->allIds().size() + dropped, static_cast<std::size_t>(kRecords));
}

}  // namespace
}  // namespace gw
