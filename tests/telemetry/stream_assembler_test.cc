// StreamAssembler: the fast path (one SAX pass, the chunk's own text kept)
// must give exactly what the general path (a tree per chunk, scrubbed and
// serialised again) gives, and must hand every chunk it should not handle
// to the general path; the template path must change no byte of what the
// fast and general paths give without it.
#include "telemetry/stream_assembler.h"

#include "telemetry/secret_scrub.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
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
  std::uint64_t template_chunks = 0;
};

Assembled assemble(const std::vector<std::string>& chunks, bool general_path_only, bool templates = true) {
  StreamAssembler a({}, general_path_only, ResponseApi::kChatCompletions, templates);
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
  out.template_chunks = a.templateChunks();
  return out;
}

// The template path changes nothing: the same streamed_data bytes, the same
// assembled response (as the record writes it) and error type as without it.
void expectSameWithoutTemplates(const std::vector<std::string>& chunks, const Assembled& with) {
  Assembled without = assemble(chunks, false, false);
  EXPECT_EQ(without.template_chunks, 0u);
  EXPECT_EQ(with.streamed_text, without.streamed_text);
  EXPECT_EQ(json::serialize(with.response), json::serialize(without.response));
  EXPECT_EQ(with.error_type, without.error_type);
  EXPECT_EQ(with.fast, without.fast) << "a template chunk is one the fast path would have taken";
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
  expectSameWithoutTemplates(chunks, fast);
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
      // a usage object with a secret, a repeated key, a number beyond a double
      R"({"choices":[],"usage":{"prompt_tokens":5,"details":{"api_key":"sk-leak"}}})",
      R"({"choices":[],"usage":{"prompt_tokens":5,"prompt_tokens":6}})",
      R"({"choices":[],"usage":{"prompt_tokens":5,"cost":1e999}})",
      // an error event
      R"({"error":{"message":"overloaded","type":"server_error"}})",
      // a secret, anywhere
      R"({"choices":[{"index":0,"delta":{"content":"x"},"meta":{"API_KEY":"sk-leak"}}]})",
      // a duplicate key (kept last-wins by the tree, one key in the text)
      R"({"id":"a","id":"b","choices":[]})",
      // a line break between tokens
      "{\"choices\":[{\"index\":0,\n\"delta\":{\"content\":\"y\"}}]}",
      // other delta members
      R"({"choices":[{"index":0,"delta":{"refusal":"no"}}]})", R"({"choices":[{"index":0,"delta":{"content":5}}]})",
      R"({"choices":[{"index":0,"delta":{"role":{"x":1}}}]})", R"({"choices":[{"index":"0","delta":{"content":"z"}}]})",
      R"({"choices":[{"index":0,"finish_reason":7}]})", R"({"model":{"name":"m"},"choices":[]})",
      // not an object, not JSON, trailing garbage, too deep
      "[1,2]", "not json", R"({"a":1} x)", std::string(300, '[') + std::string(300, ']'), "api_key=sk-form-secret"};
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
  EXPECT_EQ(only.fast, 2u) << "x_groq's usage object is read by the fast path";
  // x_groq without usage stays on the fast path and leaves usage null.
  Assembled none = expectSame({contentChunk("a", R"(,"x_groq":{"id":"req_g"})")});
  EXPECT_EQ(none.fast, 1u);
  EXPECT_TRUE(none.response.at("usage").is_null());
  for (const auto& order : {std::vector<std::string>{groq_last, top_level}, std::vector<std::string>{top_level, groq_last}}) {
    Assembled both = expectSame(order);
    EXPECT_EQ(json::serialize(both.response.at("usage")), R"({"prompt_tokens":20,"completion_tokens":51,"total_tokens":71})");
  }
}

