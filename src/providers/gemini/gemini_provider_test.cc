#include "providers/gemini/gemini_provider.h"

#include "common/openai_error.h"
#include "providers/common/openai_chat.h"
#include "providers/common/testing/golden.h"
#include "providers/gemini/gemini_translate.h"

#include <gtest/gtest.h>

#include <map>

namespace gw::providers::gemini {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using testing::ClientFixture;

constexpr std::int64_t kCreated = 1700000000;
constexpr std::string_view kFallbackId = "chatcmpl-fallback";
const fs::path kCases = fs::path(GW_TESTDATA_DIR) / "providers" / "gemini";
const fs::path kTranscripts = fs::path(GW_TESTDATA_DIR) / "providers" / "transcripts";

ProviderConfig geminiConfig(std::string key = "") {
  ProviderConfig c;
  c.name = "gemini";
  c.base_url = "http://127.0.0.1:9997";
  c.env_api_key = std::move(key);
  c.api_key_setting = "GEMINI_API_KEY";
  return c;
}

// The observation as in golden.h, with the reasoning count Gemini reports.
json::object observationJson(const ResponseObservation& obs) {
  json::object o = testing::observationJson(obs);
  o["usage"].as_object()["reasoning"] = obs.usage.reasoning ? json::value(*obs.usage.reasoning) : json::value(nullptr);
  return o;
}

// Runs the stream translator over `pieces` the way the core does: onBody
// per piece, then onEnd, and onUpstreamFailure when either fails.
std::string translateStream(const std::vector<std::string_view>& pieces, bool wants_usage, ResponseObservation& obs,
                            std::size_t budget = 1 << 20, std::vector<std::string> secrets = {}) {
  StreamTranslator t(obs, budget, std::string(kFallbackId), "fallback-model", wants_usage, kCreated);
  t.setSecrets(std::move(secrets));
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

std::string sseOf(const std::vector<std::string>& events) {
  std::string out;
  for (const auto& e : events) out += "data: " + e + "\n\n";
  return out;
}

std::vector<std::string> jsonLines(const fs::path& p) {
  std::vector<std::string> out;
  std::string text = testing::readFile(p);
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

// The last client error event of a stream, parsed.
json::object lastEvent(std::string_view out) {
  auto events = testing::sseData(out);
  if (events.empty()) return {};
  return json::parse(events.back()).as_object();
}

// ---- Golden transcripts: request in, translated request, upstream answer,
// ---- client answer, observation.

class GeminiGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(GeminiGolden, Case) {
  fs::path dir = kCases / GetParam();
  json::object request = json::parse(testing::readFile(dir / "request.json")).as_object();
  int status = 200;
  if (fs::exists(dir / "case.json"))
    status = static_cast<int>(json::parse(testing::readFile(dir / "case.json")).at("status").as_int64());

  auto chat = openai_chat::parseChatRequest(request, "gemini", kChatOptions);
  Result<std::string> upstream = chat ? toGenerateContentRequest(*chat) : Result<std::string>(chat.error());
  if (!upstream) {
    json::object err{{"status", upstream.error().http_status}, {"body", json::parse(openAiErrorBody(upstream.error()))}};
    testing::expectJsonGolden(dir / "expected_error.json", json::serialize(err));
    return;
  }
  testing::expectJsonGolden(dir / "upstream_request.json", *upstream);
  // Cases of the request translation alone have no upstream answer.
  if (!fs::exists(dir / "upstream_response.json") && !fs::exists(dir / "upstream_response.sse")) return;

  ResponseObservation obs;
  if (status >= 300) {
    std::string body = testing::readFile(dir / "upstream_response.json");
    testing::expectJsonGolden(dir / "client_response.json", translateError(status, body, obs));
  } else if (chat->stream) {
    std::string upstream_sse = testing::readFile(dir / "upstream_response.sse");
    bool wants_usage = false;
    if (auto* so = request.if_contains("stream_options"))
      wants_usage = so->as_object().contains("include_usage") && so->as_object().at("include_usage").as_bool();
    std::string whole = translateStream({upstream_sse}, wants_usage, obs);
    testing::expectTextGolden(dir / "client_response.sse", whole);
    // Same bytes whatever the read boundaries: every split point, and one byte at a time.
    for (std::size_t at = 0; at <= upstream_sse.size(); ++at) {
      ResponseObservation o;
      ASSERT_EQ(translateStream(splitAt(upstream_sse, at), wants_usage, o), whole) << "split at " << at;
    }
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < upstream_sse.size(); ++i) bytes.push_back(std::string_view(upstream_sse).substr(i, 1));
    ResponseObservation o;
    EXPECT_EQ(translateStream(bytes, wants_usage, o), whole);
  } else {
    std::string body = testing::readFile(dir / "upstream_response.json");
    auto out = translateResponse(body, kFallbackId, chat->model, kCreated, obs);
    ASSERT_TRUE(out) << out.error().message;
    testing::expectJsonGolden(dir / "client_response.json", *out);
  }
  testing::expectJsonGolden(dir / "observation.json", json::serialize(observationJson(obs)));
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

INSTANTIATE_TEST_SUITE_P(Transcripts, GeminiGolden, ::testing::ValuesIn(caseNames()), testName);

TEST(GeminiGoldenSet, CoversTheRequiredCases) {
  auto names = caseNames();
  for (const char* required :
       {"text", "text-stream", "text-stream-usage", "multi-turn-system", "tool", "tool-stream", "tool-results",
        "tool-choice-none", "tool-choice-named", "reasoning", "reasoning-stream", "thought-parts",
        "thought-parts-stream", "max-tokens", "max-tokens-stream", "safety", "prompt-blocked", "two-candidates",
        "two-candidates-stream", "error", "error-mid-stream", "reject-image-url", "reject-unknown-tool-call"})
    EXPECT_NE(std::find(names.begin(), names.end(), required), names.end()) << required;
}

// ---- The request translation, checked independently of the golden files.

Result<json::object> translated(std::string_view request) {
  auto chat = openai_chat::parseChatRequest(json::parse(request).as_object(), "gemini", kChatOptions);
  if (!chat) return chat.error();
  auto body = toGenerateContentRequest(*chat);
  if (!body) return body.error();
  return json::parse(*body).as_object();
}

TEST(GeminiRequest, SystemMessagesAnywhereBecomeTheSystemInstructionInOrder) {
  auto body = translated(R"({"model":"m","messages":[{"role":"system","content":"A"},{"role":"user","content":"hi"},
    {"role":"developer","content":[{"type":"text","text":"B"}]}]})");
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(body->at("systemInstruction"), json::parse(R"({"parts":[{"text":"A"},{"text":"B"}]})"));
  EXPECT_EQ(body->at("contents"), json::parse(R"([{"role":"user","parts":[{"text":"hi"}]}])"));
  EXPECT_FALSE(body->contains("generationConfig"));
  EXPECT_FALSE(body->contains("tools"));
  EXPECT_FALSE(body->contains("model"));  // the model is in the URL
}

TEST(GeminiRequest, ToolResultTakesTheNameOfTheLatestCallWithItsId) {
  // Ids such as call_0 repeat from one turn to the next.
  auto body = translated(R"({"model":"m","messages":[
    {"role":"user","content":"go"},
    {"role":"assistant","tool_calls":[{"id":"call_0","type":"function","function":{"name":"first","arguments":"{}"}}]},
    {"role":"tool","tool_call_id":"call_0","content":"[1,2]"},
    {"role":"assistant","tool_calls":[{"id":"call_0","type":"function","function":{"name":"second","arguments":"{\"a\":1}"}}]},
    {"role":"tool","tool_call_id":"call_0","content":"{\"ok\":true}"}]})");
  ASSERT_TRUE(body) << body.error().message;
  auto& contents = body->at("contents").as_array();
  ASSERT_EQ(contents.size(), 5u);
  EXPECT_EQ(contents[2], json::parse(R"({"role":"user","parts":[{"functionResponse":{"name":"first",
    "response":{"content":"[1,2]"}}}]})"));
  EXPECT_EQ(contents[3], json::parse(R"({"role":"model","parts":[{"functionCall":{"name":"second","args":{"a":1}},
    "thoughtSignature":"skip_thought_signature_validator"}]})"));
  EXPECT_EQ(contents[4], json::parse(R"({"role":"user","parts":[{"functionResponse":{"name":"second",
    "response":{"ok":true}}}]})"));
}

