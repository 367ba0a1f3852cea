#include "common/openai_usage.h"

#include <gtest/gtest.h>

#include <string>

namespace gw {
namespace {

std::string keyAt(std::string_view text, std::optional<UsageMemberPos> m) {
  if (!m) return "none";
  return std::string(text.substr(m->key, 7)) + "@" + std::to_string(m->key) + "=" + std::string(text.substr(m->value, 1));
}

TEST(FindLastUsageMember, FindsTheLastMemberKeyFromTheEnd) {
  // OpenAI's layouts: last member, and followed by "obfuscation" (2025 streams).
  std::string_view a = R"({"choices":[],"usage":null})";
  EXPECT_EQ(keyAt(a, findLastUsageMember(a)), "\"usage\"@14=n");
  std::string_view b = R"({"choices":[],"usage":{"total_tokens":3},"obfuscation":"x"})";
  EXPECT_EQ(keyAt(b, findLastUsageMember(b)), "\"usage\"@14={");
  // Whitespace around the key and the colon.
  std::string_view c = "{\"a\":1,\n  \"usage\" :\t null }";
  EXPECT_EQ(keyAt(c, findLastUsageMember(c)), "\"usage\"@10=n");
  // The last of several; an earlier one is found by searching before it.
  std::string_view d = R"({"usage":{"x":1},"nested":{"usage":null}})";
  auto last = findLastUsageMember(d);
  EXPECT_EQ(keyAt(d, last), "\"usage\"@27=n");
  EXPECT_EQ(keyAt(d, findLastUsageMember(d, last->key)), "\"usage\"@1={");
  EXPECT_EQ(keyAt(d, findLastUsageMember(d, 1)), "none");
  // Not a member: inside strings (quotes escaped), part of a longer key, a
  // value, no colon.
  for (std::string_view none : {R"({"content":"say \"usage\":null"})", R"({"x\"usage":null})",
                                R"({"k":"usage"})", R"(["usage","usage"])", R"({"usage")", "", "\"usage\""}) {
    EXPECT_EQ(keyAt(none, findLastUsageMember(none)), "none") << none;
  }
  // At the very start of the text (a member of an object cut at its brace).
  std::string_view e = R"("usage":null,"id":"x")";
  EXPECT_EQ(keyAt(e, findLastUsageMember(e)), "\"usage\"@0=n");
}

TEST(ScanOpenAiUsage, ReadsTheLastUsageObject) {
  Usage u;
  ASSERT_TRUE(scanOpenAiUsage(
      R"({"id":"x","choices":[],"usage":{"prompt_tokens":16,"completion_tokens":300,"total_tokens":316,)"
      R"("prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":7}},"obfuscation":"h9"})",
      u));
  EXPECT_EQ(u.input, 16);
  EXPECT_EQ(u.output, 300);
  EXPECT_EQ(u.total, 316);
  EXPECT_EQ(u.cached_input, 4);
  EXPECT_EQ(u.reasoning, 7);
  // A null usage after the object (nested or not) does not hide it.
  Usage v;
  ASSERT_TRUE(scanOpenAiUsage(R"({"usage":{"prompt_tokens":2,"completion_tokens":3},"x":{"usage":null}})", v));
  EXPECT_EQ(v.total, 5);
  // Nothing to read: no usage, null usage, unterminated object, text in strings.
  for (std::string_view none : {R"({"usage":null})", R"({"usage":{"prompt_tokens":2)", R"({"a":"\"usage\":{}"})", ""}) {
    Usage w;
    EXPECT_FALSE(scanOpenAiUsage(none, w)) << none;
  }
  // A usage object larger than the stack arena still parses (heap fallback).
  std::string big = R"({"usage":{"prompt_tokens":1,"completion_tokens":2,"pad":")" + std::string(10000, 'x') + "\"}}";
  Usage x;
  ASSERT_TRUE(scanOpenAiUsage(big, x));
  EXPECT_EQ(x.total, 3);
}

