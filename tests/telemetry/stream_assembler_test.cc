// StreamAssembler: the fast path (one SAX pass, the chunk's own text kept)
// must give exactly what the general path (a tree per chunk, scrubbed and
// serialised again) gives, and must hand every chunk it should not handle
// to the general path.
#include "telemetry/stream_assembler.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gw {
namespace {

namespace json = boost::json;

struct Assembled {
  json::value response;
  json::value streamed;  // the streamed_data array, parsed
  std::string streamed_text;
  std::optional<std::string> error_type;
  std::uint64_t fast = 0;
};

Assembled assemble(const std::vector<std::string>& chunks, bool general_path_only) {
  StreamAssembler a({}, general_path_only);
  std::string text = "[";
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    if (i > 0) text += ',';
    a.add(chunks[i], &text);
  }
  text += ']';
  Assembled out;
  out.error_type = a.errorType();
  out.response = a.finish();
  out.streamed_text = text;
  boost::system::error_code ec;
  out.streamed = json::parse(text, ec);
  EXPECT_FALSE(ec) << "streamed_data is not JSON: " << text;
  out.fast = a.fastChunks();
  return out;
}

// Both paths agree; returns the fast one.
Assembled expectSame(const std::vector<std::string>& chunks) {
  Assembled fast = assemble(chunks, false);
  Assembled general = assemble(chunks, true);
  EXPECT_EQ(fast.response, general.response) << json::serialize(fast.response) << "\nvs\n"
                                             << json::serialize(general.response);
  EXPECT_EQ(fast.streamed, general.streamed) << fast.streamed_text << "\nvs\n" << general.streamed_text;
  EXPECT_EQ(fast.error_type, general.error_type);
  EXPECT_EQ(fast.streamed_text.find_first_of("\r\n"), std::string::npos) << fast.streamed_text;
  return fast;
}

std::string contentChunk(std::string_view content, std::string_view extra = "") {
  return std::string(R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o",)") +
         R"("system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":")" + std::string(content) +
         R"("},"logprobs":null,"finish_reason":null}])" + std::string(extra) + "}";
}

TEST(StreamAssembler, TypicalOpenAiStreamTakesTheFastPathAndKeepsEachChunksText) {
  std::vector<std::string> chunks = {
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]})",
      contentChunk("Hel"), contentChunk("lo \\\"q\\\" \\u00e9\\n"),
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]})"};
  Assembled a = expectSame(chunks);
  EXPECT_EQ(a.fast, chunks.size());
  EXPECT_EQ(a.streamed_text, "[" + chunks[0] + "," + chunks[1] + "," + chunks[2] + "," + chunks[3] + "]");
  const auto& r = a.response.as_object();
  EXPECT_EQ(r.at("id"), "chatcmpl-1");
  EXPECT_EQ(r.at("created"), 1700000000);
  EXPECT_EQ(r.at("system_fingerprint"), "fp_1");
  const auto& choice = r.at("choices").at(0).as_object();
  EXPECT_EQ(choice.at("delta").at("role"), "assistant");
  EXPECT_EQ(choice.at("delta").at("content"), "Hello \"q\" \xc3\xa9\n");
  EXPECT_EQ(choice.at("finish_reason"), "stop");
  EXPECT_TRUE(r.at("usage").is_null());
  // Keys in the order of the record format (docs/records.md).
  std::vector<std::string> keys;
  for (const auto& kv : r) keys.emplace_back(kv.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"id", "object", "created", "model", "system_fingerprint", "choices",
                                            "usage"}));
}

TEST(StreamAssembler, LegacyCompletionsAndSeveralChoicesTakeTheFastPath) {
  Assembled a = expectSame({R"({"id":"c","object":"text_completion","choices":[{"index":1,"text":"b"},{"text":"a","index":0}]})",
                            R"({"choices":[{"index":0,"text":"c","finish_reason":"length"},{"index":1,"text":"d"}]})"});
  EXPECT_EQ(a.fast, 2u);
  EXPECT_EQ(a.response.at("choices").at(0).at("text"), "ac");
  EXPECT_EQ(a.response.at("choices").at(1).at("text"), "bd");
  EXPECT_EQ(a.response.at("object"), "text_completion");
}