TEST(GeminiRequest, OnlyTheFirstCallOfAModelTurnGetsTheSignature) {
  auto body = translated(R"({"model":"m","messages":[{"role":"user","content":"go"},
    {"role":"assistant","content":"Checking.","tool_calls":[
      {"id":"a","type":"function","function":{"name":"f","arguments":"{}"}},
      {"id":"b","type":"function","function":{"name":"g","arguments":"{}"}}]}]})");
  ASSERT_TRUE(body) << body.error().message;
  auto& parts = body->at("contents").as_array().at(1).at("parts").as_array();
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0], json::parse(R"({"text":"Checking."})"));
  EXPECT_TRUE(parts[1].as_object().contains("thoughtSignature"));
  EXPECT_FALSE(parts[2].as_object().contains("thoughtSignature"));
}

TEST(GeminiRequest, EmptyMessagesAreLeftOutAndNeighboursMerged) {
  auto body = translated(R"({"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":""},
    {"role":"user","content":"b"}]})");
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(body->at("contents"), json::parse(R"([{"role":"user","parts":[{"text":"a"},{"text":"b"}]}])"));
}

TEST(GeminiRequest, GenerationConfigCarriesTheSamplingFields) {
  auto body = translated(R"({"model":"m","messages":[{"role":"user","content":"a"}],"temperature":0.5,"top_p":1,
    "top_k":40,"max_completion_tokens":64,"stop":"X","n":3,"seed":11,"user":"u","parallel_tool_calls":false,
    "response_format":{"type":"json_object"},"store":true})");
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(body->at("generationConfig"), json::parse(R"({"temperature":0.5,"topP":1.0,"topK":40,
    "maxOutputTokens":64,"stopSequences":["X"],"candidateCount":3,"seed":11,"responseMimeType":"application/json"})"));
}

