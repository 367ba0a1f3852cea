// Test helpers for the exporters: request records in the docs/records.md
// shape, and golden-file comparison. Header-only, test-only.
#pragma once

#include "gw/exporter.h"
#include "telemetry/record_json.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

namespace gw::exporters::testing {

struct RecordSpec {
  std::string id = "req-0001";
  std::string timestamp = "2024-05-01T12:00:00.123Z";
  std::string provider = "openai";
  std::string model = "gpt-4o-mini";
  std::optional<std::string> project_id = "proj-a";
  std::optional<std::string> org_id = "org-1";
  std::optional<std::string> user_id = "user-7";
  std::string status = "success";
  int status_code = 200;
  std::int64_t input_tokens = 12;
  std::int64_t output_tokens = 30;
  // Parts of input (cache reads, cache writes) and output (reasoning); null
  // when the provider reports none.
  std::optional<std::int64_t> cached_input_tokens = 4;
  std::optional<std::int64_t> cache_creation_tokens;
  std::optional<std::int64_t> reasoning_tokens = 8;
  std::optional<double> cost = 0.000125;
  // The record builder's rule for records with tokens: "priced" with a cost, else "unpriced".
  std::optional<std::string> cost_status;
  std::optional<std::string> provider_address = "api.openai.com";
  int provider_port = 443;
  double latency_ms = 850;
  double ttfb_ms = 120;
  double provider_latency_ms = 800;
  bool stream = false;
  std::optional<std::string> error_type;
};

inline boost::json::value nullable(const std::optional<std::string>& s) {
  return s ? boost::json::value(*s) : boost::json::value(nullptr);
}
inline boost::json::value nullable(const std::optional<std::int64_t>& v) {
  return v ? boost::json::value(*v) : boost::json::value(nullptr);
}

// A record whose text is `tree` serialised (for tests that edit a record's tree).
inline RecordPtr recordFromTree(const boost::json::object& tree) {
  const auto* id = findPath(tree, {"attributes", "id"});
  return std::make_shared<TelemetryRecord>(id && id->is_string() ? std::string(id->as_string()) : std::string(),
                                           boost::json::serialize(tree), fieldsFromJson(tree));
}

inline RecordPtr makeRecord(const RecordSpec& s = {}) {
  namespace json = boost::json;
  json::object request{{"model", s.model},
                       {"messages", json::array{json::object{{"role", "user"}, {"content", "Say hi"}}}},
                       {"stream", s.stream}};
  json::object response{{"id", "chatcmpl-1"},
                        {"object", "chat.completion"},
                        {"model", s.model + "-2024-07-18"},
                        {"choices", json::array{json::object{
                                        {"index", 0},
                                        {"message", json::object{{"role", "assistant"}, {"content", "Hi!"}}},
                                        {"finish_reason", "stop"}}}},
                        {"usage", json::object{{"prompt_tokens", s.input_tokens},
                                               {"completion_tokens", s.output_tokens},
                                               {"total_tokens", s.input_tokens + s.output_tokens}}}};
  json::object metadata{
      {"project_id", nullable(s.project_id)},
      {"project_name", s.project_id ? json::value("Project " + *s.project_id) : json::value(nullptr)},
      {"latency", s.latency_ms},
      {"ttfb", s.ttfb_ms},
      {"tokens", json::object{{"input", s.input_tokens},
                              {"output", s.output_tokens},
                              {"total", s.input_tokens + s.output_tokens},
                              {"cached_input", nullable(s.cached_input_tokens)},
                              {"cache_creation", nullable(s.cache_creation_tokens)},
                              {"reasoning", nullable(s.reasoning_tokens)}}},
      {"cost", s.cost ? json::value(*s.cost) : json::value(nullptr)},
      {"cost_status", s.cost_status.value_or(s.cost ? "priced" : "unpriced")},
      {"status", s.status},
      {"path", "/v1/chat/completions"},
      {"method", "POST"},
      {"request_size", 96},
      {"response_size", 230},
      {"provider_latency", s.provider_latency_ms},
      {"status_code", s.status_code},
      {"provider_status_code", s.status_code},
      {"error_count", s.error_type ? 1 : 0},
      {"error_type", nullable(s.error_type)},
      {"provider_error_count", s.error_type ? 1 : 0},
      {"provider_error_type", nullable(s.error_type)},
      {"provider_request_id", "prov-" + s.id},
      {"provider_address", nullable(s.provider_address)},
      {"provider_port", s.provider_address ? json::value(s.provider_port) : json::value(nullptr)}};
  json::object attributes{{"id", s.id},
                          {"thread_id", nullptr},
                          {"org_id", nullable(s.org_id)},
                          {"user_id", nullable(s.user_id)},
                          {"project_id", nullable(s.project_id)},
                          {"experiment_id", nullptr},
                          {"provider", s.provider},
                          {"model", s.model},
                          {"request", std::move(request)},
                          {"response", std::move(response)},
                          {"metadata", std::move(metadata)}};
  json::object record{{"timestamp", s.timestamp},
                      {"resource", json::object{{"service.name", "noveum_ai_gateway"},
                                                {"service.version", "1.2.3-test"},
                                                {"deployment.environment", "test"}}},
                      {"name", "ai_gateway_request_log"},
                      {"attributes", std::move(attributes)}};
  return recordFromTree(record);
}

// makeRecordWith([](RecordSpec& s) { s.id = "x"; }): a default record with changes.
template <class Edit>
RecordPtr makeRecordWith(Edit edit) {
  RecordSpec s;
  edit(s);
  return makeRecord(s);
}

// `count` records with ids "<prefix>-0".."<prefix>-N", timestamps one second apart.
inline std::vector<RecordPtr> makeRecords(std::size_t count, const std::string& prefix = "req") {
  std::vector<RecordPtr> out;
  for (std::size_t i = 0; i < count; ++i) {
    RecordSpec s;
    s.id = prefix + "-" + std::to_string(i);
    s.timestamp = "2024-05-01T12:00:" + std::string(i % 60 < 10 ? "0" : "") + std::to_string(i % 60) + ".250Z";
    s.model = i % 2 ? "gpt-4o" : "gpt-4o-mini";
    s.input_tokens = static_cast<std::int64_t>(10 + i);
    s.output_tokens = static_cast<std::int64_t>(20 + 2 * i);
    out.push_back(makeRecord(s));
  }
  return out;
}

inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Compares `actual` with the golden file tests/testdata/exporters/<relative>.
// GW_UPDATE_GOLDEN=1 rewrites the file instead (review the diff!).
inline void expectGolden(const std::string& actual, const std::string& relative) {
  const std::string path = std::string(GW_TESTDATA_DIR) + "/exporters/" + relative;
  if (const char* update = std::getenv("GW_UPDATE_GOLDEN"); update && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << actual;
    return;
  }
  std::ifstream probe(path);
  ASSERT_TRUE(probe.good()) << "missing golden file " << path << " (run with GW_UPDATE_GOLDEN=1)";
  EXPECT_EQ(actual, readFile(path)) << "golden mismatch: " << path;
}

}  // namespace gw::exporters::testing
