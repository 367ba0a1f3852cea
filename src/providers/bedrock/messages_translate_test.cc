// The Anthropic Messages API served by Bedrock: golden cases in
// tests/testdata/providers/bedrock/messages/, then the request translation
// field by field, malformed requests, answers, streams and the provider's
// routing by path.
#include "providers/bedrock/messages_translate.h"

#include "common/anthropic_error.h"
#include "common/strings.h"
#include "providers/bedrock/bedrock_provider.h"
#include "providers/bedrock/bedrock_translate.h"
#include "providers/bedrock/testing/event_stream_encoder.h"
#include "providers/common/testing/golden.h"

#include <gtest/gtest.h>

#include <map>

namespace gw::providers::bedrock {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using testing::ClientFixture;

const fs::path kCases = fs::path(GW_TESTDATA_DIR) / "providers" / "bedrock" / "messages";

std::string translateStream(const std::vector<std::string_view>& pieces, ResponseObservation& obs,
                            std::size_t budget = 1 << 20, std::vector<std::string> secrets = {}) {
  MessagesStreamTranslator t(obs, budget, "msg_golden", "model-from-request", std::move(secrets));
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

std::string translateAll(std::string_view upstream, ResponseObservation& obs) {
  return translateStream(std::vector<std::string_view>{upstream}, obs);
}

// One SSE event as the client receives it.
struct Event {
  std::string type;
  json::object data;
};

// Parses Messages SSE: every event has an "event:" line naming the type its
// data carries.
std::vector<Event> sseEvents(std::string_view bytes) {
  std::vector<Event> out;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    auto end = bytes.find("\n\n", pos);
    if (end == std::string_view::npos) {
      ADD_FAILURE() << "unterminated event: " << bytes.substr(pos);
      break;
    }
    std::string_view event = bytes.substr(pos, end - pos);
    pos = end + 2;
    auto newline = event.find('\n');
    EXPECT_TRUE(event.starts_with("event: ")) << event;
    EXPECT_TRUE(event.substr(newline + 1).starts_with("data: ")) << event;
    Event e;
    e.type = std::string(event.substr(7, newline - 7));
    e.data = json::parse(event.substr(newline + 7)).as_object();
    EXPECT_EQ(e.data.at("type"), json::value(e.type)) << event;
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::string> types(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.type);
  return out;
}

// ---- Golden cases.

class MessagesGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(MessagesGolden, Case) {
  fs::path dir = kCases / GetParam();
  json::object request = json::parse(testing::readFile(dir / "request.json")).as_object();
  int status = 200;
  std::string error_type_header;
  bool count_tokens = false;
  if (fs::exists(dir / "case.json")) {
    auto c = json::parse(testing::readFile(dir / "case.json")).as_object();
    if (auto* s = c.if_contains("status")) status = static_cast<int>(s->as_int64());
    if (auto* t = c.if_contains("x-amzn-errortype")) error_type_header = std::string(t->as_string());
    if (auto* p = c.if_contains("path")) count_tokens = p->as_string() == "/v1/messages/count_tokens";
  }
  auto call = count_tokens ? countTokensToConverse(request) : messagesToConverse(request);
  if (!call) {
    json::object err{{"status", call.error().http_status},
                     {"code", call.error().code},
                     {"body", json::parse(anthropicErrorBody(call.error()))}};
    testing::expectJsonGolden(dir / "expected_error.json", json::serialize(err));
    return;
  }
  testing::expectJsonGolden(dir / "upstream_request.json", call->body);
  bool has_json = fs::exists(dir / "upstream_response.json");
  bool has_stream = fs::exists(dir / "upstream_response.jsonl");
  if (!has_json && !has_stream) return;  // the request translation alone

  ResponseObservation obs;
  if (status >= 300) {
    testing::expectJsonGolden(
        dir / "client_response.json",
        messagesError(status, error_type_header, testing::readFile(dir / "upstream_response.json"), obs));
  } else if (count_tokens) {
    auto out = countTokensToMessages(testing::readFile(dir / "upstream_response.json"));
    ASSERT_TRUE(out) << out.error().message;
    testing::expectJsonGolden(dir / "client_response.json", *out);
  } else if (call->stream) {
    ASSERT_TRUE(has_stream);
    std::string upstream = testing::encodeTranscript(testing::readFile(dir / "upstream_response.jsonl"));
    std::string whole = translateAll(upstream, obs);
    testing::expectTextGolden(dir / "client_response.sse", whole);
    // What the record keeps is the data of every event sent, in order.
    std::vector<std::string> data;
    for (const auto& e : sseEvents(whole)) data.push_back(json::serialize(e.data));
    ASSERT_EQ(obs.chunks.size(), data.size());
    for (std::size_t i = 0; i < data.size(); ++i) EXPECT_EQ(json::parse(obs.chunks[i]), json::parse(data[i])) << i;
    std::string_view all = upstream;
    for (std::size_t at = 0; at <= all.size(); ++at) {
      ResponseObservation o;
      ASSERT_EQ(translateStream({all.substr(0, at), all.substr(at)}, o), whole) << "split at " << at;
    }
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < all.size(); ++i) bytes.push_back(all.substr(i, 1));
    ResponseObservation o;
    EXPECT_EQ(translateStream(bytes, o), whole);
  } else {
    auto out = converseToMessage(testing::readFile(dir / "upstream_response.json"), "msg_golden", call->model, obs);
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

INSTANTIATE_TEST_SUITE_P(Transcripts, MessagesGolden, ::testing::ValuesIn(caseNames()), testName);

TEST(MessagesGoldenSet, CoversTheRequiredCases) {
  auto names = caseNames();
  for (const char* required : {"text", "text-stream", "tool", "tool-stream", "tool-result", "thinking-stream", "cache",
                               "error", "error-mid-stream", "count-tokens", "reject-missing-max-tokens"})
    EXPECT_NE(std::find(names.begin(), names.end(), required), names.end()) << required;
}

// ---- The request, field by field.

json::object converseBody(std::string_view messages_request) {
  auto call = messagesToConverse(json::parse(messages_request).as_object());
  EXPECT_TRUE(call) << (call ? "" : call.error().message);
  return call ? json::parse(call->body).as_object() : json::object();
}

TEST(MessagesRequest, MinimalRequest) {
  auto call = messagesToConverse(
      json::parse(R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"Hi"}]})").as_object());
  ASSERT_TRUE(call);
  EXPECT_EQ(call->model, "m");
  EXPECT_FALSE(call->stream);
  EXPECT_EQ(json::parse(call->body), json::parse(R"({"messages":[{"role":"user","content":[{"text":"Hi"}]}],
                                                     "inferenceConfig":{"maxTokens":10}})"));
}

TEST(MessagesRequest, StreamFlag) {
  auto call = messagesToConverse(
      json::parse(R"({"model":"m","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"Hi"}]})")
          .as_object());
  ASSERT_TRUE(call);
  EXPECT_TRUE(call->stream);
}