TEST(GeminiRequest, UnsupportedInputsAreA400NamingTheProblem) {
  for (const char* request : {
           R"({"model":"m","messages":[{"role":"user","content":"a"}],"n":9})",
           R"({"model":"m","messages":[{"role":"user","content":"a"}],"response_format":{"type":"xml"}})",
           R"({"model":"m","messages":[{"role":"user","content":"a"}],"logprobs":true})",
           R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]})",
           R"({"model":"m","messages":[{"role":"tool","tool_call_id":"nope","content":"1"}]})",
       }) {
    auto body = translated(request);
    ASSERT_FALSE(body) << request;
    EXPECT_EQ(body.error().http_status, 400) << request;
    EXPECT_FALSE(body.error().message.empty());
  }
}

TEST(GeminiRequest, ModelPathIsOnePercentEncodedSegment) {
  EXPECT_EQ(modelPath("gemini-2.5-flash", false), "/v1beta/models/gemini-2.5-flash:generateContent");
  EXPECT_EQ(modelPath("models/gemini-2.5-flash", true),
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
  EXPECT_EQ(modelPath("a/b c?d#e\r\n", false), "/v1beta/models/a%2Fb%20c%3Fd%23e%0D%0A:generateContent");
}

// ---- Responses.

TEST(GeminiResponse, UsageIsExactForEveryRecordedTranscript) {
  // input + output == totalTokenCount, for every body and every streamed event.
  for (const char* name : {"gemini-text", "gemini-tool", "gemini-reasoning"}) {
    std::vector<std::string> docs = jsonLines(kTranscripts / (std::string(name) + ".chunks.jsonl"));
    docs.push_back(testing::readFile(kTranscripts / (std::string(name) + ".json")));
    for (const auto& doc : docs) {
      const json::value v = json::parse(doc);
      const auto& u = v.at("usageMetadata").as_object();
      Usage usage;
      readUsage(u, usage);
      ASSERT_TRUE(usage.input && usage.output && usage.total) << name;
      EXPECT_EQ(*usage.input + *usage.output, u.at("totalTokenCount").as_int64()) << name << ": " << doc;
      EXPECT_EQ(*usage.total, u.at("totalTokenCount").as_int64()) << name;
      EXPECT_EQ(usage.reasoning, u.at("thoughtsTokenCount").as_int64()) << name;
    }
  }
}

TEST(GeminiResponse, EveryUsageCountLandsInItsPlace) {
  Usage u;
  readUsage(json::parse(R"({"promptTokenCount":100,"toolUsePromptTokenCount":20,"candidatesTokenCount":30,
    "thoughtsTokenCount":40,"cachedContentTokenCount":64,"totalTokenCount":190})").as_object(), u);
  EXPECT_EQ(u.input, 120);
  EXPECT_EQ(u.output, 70);
  EXPECT_EQ(u.total, 190);
  EXPECT_EQ(u.cached_input, 64);
  EXPECT_EQ(u.reasoning, 40);
  EXPECT_FALSE(u.cache_creation);
  EXPECT_EQ(json::value(openai_chat::usageJson(u)),
            json::parse(R"({"prompt_tokens":120,"completion_tokens":70,"total_tokens":190,
              "prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":40}})"));
  // Counts Gemini leaves out are 0; cached and reasoning stay unknown.
  Usage v;
  readUsage(json::parse(R"({"promptTokenCount":9,"totalTokenCount":9})").as_object(), v);
  EXPECT_EQ(v.input, 9);
  EXPECT_EQ(v.output, 0);
  EXPECT_EQ(v.total, 9);
  EXPECT_FALSE(v.cached_input);
  EXPECT_FALSE(v.reasoning);
}

TEST(GeminiResponse, HugeCountsSaturateInsteadOfOverflowing) {
  Usage u;
  readUsage(json::parse(R"({"promptTokenCount":9223372036854775807,"toolUsePromptTokenCount":5,
    "candidatesTokenCount":18446744073709551615,"thoughtsTokenCount":1})").as_object(), u);
  EXPECT_EQ(u.input, INT64_MAX);
  EXPECT_EQ(u.output, INT64_MAX);
  EXPECT_EQ(u.total, INT64_MAX);
}

