#include "providers/anthropic/anthropic_provider.h"

#include "common/openai_error.h"
#include "providers/anthropic/anthropic_translate.h"
#include "providers/common/openai_chat.h"
#include "providers/common/testing/golden.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>

namespace gw::providers::anthropic {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using testing::ClientFixture;

constexpr std::int64_t kCreated = 1700000000;
const fs::path kCases = fs::path(GW_TESTDATA_DIR) / "providers" / "anthropic";

ProviderConfig anthropicConfig(std::string key = "") {
  ProviderConfig c;
  c.name = "anthropic";
  c.base_url = "http://127.0.0.1:9998";
  c.env_api_key = std::move(key);
  c.api_key_setting = "ANTHROPIC_API_KEY";
  return c;
}

// Runs the stream translator over `upstream`, fed in the given pieces, the
// way the core does: onBody per piece, then onEnd, and onUpstreamFailure
// when either fails.
std::string translateStream(const std::vector<std::string_view>& pieces, bool wants_usage, ResponseObservation& obs,
                            std::size_t budget = 1 << 20) {
  anthropic::StreamTranslator t(obs, budget, "fallback-model", wants_usage, kCreated);
  std::string out;
  for (auto piece : pieces) {
    if (auto st = t.feed(piece, out); !st) {
      t.fail(st.error(), out);
      return out;
    }
  }
  if (auto st = t.finish(out); !st) t.fail(st.error(), out);
  return out;
}

std::vector<std::string_view> splitAt(std::string_view s, std::size_t at) { return {s.substr(0, at), s.substr(at)}; }

class AnthropicGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(AnthropicGolden, Case) {
  fs::path dir = kCases / GetParam();
  json::object request = json::parse(testing::readFile(dir / "request.json")).as_object();
  int status = 200;
  if (fs::exists(dir / "case.json")) status = static_cast<int>(json::parse(testing::readFile(dir / "case.json")).at("status").as_int64());

  auto chat = openai_chat::parseChatRequest(request, "anthropic");
  if (!chat) {
    json::object err{{"status", chat.error().http_status}, {"body", json::parse(openAiErrorBody(chat.error()))}};
    testing::expectJsonGolden(dir / "expected_error.json", json::serialize(err));
    return;
  }
  testing::expectJsonGolden(dir / "upstream_request.json", anthropic::toMessagesRequest(*chat));

  ResponseObservation obs;
  if (status >= 300) {
    std::string body = testing::readFile(dir / "upstream_response.json");
    testing::expectJsonGolden(dir / "client_response.json", anthropic::translateError(status, body, obs));
  } else if (chat->stream) {
    std::string upstream = testing::readFile(dir / "upstream_response.sse");
    bool wants_usage = false;
    if (auto* so = request.if_contains("stream_options"))
      wants_usage = so->as_object().contains("include_usage") && so->as_object().at("include_usage").as_bool();
    std::string whole = translateStream({upstream}, wants_usage, obs);
    testing::expectTextGolden(dir / "client_response.sse", whole);
    // Same bytes whatever the read boundaries: every split point, and one byte at a time.
    for (std::size_t at = 0; at <= upstream.size(); ++at) {
      ResponseObservation o;
      ASSERT_EQ(translateStream(splitAt(upstream, at), wants_usage, o), whole) << "split at " << at;
    }
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < upstream.size(); ++i) bytes.push_back(std::string_view(upstream).substr(i, 1));
    ResponseObservation o;
    EXPECT_EQ(translateStream(bytes, wants_usage, o), whole);
  } else {
    std::string body = testing::readFile(dir / "upstream_response.json");
    auto out = anthropic::translateResponse(body, kCreated, obs);
    ASSERT_TRUE(out) << out.error().message;
    testing::expectJsonGolden(dir / "client_response.json", *out);
  }
  testing::expectJsonGolden(dir / "observation.json", json::serialize(testing::observationJson(obs)));
}

std::string testName(const ::testing::TestParamInfo<std::string>& param) {
  std::string n = param.param;
  for (auto& c : n)
    if (c == '-') c = '_';
  return n;
}

std::vector<std::string> caseNames() {
  std::vector<std::string> out;
  for (const auto& d : testing::caseDirs(kCases)) out.push_back(d.filename().string());
  return out;
}

INSTANTIATE_TEST_SUITE_P(Transcripts, AnthropicGolden, ::testing::ValuesIn(caseNames()), testName);