TEST(MessagesRequest, SamplingFields) {
  auto body = converseBody(R"({"model":"m","max_tokens":10.0,"temperature":0,"top_p":0.5,"top_k":7,
      "stop_sequences":["END","STOP"],"metadata":{"user_id":"u"},"service_tier":"auto",
      "messages":[{"role":"user","content":"Hi"}]})");
  EXPECT_EQ(body.at("inferenceConfig"),
            json::parse(R"({"maxTokens":10,"temperature":0.0,"topP":0.5,"stopSequences":["END","STOP"]})"));
  EXPECT_EQ(body.at("additionalModelRequestFields"), json::parse(R"({"top_k":7})"));
  EXPECT_FALSE(body.contains("metadata"));
}

TEST(MessagesRequest, SystemAsStringOrBlocks) {
  EXPECT_EQ(
      converseBody(R"({"model":"m","max_tokens":1,"system":"Be brief.","messages":[{"role":"user","content":"x"}]})")
          .at("system"),
      json::parse(R"([{"text":"Be brief."}])"));
  EXPECT_FALSE(converseBody(R"({"model":"m","max_tokens":1,"system":"","messages":[{"role":"user","content":"x"}]})")
                   .contains("system"));
  EXPECT_EQ(converseBody(R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],
                "system":[{"type":"text","text":"A"},{"type":"text","text":"B","cache_control":{"type":"ephemeral"}}]})")
                .at("system"),
            json::parse(R"([{"text":"A"},{"text":"B"},{"cachePoint":{"type":"default"}}])"));
}

TEST(MessagesRequest, ConsecutiveTurnsOfOneRoleAreJoined) {
  auto body = converseBody(R"({"model":"m","max_tokens":1,"messages":[
      {"role":"user","content":"a"},{"role":"user","content":[{"type":"text","text":"b"}]},
      {"role":"assistant","content":"c"},{"role":"user","content":"d"}]})");
  EXPECT_EQ(body.at("messages"), json::parse(R"([{"role":"user","content":[{"text":"a"},{"text":"b"}]},
      {"role":"assistant","content":[{"text":"c"}]},{"role":"user","content":[{"text":"d"}]}])"));
}

TEST(MessagesRequest, ImageToolUseAndToolResult) {
  auto body = converseBody(R"({"model":"m","max_tokens":1,"tools":[{"name":"f","input_schema":{"type":"object"}}],
    "messages":[
      {"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/"}}]},
      {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{"a":1}}]},
      {"role":"user","content":[
        {"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"r"},
          {"type":"image","source":{"type":"base64","media_type":"image/webp","data":"UklG"}}]},
        {"type":"tool_result","tool_use_id":"t2","is_error":true,"content":"failed"},
        {"type":"tool_result","tool_use_id":"t3","is_error":false},
        {"type":"tool_result","tool_use_id":"t4","content":[]}]}]})");
  EXPECT_EQ(body.at("messages"), json::parse(R"([
    {"role":"user","content":[{"image":{"format":"jpeg","source":{"bytes":"/9j/"}}}]},
    {"role":"assistant","content":[{"toolUse":{"toolUseId":"t1","name":"f","input":{"a":1}}}]},
    {"role":"user","content":[
      {"toolResult":{"toolUseId":"t1","content":[{"text":"r"},{"image":{"format":"webp","source":{"bytes":"UklG"}}}]}},
      {"toolResult":{"toolUseId":"t2","content":[{"text":"failed"}],"status":"error"}},
      {"toolResult":{"toolUseId":"t3","content":[{"text":""}]}},
      {"toolResult":{"toolUseId":"t4","content":[{"text":""}]}}]}])"));
}

TEST(MessagesRequest, ThinkingBlocksBecomeReasoningContent) {
  auto body = converseBody(R"({"model":"m","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},
    "messages":[{"role":"user","content":"q"},{"role":"assistant","content":[
      {"type":"thinking","thinking":"hmm","signature":"sig"},{"type":"redacted_thinking","data":"b64"},
      {"type":"text","text":"a"}]},{"role":"user","content":"more"}]})");
  EXPECT_EQ(body.at("messages").at(1), json::parse(R"({"role":"assistant","content":[
      {"reasoningContent":{"reasoningText":{"text":"hmm","signature":"sig"}}},
      {"reasoningContent":{"redactedContent":"b64"}},{"text":"a"}]})"));
  EXPECT_EQ(body.at("additionalModelRequestFields"),
            json::parse(R"({"thinking":{"type":"enabled","budget_tokens":1024}})"));
}

TEST(MessagesRequest, ToolsAndEveryToolChoice) {
  std::string tools = R"("tools":[{"name":"get_weather","description":"Weather.","input_schema":{"type":"object",
      "properties":{"city":{"type":"string"}}}},{"type":"custom","name":"noop","description":"",
      "input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}])";
  auto with = [&](std::string_view choice) {
    return converseBody(R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],)" + tools +
                        std::string(choice) + "}");
  };
  auto expected_tools = json::parse(R"([{"toolSpec":{"name":"get_weather","description":"Weather.",
      "inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}}}}}},
      {"toolSpec":{"name":"noop","inputSchema":{"json":{"type":"object"}}}},{"cachePoint":{"type":"default"}}])");
  auto unset = with("");
  EXPECT_EQ(unset.at("toolConfig"), (json::object{{"tools", expected_tools}}));
  EXPECT_EQ(with(R"(,"tool_choice":{"type":"auto"})").at("toolConfig").at("toolChoice"), json::parse(R"({"auto":{}})"));
  EXPECT_EQ(with(R"(,"tool_choice":{"type":"any","disable_parallel_tool_use":true})").at("toolConfig").at("toolChoice"),
            json::parse(R"({"any":{}})"));
  EXPECT_EQ(with(R"(,"tool_choice":{"type":"tool","name":"get_weather"})").at("toolConfig").at("toolChoice"),
            json::parse(R"({"tool":{"name":"get_weather"}})"));
  EXPECT_FALSE(with(R"(,"tool_choice":{"type":"none"})").contains("toolConfig"));
}

TEST(MessagesRequest, ToolChoiceNoneWithToolHistoryIsRefused) {
  auto call = messagesToConverse(json::parse(R"({"model":"m","max_tokens":1,"tool_choice":{"type":"none"},
      "tools":[{"name":"f","input_schema":{"type":"object"}}],
      "messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]},
                  {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"r"}]}]})")
                                     .as_object());
  ASSERT_FALSE(call);
  EXPECT_EQ(call.error().http_status, 400);
  EXPECT_TRUE(call.error().message.starts_with("tool_choice.type: ")) << call.error().message;
}

TEST(MessagesRequest, CacheControlOnContentBlocks) {
  auto body = converseBody(R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[
      {"type":"text","text":"long document","cache_control":{"type":"ephemeral","ttl":"5m"}},
      {"type":"text","text":"question"}]}]})");
  EXPECT_EQ(body.at("messages").at(0).at("content"),
            json::parse(R"([{"text":"long document"},{"cachePoint":{"type":"default"}},{"text":"question"}])"));
}