TEST(GeminiResponse, FinishReasons) {
  EXPECT_EQ(finishReason("STOP"), "stop");
  EXPECT_EQ(finishReason("MAX_TOKENS"), "length");
  for (const char* r : {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"})
    EXPECT_EQ(finishReason(r), "content_filter") << r;
  for (const char* r : {"OTHER", "LANGUAGE", "MALFORMED_FUNCTION_CALL", "FINISH_REASON_UNSPECIFIED", "NEW_ONE"})
    EXPECT_EQ(finishReason(r), "stop") << r;
}

TEST(GeminiResponse, ToolCallIdsAreUniqueAcrossCandidates) {
  ResponseObservation obs;
  auto out = translateResponse(R"({"candidates":[
      {"content":{"parts":[{"functionCall":{"name":"a","args":{"x":1}}},{"functionCall":{"name":"b"}}]},"finishReason":"STOP"},
      {"index":1,"content":{"parts":[{"text":"none"},{"functionCall":{"name":"c","args":{}}}]},"finishReason":"MAX_TOKENS"}]})",
                               "id", "m", kCreated, obs);
  ASSERT_TRUE(out) << out.error().message;
  auto doc = json::parse(*out);
  auto& choices = doc.at("choices").as_array();
  ASSERT_EQ(choices.size(), 2u);
  auto& first = choices[0].at("message").at("tool_calls").as_array();
  EXPECT_EQ(first[0].at("id"), "call_0");
  EXPECT_EQ(first[0].at("function").at("arguments"), "{\"x\":1}");
  EXPECT_EQ(first[1].at("id"), "call_1");
  EXPECT_EQ(first[1].at("function").at("arguments"), "{}");
  EXPECT_TRUE(choices[0].at("message").at("content").is_null());
  EXPECT_EQ(choices[0].at("finish_reason"), "tool_calls");
  EXPECT_EQ(choices[1].at("index"), 1);
  EXPECT_EQ(choices[1].at("message").at("content"), "none");
  EXPECT_EQ(choices[1].at("message").at("tool_calls").at(0).at("id"), "call_2");
  EXPECT_EQ(choices[1].at("finish_reason"), "length");  // a cut-off answer stays "length"
  EXPECT_EQ(doc.at("id"), "id");     // no responseId
  EXPECT_EQ(doc.at("model"), "m");   // no modelVersion
  EXPECT_FALSE(obs.response_model);  // Gemini named none
}

TEST(GeminiResponse, MalformedBodiesAreA502NeverACrash) {
  for (const char* body : {
           "", "not json", "[]", "{}", R"({"candidates":{}})", R"({"candidates":[1]})",
           R"({"candidates":[{"content":"text"}]})", R"({"candidates":[{"content":{"parts":{}}}]})",
           R"({"candidates":[{"content":{"parts":[7]}}]})",
           R"({"candidates":[{"content":{"parts":[{"functionCall":{"args":{}}}]}}]})",
           R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":[1]}}]}}]})",
           R"({"candidates":[{"index":8}]})", R"({"candidates":[{"index":-1}]})",
           R"({"candidates":[{"index":"0"}]})", R"({"candidates":[{"index":0},{"index":0}]})",
           R"({"candidates":[{"index":1}]})",
       }) {
    ResponseObservation obs;
    auto out = translateResponse(body, "id", "m", kCreated, obs);
    ASSERT_FALSE(out) << body;
    EXPECT_EQ(out.error().http_status, 502) << body;
    EXPECT_EQ(out.error().code, "upstream_response_malformed") << body;
  }
}

// ---- Streams: their meaning, checked independently of the golden bytes.

TEST(GeminiStream, AssembledTextEqualsTheTranscriptsText) {
  std::string upstream = sseOf(jsonLines(kTranscripts / "gemini-text.chunks.jsonl"));
  ResponseObservation obs;
  std::string out = translateStream({upstream}, false, obs);
  auto events = testing::sseData(out);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text, finish;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    auto chunk = json::parse(events[i]).as_object();
    EXPECT_EQ(chunk.at("object"), "chat.completion.chunk");
    EXPECT_EQ(chunk.at("id"), "bH6LaZW8Fp_3nsEPqtaSwQ4");
    EXPECT_EQ(chunk.at("model"), "gemini-3-pro-preview");
    EXPECT_FALSE(chunk.contains("usage"));  // the client did not ask for it
    auto& choice = chunk.at("choices").as_array().at(0).as_object();
    if (auto* c = choice.at("delta").as_object().if_contains("content")) text += c->as_string();
    if (!choice.at("finish_reason").is_null()) finish = choice.at("finish_reason").as_string();
  }
  EXPECT_EQ(text, "There are **3** \"r\"s in strawberry.\n\nst**r**awbe**rr**y");
  EXPECT_EQ(finish, "stop");
  EXPECT_EQ(obs.response_model, "gemini-3-pro-preview");
  EXPECT_EQ(obs.chunks.size(), events.size() - 1);  // every chunk but [DONE]
}

