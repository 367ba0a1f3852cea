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

}  // namespace
}  // namespace gw