TEST(MessagesRequest, CountTokensBody) {
  auto call = countTokensToConverse(json::parse(R"({"model":"m","system":"s","max_tokens":5,"temperature":1,
      "messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],
      "tool_choice":{"type":"any"},"thinking":{"type":"enabled","budget_tokens":1024}})")
                                        .as_object());
  ASSERT_TRUE(call) << call.error().message;
  EXPECT_EQ(call->model, "m");
  EXPECT_EQ(json::parse(call->body), json::parse(R"({"input":{"converse":{
      "messages":[{"role":"user","content":[{"text":"x"}]}],"system":[{"text":"s"}],
      "toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object"}}}}],"toolChoice":{"any":{}}},
      "additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}}}})"));
  // max_tokens is not part of a count_tokens request.
  EXPECT_TRUE(
      countTokensToConverse(json::parse(R"({"model":"m","messages":[{"role":"user","content":"x"}]})").as_object()));
}

TEST(MessagesRequest, MalformedOrInexpressibleRequestsNameTheField) {
  const std::string ok_messages = R"("messages":[{"role":"user","content":"x"}])";
  struct Case {
    std::string body;
    std::string field;  // the message starts with it
  };
  std::vector<Case> cases = {
      {R"({"max_tokens":1,)" + ok_messages + "}", "model: "},
      {R"({"model":"","max_tokens":1,)" + ok_messages + "}", "model: "},
      {R"({"model":"m",)" + ok_messages + "}", "max_tokens: is required"},
      {R"({"model":"m","max_tokens":0,)" + ok_messages + "}", "max_tokens: "},
      {R"({"model":"m","max_tokens":"10",)" + ok_messages + "}", "max_tokens: "},
      {R"({"model":"m","max_tokens":1.5,)" + ok_messages + "}", "max_tokens: "},
      {R"({"model":"m","max_tokens":1})", "messages: "},
      {R"({"model":"m","max_tokens":1,"messages":[]})", "messages: "},
      {R"({"model":"m","max_tokens":1,"messages":{}})", "messages: "},
      {R"({"model":"m","max_tokens":1,"messages":["x"]})", "messages.0: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]})", "messages.0.role: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user"}]})", "messages.0.content: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[]}]})", "messages.0.content: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":7}]})", "messages.0.content: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":["x"]}]})", "messages.0.content.0: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"text":"x"}]}]})",
       "messages.0.content.0.type: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":5}]}]})",
       "messages.0.content.0.text: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]})",
       "messages.0.content.0.type: content block type 'document' is not supported"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]})",
       "messages.0.content.0.source.type: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image"}]}]})",
       "messages.0.content.0.source: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"x"}}]}]})",
       "messages.0.content.0.source.media_type: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png"}}]}]})",
       "messages.0.content.0.source.data: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]}]})",
       "messages.0.content.0.type: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","name":"f","input":{}}]}]})",
       "messages.0.content.0.id: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":"{}"}]}]})",
       "messages.0.content.0.input: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"t"}]}]})",
       "messages.0.content.0.type: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","content":"r"}]}]})",
       "messages.0.content.0.tool_use_id: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","is_error":"yes"}]}]})",
       "messages.0.content.0.is_error: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":{}}]}]})",
       "messages.0.content.0.content: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"document"}]}]}]})",
       "messages.0.content.0.content.0.type: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"thinking","thinking":"x"}]}]})",
       "messages.0.content.0.type: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"thinking"}]}]})",
       "messages.0.content.0.thinking: "},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"forever"}}]}]})",
       "messages.0.content.0.cache_control: "},
      {R"({"model":"m","max_tokens":1,"system":5,)" + ok_messages + "}", "system: "},
      {R"({"model":"m","max_tokens":1,"system":[{"type":"image"}],)" + ok_messages + "}", "system.0.type: "},
      {R"({"model":"m","max_tokens":1,"tools":{},)" + ok_messages + "}", "tools: "},
      {R"({"model":"m","max_tokens":1,"tools":[{"input_schema":{}}],)" + ok_messages + "}", "tools.0.name: "},
      {R"({"model":"m","max_tokens":1,"tools":[{"name":"f"}],)" + ok_messages + "}", "tools.0.input_schema: "},
      {R"({"model":"m","max_tokens":1,"tools":[{"name":"f","description":3,"input_schema":{}}],)" + ok_messages + "}",
       "tools.0.description: "},
      {R"({"model":"m","max_tokens":1,"tools":[{"type":"bash_20250124","name":"bash"}],)" + ok_messages + "}",
       "tools.0.type: the server tool 'bash_20250124' is not supported"},
      {R"({"model":"m","max_tokens":1,"tool_choice":"auto",)" + ok_messages + "}", "tool_choice: "},
      {R"({"model":"m","max_tokens":1,"tool_choice":{"type":"required"},)" + ok_messages + "}", "tool_choice.type: "},
      {R"({"model":"m","max_tokens":1,"tool_choice":{"type":"tool"},)" + ok_messages + "}", "tool_choice.name: "},
      {R"({"model":"m","max_tokens":1,"tool_choice":{"type":"any","disable_parallel_tool_use":1},)" + ok_messages + "}",
       "tool_choice.disable_parallel_tool_use: "},
      {R"({"model":"m","max_tokens":1,"thinking":true,)" + ok_messages + "}", "thinking: "},
      {R"({"model":"m","max_tokens":1,"thinking":{"type":"on"},)" + ok_messages + "}", "thinking.type: "},
      {R"({"model":"m","max_tokens":1,"thinking":{"type":"enabled"},)" + ok_messages + "}", "thinking.budget_tokens: "},
      {R"({"model":"m","max_tokens":1,"temperature":"hot",)" + ok_messages + "}", "temperature: "},
      {R"({"model":"m","max_tokens":1,"top_p":[],)" + ok_messages + "}", "top_p: "},
      {R"({"model":"m","max_tokens":1,"top_k":-1,)" + ok_messages + "}", "top_k: "},
      {R"({"model":"m","max_tokens":1,"stop_sequences":"END",)" + ok_messages + "}", "stop_sequences: "},
      {R"({"model":"m","max_tokens":1,"stop_sequences":[1],)" + ok_messages + "}", "stop_sequences: "},
      {R"({"model":"m","max_tokens":1,"stream":"yes",)" + ok_messages + "}", "stream: "},
      {R"({"model":"m","max_tokens":1,"mcp_servers":[{"type":"url","url":"https://x","name":"x"}],)" + ok_messages +
           "}",
       "mcp_servers: "},
      {R"({"model":"m","max_tokens":1,"container":"c",)" + ok_messages + "}", "container: "},
      {R"({"model":"m","max_tokens":1,"context_management":{},)" + ok_messages + "}", "context_management: "},
  };
  for (const auto& c : cases) {
    auto call = messagesToConverse(json::parse(c.body).as_object());
    ASSERT_FALSE(call) << c.body;
    EXPECT_EQ(call.error().http_status, 400) << c.body;
    EXPECT_EQ(call.error().type, "invalid_request_error") << c.body;
    EXPECT_TRUE(call.error().message.starts_with(c.field)) << c.body << "\n-> " << call.error().message;
    EXPECT_EQ(anthropicErrorType(call.error().http_status), "invalid_request_error");
  }
}