TEST(GeminiStream, TheLastUsageMetadataWinsNeverASum) {
  std::string upstream = sseOf(jsonLines(kTranscripts / "gemini-text.chunks.jsonl"));
  ResponseObservation without, with;
  std::string a = translateStream({upstream}, false, without);
  std::string b = translateStream({upstream}, true, with);
  for (const auto* obs : {&without, &with}) {
    EXPECT_EQ(obs->usage.input, 9);
    EXPECT_EQ(obs->usage.output, 23 + 185);
    EXPECT_EQ(obs->usage.total, 217);
    EXPECT_EQ(obs->usage.reasoning, 185);
    EXPECT_FALSE(obs->usage.cached_input);
  }
  EXPECT_EQ(a.find("\"usage\""), std::string::npos);
  auto events = testing::sseData(b);
  ASSERT_GE(events.size(), 2u);
  auto usage_chunk = json::parse(events[events.size() - 2]).as_object();
  EXPECT_TRUE(usage_chunk.at("choices").as_array().empty());
  EXPECT_EQ(usage_chunk.at("usage"), json::parse(R"({"prompt_tokens":9,"completion_tokens":208,"total_tokens":217,
    "completion_tokens_details":{"reasoning_tokens":185}})"));
}

TEST(GeminiStream, EachDeltaIsForwardedAsSoonAsItsEventIsComplete) {
  auto lines = jsonLines(kTranscripts / "gemini-text.chunks.jsonl");
  ResponseObservation obs;
  StreamTranslator t(obs, 1 << 20, "id", "m", false, kCreated);
  std::string out;
  ASSERT_TRUE(t.feed("data: " + lines[0] + "\r\n\r\n", out));
  EXPECT_NE(out.find("\"content\":\"There are **3**\""), std::string::npos) << out;
  EXPECT_EQ(out.find("finish_reason\":\"stop"), std::string::npos);
  EXPECT_EQ(out.find("[DONE]"), std::string::npos);
}

TEST(GeminiStream, ToolCallIsForwardedWholeWithAGeneratedId) {
  std::string upstream = sseOf(jsonLines(kTranscripts / "gemini-tool.chunks.jsonl"));
  ResponseObservation obs;
  auto events = testing::sseData(translateStream({upstream}, false, obs));
  std::string args, id, name, finish;
  for (const auto& e : events) {
    if (e == "[DONE]") continue;
    json::value chunk = json::parse(e);
    auto& choice = chunk.at("choices").as_array().at(0).as_object();
    EXPECT_FALSE(choice.at("delta").as_object().contains("content") &&
                 !choice.at("delta").at("content").as_string().empty());
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
  EXPECT_EQ(id, "call_0");
  EXPECT_EQ(name, "weather");
  EXPECT_EQ(json::parse(args), json::parse(R"({"location":"San Francisco"})"));
  EXPECT_EQ(finish, "tool_calls");  // Gemini says STOP; the answer is a call
}

TEST(GeminiStream, ThoughtPartsAreNotContent) {
  std::string upstream = sseOf({R"({"candidates":[{"content":{"parts":[{"text":"secret plan","thought":true}]}}]})",
                                R"({"candidates":[{"content":{"parts":[{"text":"Answer."}]},"finishReason":"STOP"}],)"
                                R"("usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"thoughtsTokenCount":5}})"});
  ResponseObservation obs;
  std::string out = translateStream({upstream}, false, obs);
  EXPECT_EQ(out.find("secret plan"), std::string::npos);
  EXPECT_NE(out.find("\"content\":\"Answer.\""), std::string::npos);
  EXPECT_EQ(obs.usage.output, 7);
  EXPECT_EQ(obs.usage.reasoning, 5);
}

TEST(GeminiStream, TruncatedStreamEndsWithAnErrorEventAndNoDone) {
  auto lines = jsonLines(kTranscripts / "gemini-text.chunks.jsonl");
  lines.pop_back();  // the event with finishReason
  ResponseObservation obs;
  std::string out = translateStream({sseOf(lines)}, true, obs);
  EXPECT_EQ(lastEvent(out).at("error").at("code"), "upstream_stream_truncated");
  EXPECT_EQ(out.find("[DONE]"), std::string::npos);
  EXPECT_EQ(obs.usage.total, 217);  // what was read still counts

  ResponseObservation empty;
  std::string nothing = translateStream({""}, false, empty);
  EXPECT_EQ(lastEvent(nothing).at("error").at("code"), "upstream_stream_truncated");
}

TEST(GeminiStream, MalformedEventsEndTheStreamWithOneErrorEvent) {
  for (const char* event : {
           "data: {not json\n\n", "data: [1]\n\n", "data: {\"candidates\":7}\n\n", "data: {\"candidates\":[1]}\n\n",
           "data: {\"candidates\":[{\"index\":99}]}\n\n",
           "data: {\"candidates\":[{\"content\":{\"parts\":\"x\"}}]}\n\n",
           "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"\"}}]}}]}\n\n",
       }) {
    ResponseObservation obs;
    StreamTranslator t(obs, 1 << 20, "id", "m", false, kCreated);
    std::string out;
    auto st = t.feed(event, out);
    ASSERT_FALSE(st) << event;
    EXPECT_EQ(st.error().http_status, 502);
    EXPECT_EQ(st.error().code, "upstream_stream_malformed") << event;
    t.fail(st.error(), out);
    EXPECT_EQ(lastEvent(out).at("error").at("code"), "upstream_stream_malformed") << event;
    std::string more;
    t.fail(st.error(), more);  // only one terminal event
    EXPECT_TRUE(more.empty());
  }
}

