#include "providers/common/openai_chat.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

namespace gw::providers::openai_chat {
namespace {

namespace json = boost::json;

Result<ChatRequest> parse(std::string_view body) { return parseChatRequest(json::parse(body).as_object(), "test"); }

void expectRejected(std::string_view body, std::string_view mentions) {
  auto r = parse(body);
  ASSERT_FALSE(r) << body;
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_EQ(r.error().type, "invalid_request_error");
  EXPECT_NE(r.error().message.find(mentions), std::string::npos) << r.error().message;
}

constexpr const char* kMsgs = R"("messages":[{"role":"user","content":"hi"}])";

std::string with(std::string_view extra) { return std::string("{\"model\":\"m\",") + kMsgs + "," + std::string(extra) + "}"; }

TEST(OpenAiChatRequest, ParsesEveryMappedField) {
  auto r = parse(with(R"("max_completion_tokens":7,"temperature":1,"top_p":0.5,"stop":"X","user":"u","stream":true,
                        "tools":[{"type":"function","function":{"name":"f","description":"d"}}],
                        "tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false)"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->model, "m");
  EXPECT_EQ(r->max_tokens, 7);
  EXPECT_EQ(r->temperature, 1.0);
  EXPECT_EQ(r->top_p, 0.5);
  EXPECT_EQ(r->stop, std::vector<std::string>{"X"});
  EXPECT_EQ(r->user, "u");
  EXPECT_TRUE(r->stream);
  ASSERT_EQ(r->tools.size(), 1u);
  EXPECT_EQ(r->tools[0].parameters, json::parse(R"({"type":"object","properties":{}})"));
  EXPECT_EQ(r->tool_choice.mode, ToolChoice::Mode::kNamed);
  EXPECT_EQ(r->tool_choice.name, "f");
  EXPECT_EQ(r->parallel_tool_calls, false);
}

TEST(OpenAiChatRequest, HarmlessFieldsAreDropped) {
  auto r = parse(with(R"("n":1,"seed":3,"store":false,"metadata":{"a":"b"},"service_tier":"auto","logprobs":false,
                        "frequency_penalty":0,"presence_penalty":0.0,"response_format":{"type":"text"},
                        "modalities":["text"],"logit_bias":{},"stream_options":{"include_usage":true},"unknown_x":1)"));
  EXPECT_TRUE(r) << r.error().message;
}

TEST(OpenAiChatRequest, FieldsThatWouldChangeTheAnswerAreRejectedByName) {
  expectRejected(with(R"("n":2)"), "'n'");
  expectRejected(with(R"("logprobs":true)"), "'logprobs'");
  expectRejected(with(R"("top_logprobs":2)"), "'top_logprobs'");
  expectRejected(with(R"("logit_bias":{"50256":-100})"), "'logit_bias'");
  expectRejected(with(R"("frequency_penalty":0.5)"), "'frequency_penalty'");
  expectRejected(with(R"("presence_penalty":-1)"), "'presence_penalty'");
  expectRejected(with(R"("response_format":{"type":"json_object"})"), "'response_format'");
  expectRejected(with(R"("functions":[{"name":"f"}])"), "'functions'");
  expectRejected(with(R"("audio":{"voice":"alloy"})"), "'audio'");
  expectRejected(with(R"("modalities":["text","audio"])"), "'modalities'");
  expectRejected(with(R"("reasoning_effort":"high")"), "'reasoning_effort'");
}

TEST(OpenAiChatRequest, OptionsAdmitWhatTheTargetCanExpress) {
  const ChatRequestOptions gemini_like{8, true};
  auto with_options = [&](std::string_view extra) {
    return parseChatRequest(json::parse(with(extra)).as_object(), "test", gemini_like);
  };
  auto r = with_options(R"("n":8,"seed":42,"response_format":{"type":"json_object"})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->n, 8);
  EXPECT_EQ(r->seed, 42);
  EXPECT_EQ(r->response_format.kind, ResponseFormat::Kind::kJsonObject);
  r = with_options(R"("response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->response_format.kind, ResponseFormat::Kind::kJsonSchema);
  EXPECT_EQ(r->response_format.schema, json::parse(R"({"type":"object"})"));
  r = with_options(R"("response_format":{"type":"text"},"seed":"not a number")");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->response_format.kind, ResponseFormat::Kind::kText);
  EXPECT_FALSE(r->seed);  // dropped, as before
  for (const auto& [bad, field] : std::vector<std::pair<const char*, const char*>>{
           {R"("n":9)", "'n'"},
           {R"("n":0)", "'n'"},
           {R"("response_format":{"type":"yaml"})", "response_format"},
           {R"("response_format":{"type":"json_schema"})", "response_format"},
           {R"("response_format":{"type":"json_schema","json_schema":{"schema":[1]}})", "response_format"},
           {R"("response_format":"json")", "response_format"}}) {
    auto rejected = with_options(bad);
    ASSERT_FALSE(rejected) << bad;
    EXPECT_EQ(rejected.error().http_status, 400) << bad;
    EXPECT_NE(rejected.error().message.find(field), std::string::npos) << bad << ": " << rejected.error().message;
  }
  // Without the options the common ground holds.
  auto plain = parse(with(R"("n":1,"seed":42)"));
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->n, 1);
  EXPECT_EQ(plain->response_format.kind, ResponseFormat::Kind::kText);
}

TEST(OpenAiChatRequest, MalformedRequestsAreRejectedWithTheirLocation) {
  expectRejected(R"({"messages":[{"role":"user","content":"hi"}]})", "model");
  expectRejected(R"({"model":"m","messages":[]})", "messages");
  expectRejected(R"({"model":"m","messages":[{"content":"hi"}]})", "messages[0]");
  expectRejected(R"({"model":"m","messages":[{"role":"function","content":"x","name":"f"}]})", "messages[0]");
  expectRejected(R"({"model":"m","messages":[{"role":"user","content":42}]})", "messages[0]");
  expectRejected(R"({"model":"m","messages":[{"role":"user","content":[{"type":"input_audio"}]}]})",
                 "messages[0].content[0]");
  expectRejected(R"({"model":"m","messages":[{"role":"tool","content":"x"}]})", "tool_call_id");
  expectRejected(R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function",
                   "function":{"name":"f","arguments":"{not json"}}]}]})",
                 "arguments");
  expectRejected(R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function",
                   "function":{"name":"f","arguments":"[1]"}}]}]})",
                 "arguments");
  expectRejected(with(R"("max_tokens":0)"), "max_tokens");
  expectRejected(with(R"("max_tokens":1.5)"), "max_tokens");
  expectRejected(with(R"("temperature":"hot")"), "temperature");
  expectRejected(with(R"("stop":[1])"), "stop");
  expectRejected(with(R"("tools":[{"type":"retrieval"}])"), "tools[0]");
  expectRejected(with(R"("tool_choice":"sometimes")"), "tool_choice");
  expectRejected(with(R"("tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}})"),
                 "tool_choice");
  expectRejected(with(R"("tool_choice":"required")"), "tool_choice");
  expectRejected(R"({"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]})",
                 "only supported in user messages");
}