// Each of these must reach the general path, and both paths agree on it.
TEST(StreamAssembler, EverythingElseTakesTheGeneralPath) {
  const std::vector<std::string> general = {
      // tool calls, merged by index
      R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]}}]})",
      // the usage chunk the gateway asks for
      R"({"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}})",
      // an error event
      R"({"error":{"message":"overloaded","type":"server_error"}})",
      // a secret, anywhere
      R"({"choices":[{"index":0,"delta":{"content":"x"},"meta":{"API_KEY":"sk-leak"}}]})",
      // a duplicate key (kept last-wins by the tree, one key in the text)
      R"({"id":"a","id":"b","choices":[]})",
      // a line break between tokens
      "{\"choices\":[{\"index\":0,\n\"delta\":{\"content\":\"y\"}}]}",
      // other delta members
      R"({"choices":[{"index":0,"delta":{"refusal":"no"}}]})",
      R"({"choices":[{"index":0,"delta":{"content":5}}]})",
      R"({"choices":[{"index":0,"delta":{"role":{"x":1}}}]})",
      R"({"choices":[{"index":"0","delta":{"content":"z"}}]})",
      R"({"choices":[{"index":0,"finish_reason":7}]})",
      R"({"model":{"name":"m"},"choices":[]})",
      // not an object, not JSON, trailing garbage, too deep
      "[1,2]", "not json", R"({"a":1} x)", std::string(300, '[') + std::string(300, ']'),
      "api_key=sk-form-secret"};
  for (const auto& chunk : general) {
    SCOPED_TRACE(chunk.substr(0, 80));
    Assembled a = expectSame({contentChunk("a"), chunk, contentChunk("b")});
    EXPECT_EQ(a.fast, 2u) << "only the two plain chunks take the fast path";
  }
}

TEST(StreamAssembler, GeneralPathScrubsDeduplicatesAndRemovesLineBreaks) {
  Assembled a = expectSame({R"({"choices":[],"x":{"Authorization":"Bearer sk-leak"}})", R"({"id":"a","id":"b"})",
                            "{\"id\":\r\n\"c\"}", "password=hunter2"});
  EXPECT_EQ(a.streamed_text.find("sk-leak"), std::string::npos) << a.streamed_text;
  EXPECT_EQ(a.streamed_text.find("hunter2"), std::string::npos) << a.streamed_text;
  EXPECT_EQ(a.streamed.at(0).at("x").at("Authorization"), "[REDACTED]");
  EXPECT_EQ(a.streamed.at(1).as_object().size(), 1u);
  EXPECT_EQ(a.streamed.at(2).at("id"), "c");
  EXPECT_EQ(a.response.at("id"), "c");
}

// 1e999 is JSON but no double: written back as-is it would be the bare word
// Infinity, which is not JSON (fuzz_stream_assembly finding).
TEST(StreamAssembler, NumbersBeyondADoubleBecomeStrings) {
  Assembled a = expectSame({R"({"choices":[{"index":0,"delta":{"content":"x"}}],"big":1e999,"small":-1e999})",
                            R"({"created":1e400})"});
  EXPECT_EQ(a.fast, 0u);
  EXPECT_EQ(a.streamed.at(0).at("big"), "Infinity");
  EXPECT_EQ(a.streamed.at(0).at("small"), "-Infinity");
  EXPECT_EQ(a.response.at("created"), "Infinity");
}

TEST(StreamAssembler, ErrorTypeIsTheFirstErrorChunks) {
  Assembled a = expectSame({contentChunk("a"), R"({"error":{"code":"rate_limited"}})",
                            R"({"error":{"type":"server_error"}})"});
  EXPECT_EQ(a.error_type, "rate_limited");
}