TEST(AnthropicGoldenSet, CoversTheRequiredCases) {
  auto names = caseNames();
  for (const char* required : {"text", "text-stream", "multi-turn-system", "tool", "tool-stream", "max-tokens",
                               "max-tokens-stream", "error", "error-mid-stream"})
    EXPECT_NE(std::find(names.begin(), names.end(), required), names.end()) << required;
}

// ---- The stream's meaning, checked independently of the golden bytes.

TEST(AnthropicStream, AssembledTextEqualsTheTranscriptsDeltas) {
  std::string upstream = testing::readFile(kCases / "text-stream" / "upstream_response.sse");
  ResponseObservation obs;
  std::string out = translateStream({upstream}, false, obs);
  auto events = testing::sseData(out);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text, finish;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    auto chunk = json::parse(events[i]).as_object();
    EXPECT_EQ(chunk.at("object"), "chat.completion.chunk");
    EXPECT_EQ(chunk.at("id"), "msg_01QC4g3HwBThD4BaNtBckFDJ");
    EXPECT_EQ(chunk.at("model"), "claude-sonnet-4-5-20250929");
    EXPECT_FALSE(chunk.contains("usage"));  // the client did not ask for it
    auto& choice = chunk.at("choices").as_array().at(0).as_object();
    if (auto* c = choice.at("delta").as_object().if_contains("content")) text += c->as_string();
    if (!choice.at("finish_reason").is_null()) finish = choice.at("finish_reason").as_string();
  }
  EXPECT_EQ(text, "Hello! I'm doing well, thank you for asking. How are you doing today? Is there anything I can help "
                  "you with?");
  EXPECT_EQ(finish, "stop");
  EXPECT_EQ(obs.usage.input, 12);
  EXPECT_EQ(obs.usage.output, 30);
  EXPECT_EQ(obs.usage.total, 42);
  EXPECT_EQ(obs.usage.cached_input, 0);
  EXPECT_EQ(obs.chunks.size(), events.size() - 1);  // every chunk but [DONE]
}

TEST(AnthropicStream, EachDeltaIsForwardedAsSoonAsItsEventIsComplete) {
  std::string upstream = testing::readFile(kCases / "text-stream" / "upstream_response.sse");
  ResponseObservation obs;
  anthropic::StreamTranslator t(obs, 1 << 20, "m", false, kCreated);
  // Feed up to the end of the first text_delta event: its chunk must be out.
  auto first_delta = upstream.find("\"text\":\"Hello\"");
  auto event_end = upstream.find("\n\n", first_delta) + 2;
  std::string out;
  ASSERT_TRUE(t.feed(std::string_view(upstream).substr(0, event_end), out));
  EXPECT_NE(out.find("\"content\":\"Hello\""), std::string::npos);
  EXPECT_EQ(out.find("[DONE]"), std::string::npos);
}

TEST(AnthropicStream, UsageChunkOnlyWhenAskedButUsageAlwaysObserved) {
  std::string upstream = testing::readFile(kCases / "text-stream" / "upstream_response.sse");
  ResponseObservation without, with;
  std::string a = translateStream({upstream}, false, without);
  std::string b = translateStream({upstream}, true, with);
  EXPECT_EQ(a.find("\"usage\""), std::string::npos);
  auto events = testing::sseData(b);
  ASSERT_GE(events.size(), 2u);
  auto usage_chunk = json::parse(events[events.size() - 2]).as_object();
  EXPECT_TRUE(usage_chunk.at("choices").as_array().empty());
  EXPECT_EQ(usage_chunk.at("usage").at("prompt_tokens"), 12);
  EXPECT_EQ(usage_chunk.at("usage").at("completion_tokens"), 30);
  EXPECT_EQ(usage_chunk.at("usage").at("total_tokens"), 42);
  EXPECT_EQ(without.usage.input, with.usage.input);
  EXPECT_EQ(without.usage.output, with.usage.output);
}

TEST(AnthropicStream, ToolCallArgumentsAssembleToTheToolInput) {
  std::string upstream = testing::readFile(kCases / "tool-stream" / "upstream_response.sse");
  ResponseObservation obs;
  auto events = testing::sseData(translateStream({upstream}, false, obs));
  std::string args, id, name, finish;
  for (const auto& e : events) {
    if (e == "[DONE]") continue;
    json::value chunk = json::parse(e);
    auto& choice = chunk.at("choices").as_array().at(0).as_object();
    if (auto* calls = choice.at("delta").as_object().if_contains("tool_calls")) {
      auto& call = calls->as_array().at(0).as_object();
      EXPECT_EQ(call.at("index"), 0);
      if (auto* i = call.if_contains("id")) id = i->as_string();
      auto& fn = call.at("function").as_object();
      if (auto* n = fn.if_contains("name")) name = n->as_string();
      args += fn.at("arguments").as_string();
    }
    if (!choice.at("finish_reason").is_null()) finish = choice.at("finish_reason").as_string();
  }
  EXPECT_EQ(id, "toolu_01KFbKqPYSuAKujiL6mTfzYA");
  EXPECT_EQ(name, "json");
  EXPECT_EQ(json::parse(args),
            json::parse(R"({"elements":[{"location":"San Francisco","temperature":58,"condition":"sunny"}]})"));
  EXPECT_EQ(finish, "tool_calls");
}

