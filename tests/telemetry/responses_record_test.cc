// Records of the OpenAI Responses API (POST /v1/responses): usage from the
// body or the stream's terminal event, the final "response" object of a
// stream and its events in streamed_data (docs/records.md, "The Responses
// API"), from the recorded transcripts in tests/testdata/providers/transcripts/.
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

RequestRecord responsesRequest(std::string model, bool stream) {
  RequestRecord r;
  r.id = "req-r";
  r.wall_start = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795723262345LL));
  r.received = RequestRecord::SteadyTime(10s);
  r.first_byte_sent = r.received + 100ms;
  r.upstream_sent = r.received + 1ms;
  r.upstream_finished = r.received + 300ms;
  r.finished = r.received + 301ms;
  r.provider = "openai";
  r.model = model;
  r.method = "POST";
  r.path = "/v1/responses";
  r.request_body = R"({"model":")" + model + R"(","input":"Hi")" + (stream ? R"(,"stream":true})" : "}");
  r.request_size = r.request_body.size();
  r.status_code = 200;
  r.provider_status_code = 200;
  r.streamed = stream;
  r.observation.api = ResponseApi::kResponses;
  return r;
}

const json::object& attrs(const BuiltRecord& b) { return b.record->json().at("attributes").as_object(); }
const json::object& meta(const BuiltRecord& b) { return attrs(b).at("metadata").as_object(); }

json::array parsedAll(const std::vector<std::string>& chunks) {
  json::array a;
  for (const auto& c : chunks) a.push_back(json::parse(c));
  return a;
}

// The record's response without its streamed_data: the response object.
json::object withoutStreamedData(json::object o) {
  o.erase("streamed_data");
  return o;
}

void expectConsistent(const BuiltRecord& b) {
  EXPECT_EQ(json::parse(b.record->serialized), json::value(b.record->json()));
  EXPECT_EQ(b.record->fields, fieldsFromJson(b.record->json()));
}

TEST(ResponsesRecord, NonStreamUsageModelAndCostFromTheBody) {
  RequestRecord r = responsesRequest("gpt-5-mini", false);
  r.response_body = readFile("openai-responses-reasoning.json");
  r.response_size = r.response_body.size();
  auto b = builder().build(r);
  expectConsistent(b);
  EXPECT_EQ(meta(b).at("tokens"), json::parse(R"({"input":865,"output":163,"total":1028,"cached_input":0,)"
                                              R"("cache_creation":null,"reasoning":128})"));
  // gpt-5-mini: 2.5e-7 per input token, 2e-6 per output token (reasoning too).
  EXPECT_NEAR(meta(b).at("cost").as_double(), 865 * 2.5e-7 + 163 * 2e-6, 1e-12);
  EXPECT_EQ(attrs(b).at("response"), json::parse(r.response_body));
  EXPECT_EQ(meta(b).at("status"), "success");
  EXPECT_TRUE(meta(b).at("provider_error_type").is_null());

  // No model in the request: the response's.
  RequestRecord no_model = responsesRequest("", false);
  no_model.response_body = readFile("openai-responses-text.json");
  auto c = builder().build(no_model);
  EXPECT_EQ(attrs(c).at("model"), "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(meta(c).at("tokens"), json::parse(R"({"input":12,"output":2,"total":14,"cached_input":0,)"
                                              R"("cache_creation":null,"reasoning":0})"));
  EXPECT_NEAR(meta(c).at("cost").as_double(), 12 * 1.5e-7 + 2 * 6e-7, 1e-12);
}

TEST(ResponsesRecord, AStoredResponseRetrievedAgainHasNoTokens) {
  RequestRecord r = responsesRequest("", false);
  r.method = "GET";
  r.path = "/v1/responses/resp_sanitized_normal";
  r.request_body.clear();
  r.request_size = 0;
  r.observation.own_usage = false;
  r.response_body = readFile("openai-responses-text.json");
  auto b = builder().build(r);
  expectConsistent(b);
  EXPECT_EQ(meta(b).at("tokens"), json::parse(R"({"input":null,"output":null,"total":null,"cached_input":null,)"
                                              R"("cache_creation":null,"reasoning":null})"));
  EXPECT_TRUE(meta(b).at("cost").is_null());
  EXPECT_EQ(attrs(b).at("response"), json::parse(r.response_body));

  RequestRecord s = responsesRequest("", true);
  s.method = "GET";
  s.path = "/v1/responses/resp_sanitized_streaming";
  s.observation.own_usage = false;
  s.observation.chunks = lines("openai-responses-text.chunks.jsonl");
  auto c = builder().build(s);
  EXPECT_EQ(attrs(c).at("response").at("status"), "completed");
  EXPECT_TRUE(meta(c).at("tokens").at("total").is_null());
}