// The rules readOpenAiUsage applies to a tree, on the SAX reading: the last
// of duplicate keys counts, a non-number leaves a field unset, only the
// *_details objects' own members count, numbers saturate.
TEST(ScanOpenAiUsage, SameRulesAsTheTreeReader) {
  auto scan = [](std::string_view text) {
    Usage u;
    if (!scanOpenAiUsage(text, u)) return std::string("none");
    auto f = [](const std::optional<std::int64_t>& v) { return v ? std::to_string(*v) : std::string("-"); };
    return f(u.input) + " " + f(u.output) + " " + f(u.total) + " " + f(u.cached_input) + " " + f(u.reasoning);
  };
  EXPECT_EQ(scan(R"({"usage":{"prompt_tokens":1,"prompt_tokens":2,"completion_tokens":3}})"), "2 3 5 - -");
  EXPECT_EQ(scan(R"({"usage":{"prompt_tokens":1,"prompt_tokens":"x","completion_tokens":3}})"), "- 3 - - -");
  EXPECT_EQ(scan(R"({"usage":{"prompt_tokens":4,"prompt_tokens_details":{"cached_tokens":2},"prompt_tokens_details":7}})"),
            "4 0 4 - -");
  EXPECT_EQ(scan(R"({"usage":{"prompt_tokens_details":{"x":{"cached_tokens":9},"cached_tokens":3,"y":[{"cached_tokens":8}]}}})"),
            "- - - 3 -");
  EXPECT_EQ(scan(R"({"usage":{"completion_tokens_details":{"reasoning_tokens":5},"cached_tokens":6,"reasoning_tokens":6}})"),
            "- - - - 5");
  EXPECT_EQ(scan(R"({"usage":{"x":{"prompt_tokens":9},"y":[1,{"completion_tokens":9}],"total_tokens":2.7}})"), "- - 2 - -");
  EXPECT_EQ(scan(R"({"usage":{"prompt_tokens":99999999999999999999,"completion_tokens":-1e300}})"),
            "9223372036854775807 -9223372036854775808 -1 - -");
  // Embeddings: prompt tokens only, so no output tokens.
  EXPECT_EQ(scan(R"({"usage":{"prompt_tokens":8,"total_tokens":8}})"), "8 0 8 - -");
  EXPECT_EQ(scan(R"({"usage":{"prompt_tokens":8,"completion_tokens":null}})"), "8 - - - -");
}