// ---- The non-streamed answer.

TEST(MessagesAnswer, ThinkingRedactedThinkingAndToolUse) {
  ResponseObservation obs;
  auto out = converseToMessage(R"({"output":{"message":{"role":"assistant","content":[
      {"reasoningContent":{"reasoningText":{"text":"think","signature":"sig"}}},
      {"reasoningContent":{"redactedContent":"b64"}},
      {"text":"Checking."},
      {"toolUse":{"toolUseId":"tooluse_1","name":"weather","input":{"city":"Paris"}}},
      {"citationsContent":{"content":[]}}]}},
      "stopReason":"tool_use","usage":{"inputTokens":10,"outputTokens":20,"totalTokens":30}})",
                               "msg_1", "m", obs);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(json::parse(*out), json::parse(R"({"id":"msg_1","type":"message","role":"assistant","model":"m","content":[
      {"type":"thinking","thinking":"think","signature":"sig"},{"type":"redacted_thinking","data":"b64"},
      {"type":"text","text":"Checking."},{"type":"tool_use","id":"tooluse_1","name":"weather","input":{"city":"Paris"}}],
      "stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":20}})"));
  EXPECT_EQ(obs.usage.input, 10);
  EXPECT_EQ(obs.usage.output, 20);
  EXPECT_EQ(obs.usage.total, 30);
  EXPECT_FALSE(obs.usage.cached_input);
  EXPECT_EQ(obs.response_model, "m");
}

TEST(MessagesAnswer, StopReasons) {
  for (auto [converse, messages] : std::vector<std::pair<std::string, std::string>>{
           {"end_turn", "end_turn"},
           {"tool_use", "tool_use"},
           {"max_tokens", "max_tokens"},
           {"stop_sequence", "stop_sequence"},
           {"guardrail_intervened", "refusal"},
           {"content_filtered", "refusal"},
           {"model_context_window_exceeded", "model_context_window_exceeded"},
           {"something_new", "end_turn"}}) {
    ResponseObservation obs;
    auto out = converseToMessage(R"({"output":{"message":{"content":[]}},"stopReason":")" + converse + R"("})", "id",
                                 "m", obs);
    ASSERT_TRUE(out);
    EXPECT_EQ(json::parse(*out).at("stop_reason").as_string(), messages) << converse;
    // No usage reported: the client sees zeros, the record nothing.
    EXPECT_EQ(json::parse(*out).at("usage"), json::parse(R"({"input_tokens":0,"output_tokens":0})"));
    EXPECT_FALSE(obs.usage.input);
  }
}

TEST(MessagesAnswer, MalformedConverseBodyIsABadGateway) {
  for (std::string_view body : {"", "not json", "[]", R"({"output":{}})", R"({"output":{"message":{"content":{}}}})"}) {
    ResponseObservation obs;
    auto out = converseToMessage(body, "id", "m", obs);
    ASSERT_FALSE(out) << body;
    EXPECT_EQ(out.error().http_status, 502);
    EXPECT_EQ(out.error().code, "upstream_response_malformed");
  }
}

TEST(MessagesAnswer, CountTokens) {
  auto out = countTokensToMessages(R"({"inputTokens":57})");
  ASSERT_TRUE(out);
  EXPECT_EQ(json::parse(*out), json::parse(R"({"input_tokens":57})"));
  for (std::string_view body : {"", "{}", R"({"inputTokens":"57"})", "[1]"}) {
    auto bad = countTokensToMessages(body);
    ASSERT_FALSE(bad) << body;
    EXPECT_EQ(bad.error().http_status, 502);
  }
}

TEST(MessagesAnswer, ErrorsTakeAnthropicsShapeByStatus) {
  struct Case {
    int status;
    std::string header;
    std::string body;
    std::string type;
    std::string message;
    std::string provider_error_type;
  };
  for (const auto& c : std::vector<Case>{
           {429, "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            R"({"message":"Too many requests, please wait before trying again."})", "rate_limit_error",
            "Too many requests, please wait before trying again.", "ThrottlingException"},
           {403, "", R"({"Message":"User is not authorized","__type":"com.amazon#AccessDeniedException:x"})",
            "permission_error", "User is not authorized", "AccessDeniedException"},
           {404, "ResourceNotFoundException", R"({"message":"Model not found"})", "not_found_error", "Model not found",
            "ResourceNotFoundException"},
           {503, "ServiceUnavailableException", "{}", "overloaded_error", "Bedrock returned HTTP 503",
            "ServiceUnavailableException"},
           {500, "", "<html>oops</html>", "api_error", "Bedrock returned HTTP 500", "api_error"}}) {
    ResponseObservation obs;
    auto body = json::parse(messagesError(c.status, c.header, c.body, obs));
    EXPECT_EQ(body,
              (json::object{{"type", "error"}, {"error", json::object{{"type", c.type}, {"message", c.message}}}}))
        << c.status;
    EXPECT_EQ(obs.provider_error_type, c.provider_error_type);
    EXPECT_EQ(obs.provider_error_message, c.message);
  }
}

// ---- The stream.

std::string converseStream(std::string_view jsonl) { return testing::encodeTranscript(jsonl); }

TEST(MessagesStream, TextStreamEventByEvent) {
  ResponseObservation obs;
  auto events = sseEvents(
      translateAll(converseStream(testing::readFile(kCases / "text-stream" / "upstream_response.jsonl")), obs));
  ASSERT_GE(events.size(), 6u);
  EXPECT_EQ(events.front().data, json::parse(R"({"type":"message_start","message":{"id":"msg_golden","type":"message",
      "role":"assistant","model":"model-from-request","content":[],"stop_reason":null,"stop_sequence":null,
      "usage":{"input_tokens":0,"output_tokens":0}}})"));
  EXPECT_EQ(events[1].data,
            json::parse(R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"));
  std::string text;
  std::size_t i = 2;
  for (; i < events.size() && events[i].type == "content_block_delta"; ++i) {
    EXPECT_EQ(events[i].data.at("index"), 0);
    EXPECT_EQ(events[i].data.at("delta").at("type"), "text_delta");
    text += events[i].data.at("delta").at("text").as_string();
  }
  EXPECT_EQ(text,
            "Let me count the \"r\"s in \"strawberry\":\n\ns-t-**r**-a-w-b-e-**r**-**r**-y\n\nThere are **3** "
            "r's in \"strawberry.\"");
  ASSERT_EQ(events.size(), i + 3);
  EXPECT_EQ(events[i].data, json::parse(R"({"type":"content_block_stop","index":0})"));
  EXPECT_EQ(events[i + 1].data, json::parse(R"({"type":"message_delta","delta":{"stop_reason":"end_turn",
      "stop_sequence":null},"usage":{"input_tokens":22,"output_tokens":55}})"));
  EXPECT_EQ(events[i + 2].data, json::parse(R"({"type":"message_stop"})"));
  EXPECT_EQ(obs.api, ResponseApi::kMessages);
  EXPECT_EQ(obs.usage.input, 22);
  EXPECT_EQ(obs.usage.output, 55);
  EXPECT_EQ(obs.usage.total, 77);
  EXPECT_EQ(obs.chunks.size(), events.size());
  EXPECT_EQ(obs.response_model, "model-from-request");
}