TEST(ResponsesRecord, NonStreamCachedTokensArePricedAsCacheReads) {
  RequestRecord r = responsesRequest("gpt-4o-mini-2024-07-18", false);
  r.response_body = R"({"id":"resp_1","object":"response","model":"gpt-4o-mini-2024-07-18","output":[],)"
                    R"("usage":{"input_tokens":1000,"input_tokens_details":{"cached_tokens":600},)"
                    R"("output_tokens":10,"output_tokens_details":{"reasoning_tokens":0}}})";
  auto b = builder().build(r);
  EXPECT_EQ(meta(b).at("tokens"), json::parse(R"({"input":1000,"output":10,"total":1010,"cached_input":600,)"
                                              R"("cache_creation":null,"reasoning":0})"));
  EXPECT_NEAR(meta(b).at("cost").as_double(), 400 * 1.5e-7 + 600 * 7.5e-8 + 10 * 6e-7, 1e-12);
}

TEST(ResponsesRecord, StreamResponseIsTheCompletedResponseAndStreamedDataEveryEvent) {
  const auto events = lines("openai-responses-text.chunks.jsonl");
  for (bool observed_usage : {true, false}) {
    RequestRecord r = responsesRequest("gpt-4o-mini", true);
    r.observation.chunks = events;
    if (observed_usage) {  // what the handler reads from response.completed
      r.observation.usage.input = 12;
      r.observation.usage.output = 2;
      r.observation.usage.total = 14;
      r.observation.usage.cached_input = 0;
      r.observation.usage.reasoning = 0;
      r.observation.response_model = "gpt-4o-mini-2024-07-18";
    }
    auto b = builder().build(r);
    expectConsistent(b);
    const auto& resp = attrs(b).at("response").as_object();
    EXPECT_EQ(withoutStreamedData(resp), json::parse(events.back()).at("response").as_object());
    EXPECT_EQ(resp.at("status"), "completed");
    EXPECT_EQ(resp.at("streamed_data"), parsedAll(events));
    EXPECT_EQ(meta(b).at("tokens"), json::parse(R"({"input":12,"output":2,"total":14,"cached_input":0,)"
                                                R"("cache_creation":null,"reasoning":0})"))
        << (observed_usage ? "observed" : "read from the final response");
    EXPECT_NEAR(meta(b).at("cost").as_double(), 12 * 1.5e-7 + 2 * 6e-7, 1e-12);
    EXPECT_EQ(b.record->fields.response_model, "gpt-4o-mini-2024-07-18");
    EXPECT_TRUE(meta(b).at("provider_error_type").is_null());
    // The events keep their own text in the record.
    for (const auto& e : events) EXPECT_NE(b.record->serialized.find(e), std::string::npos);
  }
}

// Four recorded streams one after another: the last terminal event's
// response and usage (the handler reads the same).
TEST(ResponsesRecord, ReasoningStreamOfFourResponsesEndsWithTheLast) {
  const auto events = lines("openai-responses-reasoning.chunks.jsonl");
  RequestRecord r = responsesRequest("gpt-5.1-codex-max", true);
  r.observation.chunks = events;
  auto b = builder().build(r);
  const auto& resp = attrs(b).at("response").as_object();
  EXPECT_EQ(withoutStreamedData(resp), json::parse(events.back()).at("response").as_object());
  EXPECT_EQ(resp.at("streamed_data").as_array().size(), 110u);
  EXPECT_EQ(meta(b).at("tokens"), json::parse(R"({"input":299,"output":12,"total":311,"cached_input":0,)"
                                              R"("cache_creation":null,"reasoning":0})"));
  EXPECT_NEAR(meta(b).at("cost").as_double(), 299 * 1.25e-6 + 12 * 1e-5, 1e-12);
}

TEST(ResponsesRecord, CancelledAfterAFewEventsKeepsTheLastResponseSeen) {
  const auto events = lines("openai-responses-text.chunks.jsonl");
  RequestRecord r = responsesRequest("gpt-4o-mini", true);
  r.observation.chunks.assign(events.begin(), events.begin() + 4);  // created, in_progress, two added
  r.outcome = RequestOutcome::kCancelled;
  r.error_type = ErrorType::kClientDisconnected;
  r.upstream_finished.reset();
  auto b = builder().build(r);
  expectConsistent(b);
  const auto& resp = attrs(b).at("response").as_object();
  EXPECT_EQ(withoutStreamedData(resp), json::parse(events[1]).at("response").as_object()) << "response.in_progress's";
  EXPECT_EQ(resp.at("status"), "in_progress");
  EXPECT_EQ(resp.at("streamed_data").as_array().size(), 4u);
  EXPECT_EQ(meta(b).at("status"), "cancelled");
  EXPECT_EQ(meta(b).at("error_type"), "client_disconnected");
  EXPECT_TRUE(meta(b).at("tokens").at("input").is_null());
  EXPECT_TRUE(meta(b).at("cost").is_null());
}