TEST(GeminiStream, OversizedEventIsRejectedWithBoundedMemory) {
  ResponseObservation obs;
  StreamTranslator t(obs, 1 << 20, "id", "m", false, kCreated);
  std::string out;
  std::string huge = "data: " + std::string(StreamTranslator::kMaxEventBytes + 10, 'x');
  auto st = t.feed(huge, out);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, "upstream_stream_malformed");
}

TEST(GeminiStream, ErrorEventIsForwardedRecordedAndRedacted) {
  std::string upstream =
      sseOf({R"({"candidates":[{"content":{"parts":[{"text":"Hi"}]}}]})",
             R"({"error":{"code":400,"message":"API key AIzaSyLEAKED-KEY-123 not valid","status":"INVALID_ARGUMENT"}})",
             R"({"candidates":[{"content":{"parts":[{"text":"never"}]},"finishReason":"STOP"}]})"});
  ResponseObservation obs;
  std::string out = translateStream({upstream}, true, obs, 1 << 20, {"AIzaSyLEAKED-KEY-123"});
  EXPECT_EQ(out.find("AIzaSyLEAKED-KEY-123"), std::string::npos) << out;
  EXPECT_EQ(out.find("never"), std::string::npos);
  EXPECT_EQ(out.find("[DONE]"), std::string::npos);
  EXPECT_EQ(lastEvent(out), json::parse(R"({"error":{"message":"API key [REDACTED] not valid",
    "type":"invalid_request_error","code":"INVALID_ARGUMENT"}})"));
  EXPECT_EQ(obs.provider_error_type, "INVALID_ARGUMENT");
  EXPECT_EQ(obs.provider_error_message, "API key [REDACTED] not valid");
}

TEST(GeminiStream, CaptureBudgetCountsChunksItDoesNotKeep) {
  std::string upstream = sseOf(jsonLines(kTranscripts / "gemini-text.chunks.jsonl"));
  ResponseObservation obs;
  std::string out = translateStream({upstream}, false, obs, 400);
  std::size_t sent = testing::sseData(out).size() - 1;
  EXPECT_LE(obs.chunk_bytes, 400u);
  EXPECT_GT(obs.chunks_not_captured, 0u);
  EXPECT_EQ(obs.chunks.size() + obs.chunks_not_captured, sent);
}

// ---- Errors.

TEST(GeminiError, ErrorBodiesBecomeTheOpenAiShape) {
  ResponseObservation obs;
  auto out = translateError(400, R"({"error":{"code":400,"message":"Invalid value at 'contents'","status":"INVALID_ARGUMENT"}})", obs);
  EXPECT_EQ(json::parse(out), json::parse(R"({"error":{"message":"Invalid value at 'contents'",
    "type":"invalid_request_error","code":"INVALID_ARGUMENT"}})"));
  EXPECT_EQ(obs.provider_error_type, "INVALID_ARGUMENT");
  EXPECT_EQ(obs.provider_error_message, "Invalid value at 'contents'");

  ResponseObservation html;
  EXPECT_EQ(json::parse(translateError(502, "<html>Bad gateway</html>", html)),
            json::parse(R"({"error":{"message":"Gemini returned HTTP 502","type":"api_error","code":null}})"));
  EXPECT_EQ(html.provider_error_type, "api_error");
  for (const char* body : {"", "[]", "[1]", "{\"error\":7}", "{\"error\":{\"message\":[1]}}"}) {
    ResponseObservation o;
    auto e = json::parse(translateError(500, body, o));
    EXPECT_EQ(e.at("error").at("message"), "Gemini returned HTTP 500") << body;
  }
}

// ---- The provider: upstream request and handler wiring.

TEST(GeminiProvider, BuildsTheGenerateContentRequestWithTheKeyInXGoogApiKey) {
  auto config = geminiConfig("env-key-not-used");
  GeminiProvider p(config);
  ClientFixture f(R"({"model":"gemini-2.5-flash","messages":[{"role":"user","content":"Hi"}]})", config);
  f.headers.items = {{"Authorization", "Bearer AIza-client-key"}, {"X-Project-Id", "p1"}, {"OpenAI-Organization", "org"}};
  auto up = p.prepare(f.req);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(up->method, "POST");
  EXPECT_EQ(up->target, "/v1beta/models/gemini-2.5-flash:generateContent");
  EXPECT_EQ(up->endpoint.host, "127.0.0.1");
  EXPECT_EQ(up->endpoint.port, 9997);
  EXPECT_FALSE(up->endpoint.tls);
  std::map<std::string, std::string> h(up->headers.begin(), up->headers.end());
  EXPECT_EQ(h["x-goog-api-key"], "AIza-client-key");
  EXPECT_EQ(h["content-type"], "application/json");
  EXPECT_EQ(h["accept"], "application/json");
  EXPECT_FALSE(h.contains("authorization"));
  EXPECT_FALSE(h.contains("x-project-id"));
  EXPECT_FALSE(h.contains("openai-organization"));
  EXPECT_EQ(up->headers.size(), h.size());  // no duplicates
  EXPECT_FALSE(up->forwards_client_body);
  EXPECT_EQ(json::parse(up->body), json::parse(R"({"contents":[{"role":"user","parts":[{"text":"Hi"}]}]})"));
}