TEST(OpenAiChatRequest, MessagesKeepOrderRolesAndParts) {
  auto r = parse(R"({"model":"m","messages":[
    {"role":"developer","content":"sys"},
    {"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4A=="}}]},
    {"role":"assistant","content":"","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":""}}]},
    {"role":"tool","tool_call_id":"c1","content":"res"}]})");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->messages.size(), 4u);
  EXPECT_EQ(r->messages[0].role, Message::Role::kSystem);
  ASSERT_EQ(r->messages[1].content.size(), 2u);
  EXPECT_EQ(r->messages[1].content[1].kind, ContentPart::Kind::kImage);
  EXPECT_EQ(r->messages[1].content[1].image.media_type, "image/jpeg");
  EXPECT_EQ(r->messages[1].content[1].image.base64, "/9j/4A==");
  EXPECT_TRUE(r->messages[2].content.empty());  // empty text is not a block
  ASSERT_EQ(r->messages[2].tool_calls.size(), 1u);
  EXPECT_TRUE(r->messages[2].tool_calls[0].arguments.empty());
  EXPECT_EQ(r->messages[3].tool_call_id, "c1");
}

TEST(OpenAiChatRequest, ImageDataUrlsAreValidated) {
  EXPECT_TRUE(parseImageUrl("data:image/png;base64,iVBORw0KGgo="));
  EXPECT_TRUE(parseImageUrl("data:image/webp;base64,UklGRg=="));
  EXPECT_FALSE(parseImageUrl("data:image/png,rawbytes"));
  EXPECT_FALSE(parseImageUrl("data:image/svg+xml;base64,PHN2Zz4="));
  EXPECT_FALSE(parseImageUrl("data:image/png;base64,"));
  EXPECT_FALSE(parseImageUrl("data:image/png;base64,not base64!"));
  EXPECT_FALSE(parseImageUrl("data:image/png;base64"));
  expectRejected(R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]})",
                 "image URL");
}

