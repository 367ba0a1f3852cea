// Records of the Anthropic Messages API (POST /v1/messages, passed through):
// usage from the body or from a stream's message_start and message_delta
// events (the last value of each count wins), cache reads and writes kept
// apart and priced, the message a stream's events build, and the events in
// streamed_data (docs/records.md), from the recorded transcripts in
// tests/testdata/providers/transcripts/.
#include "telemetry/record_builder.h"
#include "telemetry/record_json.h"
#include "telemetry/stream_assembler.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace gw {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::shared_ptr<const PricingTable> pricing() {
  static auto table = [] {
    auto t = PricingTable::load(std::string(GW_SOURCE_DIR) + "/data/model_prices_and_context_window.json");
    return std::make_shared<const PricingTable>(std::move(*t));
  }();
  return table;
}

RecordBuilder builder(std::size_t max_body = 1 << 20, bool capture = true) {
  RecordBuilderOptions o;
  o.service_version = "9.9.9-test";
  o.capture_bodies = capture;
  o.max_body_bytes = max_body;
  return RecordBuilder(o, pricing());
}

std::string readFile(const std::string& name) {
  std::ifstream in(std::string(GW_TESTDATA_DIR "/providers/transcripts/") + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines(const std::string& name) {
  std::istringstream in(readFile(name));
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

RequestRecord messagesRequest(std::string model, bool stream) {
  RequestRecord r;
  r.id = "req-m";
  r.wall_start = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795723262345LL));
  r.received = RequestRecord::SteadyTime(10s);
  r.first_byte_sent = r.received + 100ms;
  r.upstream_sent = r.received + 1ms;
  r.upstream_finished = r.received + 300ms;
  r.finished = r.received + 301ms;
  r.provider = "anthropic";
  r.model = model;
  r.method = "POST";
  r.path = "/v1/messages";
  r.request_body = R"({"model":")" + model + R"(","max_tokens":1024,"messages":[{"role":"user","content":"Hi"}])" +
                   (stream ? R"(,"stream":true})" : "}");
  r.request_size = r.request_body.size();
  r.status_code = 200;
  r.provider_status_code = 200;
  r.streamed = stream;
  r.observation.api = ResponseApi::kMessages;
  return r;
}

const json::object& attrs(const BuiltRecord& b) { return b.record->json().at("attributes").as_object(); }
const json::object& meta(const BuiltRecord& b) { return attrs(b).at("metadata").as_object(); }

void expectConsistent(const BuiltRecord& b) {
  EXPECT_EQ(json::parse(b.record->serialized), json::value(b.record->json()));
  EXPECT_EQ(b.record->fields, fieldsFromJson(b.record->json()));
}

// claude-sonnet-5 in the shipped table: 2e-6 input, 1e-5 output, 2e-7 cache
// read, 2.5e-6 cache write, per token.
double sonnet5Cost(double uncached, double read, double write, double output) {
  return uncached * 2e-6 + read * 2e-7 + write * 2.5e-6 + output * 1e-5;
}

TEST(MessagesRecord, NonStreamUsageWithCacheCountsAndCost) {
  RequestRecord r = messagesRequest("claude-opus-4-8", false);
  r.response_body = readFile("anthropic-cache.json");
  r.response_size = r.response_body.size();
  auto b = builder().build(r);
  expectConsistent(b);
  EXPECT_EQ(meta(b).at("tokens"), json::parse(R"({"input":13,"output":4,"total":17,"cached_input":0,)"
                                              R"("cache_creation":0,"reasoning":0})"));
  EXPECT_NEAR(meta(b).at("cost").as_double(), 13 * 5e-6 + 4 * 2.5e-5, 1e-12);
  EXPECT_EQ(attrs(b).at("response"), json::parse(r.response_body));
  EXPECT_EQ(meta(b).at("status"), "success");
}

TEST(MessagesRecord, StreamTokensAreTheLastValueOfEachCountNeverASum) {
  RequestRecord r = messagesRequest("claude-sonnet-5", true);
  std::vector<std::string> events = lines("anthropic-cache.chunks.jsonl");
  for (const auto& e : events)
    if (json::parse(e).at("type") != "ping") r.observation.chunks.push_back(e);
  // As the request path leaves it when the handler read nothing (the
  // builder reads the assembled message's usage).
  auto b = builder().build(r);
  expectConsistent(b);
  EXPECT_EQ(meta(b).at("tokens"), json::parse(R"({"input":9632,"output":198,"total":9830,"cached_input":6289,)"
                                              R"("cache_creation":3337,"reasoning":0})"));
  EXPECT_NEAR(meta(b).at("cost").as_double(), sonnet5Cost(6, 6289, 3337, 198), 1e-12);

  const json::object& response = attrs(b).at("response").as_object();
  EXPECT_EQ(response.at("id"), "msg_011CdYfpjpVtBoXyXCQD1tQP");
  EXPECT_EQ(response.at("model"), "claude-sonnet-5");
  EXPECT_EQ(response.at("stop_reason"), "end_turn");
  EXPECT_EQ(response.at("usage").at("output_tokens"), 198);
  EXPECT_EQ(response.at("usage").at("input_tokens"), 6);
  const json::array& content = response.at("content").as_array();
  ASSERT_EQ(content.size(), 5u);
  // Block 0: a server tool call whose input arrived as pieces of JSON.
  EXPECT_EQ(content[0].at("type"), "server_tool_use");
  EXPECT_TRUE(content[0].at("input").is_object());
  EXPECT_TRUE(content[0].at("input").as_object().contains("command"));
  EXPECT_EQ(content[4].at("type"), "text");
  EXPECT_EQ(content[4].at("text"), "The sum of the squares of the numbers 1 through 12 is **650**.");
  // streamed_data: every event kept, in order.
  const json::array& streamed = response.at("streamed_data").as_array();
  ASSERT_EQ(streamed.size(), r.observation.chunks.size());
  EXPECT_EQ(streamed.front().at("type"), "message_start");
  EXPECT_EQ(streamed.back().at("type"), "message_stop");
  EXPECT_EQ(meta(b).at("status"), "success");
}

TEST(MessagesRecord, UsageTheHandlerReadIsTheRecords) {
  // Metrics-only exporters: no events kept, the handler's usage counts.
  RequestRecord r = messagesRequest("claude-sonnet-5", true);
  r.observation.usage.input = 9632;
  r.observation.usage.output = 198;
  r.observation.usage.total = 9830;
  r.observation.usage.cached_input = 6289;
  r.observation.usage.cache_creation = 3337;
  auto b = builder().build(r);
  EXPECT_NEAR(meta(b).at("cost").as_double(), sonnet5Cost(6, 6289, 3337, 198), 1e-12);
}

TEST(MessagesRecord, PlaceholderCountsOfATranslatedStreamAreNotTokens) {
  // A Converse stream translated to Messages that broke before Converse gave
  // its usage: the message_start the gateway wrote says 0 and 0, which the
  // provider never reported.
  RequestRecord r = messagesRequest("anthropic.claude-3-5-sonnet-20240620-v1:0", true);
  r.provider = "bedrock";
  r.outcome = RequestOutcome::kError;
  r.error_type = ErrorType::kUpstreamBroken;
  r.observation.usage_from_handler = true;
  r.observation.chunks = {
      R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"m","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}})",
      R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"};
  auto b = builder().build(r);
  expectConsistent(b);
  EXPECT_EQ(meta(b).at("tokens"), json::parse(R"({"input":null,"output":null,"total":null,"cached_input":null,)"
                                              R"("cache_creation":null,"reasoning":null})"));
  EXPECT_TRUE(meta(b).at("cost").is_null());
  // The same events from a passthrough (Anthropic's own counts) are tokens.
  r.observation.usage_from_handler = false;
  EXPECT_EQ(meta(builder().build(r)).at("tokens").at("input"), 0);
}

TEST(MessagesRecord, AnErrorEventIsTheProviderError) {
  RequestRecord r = messagesRequest("claude-sonnet-5", true);
  r.observation.chunks = {
      R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-5","usage":{"input_tokens":10,"output_tokens":1}}})",
      R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}})",
      R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"};
  auto b = builder().build(r);
  expectConsistent(b);
  EXPECT_EQ(meta(b).at("provider_error_type"), "overloaded_error");
  // The stream failed as the provider said: an error, though the client's
  // status stays 200.
  EXPECT_EQ(meta(b).at("status"), "error");
  EXPECT_EQ(meta(b).at("error_type"), "upstream_http_error");
  EXPECT_EQ(meta(b).at("error_count"), 1);
  EXPECT_EQ(meta(b).at("status_code"), 200);
  EXPECT_TRUE(b.summary.is_error);
  EXPECT_EQ(b.summary.error_type, "upstream_http_error");
  EXPECT_EQ(attrs(b).at("response").at("content").at(0).at("text"), "Hel");
  EXPECT_EQ(meta(b).at("tokens").at("input"), 10);
}

TEST(MessagesRecord, ToolInputThatNeverCompletesIsKeptAsText) {
  RequestRecord r = messagesRequest("claude-sonnet-5", true);
  r.observation.chunks = {
      R"({"type":"message_start","message":{"id":"msg_1","content":[],"usage":{"input_tokens":10,"output_tokens":1}}})",
      R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}})"};
  auto b = builder().build(r);
  EXPECT_EQ(attrs(b).at("response").at("content").at(0).at("input"), "{\"a\":");
}

TEST(MessagesRecord, CountTokensIsNotBilled) {
  RequestRecord r = messagesRequest("claude-sonnet-5", false);
  r.path = "/v1/messages/count_tokens";
  r.observation.own_usage = false;
  r.response_body = R"({"input_tokens":2095})";
  auto b = builder().build(r);
  EXPECT_TRUE(meta(b).at("tokens").at("input").is_null());
  EXPECT_TRUE(meta(b).at("cost").is_null());
}

}  // namespace
}  // namespace gw