// The usage chunk the gateway asks for ends nearly every stream: the fast
// path reads its usage object, whatever it holds, into the same tree as the
// general path, and keeps the chunk's text. The last usage object wins.
TEST(StreamAssembler, UsageObjectsTakeTheFastPath) {
  const std::string openai =
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","system_fingerprint":"fp_1","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}})";
  const std::string varied =
      R"({"choices":[],"usage":{"prompt_tokens":18446744073709551615,"cost":0.25,"negative":-3,"flag":true,"none":null,"tier":"de\"fault","list":[1,[2,{"a":"b"}],{}],"empty":{},"nested":{"deeper":{"k":[]}}}})";
  Assembled a = expectSame({contentChunk("a"), openai});
  EXPECT_EQ(a.fast, 2u);
  EXPECT_EQ(a.streamed_text, "[" + contentChunk("a") + "," + openai + "]");
  EXPECT_EQ(
      json::serialize(a.response.at("usage")),
      R"({"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}})");
  Assembled b = expectSame({contentChunk("a"), varied, contentChunk("b")});
  EXPECT_EQ(b.fast, 3u);
  EXPECT_EQ(b.response.at("usage").at("prompt_tokens"), 18446744073709551615ULL);
  EXPECT_EQ(b.response.at("usage").at("tier"), "de\"fault");
  EXPECT_EQ(json::serialize(b.response.at("usage").at("list")), R"([1,[2,{"a":"b"}],{}])");
  Assembled last = expectSame({openai, varied});
  EXPECT_EQ(last.fast, 2u);
  EXPECT_EQ(last.response.at("usage").at("cost"), 0.25);
  // A usage chunk the general path takes (a secret in it) leaves the
  // response's usage to the general path's tree, and a later fast one wins.
  Assembled mixed = expectSame({openai, R"({"usage":{"password":"hunter2"}})", varied});
  EXPECT_EQ(mixed.fast, 2u);
  Assembled secret_last = expectSame({openai, R"({"usage":{"password":"hunter2"}})"});
  EXPECT_EQ(secret_last.response.at("usage").at("password"), "[REDACTED]");
  // A usage chunk refused after its usage object was read leaves no trace.
  Assembled refused = expectSame({openai, R"({"usage":{"prompt_tokens":1},"error":{"type":"e"}})"});
  EXPECT_EQ(refused.fast, 1u);
  EXPECT_EQ(refused.response.at("usage").at("prompt_tokens"), 1);
}

// The names FastPass::classify gives a slot of their own, whose keys it
// does not check against the secret names: none may be one.
TEST(StreamAssembler, NamesTheFastPathKnowsAreNoSecrets) {
  const std::vector<std::string_view> kKnownChunkNames = {
      "id",       "object", "created", "model", "system_fingerprint", "usage",   "error", "x_groq", "choices", "type",
      "response", "text",   "index",   "delta", "finish_reason",      "content", "role"};
  for (std::string_view name : kKnownChunkNames) EXPECT_FALSE(isSecretKey(name)) << name;
}

TEST(StreamAssembler, ContentChunksLikeTheirTemplateTakeTheTemplatePath) {
  const std::string role =
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]})";
  const std::string stop =
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]})";
  std::vector<std::string> chunks = {role, contentChunk("The")};
  for (std::string_view word : {" quick", "", " \\\"brown\\\"", " fox\\n", " \\u00e9\\ud83d\\ude00", " \xc3\xa9"})
    chunks.push_back(contentChunk(word));
  chunks.push_back(stop);
  Assembled a = expectSame(chunks);
  // The role chunk is a template the first content chunk does not match;
  // that chunk is the template of the next six; the stop chunk is not.
  EXPECT_EQ(a.template_chunks, 6u);
  EXPECT_EQ(a.fast, chunks.size());
  EXPECT_EQ(a.response.at("choices").at(0).at("delta").at("content"),
            "The quick \"brown\" fox\n \xc3\xa9\xf0\x9f\x98\x80 \xc3\xa9");
  EXPECT_EQ(a.response.at("choices").at(0).at("finish_reason"), "stop");
}