TEST(GeminiProvider, StreamingBasePathAndEnvironmentKey) {
  auto config = geminiConfig("AIza-env-key");
  config.base_url = "https://proxy.example.com/google";
  GeminiProvider p(config);
  ClientFixture f(R"({"model":"models/gemini-2.5-pro","messages":[{"role":"user","content":"Hi"}],"stream":true})",
                  config);
  auto up = p.prepare(f.req);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(up->target, "/google/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse");
  EXPECT_TRUE(up->endpoint.tls);
  EXPECT_EQ(up->endpoint.port, 443);
  std::map<std::string, std::string> h(up->headers.begin(), up->headers.end());
  EXPECT_EQ(h["x-goog-api-key"], "AIza-env-key");
  EXPECT_EQ(h["accept"], "text/event-stream");
  EXPECT_FALSE(json::parse(up->body).as_object().contains("stream"));
}

TEST(GeminiProvider, GoogleSdkKeyHeaderIsAccepted) {
  auto config = geminiConfig("AIza-env-key");
  GeminiProvider p(config);
  ClientFixture f(R"({"model":"m","messages":[{"role":"user","content":"Hi"}]})", config);
  f.headers.items = {{"x-goog-api-key", " AIza-sdk-key "}};
  auto up = p.prepare(f.req);
  ASSERT_TRUE(up);
  std::map<std::string, std::string> h(up->headers.begin(), up->headers.end());
  EXPECT_EQ(h["x-goog-api-key"], "AIza-sdk-key");
}

TEST(GeminiProvider, MissingKeyIs401WithoutEchoingAnything) {
  auto config = geminiConfig();
  GeminiProvider p(config);
  ClientFixture f(R"({"model":"m","messages":[{"role":"user","content":"Hi"}]})", config);
  f.headers.items = {{"Authorization", "Basic abcdefgh"}};
  auto up = p.prepare(f.req);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().http_status, 401);
  EXPECT_EQ(up.error().code, "missing_api_key");
  EXPECT_EQ(up.error().message.find("abcdefgh"), std::string::npos);
  EXPECT_NE(up.error().message.find("GEMINI_API_KEY"), std::string::npos);
}

// A custom provider of type gemini answers to its own name, and the
// missing-key error names its setting.
TEST(GeminiProvider, ACustomOneAnswersToItsNameAndNamesItsKeySetting) {
  ProviderConfig config = geminiConfig();
  config.name = "team-gemini";
  config.api_key_setting = "TEAM_GEMINI_KEY";
  GeminiProvider p(config);
  EXPECT_EQ(p.name(), "team-gemini");
  ClientFixture f(R"({"model":"m","messages":[{"role":"user","content":"Hi"}]})", config);
  auto up = p.prepare(f.req);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().message,
            "No API key: send 'Authorization: Bearer <key>' or configure the gateway's TEAM_GEMINI_KEY");
}

TEST(GeminiProvider, KeyWithHeaderInjectionIsRejected) {
  auto config = geminiConfig();
  GeminiProvider p(config);
  ClientFixture f(R"({"model":"m","messages":[{"role":"user","content":"Hi"}]})", config);
  f.headers.items = {{"x-goog-api-key", std::string("k\r\nx-evil: 1")}};
  auto up = p.prepare(f.req);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().http_status, 401);
  EXPECT_EQ(up.error().message.find("evil"), std::string::npos);
}

TEST(GeminiProvider, OtherEndpointsAreNotServed) {
  auto config = geminiConfig("k");
  GeminiProvider p(config);
  ClientFixture f(R"({"model":"m","input":"x"})", config);
  f.req.path = "/v1/embeddings";
  f.req.target = "/v1/embeddings";
  auto up = p.prepare(f.req);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().http_status, 404);
}