TEST(MessagesStream, ToolUseStream) {
  ResponseObservation obs;
  auto events = sseEvents(
      translateAll(converseStream(testing::readFile(kCases / "tool-stream" / "upstream_response.jsonl")), obs));
  EXPECT_EQ(types(events),
            (std::vector<std::string>{"message_start", "content_block_start", "content_block_delta",
                                      "content_block_delta", "content_block_stop", "message_delta", "message_stop"}));
  EXPECT_EQ(events[1].data, json::parse(R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use",
      "id":"tool-use-id","name":"test-tool","input":{}}})"));
  std::string input;
  for (int i : {2, 3}) {
    EXPECT_EQ(events[i].data.at("delta").at("type"), "input_json_delta");
    input += events[i].data.at("delta").at("partial_json").as_string();
  }
  EXPECT_EQ(json::parse(input), json::parse(R"({"value":"Sparkle Day"})"));
  EXPECT_EQ(events[5].data.at("delta").at("stop_reason"), "tool_use");
  EXPECT_EQ(events[5].data.at("usage"), json::parse(R"({"input_tokens":125,"output_tokens":45})"));
  EXPECT_EQ(obs.usage.input, 125);
  EXPECT_EQ(obs.usage.output, 45);
}

TEST(MessagesStream, MessageDeltaWaitsForTheUsageThatFollowsMessageStop) {
  ResponseObservation obs;
  MessagesStreamTranslator t(obs, 1 << 20, "msg_1", "m");
  std::string out;
  ASSERT_TRUE(t.feed(converseStream("{\"messageStart\":{\"role\":\"assistant\"}}\n"
                                    "{\"contentBlockDelta\":{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}}\n"),
                     out));
  // Each event is written as soon as its Converse event is complete.
  EXPECT_EQ(types(sseEvents(out)),
            (std::vector<std::string>{"message_start", "content_block_start", "content_block_delta"}));
  ASSERT_TRUE(t.feed(converseStream("{\"messageStop\":{\"stopReason\":\"max_tokens\"}}\n"), out));
  // messageStop closes the open block, but the usage is still to come.
  EXPECT_EQ(types(sseEvents(out)).back(), "content_block_stop");
  ASSERT_TRUE(t.feed(converseStream("{\"metadata\":{\"usage\":{\"inputTokens\":3,\"outputTokens\":1}}}\n"), out));
  auto events = sseEvents(out);
  ASSERT_EQ(types(events), (std::vector<std::string>{"message_start", "content_block_start", "content_block_delta",
                                                     "content_block_stop", "message_delta", "message_stop"}));
  EXPECT_EQ(events[4].data.at("delta").at("stop_reason"), "max_tokens");
  EXPECT_EQ(events[4].data.at("usage"), json::parse(R"({"input_tokens":3,"output_tokens":1})"));
  std::string rest;
  ASSERT_TRUE(t.finish(rest));
  EXPECT_EQ(rest, "");
}

TEST(MessagesStream, WithoutMetadataTheStreamEndsAtTheEndOfTheBody) {
  ResponseObservation obs;
  auto events = sseEvents(translateAll(converseStream("{\"messageStart\":{\"role\":\"assistant\"}}\n"
                                                      "{\"messageStop\":{\"stopReason\":\"end_turn\"}}\n"),
                                       obs));
  EXPECT_EQ(types(events), (std::vector<std::string>{"message_start", "message_delta", "message_stop"}));
  EXPECT_EQ(events[1].data.at("usage"), json::parse(R"({"input_tokens":0,"output_tokens":0})"));
  EXPECT_FALSE(obs.usage.input);  // unknown, not zero
  EXPECT_FALSE(obs.usage.output);
}

TEST(MessagesStream, CacheTokensInUsageAndObservation) {
  ResponseObservation obs;
  auto events = sseEvents(translateAll(
      converseStream("{\"messageStart\":{\"role\":\"assistant\"}}\n"
                     "{\"messageStop\":{\"stopReason\":\"stop_sequence\",\"additionalModelResponseFields\":"
                     "{\"delta\":{\"stop_sequence\":\"END\"}}}}\n"
                     "{\"metadata\":{\"usage\":{\"inputTokens\":10,\"outputTokens\":3,\"totalTokens\":133,"
                     "\"cacheReadInputTokens\":100,\"cacheWriteInputTokens\":20}}}\n"),
      obs));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].data, json::parse(R"({"type":"message_delta","delta":{"stop_reason":"stop_sequence",
      "stop_sequence":"END"},"usage":{"input_tokens":10,"cache_creation_input_tokens":20,
      "cache_read_input_tokens":100,"output_tokens":3}})"));
  EXPECT_EQ(obs.usage.input, 130);  // uncached + cache reads + cache writes
  EXPECT_EQ(obs.usage.cached_input, 100);
  EXPECT_EQ(obs.usage.cache_creation, 20);
  EXPECT_EQ(obs.usage.output, 3);
  EXPECT_EQ(obs.usage.total, 133);
}

TEST(MessagesStream, ReasoningRedactedReasoningAndText) {
  ResponseObservation obs;
  auto events = sseEvents(translateAll(
      converseStream(
          "{\"messageStart\":{\"role\":\"assistant\"}}\n"
          "{\"contentBlockDelta\":{\"contentBlockIndex\":0,\"delta\":{\"reasoningContent\":{\"text\":\"a\"}}}}\n"
          "{\"contentBlockDelta\":{\"contentBlockIndex\":0,\"delta\":{\"reasoningContent\":{\"signature\":\"s\"}}}}\n"
          "{\"contentBlockStop\":{\"contentBlockIndex\":0}}\n"
          "{\"contentBlockDelta\":{\"contentBlockIndex\":1,\"delta\":{\"reasoningContent\":{\"redactedContent\":\"r1\"}"
          "}}}\n"
          "{\"contentBlockStop\":{\"contentBlockIndex\":1}}\n"
          "{\"contentBlockDelta\":{\"contentBlockIndex\":2,\"delta\":{\"text\":\"t\"}}}\n"
          "{\"messageStop\":{\"stopReason\":\"end_turn\"}}\n"
          "{\"metadata\":{\"usage\":{\"inputTokens\":1,\"outputTokens\":2}}}\n"),
      obs));
  std::vector<std::string> data;
  for (const auto& e : events) data.push_back(json::serialize(e.data));
  std::vector<std::string> expected = {
      R"({"type":"message_start","message":{"id":"msg_golden","type":"message","role":"assistant","model":"model-from-request","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}})",
      R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"a"}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"s"}})",
      R"({"type":"content_block_stop","index":0})",
      R"({"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"r1"}})",
      R"({"type":"content_block_stop","index":1})",
      R"({"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}})",
      R"({"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"t"}})",
      R"({"type":"content_block_stop","index":2})",
      R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":1,"output_tokens":2}})",
      R"({"type":"message_stop"})"};
  EXPECT_EQ(data, expected);
}