TEST(AnthropicStream, TwoToolCallsGetConsecutiveIndexes) {
  std::string upstream =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Checking.\"}}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"a\",\"input\":{}}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t2\",\"name\":\"b\",\"input\":{}}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"x\\\":1}\"}}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":9}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  ResponseObservation obs;
  std::string out = translateStream({upstream}, false, obs);
  EXPECT_NE(out.find(R"("tool_calls":[{"index":0,"id":"t1")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("tool_calls":[{"index":1,"id":"t2")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"({"index":1,"function":{"arguments":"{\"x\":1}"}})"), std::string::npos) << out;
  EXPECT_TRUE(out.ends_with("data: [DONE]\n\n"));
}

TEST(AnthropicStream, CacheTokensAreCountedInPromptAndKeptApart) {
  std::string upstream =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":"
      "{\"input_tokens\":10,\"cache_read_input_tokens\":100,\"cache_creation_input_tokens\":20,\"output_tokens\":1}}}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  ResponseObservation obs;
  std::string out = translateStream({upstream}, true, obs);
  EXPECT_EQ(obs.usage.input, 130);
  EXPECT_EQ(obs.usage.cached_input, 100);
  EXPECT_EQ(obs.usage.cache_creation, 20);
  EXPECT_EQ(obs.usage.output, 7);
  EXPECT_EQ(obs.usage.total, 137);
  EXPECT_NE(out.find(R"("usage":{"prompt_tokens":130,"completion_tokens":7,"total_tokens":137,"prompt_tokens_details":{"cached_tokens":100}})"),
            std::string::npos)
      << out;
}

TEST(AnthropicStream, TruncatedStreamEndsWithAnErrorEventAndNoDone) {
  std::string upstream = testing::readFile(kCases / "text-stream" / "upstream_response.sse");
  upstream.resize(upstream.find("event: message_delta"));
  ResponseObservation obs;
  std::string out = translateStream({upstream}, false, obs);
  auto events = testing::sseData(out);
  ASSERT_FALSE(events.empty());
  auto last = json::parse(events.back()).as_object();
  EXPECT_EQ(last.at("error").at("code"), "upstream_stream_truncated");
  EXPECT_EQ(out.find("[DONE]"), std::string::npos);
}

TEST(AnthropicStream, MalformedEventJsonIsAnError) {
  ResponseObservation obs;
  anthropic::StreamTranslator t(obs, 1 << 20, "m", false, kCreated);
  std::string out;
  auto st = t.feed("event: message_start\ndata: {not json\n\n", out);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().http_status, 502);
  t.fail(st.error(), out);
  EXPECT_NE(out.find("upstream_stream_malformed"), std::string::npos);
  std::string more;
  t.fail(st.error(), more);  // only one terminal event
  EXPECT_TRUE(more.empty());
}

TEST(AnthropicStream, OversizedEventIsRejectedWithBoundedMemory) {
  ResponseObservation obs;
  anthropic::StreamTranslator t(obs, 1 << 20, "m", false, kCreated);
  std::string out;
  std::string huge = "data: " + std::string(anthropic::StreamTranslator::kMaxEventBytes + 10, 'x');
  auto st = t.feed(huge, out);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, "upstream_stream_malformed");
}

TEST(AnthropicStream, DeltaForAnUnknownToolBlockIsAnError) {
  ResponseObservation obs;
  anthropic::StreamTranslator t(obs, 1 << 20, "m", false, kCreated);
  std::string out;
  auto st = t.feed(
      "data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}\n\n",
      out);
  EXPECT_FALSE(st);
}