TEST(GeminiProvider, RespondPicksStreamJsonOrErrorHandler) {
  auto config = geminiConfig("k");
  GeminiProvider p(config);
  ClientFixture stream(R"({"model":"gemini-x","messages":[],"stream":true})", config);
  ClientFixture plain(R"({"model":"gemini-x","messages":[]})", config);
  UpstreamResponseHead ok_head{200, "text/event-stream", nullptr};
  auto s = p.respond(stream.req, ok_head, 1 << 20);
  EXPECT_EQ(s->head().status, 200);
  EXPECT_EQ(s->head().content_type, "text/event-stream");
  EXPECT_EQ(s->head().framing, Framing::kRelay);
  EXPECT_FALSE(s->head().passthrough_bytes);
  std::string upstream = sseOf(jsonLines(kTranscripts / "gemini-text.chunks.jsonl")), out;
  ASSERT_TRUE(s->onBody(upstream, out));
  ASSERT_TRUE(s->onEnd(out));
  EXPECT_TRUE(out.ends_with("data: [DONE]\n\n"));
  EXPECT_EQ(s->observation().usage.total, 217);
  EXPECT_EQ(s->observation().response_model, "gemini-3-pro-preview");

  UpstreamResponseHead json_head{200, "application/json", nullptr};
  auto j = p.respond(plain.req, json_head, 1 << 20);
  EXPECT_EQ(j->head().framing, Framing::kBuffered);
  EXPECT_EQ(j->head().content_type, "application/json");
  std::string body = testing::readFile(kTranscripts / "gemini-tool.json"), jout;
  ASSERT_TRUE(j->onBody(std::string_view(body).substr(0, 10), jout));
  ASSERT_TRUE(j->onBody(std::string_view(body).substr(10), jout));
  EXPECT_TRUE(jout.empty());
  ASSERT_TRUE(j->onEnd(jout));
  auto completion = json::parse(jout).as_object();
  EXPECT_EQ(completion.at("object"), "chat.completion");
  EXPECT_EQ(completion.at("id"), "m36LaZGyCLz1xs0PtNSB-QU");
  EXPECT_EQ(completion.at("choices").at(0).at("finish_reason"), "tool_calls");
  EXPECT_EQ(j->observation().usage.total, 937);
  EXPECT_EQ(j->observation().usage.reasoning, 893);

  // A body without responseId gets a generated chat completion id.
  auto g = p.respond(plain.req, json_head, 1 << 20);
  std::string gout;
  ASSERT_TRUE(g->onBody(R"({"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}]})", gout));
  ASSERT_TRUE(g->onEnd(gout));
  auto generated = json::parse(gout).as_object();
  EXPECT_TRUE(generated.at("id").as_string().starts_with("chatcmpl-"));
  EXPECT_EQ(generated.at("model"), "gemini-x");

  UpstreamResponseHead err_head{429, "application/json", nullptr};
  auto e = p.respond(stream.req, err_head, 1 << 20);
  EXPECT_EQ(e->head().status, 429);
  EXPECT_EQ(e->head().framing, Framing::kBuffered);
  std::string eout;
  ASSERT_TRUE(e->onBody(R"({"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}})", eout));
  ASSERT_TRUE(e->onEnd(eout));
  EXPECT_EQ(json::parse(eout),
            json::parse(R"({"error":{"message":"slow down","type":"rate_limit_error","code":"RESOURCE_EXHAUSTED"}})"));
  EXPECT_EQ(e->observation().provider_error_type, "RESOURCE_EXHAUSTED");

  UpstreamResponseHead broken_head{200, "application/json", nullptr};
  auto b = p.respond(plain.req, broken_head, 1 << 20);
  std::string bout;
  ASSERT_TRUE(b->onBody("{\"candidates\":", bout));
  auto st = b->onEnd(bout);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().http_status, 502);
}

TEST(GeminiProvider, TheKeySentIsNeverInAnErrorMessage) {
  const std::string env_key = "AIzaSy-ENV-KEY-0123456789";
  const std::string client_key = "AIzaSy-CLIENT-KEY-9876543210";
  auto config = geminiConfig(env_key);
  GeminiProvider p(config);
  UpstreamResponseHead head{400, "application/json", nullptr};
  for (const auto& [headers, key] :
       std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, std::string>>{
           {{}, env_key},
           {{{"Authorization", "Bearer " + client_key}}, client_key},
           {{{"x-goog-api-key", client_key}}, client_key}}) {
    ClientFixture f(R"({"model":"m","messages":[{"role":"user","content":"Hi"}]})", config);
    f.headers.items = headers;
    auto up = p.prepare(f.req);
    ASSERT_TRUE(up);
    std::map<std::string, std::string> h(up->headers.begin(), up->headers.end());
    ASSERT_EQ(h["x-goog-api-key"], key);
    auto handler = p.respond(f.req, head, 1 << 20);
    std::string out;
    ASSERT_TRUE(handler->onBody(R"({"error":{"code":400,"message":"API key not valid: )" + key +
                                    R"(. Please pass a valid API key.","status":"INVALID_ARGUMENT"}})",
                                out));
    ASSERT_TRUE(handler->onEnd(out));
    EXPECT_EQ(out.find(key), std::string::npos) << out;
    EXPECT_NE(out.find("[REDACTED]"), std::string::npos) << out;
    ASSERT_TRUE(handler->observation().provider_error_message);
    EXPECT_EQ(handler->observation().provider_error_message->find(key), std::string::npos);
    EXPECT_EQ(handler->observation().provider_error_type, "INVALID_ARGUMENT");
  }
}

}  // namespace
}  // namespace gw::providers::gemini