TEST(OpenAiChatUsage, PromptIncludesCachedTokensAndDetailsOnlyWhenKnown) {
  Usage u;
  u.input = 130;
  u.output = 7;
  u.cached_input = 100;
  EXPECT_EQ(json::value(usageJson(u)),
            json::parse(R"({"prompt_tokens":130,"completion_tokens":7,"total_tokens":137,"prompt_tokens_details":{"cached_tokens":100}})"));
  Usage v;
  v.input = 1;
  v.output = 2;
  v.total = 3;
  EXPECT_EQ(json::value(usageJson(v)), json::parse(R"({"prompt_tokens":1,"completion_tokens":2,"total_tokens":3})"));
  Usage w = v;
  w.reasoning = 1;
  EXPECT_EQ(json::value(usageJson(w)), json::parse(R"({"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,
    "completion_tokens_details":{"reasoning_tokens":1}})"));
}

TEST(OpenAiChatChunks, ChunksAreOpenAiShapedAndCapturedWithinBudget) {
  ResponseObservation obs;
  ChunkWriter w(obs, 1 << 20);
  w.setId("id1");
  w.setModel("m");
  w.setCreated(5);
  std::string out;
  w.content("Hi", out);  // the role chunk comes first, once
  w.content("", out);    // nothing for empty text
  w.finish("stop", out);
  w.done(out);
  EXPECT_EQ(out,
            "data: {\"id\":\"id1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"m\",\"choices\":[{\"index\":0,"
            "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
            "data: {\"id\":\"id1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"m\",\"choices\":[{\"index\":0,"
            "\"delta\":{\"content\":\"Hi\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
            "data: {\"id\":\"id1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"m\",\"choices\":[{\"index\":0,"
            "\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n"
            "data: [DONE]\n\n");
  EXPECT_EQ(obs.chunks.size(), 3u);
  EXPECT_EQ(obs.chunks_not_captured, 0u);

  ResponseObservation small;
  ChunkWriter tight(small, 10);
  std::string o2;
  tight.content("Hello", o2);
  EXPECT_TRUE(small.chunks.empty());
  EXPECT_EQ(small.chunks_not_captured, 2u);
  EXPECT_EQ(small.chunk_bytes, 0u);
}

TEST(OpenAiChatChunks, EveryChoiceGetsItsOwnRoleChunk) {
  ResponseObservation obs;
  ChunkWriter w(obs, 1 << 20);
  std::string out;
  w.content("a", out, 0);
  w.content("b", out, 1);
  w.content("c", out, 0);
  w.finish("stop", out, 1);
  auto choice = [&](std::size_t i) { return json::parse(obs.chunks.at(i)).at("choices").at(0); };
  ASSERT_EQ(obs.chunks.size(), 6u);
  EXPECT_EQ(choice(0), json::parse(R"({"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null})"));
  EXPECT_EQ(choice(2), json::parse(R"({"index":1,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null})"));
  EXPECT_EQ(choice(3).at("delta"), json::parse(R"({"content":"b"})"));
  EXPECT_EQ(choice(4).at("delta"), json::parse(R"({"content":"c"})"));
  EXPECT_EQ(choice(5), json::parse(R"({"index":1,"delta":{},"logprobs":null,"finish_reason":"stop"})"));
  EXPECT_TRUE(w.sentRole(0));
  EXPECT_TRUE(w.sentRole(1));
  EXPECT_FALSE(w.sentRole(2));
}

TEST(OpenAiChatCompletion, SeveralChoicesTakeIdModelAndUsageFromTheFirst) {
  std::vector<Completion> choices(2);
  choices[0].id = "x";
  choices[0].model = "m";
  choices[0].created = 1;
  choices[0].text = "a";
  choices[0].has_text = true;
  choices[0].finish_reason = "stop";
  choices[0].usage.input = 1;
  choices[0].usage.output = 2;
  choices[1].id = "ignored";
  choices[1].finish_reason = "length";
  EXPECT_EQ(json::parse(completionJson(choices)), json::parse(R"({"id":"x","object":"chat.completion","created":1,
    "model":"m","choices":[
      {"index":0,"message":{"role":"assistant","content":"a","refusal":null},"logprobs":null,"finish_reason":"stop"},
      {"index":1,"message":{"role":"assistant","content":null,"refusal":null},"logprobs":null,"finish_reason":"length"}],
    "usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}})"));
}

TEST(OpenAiChatCompletion, TextAndToolCalls) {
  Completion c;
  c.id = "x";
  c.model = "m";
  c.created = 1;
  c.finish_reason = "tool_calls";
  c.tool_calls_id_name = {{"t1", "f"}};
  c.tool_calls_arguments = {"{\"a\":1}"};
  c.usage.input = 1;
  c.usage.output = 2;
  EXPECT_EQ(json::parse(completionJson(c)), json::parse(R"({"id":"x","object":"chat.completion","created":1,"model":"m",
    "choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"t1","type":"function",
    "function":{"name":"f","arguments":"{\"a\":1}"}}],"refusal":null},"logprobs":null,"finish_reason":"tool_calls"}],
    "usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}})"));
}

}  // namespace
}  // namespace gw::providers::openai_chat