TEST(AnthropicStream, CaptureBudgetCountsChunksItDoesNotKeep) {
  std::string upstream = testing::readFile(kCases / "text-stream" / "upstream_response.sse");
  ResponseObservation obs;
  std::string out = translateStream({upstream}, false, obs, 400);
  std::size_t sent = testing::sseData(out).size() - 1;
  EXPECT_LE(obs.chunk_bytes, 400u);
  EXPECT_GT(obs.chunks_not_captured, 0u);
  EXPECT_EQ(obs.chunks.size() + obs.chunks_not_captured, sent);
}

// ---- The provider: upstream request and handler wiring.

TEST(AnthropicProvider, BuildsTheMessagesRequestWithTheKeyInXApiKey) {
  auto config = anthropicConfig();
  AnthropicProvider p(config);
  ClientFixture f(R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hi"}]})", config);
  f.headers.items = {{"Authorization", "Bearer sk-ant-client"}, {"X-Project-Id", "p1"}, {"anthropic-beta", "tools-2024"},
                     {"OpenAI-Organization", "org"}};
  auto up = p.prepare(f.req);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(up->method, "POST");
  EXPECT_EQ(up->target, "/v1/messages");
  EXPECT_EQ(up->endpoint.host, "127.0.0.1");
  EXPECT_EQ(up->endpoint.port, 9998);
  EXPECT_FALSE(up->endpoint.tls);
  std::map<std::string, std::string> h(up->headers.begin(), up->headers.end());
  EXPECT_EQ(h["x-api-key"], "sk-ant-client");
  EXPECT_EQ(h["anthropic-version"], "2023-06-01");
  EXPECT_EQ(h["content-type"], "application/json");
  EXPECT_EQ(h["anthropic-beta"], "tools-2024");
  EXPECT_FALSE(h.contains("authorization"));
  EXPECT_FALSE(h.contains("x-project-id"));
  EXPECT_FALSE(h.contains("openai-organization"));
  EXPECT_EQ(up->headers.size(), h.size());  // no duplicates
  auto body = json::parse(up->body).as_object();
  EXPECT_EQ(body.at("model"), "claude-sonnet-4-5");
  EXPECT_EQ(body.at("max_tokens"), 4096);
  EXPECT_FALSE(body.contains("stream"));
}

TEST(AnthropicProvider, BasePathIsKeptAndEnvironmentKeyIsTheFallback) {
  auto config = anthropicConfig("sk-ant-env");
  config.base_url = "https://proxy.example.com/anthropic";
  AnthropicProvider p(config);
  ClientFixture f(R"({"model":"m","messages":[{"role":"user","content":"Hi"}],"stream":true})", config);
  auto up = p.prepare(f.req);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->target, "/anthropic/v1/messages");
  EXPECT_TRUE(up->endpoint.tls);
  std::map<std::string, std::string> h(up->headers.begin(), up->headers.end());
  EXPECT_EQ(h["x-api-key"], "sk-ant-env");
  EXPECT_EQ(h["accept"], "text/event-stream");
  EXPECT_EQ(json::parse(up->body).at("stream"), true);
}

TEST(AnthropicProvider, MissingKeyIs401WithoutEchoingAnything) {
  auto config = anthropicConfig();
  AnthropicProvider p(config);
  ClientFixture f(R"({"model":"m","messages":[{"role":"user","content":"Hi"}]})", config);
  f.headers.items = {{"Authorization", "Basic abc"}};
  auto up = p.prepare(f.req);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().http_status, 401);
  EXPECT_EQ(up.error().message.find("abc"), std::string::npos);
}

// A custom provider of type anthropic (the config file's providers: list)
// answers to its own name, and the missing-key error names its setting,
// not ANTHROPIC_API_KEY, which configures another provider.
TEST(AnthropicProvider, ACustomOneAnswersToItsNameAndNamesItsKeySetting) {
  ProviderConfig config = anthropicConfig();
  config.name = "team-claude";
  config.api_key_setting = "providers[2].api_key_env";
  AnthropicProvider p(config);
  EXPECT_EQ(p.name(), "team-claude");
  ClientFixture f(R"({"model":"m","messages":[{"role":"user","content":"Hi"}]})", config);
  auto up = p.prepare(f.req);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().code, "missing_api_key");
  EXPECT_EQ(up.error().message,
            "No API key: send 'Authorization: Bearer <key>' or configure the gateway's providers[2].api_key_env");
  EXPECT_EQ(AnthropicProvider(anthropicConfig()).name(), "anthropic");
}

TEST(AnthropicProvider, KeyWithHeaderInjectionIsRejected) {
  auto config = anthropicConfig();
  AnthropicProvider p(config);
  ClientFixture f(R"({"model":"m","messages":[{"role":"user","content":"Hi"}]})", config);
  f.headers.items = {{"x-api-key", std::string("k\r\nx-evil: 1")}};
  auto up = p.prepare(f.req);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().http_status, 401);
  EXPECT_EQ(up.error().message.find("evil"), std::string::npos);
}