TEST(ResponsesRecord, StreamEndingWithoutATerminalEvent) {
  const auto events = lines("openai-responses-text.chunks.jsonl");
  RequestRecord r = responsesRequest("gpt-4o-mini", true);
  r.observation.chunks.assign(events.begin(), events.end() - 1);
  auto b = builder().build(r);
  const auto& resp = attrs(b).at("response").as_object();
  EXPECT_EQ(withoutStreamedData(resp), json::parse(events[1]).at("response").as_object());
  EXPECT_EQ(resp.at("streamed_data").as_array().size(), 8u);
  EXPECT_TRUE(meta(b).at("tokens").at("total").is_null());

  // No event carried a response: only the events.
  RequestRecord deltas = responsesRequest("gpt-4o-mini", true);
  deltas.observation.chunks.assign(events.begin() + 2, events.end() - 1);
  auto d = builder().build(deltas);
  EXPECT_EQ(attrs(d).at("response"), json::object({{"streamed_data", parsedAll(deltas.observation.chunks)}}));

  // No event at all.
  RequestRecord none = responsesRequest("gpt-4o-mini", true);
  auto n = builder().build(none);
  EXPECT_EQ(attrs(n).at("response"), json::object({{"streamed_data", json::array()}}));
  expectConsistent(n);
}

TEST(ResponsesRecord, MalformedEventsNeverCrashAndUsageIsAbsent) {
  RequestRecord r = responsesRequest("gpt-4o-mini", true);
  r.observation.chunks = {
      "{not json",
      R"({"type":"response.completed","response":{"usage":"x"}})",
      R"({"type":"response.completed","response":)",
      R"({"type":"response.completed","response":[1,2]})",
      R"({"type":7,"response":null})",
      R"([1,2,3])",
      "",
      std::string(300, '[') + std::string(300, ']'),
  };
  auto b = builder().build(r);
  expectConsistent(b);
  const auto& resp = attrs(b).at("response").as_object();
  EXPECT_EQ(resp.at("usage"), "x") << "the one response object there was";
  EXPECT_EQ(resp.at("streamed_data").as_array().size(), 8u);
  EXPECT_EQ(resp.at("streamed_data").at(0), "{not json");
  EXPECT_TRUE(meta(b).at("tokens").at("input").is_null());
  EXPECT_TRUE(meta(b).at("cost").is_null());
}

TEST(ResponsesRecord, IncompleteResponseIsNotAnError) {
  RequestRecord r = responsesRequest("gpt-5-mini", true);
  r.observation.chunks = {
      R"({"type":"response.created","response":{"id":"resp_1","status":"in_progress","usage":null},"sequence_number":0})",
      R"({"type":"response.incomplete","response":{"id":"resp_1","model":"gpt-5-mini-2025-08-07","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":100,"input_tokens_details":{"cached_tokens":40},"output_tokens":50,"output_tokens_details":{"reasoning_tokens":30}}},"sequence_number":1})"};
  auto b = builder().build(r);
  EXPECT_EQ(attrs(b).at("response").at("status"), "incomplete");
  EXPECT_EQ(meta(b).at("tokens"), json::parse(R"({"input":100,"output":50,"total":150,"cached_input":40,)"
                                              R"("cache_creation":null,"reasoning":30})"));
  EXPECT_NEAR(meta(b).at("cost").as_double(), 60 * 2.5e-7 + 40 * 2.5e-8 + 50 * 2e-6, 1e-12);
  EXPECT_EQ(meta(b).at("provider_error_count"), 0);
  EXPECT_TRUE(meta(b).at("provider_error_type").is_null());
  EXPECT_EQ(meta(b).at("status"), "success");
  EXPECT_EQ(meta(b).at("error_count"), 0);
}