TEST(MessagesStream, ABlockThatStartsClosesTheOpenOne) {
  // Converse does not always send contentBlockStop before the next block;
  // a Messages client sees each block stopped before the next starts, and
  // the indexes count the blocks as sent.
  ResponseObservation obs;
  auto events = sseEvents(translateAll(
      converseStream("{\"contentBlockDelta\":{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\"}}}\n"
                     "{\"contentBlockStart\":{\"contentBlockIndex\":1,\"start\":{\"toolUse\":{\"toolUseId\":\"t\","
                     "\"name\":\"f\"}}}}\n"
                     "{\"contentBlockDelta\":{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":{\"input\":\"{}\"}}}}\n"
                     "{\"messageStop\":{\"stopReason\":\"tool_use\"}}\n"),
      obs));
  EXPECT_EQ(types(events), (std::vector<std::string>{"message_start", "content_block_start", "content_block_delta",
                                                     "content_block_stop", "content_block_start", "content_block_delta",
                                                     "content_block_stop", "message_delta", "message_stop"}));
  EXPECT_EQ(events[3].data.at("index"), 0);
  EXPECT_EQ(events[4].data.at("index"), 1);
  EXPECT_EQ(events[6].data.at("index"), 1);
}

TEST(MessagesStream, ExceptionMidStreamIsAnAnthropicErrorEvent) {
  ResponseObservation obs;
  std::string out =
      translateAll(converseStream(testing::readFile(kCases / "error-mid-stream" / "upstream_response.jsonl")), obs);
  auto events = sseEvents(out);
  EXPECT_EQ(types(events), (std::vector<std::string>{"message_start", "content_block_start", "content_block_delta",
                                                     "content_block_delta", "error"}));
  EXPECT_EQ(events.back().data, json::parse(R"({"type":"error","error":{"type":"rate_limit_error",
      "message":"Too many requests, please wait before trying again."}})"));
  EXPECT_EQ(obs.provider_error_type, "throttlingException");
  EXPECT_EQ(obs.provider_error_message, "Too many requests, please wait before trying again.");
  EXPECT_EQ(obs.chunks.size(), events.size());  // the error event is recorded too
}

TEST(MessagesStream, ExceptionTypesMapToAnthropicErrorTypes) {
  for (auto [exception, type] :
       std::vector<std::pair<std::string, std::string>>{{"throttlingException", "rate_limit_error"},
                                                        {"serviceUnavailableException", "overloaded_error"},
                                                        {"validationException", "invalid_request_error"},
                                                        {"modelStreamErrorException", "api_error"},
                                                        {"internalServerException", "api_error"}}) {
    ResponseObservation obs;
    auto events =
        sseEvents(translateAll(converseStream("{\"exception:" + exception + "\":{\"message\":\"boom\"}}\n"), obs));
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].data.at("error").at("type").as_string(), type) << exception;
    EXPECT_EQ(obs.provider_error_type, exception);
  }
}

TEST(MessagesStream, SecretsInAnExceptionMessageAreMasked) {
  ResponseObservation obs;
  std::string upstream =
      converseStream("{\"exception:validationException\":{\"message\":\"bad token SessionTok3n-XYZ\"}}\n");
  std::string out = translateStream({upstream}, obs, 1 << 20, {"SessionTok3n-XYZ"});
  EXPECT_EQ(out.find("SessionTok3n"), std::string::npos) << out;
  EXPECT_NE(out.find("[REDACTED]"), std::string::npos) << out;
  EXPECT_EQ(obs.provider_error_message->find("SessionTok3n"), std::string::npos);
}

TEST(ChatStream, SecretsInAnExceptionMessageAreMasked) {
  // The chat path's translator masks what the Messages one does.
  ResponseObservation obs;
  StreamTranslator t(obs, 1 << 20, "chatcmpl-1", "model", false, 0, {"SessionTok3n-XYZ"});
  std::string out;
  auto st = t.feed(converseStream("{\"exception:throttlingException\":{\"message\":\"slow down SessionTok3n-XYZ\"}}\n"), out);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(out.find("SessionTok3n"), std::string::npos) << out;
  EXPECT_NE(out.find("[REDACTED]"), std::string::npos) << out;
  ASSERT_TRUE(obs.provider_error_message);
  EXPECT_EQ(obs.provider_error_message->find("SessionTok3n"), std::string::npos);
}

TEST(MessagesStream, ExceptionHeadersThatAreNotUtf8StillMakeJson) {
  // Header values are any bytes; the error event and the record are JSON.
  std::string upstream = testing::encodeEventStreamMessage(
      {{":message-type", "exception"}, {":exception-type", "odd\xff"}, {":error-message", "bad \xfe\xff bytes"}}, "");
  ResponseObservation obs;
  std::string out = translateAll(upstream, obs);
  ASSERT_TRUE(isValidUtf8(out)) << out;
  auto events = sseEvents(out);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data.at("error").at("message"), "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
  ASSERT_TRUE(obs.provider_error_type);
  EXPECT_TRUE(isValidUtf8(*obs.provider_error_type));
  // The chat translator reads the same message the same way.
  ResponseObservation chat_obs;
  StreamTranslator chat(chat_obs, 1 << 20, "id", "m", false, 0);
  std::string chat_out;
  ASSERT_TRUE(chat.feed(upstream, chat_out));
  EXPECT_TRUE(isValidUtf8(chat_out)) << chat_out;
}

TEST(MessagesStream, StreamCutBeforeMessageStopEndsWithAnErrorEvent) {
  std::string upstream = converseStream(testing::readFile(kCases / "text-stream" / "upstream_response.jsonl"));
  // Cut after the last contentBlockDelta: before contentBlockStop, messageStop and metadata.
  std::string cut = converseStream(
      "{\"messageStart\":{\"role\":\"assistant\"}}\n"
      "{\"contentBlockDelta\":{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Let\"}}}\n");
  ResponseObservation obs;
  auto events = sseEvents(translateAll(cut, obs));
  EXPECT_EQ(types(events),
            (std::vector<std::string>{"message_start", "content_block_start", "content_block_delta", "error"}));
  EXPECT_EQ(events.back().data.at("error").at("type"), "api_error");
  EXPECT_NE(events.back().data.at("error").at("message").as_string().find("before messageStop"), std::string::npos);

  // Cut inside a frame.
  ResponseObservation obs2;
  auto mid = sseEvents(translateAll(std::string_view(upstream).substr(0, upstream.size() - 7), obs2));
  EXPECT_EQ(mid.back().type, "error");
  EXPECT_NE(mid.back().data.at("error").at("message").as_string().find("mid-message"), std::string::npos);
}