TEST(AnthropicProvider, OtherEndpointsAreNotServed) {
  auto config = anthropicConfig("k");
  AnthropicProvider p(config);
  ClientFixture f(R"({"model":"m","input":"x"})", config);
  f.req.path = "/v1/embeddings";
  f.req.target = "/v1/embeddings";
  auto up = p.prepare(f.req);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().http_status, 404);
}

TEST(AnthropicProvider, RespondPicksStreamJsonOrErrorHandler) {
  auto config = anthropicConfig("k");
  AnthropicProvider p(config);
  ClientFixture stream(R"({"model":"m","messages":[],"stream":true})", config);
  ClientFixture plain(R"({"model":"m","messages":[]})", config);
  UpstreamResponseHead ok_head{200, "text/event-stream", nullptr};
  auto s = p.respond(stream.req, ok_head, 1 << 20);
  EXPECT_EQ(s->head().status, 200);
  EXPECT_EQ(s->head().content_type, "text/event-stream");
  EXPECT_EQ(s->head().framing, Framing::kRelay);
  EXPECT_FALSE(s->head().passthrough_bytes);

  std::string upstream = testing::readFile(kCases / "text-stream" / "upstream_response.sse");
  std::string out;
  ASSERT_TRUE(s->onBody(upstream, out));
  ASSERT_TRUE(s->onEnd(out));
  EXPECT_TRUE(out.ends_with("data: [DONE]\n\n"));
  EXPECT_EQ(s->observation().usage.output, 30);
  EXPECT_EQ(s->observation().response_model, "claude-sonnet-4-5-20250929");

  UpstreamResponseHead json_head{200, "application/json", nullptr};
  auto j = p.respond(plain.req, json_head, 1 << 20);
  EXPECT_EQ(j->head().framing, Framing::kBuffered);
  EXPECT_EQ(j->head().content_type, "application/json");
  std::string body = testing::readFile(kCases / "text" / "upstream_response.json"), jout;
  // Buffered bodies may still arrive in pieces.
  ASSERT_TRUE(j->onBody(std::string_view(body).substr(0, 10), jout));
  ASSERT_TRUE(j->onBody(std::string_view(body).substr(10), jout));
  EXPECT_TRUE(jout.empty());
  ASSERT_TRUE(j->onEnd(jout));
  auto completion = json::parse(jout).as_object();
  EXPECT_EQ(completion.at("object"), "chat.completion");
  EXPECT_EQ(j->observation().usage.total, 41);

  UpstreamResponseHead err_head{429, "application/json", nullptr};
  auto e = p.respond(stream.req, err_head, 1 << 20);
  EXPECT_EQ(e->head().status, 429);
  EXPECT_EQ(e->head().framing, Framing::kBuffered);
  std::string eout;
  ASSERT_TRUE(e->onBody(R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})", eout));
  ASSERT_TRUE(e->onEnd(eout));
  EXPECT_EQ(json::parse(eout), json::parse(R"({"error":{"message":"slow down","type":"rate_limit_error","code":null}})"));
  EXPECT_EQ(e->observation().provider_error_type, "rate_limit_error");
}

TEST(AnthropicProvider, NonJsonErrorBodyKeepsStatusAndGetsAMessage) {
  ResponseObservation obs;
  auto out = anthropic::translateError(502, "<html>Bad gateway</html>", obs);
  EXPECT_EQ(json::parse(out), json::parse(R"({"error":{"message":"Anthropic returned HTTP 502","type":"api_error","code":null}})"));
}

TEST(AnthropicProvider, MalformedSuccessBodyIsAnError) {
  ResponseObservation obs;
  auto out = anthropic::translateResponse("{\"type\":\"message\"}", kCreated, obs);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().http_status, 502);
}

// --- The native Messages API (/v1/messages...): passed through unchanged ---

// A Messages API request as the proxy hands it over: path and query as
// sent, body not parsed (no provider prefix taken).
struct MessagesFixture {
  testing::Headers headers;
  std::string body;
  std::string target;
  ClientRequest req;
  MessagesFixture(std::string b, const ProviderConfig& config, std::string t = "/v1/messages")
      : body(std::move(b)), target(std::move(t)) {
    req.method = "POST";
    req.target = target;
    req.path = std::string_view(target).substr(0, target.find('?'));
    req.body = body;
    req.json_body = true;
    req.config = &config;
    req.headers = &headers;
    req.stream = body.find("\"stream\":true") != std::string::npos;
  }
};