TEST(ScanModel, CompactOrPrettyPrintedKeysAndNeverAString) {
  EXPECT_EQ(scanModel(R"({"id":"x","model":"gpt-4o"})"), "gpt-4o");
  EXPECT_EQ(scanModel("{\n  \"model\": \"text-embedding-3-small\",\n"), "text-embedding-3-small");
  EXPECT_EQ(scanModel(R"({"model" :	"m1"})"), "m1");
  EXPECT_EQ(scanModel(R"({"content":"say \"model\":\"fake\"","model":"real"})"), "real");
  EXPECT_EQ(scanModel(R"({"model":42,"x":{"model":"inner"}})"), "inner");
  EXPECT_EQ(scanModel(R"({"model":"esc\u0061ped"})"), "");
  EXPECT_EQ(scanModel(R"({"model":"unterminated)"), "");
  EXPECT_EQ(scanModel(R"("model")"), "");
  EXPECT_EQ(scanModel(""), "");
}

std::string counts(const Usage& u) {
  auto f = [](const std::optional<std::int64_t>& v) { return v ? std::to_string(*v) : std::string("-"); };
  return f(u.input) + " " + f(u.output) + " " + f(u.total) + " " + f(u.cached_input) + " " + f(u.reasoning);
}

// The chunk without its top-level usage member, as the relay forwards it.
std::string withoutUsage(std::string_view chunk) {
  std::string out;
  appendWithoutTopLevelUsage(chunk, readChatChunk(chunk), out);
  return out;
}

using UsageValue = ChatChunkFacts::UsageValue;

// The usage-only chunk is told by its parsed members, however the JSON is
// written: spacing, member order, several lines, extra members.
TEST(ReadChatChunk, RecognisesTheUsageOnlyChunkWhateverItsLayout) {
  const std::string_view usage_only[] = {
      R"({"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}})",
      R"({"id": "c", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}})",
      R"({"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7},"choices":[],"id":"c"})",
      "{\n  \"id\": \"c\",\n  \"choices\": [ ],\n  \"usage\": {\n    \"prompt_tokens\": 3,\n    \"completion_tokens\": 4,\n"
      "    \"total_tokens\": 7\n  }\n}\n",
      R"({"id":"c","system_fingerprint":"fp_1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7},"obfuscation":"x9","x_groq":{"id":"req_1"}})",
      "\t{ \"choices\" :[\n], \"usage\" : {\"prompt_tokens\":3,\"completion_tokens\":4} }  ",
  };
  for (std::string_view chunk : usage_only) {
    const ChatChunkFacts f = readChatChunk(chunk);
    EXPECT_TRUE(f.isUsageOnly()) << chunk;
    EXPECT_EQ(counts(f.usage), "3 4 7 - -") << chunk;
  }
  // Not the usage-only chunk: choices not empty, missing or not an array;
  // usage null, missing or not an object; a nested "choices":[]; not JSON.
  const std::string_view others[] = {
      R"({"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":4}})",
      R"({"choices":[],"usage":null})",
      R"({"choices":[]})",
      R"({"usage":{"prompt_tokens":3}})",
      R"({"choices":{},"usage":{"prompt_tokens":3}})",
      R"({"choices":[],"usage":[1]})",
      R"({"choices":[{"x":{"choices":[]}}],"usage":{"prompt_tokens":3}})",
      R"({"nested":{"choices":[],"usage":{"prompt_tokens":3}},"choices":[1]})",
      R"({"choices":[],"usage":{"prompt_tokens":3}} trailing)",
      R"({"choices":[],"usage":{"prompt_tokens":3})",
      R"([{"choices":[],"usage":{"prompt_tokens":3}}])",
      "[DONE]",
      "",
  };
  for (std::string_view chunk : others) EXPECT_FALSE(readChatChunk(chunk).isUsageOnly()) << chunk;
  // A repeated key: the last one counts, as in a parsed tree.
  EXPECT_TRUE(readChatChunk(R"({"choices":[1],"choices":[],"usage":null,"usage":{"prompt_tokens":1}})").isUsageOnly());
  EXPECT_FALSE(readChatChunk(R"({"choices":[],"choices":[1],"usage":{"prompt_tokens":1}})").isUsageOnly());
  EXPECT_FALSE(readChatChunk(R"({"choices":[],"usage":{"prompt_tokens":1},"usage":null})").isUsageOnly());
}