TEST(MessagesStream, BrokenUpstreamGetsTheSameFinalErrorEventOnce) {
  ResponseObservation obs;
  MessagesStreamTranslator t(obs, 1 << 20, "msg_1", "m");
  std::string out;
  ASSERT_TRUE(t.feed(converseStream("{\"messageStart\":{\"role\":\"assistant\"}}\n"), out));
  t.fail(Error::gatewayTimeout("the upstream timed out"), out);
  t.fail(Error::badGateway("again", "again"), out);
  auto events = sseEvents(out);
  EXPECT_EQ(types(events), (std::vector<std::string>{"message_start", "error"}));
  EXPECT_EQ(events.back().data, json::parse(anthropicErrorBody(Error::gatewayTimeout("the upstream timed out"))));
  EXPECT_TRUE(out.ends_with(anthropicErrorEvent(Error::gatewayTimeout("the upstream timed out"))));
  // The gateway's own event: the record keeps the events relayed before it
  // and no provider error (the provider reported none).
  EXPECT_EQ(obs.chunks.size(), 1u);
  EXPECT_FALSE(obs.provider_error_type);
  // Converse gave no usage: message_start's zeros are placeholders, never the record's.
  EXPECT_TRUE(obs.usage_from_handler);
  EXPECT_FALSE(obs.usage.input);
  std::string after;
  EXPECT_TRUE(t.feed(converseStream("{\"messageStop\":{\"stopReason\":\"end_turn\"}}\n"), after));
  EXPECT_TRUE(t.finish(after));
  EXPECT_EQ(after, "");
}

TEST(MessagesStream, MalformedEventsEndTheStream) {
  for (std::string bytes :
       {testing::encodeEventStreamMessage({{":message-type", "event"}, {":event-type", "contentBlockDelta"}}, "nope"),
        testing::encodeEventStreamMessage({{":message-type", "weird"}}, "{}"),
        converseStream("{\"contentBlockDelta\":{\"contentBlockIndex\":0,\"delta\":{\"toolUse\":{\"input\":\"{\"}}}}\n"),
        converseStream("{\"contentBlockDelta\":{\"delta\":{\"text\":\"x\"}}}\n"),
        converseStream("{\"contentBlockStart\":{\"start\":{}}}\n"), std::string(16, '\xff')}) {
    ResponseObservation obs;
    auto events = sseEvents(translateAll(bytes, obs));
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().type, "error");
    EXPECT_EQ(events.back().data.at("error").at("type"), "api_error");
  }
}

TEST(MessagesStream, TooManyBlocksIsMalformed) {
  std::string upstream;
  for (std::size_t i = 0; i <= MessagesStreamTranslator::kMaxBlocks; ++i)
    upstream += converseStream("{\"contentBlockDelta\":{\"contentBlockIndex\":" + std::to_string(i) +
                               ",\"delta\":{\"text\":\"x\"}}}\n");
  ResponseObservation obs;
  std::string out = translateStream(std::vector<std::string_view>{upstream}, obs, 0);
  EXPECT_TRUE(out.ends_with("\n\n"));
  EXPECT_NE(out.find("too many content blocks"), std::string::npos);
}

TEST(MessagesStream, CaptureBudgetKeepsAPrefixAndCountsTheRest) {
  std::string upstream = converseStream(testing::readFile(kCases / "text-stream" / "upstream_response.jsonl"));
  ResponseObservation all;
  std::string whole = translateAll(upstream, all);
  ResponseObservation capped;
  std::string out = translateStream(std::vector<std::string_view>{upstream}, capped, 600);
  EXPECT_EQ(out, whole);  // the client gets everything
  ASSERT_LT(capped.chunks.size(), all.chunks.size());
  EXPECT_GT(capped.chunks.size(), 0u);
  EXPECT_LE(capped.chunk_bytes, 600u);
  EXPECT_EQ(capped.chunks.size() + capped.chunks_not_captured, all.chunks.size());
  for (std::size_t i = 0; i < capped.chunks.size(); ++i) EXPECT_EQ(capped.chunks[i], all.chunks[i]);
  EXPECT_EQ(capped.usage.total, all.usage.total);  // usage does not depend on the budget
}

// ---- The provider, by path.

ProviderConfig messagesConfig() {
  ProviderConfig c;
  c.name = "bedrock";
  c.base_url = "https://bedrock-runtime.{region}.amazonaws.com";
  c.env_aws_access_key_id = "AKIDENV";
  c.env_aws_secret_access_key = "envsecret";
  c.env_aws_session_token = "EnvSessionToken1234";
  c.env_aws_region = "us-east-1";
  return c;
}

struct MessagesFixture {
  ProviderConfig config = messagesConfig();
  BedrockProvider provider{config, [] { return std::string("20240517T093000Z"); }};

  ClientFixture request(std::string body, std::string_view path) {
    ClientFixture f(std::move(body), config);
    f.req.path = path;
    f.req.target = path;
    return f;
  }
};

TEST(BedrockMessagesProvider, MessagesGoToConverseSigned) {
  MessagesFixture p;
  auto f = p.request(R"({"model":"anthropic.claude-3-haiku-20240307-v1:0","max_tokens":5,
                        "messages":[{"role":"user","content":"x"}]})",
                     "/v1/messages");
  auto up = p.provider.prepare(f.req);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(up->target, "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse");
  EXPECT_EQ(json::parse(up->body), json::parse(R"({"messages":[{"role":"user","content":[{"text":"x"}]}],
                                                   "inferenceConfig":{"maxTokens":5}})"));
  std::map<std::string, std::string> h(up->headers.begin(), up->headers.end());
  EXPECT_EQ(h["accept"], "application/json");
  EXPECT_EQ(h["x-amz-security-token"], "EnvSessionToken1234");
  EXPECT_TRUE(h["authorization"].starts_with(
      "AWS4-HMAC-SHA256 Credential=AKIDENV/20240517/us-east-1/bedrock/aws4_request, "
      "SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token, Signature="))
      << h["authorization"];

  auto stream = p.request(R"({"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"x"}]})",
                          "/v1/messages");
  auto sup = p.provider.prepare(stream.req);
  ASSERT_TRUE(sup);
  EXPECT_EQ(sup->target, "/model/m/converse-stream");
  std::map<std::string, std::string> sh(sup->headers.begin(), sup->headers.end());
  EXPECT_EQ(sh["accept"], "application/vnd.amazon.eventstream");
}