// The recorded prompt-cache stream as Anthropic sends it on the wire.
std::string cacheStreamWire() {
  std::ifstream in(std::string(GW_TESTDATA_DIR) + "/providers/transcripts/anthropic-cache.chunks.jsonl");
  std::string wire, line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    wire += "event: " + std::string(json::parse(line).at("type").as_string()) + "\ndata: " + line + "\n\n";
  }
  return wire;
}

// Chat translation of the recorded stream: its server tool calls
// (server_tool_use, whose input streams as input_json_delta) and their
// results are not the client's tool calls; the text block is the answer;
// each count is the cumulative message_delta's.
TEST(AnthropicStream, ServerToolBlocksAreSkippedAndTheLastCountsWin) {
  ResponseObservation obs;
  std::string out = translateStream({cacheStreamWire()}, true, obs);
  std::string text;
  for (const auto& data : testing::sseData(out)) {
    if (data == "[DONE]") continue;
    auto chunk = json::parse(data).as_object();
    ASSERT_FALSE(chunk.contains("error")) << data;
    if (chunk.at("choices").as_array().empty()) continue;
    const auto& delta = chunk.at("choices").at(0).at("delta").as_object();
    EXPECT_FALSE(delta.contains("tool_calls")) << data;
    if (const auto* c = delta.if_contains("content")) text += c->as_string();
  }
  EXPECT_EQ(text, "The sum of the squares of the numbers 1 through 12 is **650**.");
  EXPECT_TRUE(out.ends_with("data: [DONE]\n\n"));
  EXPECT_EQ(obs.usage.input, 6 + 6289 + 3337);
  EXPECT_EQ(obs.usage.cached_input, 6289);
  EXPECT_EQ(obs.usage.cache_creation, 3337);
  EXPECT_EQ(obs.usage.output, 198);
  EXPECT_EQ(obs.response_model, "claude-sonnet-5");
}

TEST(AnthropicMessages, TheRequestGoesUpstreamAsTheClientWroteIt) {
  auto config = anthropicConfig("sk-ant-operator-key");
  config.base_url = "http://127.0.0.1:9998/prefix";
  AnthropicProvider p(config);
  EXPECT_TRUE(p.servesMessagesApi());
  MessagesFixture f(R"({"model":"claude-sonnet-5", "max_tokens":10,"messages":[{"role":"user","content":"Hi"}]})",
                    config, "/v1/messages?beta=true");
  f.headers.items = {{"x-api-key", "sk-ant-client"}, {"anthropic-version", "2024-01-01"},
                     {"anthropic-beta", "prompt-caching-2024-07-31"}, {"Authorization", "Bearer other"},
                     {"x-project-id", "p"}};
  EXPECT_FALSE(p.wantsParsedBody(f.req));
  auto up = p.prepare(f.req);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(up->target, "/prefix/v1/messages?beta=true");
  EXPECT_TRUE(up->forwards_client_body);
  EXPECT_EQ(up->bodyFor(f.req), f.body);
  std::map<std::string, std::string> h(up->headers.begin(), up->headers.end());
  EXPECT_EQ(h["x-api-key"], "other") << "a Bearer token is the key, as on the chat path";
  EXPECT_EQ(h["anthropic-version"], "2024-01-01");
  EXPECT_EQ(h["anthropic-beta"], "prompt-caching-2024-07-31");
  EXPECT_EQ(h["accept"], "application/json");
  EXPECT_FALSE(h.contains("authorization"));
  EXPECT_FALSE(h.contains("x-project-id"));

  // x-api-key alone; the default anthropic-version.
  f.headers.items = {{"x-api-key", "sk-ant-client"}};
  up = p.prepare(f.req);
  ASSERT_TRUE(up);
  h = {up->headers.begin(), up->headers.end()};
  EXPECT_EQ(h["x-api-key"], "sk-ant-client");
  EXPECT_EQ(h["anthropic-version"], "2023-06-01");
  // No key from the client: the operator's.
  f.headers.items = {};
  up = p.prepare(f.req);
  ASSERT_TRUE(up);
  h = {up->headers.begin(), up->headers.end()};
  EXPECT_EQ(h["x-api-key"], "sk-ant-operator-key");
}