// A chunk whose bytes differ from its template's only where the content
// string is, but whose text there is not one string literal, takes the
// other paths: injected members, a secret, an unfinished escape, raw
// control characters, invalid UTF-8 or UTF-16.
TEST(StreamAssembler, TemplateLookalikesThatAreNotOneStringTakeTheOtherPaths) {
  const std::vector<std::string_view> not_a_string = {
      R"(a","x":"b)",                                           // another delta member
      R"(a","content":"b)",                                     // a duplicate key
      R"(a"},"logprobs":null,"api_key":"sk-leak","z":{"q":")",  // a secret member
      R"(a","role":"tool)",                                     // a role after the content
      "a\\",                                                    // a backslash escaping the closing quote
      "a\\x",                                                   // no such escape
      "a\\u12",                                                 // a short \u escape
      "line\nbreak",                                            // a raw line feed
      "tab\there",                                              // a raw tab
      "cr\r",                                                   // a raw carriage return
      "\xff\xfe",                                               // bytes no UTF-8 has
      "\xc3",                                                   // UTF-8 cut short
      "\xed\xa0\x80",                                           // a surrogate in UTF-8
      "\\ud800",                                                // a lone high surrogate
      "\\udc00x",                                               // a lone low surrogate
      "\\ud83d\\u0041",                                         // a high surrogate without its pair
      "a\"",                                                    // an unescaped quote: the string ends early
  };
  for (std::string_view text : not_a_string) {
    SCOPED_TRACE(std::string(text));
    Assembled a = expectSame({contentChunk("a"), contentChunk("b"), contentChunk(text), contentChunk("c")});
    EXPECT_EQ(a.streamed_text.find("sk-leak"), std::string::npos) << a.streamed_text;
    EXPECT_LE(a.template_chunks, 1u) << "only the chunk before it; the chunk after it starts a template anew";
  }
}

// OpenAI pads every chunk with a top-level "obfuscation" string of varying
// length, which nothing reads: a variable span too.
TEST(StreamAssembler, TopLevelStringsNothingReadsVaryLikeContent) {
  std::vector<std::string> chunks;
  for (std::string_view pad : {"Qup1BsQ3", "x", "", "Zz9a", "\u0041b"})
    chunks.push_back(contentChunk("w", R"(,"usage":null,"obfuscation":")" + std::string(pad) + "\""));
  Assembled a = expectSame(chunks);
  EXPECT_EQ(a.template_chunks, 4u) << "a chunk's own strings may hold escapes";
  EXPECT_EQ(a.response.at("choices").at(0).at("delta").at("content"), "wwwww");
  // The content and the padding changing together, the padding first.
  Assembled both = expectSame({R"({"obfuscation":"ab","choices":[{"index":0,"delta":{"content":"x"}}]})",
                               R"({"obfuscation":"","choices":[{"index":0,"delta":{"content":"yy"}}]})",
                               R"({"obfuscation":"abc","choices":[{"index":0,"delta":{"content":""}}]})"});
  EXPECT_EQ(both.template_chunks, 2u);
  EXPECT_EQ(both.response.at("choices").at(0).at("delta").at("content"), "xyy");
}

// Whitespace before or after a variable string is not the template's
// bytes: such a chunk takes the fast path, or the general one for a line
// break, which streamed_data cannot hold.
TEST(StreamAssembler, WhitespaceAroundAVariableStringIsNotTheTemplates) {
  const std::string plain = contentChunk("b");
  const std::size_t open = plain.find("\"b\"");
  for (std::string_view space : {" ", "\n", "\r\n", "\t"}) {
    SCOPED_TRACE(std::string(space));
    const std::string before = plain.substr(0, open) + std::string(space) + plain.substr(open);
    const std::string after = plain.substr(0, open + 3) + std::string(space) + plain.substr(open + 3);
    Assembled a = expectSame({contentChunk("a"), before, after, contentChunk("c")});
    EXPECT_EQ(a.template_chunks, 0u);
  }
}