TEST(StreamAssembler, NullsAndIgnoredMembersOfAnyTypeAreSkippedAlike) {
  Assembled a = expectSame({R"({"id":null,"model":"m","created":null,"usage":null,"choices":[{"index":0,"delta":{"role":null,"content":null,"x":null},"text":5,"finish_reason":null,"logprobs":{"content":[{"token":"a"}]}}],"extra":[1,{"k":[true,false,null]}]})",
                            R"({"choices":"x","usage":[1],"id":"later"})",
                            R"({"choices":[1,"two",null,[],{"index":2,"delta":[1],"text":{"a":1}}],"created":1.5})",
                            R"({"created":18446744073709551615,"object":true,"system_fingerprint":null})"});
  EXPECT_EQ(a.fast, 4u);
  EXPECT_EQ(a.response.at("id"), "later");
  EXPECT_EQ(a.response.at("created"), 18446744073709551615ULL);
  EXPECT_EQ(a.response.at("object"), true);
  EXPECT_FALSE(a.response.as_object().contains("system_fingerprint"));
  EXPECT_EQ(a.response.at("choices").as_array().size(), 2u);
}

// Every pair of a set of varied chunks, in both orders: the two paths agree.
TEST(StreamAssembler, PathsAgreeOnEveryPairOfVariedChunks) {
  const std::vector<std::string> variety = {
      contentChunk("a"),
      contentChunk("\\ud83d\\ude00"),
      R"({"choices":[{"index":0,"delta":{"role":"assistant"}}]})",
      R"({"choices":[{"index":0,"delta":{"role":"tool"}}]})",
      R"({"choices":[{"index":1,"delta":{"content":"other"}}],"model":"m2"})",
      R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1"}}]}}]})",
      R"({"choices":[{"index":0,"delta":{"content":"after tools"},"finish_reason":"tool_calls"}]})",
      R"({"choices":[{"index":0,"text":"t"}]})",
      R"({"usage":{"prompt_tokens":1}})",
      R"({"choices":[],"x_groq":{"id":"r","usage":{"prompt_tokens":2,"completion_tokens":3}}})",
      R"({"x_groq":{"id":"r","usage":null,"x":[1]}})",
      R"({"system_fingerprint":"fp_2","created":2})",
      R"({"error":{"type":"e"}})",
      "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"nl\"}}]}\n",
      "  {\"id\":\"spaced\"}\t ",
      "",
  };
  for (const auto& a : variety)
    for (const auto& b : variety) {
      SCOPED_TRACE(a + " | " + b);
      expectSame({a, b, a});
    }
}

// Groq's x_groq.usage is the response's usage when the stream has no
// top-level one; a top-level usage wins whatever the order, never summed.
TEST(StreamAssembler, XGroqUsageStandsInForAMissingTopLevelUsage) {
  const std::string groq_last =
      R"({"id":"chatcmpl-g","model":"llama-3.1-8b-instant","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"id":"req_g","usage":{"prompt_tokens":18,"completion_tokens":50,"total_tokens":68}}})";
  const std::string top_level = R"({"id":"chatcmpl-g","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":51,"total_tokens":71}})";
  Assembled only = expectSame({contentChunk("a"), groq_last});
  EXPECT_EQ(json::serialize(only.response.at("usage")), R"({"prompt_tokens":18,"completion_tokens":50,"total_tokens":68})");
  EXPECT_EQ(only.fast, 1u) << "x_groq's usage object is read by the general path";
  // x_groq without usage stays on the fast path and leaves usage null.
  Assembled none = expectSame({contentChunk("a", R"(,"x_groq":{"id":"req_g"})")});
  EXPECT_EQ(none.fast, 1u);
  EXPECT_TRUE(none.response.at("usage").is_null());
  for (const auto& order : {std::vector<std::string>{groq_last, top_level}, std::vector<std::string>{top_level, groq_last}}) {
    Assembled both = expectSame(order);
    EXPECT_EQ(json::serialize(both.response.at("usage")), R"({"prompt_tokens":20,"completion_tokens":51,"total_tokens":71})");
  }
}

}  // namespace
}  // namespace gw