TEST(ResponsesRecord, FailedResponseAndErrorEventsSetTheProviderErrorType) {
  auto failed = [](std::string error) {
    RequestRecord r = responsesRequest("gpt-5-mini", true);
    r.observation.chunks = {
        R"({"type":"response.created","response":{"id":"resp_2","status":"in_progress","usage":null}})",
        R"({"type":"response.failed","response":{"id":"resp_2","status":"failed","error":)" + error +
            R"(,"usage":{"input_tokens":7,"output_tokens":0,"total_tokens":7}}})"};
    return builder().build(r);
  };
  auto b = failed(R"({"code":"server_error","message":"boom"})");
  EXPECT_EQ(meta(b).at("provider_error_type"), "server_error");
  EXPECT_EQ(meta(b).at("provider_error_count"), 1);
  EXPECT_EQ(meta(b).at("status"), "error");
  EXPECT_EQ(meta(b).at("error_type"), "upstream_http_error");
  EXPECT_EQ(meta(b).at("error_count"), 1);
  EXPECT_EQ(attrs(b).at("response").at("status"), "failed");
  EXPECT_EQ(meta(b).at("tokens").at("total"), 7);
  EXPECT_EQ(meta(failed("null")).at("provider_error_type"), "response_failed");

  RequestRecord e = responsesRequest("gpt-5-mini", true);
  e.observation.chunks = {
      R"({"type":"response.created","response":{"id":"resp_3","status":"in_progress","usage":null}})",
      R"({"type":"error","code":"rate_limit_exceeded","message":"slow down","param":null,"sequence_number":1})"};
  auto c = builder().build(e);
  EXPECT_EQ(meta(c).at("provider_error_type"), "rate_limit_exceeded");
  EXPECT_EQ(meta(c).at("status"), "error");
  EXPECT_EQ(attrs(c).at("response").at("streamed_data").as_array().size(), 2u);
  e.observation.chunks[1] = R"({"type":"error","message":"no code"})";
  EXPECT_EQ(meta(builder().build(e)).at("provider_error_type"), "stream_error");
}

TEST(ResponsesRecord, SecretsAreScrubbedAndTheCapKeepsAPrefix) {
  const auto events = lines("openai-responses-text.chunks.jsonl");
  RequestRecord r = responsesRequest("gpt-4o-mini", true);
  r.observation.chunks = events;
  r.observation.chunks.back().insert(r.observation.chunks.back().find("\"model\""), R"("api_key":"sk-secret",)");
  // Room for the first events only.
  std::size_t cap = events[0].size() + events[1].size() + events[2].size();
  auto b = builder(cap).build(r);
  expectConsistent(b);
  EXPECT_EQ(b.record->serialized.find("sk-secret"), std::string::npos);
  const auto& resp = attrs(b).at("response").as_object();
  EXPECT_EQ(resp.at("api_key"), "[REDACTED]");
  EXPECT_EQ(resp.at("status"), "completed") << "the response comes from every kept event, not only the listed ones";
  EXPECT_EQ(resp.at("streamed_data").as_array().size(), 3u);
  EXPECT_EQ(resp.at("_chunks_not_captured"), 6);

  auto off = builder(1 << 20, false).build(r);
  EXPECT_TRUE(attrs(off).at("response").is_null());
  EXPECT_EQ(meta(off).at("tokens").at("total"), 14);
}

TEST(StreamAssembler, ResponsesEventsAgreeOnBothPaths) {
  for (const char* name : {"openai-responses-text.chunks.jsonl", "openai-responses-reasoning.chunks.jsonl"}) {
    const auto events = lines(name);
    StreamAssembler fast({}, false, ResponseApi::kResponses);
    StreamAssembler general({}, true, ResponseApi::kResponses);
    std::string fast_text, general_text;
    for (const auto& e : events) {
      if (!fast_text.empty()) fast_text += ',', general_text += ',';
      fast.add(e, &fast_text);
      general.add(e, &general_text);
    }
    EXPECT_EQ(fast.fastChunks(), events.size()) << name << ": every event takes the fast path";
    json::object a = fast.finish(), b = general.finish();
    EXPECT_EQ(a, b) << name;
    EXPECT_EQ(a, json::parse(events.back()).at("response").as_object()) << name;
    EXPECT_EQ(json::parse("[" + fast_text + "]"), json::parse("[" + general_text + "]")) << name;
    EXPECT_FALSE(fast.errorType());
  }
  // An error event goes the general path on both.
  StreamAssembler fast({}, false, ResponseApi::kResponses);
  fast.add(R"({"type":"error","code":"c1","message":"m"})", nullptr);
  fast.finish();
  EXPECT_EQ(fast.fastChunks(), 0u);
  EXPECT_EQ(fast.errorType(), "c1");
  // A chat assembler is unchanged by "type" and "response" members.
  StreamAssembler chat;
  chat.add(R"({"id":"c","type":{"x":1},"response":[1],"choices":[{"index":0,"delta":{"content":"a"}}]})", nullptr);
  EXPECT_EQ(chat.fastChunks(), 1u);
  EXPECT_EQ(chat.finish().at("choices").at(0).at("delta").at("content"), "a");
}

}  // namespace
}  // namespace gw