// The scan answers for the chunks of a stream under include_usage (usage
// null, last), and then says exactly what the parse says; anything it
// cannot place by bytes is left to the parse.
TEST(ScanChatChunkWithNullUsage, AgreesWithTheParseOrLeavesItToIt) {
  const std::vector<std::string_view> scanned = {
      R"({"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null})",
      R"({"id":"c","choices":[],"usage":null})",
      R"({"usage":null})",
      "{ \"choices\" : [ ] ,\n \"usage\" : null \n}\n",
      // 'g's and near misses of the key's bytes before it
      R"({"g":"gg","model":"gpt-4o-mini-2024","usag":"sage","usages":1,"ug":1,"xusage":2,"usage":null})",
      R"({"id":"c","usage":null,"choices":[{"delta":{"content":"{[\"usage\"]}"}}]})",  // not this one: escapes
  };
  const std::size_t escaped = scanned.size() - 1;
  for (std::size_t n = 0; n < escaped; ++n) {
    const std::string_view chunk = scanned[n];
    auto fast = scanChatChunkWithNullUsage(chunk);
    ASSERT_TRUE(fast) << chunk;
    const ChatChunkFacts parsed = readChatChunk(chunk);
    EXPECT_EQ(parsed.usage_value, UsageValue::kNull) << chunk;
    EXPECT_EQ(fast->usage_member_bytes, parsed.usage_member_bytes) << chunk;
    EXPECT_TRUE(fast->is_object);
    std::string out;
    appendWithoutTopLevelUsage(chunk, *fast, out);
    EXPECT_EQ(out, withoutUsage(chunk)) << chunk;
  }
  const std::vector<std::string_view> parsed_instead = {
      scanned[escaped],
      R"({"note":"usage","usage":null})",                               // its bytes earlier, in a string
      R"({"usage":1,"usage":null})",                                    // the key twice, at the start
      R"({"g":"x","a":{"usage":2},"usage":null})",                      // nested before
      R"({"choices":[],"usage":{"prompt_tokens":1}})",                 // an object: the parse reads it
      R"({"choices":[{"delta":{"usage":null}}]})",                      // not top level
      R"({"x_groq":{"usage":null},"usage":null})",                      // twice
      R"({"choices":[{"delta":{"content":"the usage"}}],"usage":nul})", // not null
      R"({"a":"usage":null})",                                           // "usage" inside a string's place
      R"({"a":1,"usage":null} trailing)",                                // not one object
      R"({"usage":null,"id":"c"})",                                      // not the last member
      R"({"a":{"usage":null}})",                                         // not the top level
      R"({"a":"x","b":[{"usage":null}]})",
      R"([{"usage":null}])",
      R"({"usage":null,})",
      R"({"u\u0073age":null,"usage":null})",
  };
  for (std::string_view chunk : parsed_instead) EXPECT_FALSE(scanChatChunkWithNullUsage(chunk)) << chunk;
}

TEST(ReadChatChunk, ReadsTopLevelAndXGroqUsageApart) {
  // Groq's last chunk without a top-level usage.
  const ChatChunkFacts groq = readChatChunk(
      R"({"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"id":"req_1","usage":{"queue_time":0.01,"prompt_tokens":18,"prompt_time":0.002,"completion_tokens":50,"completion_time":0.04,"total_tokens":68,"prompt_tokens_details":{"cached_tokens":6}}}})");
  EXPECT_TRUE(groq.is_object);
  EXPECT_EQ(groq.usage_value, UsageValue::kAbsent);
  EXPECT_TRUE(groq.has_x_groq_usage);
  EXPECT_EQ(counts(groq.x_groq_usage), "18 50 68 6 -");
  // Both: each read on its own.
  const ChatChunkFacts both = readChatChunk(
      R"({"choices":[],"usage":{"prompt_tokens":18,"completion_tokens":50,"total_tokens":68},"x_groq":{"usage":{"prompt_tokens":18,"completion_tokens":50,"total_tokens":68}}})");
  EXPECT_EQ(counts(both.usage), "18 50 68 - -");
  EXPECT_EQ(counts(both.x_groq_usage), "18 50 68 - -");
  // x_groq without usage, or with a null one; a "usage" deeper in x_groq.
  EXPECT_FALSE(readChatChunk(R"({"x_groq":{"id":"r"}})").has_x_groq_usage);
  EXPECT_FALSE(readChatChunk(R"({"x_groq":{"usage":null}})").has_x_groq_usage);
  EXPECT_FALSE(readChatChunk(R"({"x_groq":{"a":{"usage":{"prompt_tokens":1}}}})").has_x_groq_usage);
  EXPECT_FALSE(readChatChunk(R"({"a":{"x_groq":{"usage":{"prompt_tokens":1}}}})").has_x_groq_usage);
  // The usage object's own rules (readOpenAiUsage's): the last repeated key, non-numbers unset.
  EXPECT_EQ(counts(readChatChunk(R"({"usage":{"prompt_tokens":1,"prompt_tokens":2,"completion_tokens":"x"}})").usage),
            "2 - - - -");
  EXPECT_EQ(readChatChunk(R"({"usage":7})").usage_value, UsageValue::kOther);
  EXPECT_EQ(readChatChunk(R"({"usage":null})").usage_value, UsageValue::kNull);
  EXPECT_EQ(readChatChunk(R"({"id":"x"})").usage_value, UsageValue::kAbsent);
}