TEST(BedrockMessagesProvider, CountTokensGoesToCountTokens) {
  MessagesFixture p;
  auto f = p.request(R"({"model":"anthropic.claude-3-5-haiku-20241022-v1:0","stream":true,
                        "messages":[{"role":"user","content":"x"}]})",
                     "/v1/messages/count_tokens");
  auto up = p.provider.prepare(f.req);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(up->target, "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/count-tokens");
  EXPECT_EQ(json::parse(up->body),
            json::parse(R"({"input":{"converse":{"messages":[{"role":"user","content":[{"text":"x"}]}]}}})"));
  std::map<std::string, std::string> h(up->headers.begin(), up->headers.end());
  EXPECT_EQ(h["accept"], "application/json");

  // The answer, even for a body that said "stream": a JSON object, and no usage.
  auto handler = p.provider.respond(f.req, UpstreamResponseHead{200, "application/json", nullptr}, 1 << 20);
  EXPECT_EQ(handler->head().framing, Framing::kBuffered);
  std::string out;
  ASSERT_TRUE(handler->onBody(R"({"inputTokens":12})", out));
  ASSERT_TRUE(handler->onEnd(out));
  EXPECT_EQ(json::parse(out), json::parse(R"({"input_tokens":12})"));
  EXPECT_EQ(handler->observation().api, ResponseApi::kMessages);
  EXPECT_FALSE(handler->observation().usage.input);
  EXPECT_FALSE(handler->observation().usage.output);
}

TEST(BedrockMessagesProvider, OtherPathsAreNotFoundAndBadBodiesAreRefused) {
  MessagesFixture p;
  for (std::string_view path : {"/v1/messages/batches", "/v1/messages/", "/v1/complete", "/v1/models"}) {
    auto f = p.request(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]})", path);
    auto up = p.provider.prepare(f.req);
    ASSERT_FALSE(up) << path;
    EXPECT_EQ(up.error().http_status, 404) << path;
  }
  auto get = p.request(R"({"model":"m"})", "/v1/messages");
  get.req.method = "GET";
  ASSERT_FALSE(p.provider.prepare(get.req));

  auto missing = p.request(R"({"model":"m","messages":[{"role":"user","content":"x"}]})", "/v1/messages");
  auto refused = p.provider.prepare(missing.req);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().http_status, 400);
  EXPECT_EQ(refused.error().message, "max_tokens: is required");

  auto dots = p.request(R"({"model":"..","max_tokens":5,"messages":[{"role":"user","content":"x"}]})", "/v1/messages");
  auto dot_refused = p.provider.prepare(dots.req);
  ASSERT_FALSE(dot_refused);
  EXPECT_EQ(dot_refused.error().code, "invalid_model");
}

TEST(BedrockMessagesProvider, RespondHandlersForMessages) {
  MessagesFixture p;
  auto plain = p.request(R"({"model":"m1","max_tokens":5,"messages":[{"role":"user","content":"x"}]})", "/v1/messages");
  auto j = p.provider.respond(plain.req, UpstreamResponseHead{200, "application/json", nullptr}, 1 << 20);
  EXPECT_EQ(j->head().framing, Framing::kBuffered);
  EXPECT_EQ(j->observation().api, ResponseApi::kMessages);
  std::string jout;
  ASSERT_TRUE(j->onBody(testing::readFile(kCases / "text" / "upstream_response.json"), jout));
  ASSERT_TRUE(j->onEnd(jout));
  auto message = json::parse(jout).as_object();
  EXPECT_TRUE(message.at("id").as_string().starts_with("msg_"));
  EXPECT_EQ(message.at("id").as_string().size(), 4u + 32u);
  EXPECT_EQ(message.at("model"), "m1");
  EXPECT_EQ(message.at("type"), "message");
  EXPECT_EQ(j->observation().usage.total, 79);

  auto stream = p.request(R"({"model":"m1","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"x"}]})",
                          "/v1/messages");
  auto s =
      p.provider.respond(stream.req, UpstreamResponseHead{200, "application/vnd.amazon.eventstream", nullptr}, 1 << 20);
  EXPECT_EQ(s->head().content_type, "text/event-stream");
  EXPECT_EQ(s->head().framing, Framing::kRelay);
  EXPECT_EQ(s->observation().api, ResponseApi::kMessages);
  std::string out;
  ASSERT_TRUE(s->onBody(converseStream(testing::readFile(kCases / "text-stream" / "upstream_response.jsonl")), out));
  ASSERT_TRUE(s->onEnd(out));
  auto events = sseEvents(out);
  EXPECT_EQ(events.front().data.at("message").at("model"), "m1");
  EXPECT_EQ(events.back().type, "message_stop");
  EXPECT_EQ(s->observation().usage.total, 77);

  // A failure after the head: the final Anthropic error event.
  auto broken =
      p.provider.respond(stream.req, UpstreamResponseHead{200, "application/vnd.amazon.eventstream", nullptr}, 1 << 20);
  std::string bout;
  broken->onUpstreamFailure(Error::badGateway("upstream_reset", "the upstream connection was reset"), bout);
  EXPECT_EQ(bout, anthropicErrorEvent(Error::badGateway("upstream_reset", "the upstream connection was reset")));
}

TEST(BedrockMessagesProvider, UpstreamErrorsAreAnthropicShapedAndRedacted) {
  MessagesFixture p;
  auto f = p.request(R"({"model":"m1","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"x"}]})",
                     "/v1/messages");
  f.headers.items = {{"x-aws-session-token", "ClientSessionToken1234"}};
  testing::Headers upstream_headers;
  upstream_headers.items = {{"x-amzn-ErrorType", "UnrecognizedClientException:http://internal.amazon.com/coral/"}};
  auto e = p.provider.respond(f.req, UpstreamResponseHead{403, "application/json", &upstream_headers}, 1 << 20);
  EXPECT_EQ(e->head().status, 403);
  EXPECT_EQ(e->head().framing, Framing::kBuffered);
  EXPECT_EQ(e->observation().api, ResponseApi::kMessages);
  std::string out;
  ASSERT_TRUE(
      e->onBody(R"({"message":"bad token ClientSessionToken1234 and EnvSessionToken1234 and envsecret"})", out));
  ASSERT_TRUE(e->onEnd(out));
  auto body = json::parse(out).as_object();
  EXPECT_EQ(body.at("type"), "error");
  EXPECT_EQ(body.at("error").at("type"), "permission_error");
  EXPECT_EQ(out.find("SessionToken1234"), std::string::npos) << out;
  EXPECT_EQ(out.find("envsecret"), std::string::npos) << out;
  EXPECT_EQ(e->observation().provider_error_type, "UnrecognizedClientException");
  EXPECT_EQ(e->observation().provider_error_message->find("SessionToken1234"), std::string::npos);

  // The chat path keeps the OpenAI shape.
  ClientFixture chat(R"({"model":"m1","messages":[]})", p.config);
  auto c = p.provider.respond(chat.req, UpstreamResponseHead{403, "application/json", &upstream_headers}, 1 << 20);
  std::string cout;
  ASSERT_TRUE(c->onBody(R"({"message":"denied"})", cout));
  ASSERT_TRUE(c->onEnd(cout));
  EXPECT_TRUE(json::parse(cout).as_object().contains("error"));
  EXPECT_FALSE(json::parse(cout).as_object().contains("type"));
  EXPECT_EQ(c->observation().api, ResponseApi::kChatCompletions);
}

}  // namespace
}  // namespace gw::providers::bedrock