TEST(AnthropicMessages, AModelPrefixTakenOffIsWrittenIntoTheBody) {
  auto config = anthropicConfig("k-operator-123");
  AnthropicProvider p(config);
  MessagesFixture f(R"({"model":"anthropic/claude-sonnet-5","max_tokens":10,"messages":[],"stream":true})", config);
  json::object tree = json::parse(f.body).as_object();
  tree["model"] = "claude-sonnet-5";
  f.req.json = &tree;
  f.req.body_rewritten = true;
  EXPECT_TRUE(p.wantsParsedBody(f.req));
  auto up = p.prepare(f.req);
  ASSERT_TRUE(up);
  EXPECT_FALSE(up->forwards_client_body);
  EXPECT_EQ(json::parse(up->body).at("model"), "claude-sonnet-5");
  std::map<std::string, std::string> h(up->headers.begin(), up->headers.end());
  EXPECT_EQ(h["accept"], "text/event-stream");
}

TEST(AnthropicMessages, NoKeyAnywhereIs401) {
  auto config = anthropicConfig();
  AnthropicProvider p(config);
  MessagesFixture f(R"({"model":"m","max_tokens":1,"messages":[]})", config);
  auto up = p.prepare(f.req);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().http_status, 401);
  f.headers.items = {{"x-api-key", "bad\r\nkey"}};
  up = p.prepare(f.req);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().http_status, 401);
  EXPECT_EQ(up.error().message.find("bad"), std::string::npos);
}

// Feeds `wire` in pieces cut at `at`, as the core does.
std::string relay(ResponseHandler& h, std::string_view wire, std::size_t at) {
  std::string out;
  EXPECT_TRUE(h.onBody(wire.substr(0, at), out));
  EXPECT_TRUE(h.onBody(wire.substr(at), out));
  EXPECT_TRUE(h.onEnd(out));
  return out;
}

TEST(AnthropicMessages, AStreamIsRelayedByteForByteAndItsUsageIsTheLastOfEachCount) {
  auto config = anthropicConfig("k-operator-123");
  AnthropicProvider p(config);
  MessagesFixture f(R"({"model":"claude-sonnet-5","max_tokens":10,"messages":[],"stream":true})", config);
  const std::string wire = cacheStreamWire();
  UpstreamResponseHead head{200, "text/event-stream; charset=utf-8", nullptr};
  for (std::size_t at = 0; at <= wire.size(); at += 97) {
    auto h = p.respond(f.req, head, 1 << 20);
    EXPECT_TRUE(h->head().passthrough_bytes);
    EXPECT_EQ(h->head().framing, Framing::kRelay);
    ASSERT_EQ(relay(*h, wire, at), wire) << "split at " << at;
    const ResponseObservation& obs = h->observation();
    EXPECT_EQ(obs.api, ResponseApi::kMessages);
    EXPECT_EQ(obs.usage.input, 6 + 6289 + 3337);
    EXPECT_EQ(obs.usage.cached_input, 6289);
    EXPECT_EQ(obs.usage.cache_creation, 3337);
    EXPECT_EQ(obs.usage.output, 198);
    EXPECT_EQ(obs.usage.total, 6 + 6289 + 3337 + 198);
    EXPECT_EQ(obs.response_model, "claude-sonnet-5");
    ASSERT_EQ(obs.chunks.size(), 43u) << "every event's data but the ping";
    EXPECT_TRUE(obs.chunks.front().starts_with(R"({"type":"message_start")"));
    EXPECT_EQ(obs.chunks.back(), R"({"type":"message_stop"})");
  }
  // Telemetry off: relayed unchanged, nothing read.
  f.req.observed = false;
  auto quiet = p.respond(f.req, head, 0);
  ASSERT_EQ(relay(*quiet, wire, wire.size() / 2), wire);
  EXPECT_FALSE(quiet->observation().usage.input);
  EXPECT_TRUE(quiet->observation().chunks.empty());
}

TEST(AnthropicMessages, ABreakMidEventEndsWithWholeEventsAndAnAnthropicErrorEvent) {
  auto config = anthropicConfig("k-operator-123");
  AnthropicProvider p(config);
  MessagesFixture f(R"({"model":"m","max_tokens":10,"messages":[],"stream":true})", config);
  const std::string wire = cacheStreamWire();
  const std::size_t cut = wire.find("\n\n", wire.size() / 2) + 9;  // inside the next event
  auto h = p.respond(f.req, UpstreamResponseHead{200, "text/event-stream", nullptr}, 1 << 20);
  std::string out;
  ASSERT_TRUE(h->onBody(std::string_view(wire).substr(0, cut), out));
  h->onUpstreamFailure(Error::badGateway("upstream_broken", "connection reset"), out);
  const std::string error_event =
      "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"connection reset\"}}\n\n";
  ASSERT_TRUE(out.ends_with(error_event));
  EXPECT_EQ(out.substr(0, out.size() - error_event.size()), wire.substr(0, cut - 9 + 2));
}