TEST(ReadChatChunk, RemovesTheTopLevelUsageMemberWhereverItIs) {
  EXPECT_EQ(withoutUsage(R"({"id":"x","choices":[],"usage":null})"), R"({"id":"x","choices":[]})");
  EXPECT_EQ(withoutUsage(R"({"usage":null,"id":"x"})"), R"({"id":"x"})");
  EXPECT_EQ(withoutUsage(R"({"usage":null})"), R"({})");
  EXPECT_EQ(withoutUsage(R"({"a":1,"usage":{"prompt_tokens":1},"b":2})"), R"({"a":1,"b":2})");
  EXPECT_EQ(withoutUsage(R"({"choices":[],"usage":null,"obfuscation":"Qup1"})"), R"({"choices":[],"obfuscation":"Qup1"})");
  EXPECT_EQ(withoutUsage(R"({"id":"x", "usage" : null })"), R"({"id":"x"})");
  EXPECT_EQ(withoutUsage(R"({ "usage": null, "id":"x"})"), R"({ "id":"x"})");
  EXPECT_EQ(withoutUsage("{\n  \"id\": \"x\",\n  \"usage\": null,\n  \"b\": 2\n}"), "{\n  \"id\": \"x\",\n  \"b\": 2\n}");
  EXPECT_EQ(withoutUsage("{\n  \"id\": \"x\",\n  \"usage\": null\n}\n"), "{\n  \"id\": \"x\"}\n");
  // Nested usage members are the provider's content, not the gateway's.
  EXPECT_EQ(withoutUsage(R"({"a":{"usage":null},"usage":null})"), R"({"a":{"usage":null}})");
  EXPECT_EQ(withoutUsage(R"({"x_groq":{"usage":{"prompt_tokens":1}}})"), R"({"x_groq":{"usage":{"prompt_tokens":1}}})");
  // Text that only looks like a member is left alone.
  EXPECT_EQ(withoutUsage(R"({"content":"say \"usage\":null"})"), R"({"content":"say \"usage\":null"})");
  // Keys the bytes cannot place go through a tree: written with escapes, or repeated.
  EXPECT_EQ(withoutUsage(R"({"\u0075sage":null,"id":"x"})"), R"({"id":"x"})");
  EXPECT_EQ(withoutUsage(R"({"id":"\u0078","usage":null,"b\u0031":1})"), R"({"id":"x","b1":1})");
  EXPECT_EQ(withoutUsage(R"({"usage":null,"id":"x","usage":{"prompt_tokens":1}})"), R"({"id":"x"})");
  // Not JSON: unchanged.
  EXPECT_EQ(withoutUsage("not json"), "not json");
}

TEST(FindLastMember, FindsAnyKeyAndTheSequenceNumber) {
  std::string_view t = R"({"type":"response.output_text.delta","sequence_number":4,"delta":"\"sequence_number\":9"})";
  auto m = findLastMember(t, "\"sequence_number\"");
  ASSERT_TRUE(m);
  EXPECT_EQ(t.substr(m->value, 1), "4");
  EXPECT_EQ(scanLastSequenceNumber(t), 4);
  // Several events' bytes: the last number.
  EXPECT_EQ(scanLastSequenceNumber("event: a\ndata: {\"sequence_number\":7}\n\nevent: b\ndata: {\"sequence_number\": 8 }\n\n"), 8);
  // Skips members that are not integers; nothing when none is.
  EXPECT_EQ(scanLastSequenceNumber(R"({"sequence_number":3,"x":{"sequence_number":"y"}})"), 3);
  EXPECT_FALSE(scanLastSequenceNumber(R"({"sequence_number":null})"));
  EXPECT_FALSE(scanLastSequenceNumber(""));
  EXPECT_FALSE(findLastMember(t, "\"\""));
}

}  // namespace
}  // namespace gw