// Whatever ends a template (a chunk of another shape, one for the general
// path, one that changes a top-level member) leaves the next chunk to the
// fast path, so that what a template chunk leaves unchanged is still right.
TEST(StreamAssembler, TemplatesEndWithAnyOtherChunk) {
  const std::string other_id =
      R"({"id":"chatcmpl-2","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"x"},"logprobs":null,"finish_reason":null}]})";
  const std::string tools =
      R"({"id":"chatcmpl-3","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]})";
  for (const auto& between : {other_id, tools, std::string(R"({"model":"m2"})"), std::string("not json")}) {
    SCOPED_TRACE(between);
    Assembled a = expectSame({contentChunk("a"), contentChunk("b"), between, contentChunk("c"), contentChunk("d")});
    EXPECT_EQ(a.template_chunks, 2u);
    EXPECT_EQ(a.response.at("id"), "chatcmpl-1");
    EXPECT_EQ(a.response.at("model"), "gpt-4o");
  }
  // Several choices, legacy text, and escaped content make no template.
  Assembled none = expectSame(
      {R"({"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]})",
       R"({"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]})",
       R"({"choices":[{"index":0,"text":"a","delta":{"content":"a"}}]})",
       R"({"choices":[{"index":0,"text":"a","delta":{"content":"a"}}]})", contentChunk("\\n"), contentChunk("\\n")});
  EXPECT_EQ(none.template_chunks, 0u);
}

// The streams of fuzz_stream_assembly's corpus (chunks separated by 0x1E:
// recorded provider streams, Groq's, mixed shapes), each also with every
// content chunk's text replaced in turn by text that is, or is not, one
// string: the template path gives every byte the other paths give.
TEST(StreamAssembler, TemplatePathChangesNoByteOfTheCorpusStreams) {
  const std::filesystem::path dir = std::filesystem::path(GW_SOURCE_DIR) / "fuzz/corpus/fuzz_stream_assembly";
  std::size_t streams = 0;
  std::uint64_t template_chunks = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> chunks;
    for (std::size_t from = 0;;) {
      const std::size_t end = text.find('\x1e', from);
      chunks.push_back(text.substr(from, end == std::string::npos ? std::string::npos : end - from));
      if (end == std::string::npos) break;
      from = end + 1;
    }
    SCOPED_TRACE(entry.path().filename().string());
    for (ResponseApi api : {ResponseApi::kChatCompletions, ResponseApi::kResponses, ResponseApi::kMessages}) {
      StreamAssembler with({}, false, api, true), without({}, false, api, false);
      std::string with_text, without_text;
      for (const auto& chunk : chunks) {
        with.add(chunk, &with_text);
        without.add(chunk, &without_text);
        with_text += ',';
        without_text += ',';
      }
      EXPECT_EQ(with_text, without_text);
      EXPECT_EQ(json::serialize(with.finish()), json::serialize(without.finish()));
      EXPECT_EQ(with.errorType(), without.errorType());
      template_chunks += with.templateChunks();
    }
    ++streams;
    // Each content string replaced in turn (the chunk before it is then
    // usually its template).
    static constexpr std::string_view kContent = "\"content\":\"";
    const std::vector<std::string_view> replacements = {
        "", "x", "\\\"", "a\",\"x\":\"b", "a\\", "\\ud800", "\xff", "a\"},\"api_key\":\"sk-leak\",\"z\":{\"q\":\""};
    for (std::size_t i = 0; i < chunks.size() && i < 40; ++i) {
      const std::size_t at = chunks[i].find(kContent);
      if (at == std::string::npos) continue;
      const std::size_t from = at + kContent.size();
      const std::size_t to = chunks[i].find('"', from);
      if (to == std::string::npos) continue;
      for (std::string_view replacement : replacements) {
        std::vector<std::string> changed = chunks;
        changed[i] = chunks[i].substr(0, from) + std::string(replacement) + chunks[i].substr(to);
        expectSameWithoutTemplates(changed, assemble(changed, false));
      }
    }
  }
  EXPECT_GE(streams, 5u);
  EXPECT_GT(template_chunks, 100u) << "the recorded OpenAI stream's chunks take the template path";
}

}  // namespace
}  // namespace gw