TEST(AnthropicMessages, AnErrorEventInTheStreamIsTheProviderError) {
  auto config = anthropicConfig("k-operator-123");
  AnthropicProvider p(config);
  MessagesFixture f(R"({"model":"m","max_tokens":10,"messages":[],"stream":true})", config);
  auto h = p.respond(f.req, UpstreamResponseHead{200, "text/event-stream", nullptr}, 1 << 20);
  const std::string wire =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"m\",\"usage\":{\"input_tokens\":5,"
      "\"output_tokens\":1}}}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
      "\"message\":\"Overloaded\"}}\n\n";
  EXPECT_EQ(relay(*h, wire, 5), wire);
  EXPECT_EQ(h->observation().provider_error_type, "overloaded_error");
  EXPECT_EQ(h->observation().provider_error_message, "Overloaded");
  EXPECT_EQ(h->observation().usage.input, 5);
}

TEST(AnthropicMessages, AnOversizedEventIsRefusedWithBoundedMemory) {
  auto config = anthropicConfig("k-operator-123");
  AnthropicProvider p(config);
  MessagesFixture f(R"({"model":"m","max_tokens":10,"messages":[],"stream":true})", config);
  for (bool observed : {true, false}) {
    f.req.observed = observed;
    auto h = p.respond(f.req, UpstreamResponseHead{200, "text/event-stream", nullptr}, 1 << 20);
    std::string out, piece = "data: " + std::string(1 << 20, 'x');
    Status st = ok();
    for (int i = 0; i < 8 && st; ++i) st = h->onBody(piece, out);
    EXPECT_FALSE(st) << "observed " << observed;
    EXPECT_TRUE(out.empty());
  }
}

TEST(AnthropicMessages, ABodyIsRelayedUnchangedAndCountTokensIsNotBilled) {
  auto config = anthropicConfig("k-operator-123");
  AnthropicProvider p(config);
  MessagesFixture f(R"({"model":"m","max_tokens":10,"messages":[]})", config);
  auto h = p.respond(f.req, UpstreamResponseHead{200, "application/json", nullptr}, 1 << 20);
  EXPECT_TRUE(h->head().passthrough_bytes);
  const std::string body = testing::readFile(fs::path(GW_TESTDATA_DIR) / "providers/transcripts/anthropic-cache.json");
  EXPECT_EQ(relay(*h, body, 7), body);
  EXPECT_TRUE(h->observation().own_usage);
  EXPECT_EQ(h->observation().api, ResponseApi::kMessages);

  MessagesFixture count(R"({"model":"m","messages":[]})", config, "/v1/messages/count_tokens");
  auto c = p.respond(count.req, UpstreamResponseHead{200, "application/json", nullptr}, 1 << 20);
  EXPECT_FALSE(c->observation().own_usage);
}

TEST(AnthropicMessages, AnErrorBodyKeepsAnthropicsShapeWithTheKeyRedacted) {
  auto config = anthropicConfig("sk-ant-operator-secret");
  AnthropicProvider p(config);
  MessagesFixture f(R"({"model":"m","max_tokens":10,"messages":[]})", config);
  f.headers.items = {{"x-api-key", "sk-ant-client-secret"}};
  auto h = p.respond(f.req, UpstreamResponseHead{401, "application/json", nullptr}, 1 << 20);
  EXPECT_EQ(h->head().status, 401);
  EXPECT_EQ(h->head().framing, Framing::kBuffered);
  std::string out;
  ASSERT_TRUE(h->onBody(R"({"type":"error","error":{"type":"authentication_error",)"
                        R"("message":"invalid x-api-key sk-ant-client-secret"}})",
                        out));
  ASSERT_TRUE(h->onEnd(out));
  EXPECT_EQ(out.find("sk-ant-client-secret"), std::string::npos);
  auto v = json::parse(out);
  EXPECT_EQ(v.at("type"), "error");
  EXPECT_EQ(v.at("error").at("type"), "authentication_error");
  EXPECT_EQ(h->observation().provider_error_type, "authentication_error");
  EXPECT_EQ(h->observation().provider_error_message->find("sk-ant-client-secret"), std::string::npos);
}

}  // namespace
}  // namespace gw::providers::anthropic
