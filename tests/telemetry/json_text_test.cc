// The record's JSON writer and the one-pass body scrub (telemetry/json_text.h):
// each must write exactly what the tree path (parse, scrubForRecord,
// Boost.JSON's serializer) writes, and appendCapturedBody exactly what
// serialising captureBody gives.
#include "telemetry/json_text.h"
#include "common/openai_usage.h"
#include "telemetry/record_builder.h"
#include "telemetry/secret_scrub.h"
#include "telemetry/text_cursor.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

namespace gw {
namespace {

namespace json = boost::json;

// What the tree path writes for a body.
std::string treeText(std::string_view body, std::size_t max_bytes = 1 << 20) {
  return json::serialize(captureBody(body, max_bytes));
}

std::string directText(std::string_view body, std::size_t max_bytes = 1 << 20, ScrubbedJsonFacts* facts = nullptr) {
  std::string out;
  appendCapturedBody(out, body, max_bytes, false, std::nullopt, facts);
  return out;
}

ScrubbedJsonResult scan(std::string_view body, std::string& out, ScrubbedJsonFacts* facts = nullptr) {
  return appendScrubbedJson(body, out, facts);
}

TEST(JsonText, StringsAreEscapedAsTheSerializerEscapes) {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  for (std::string_view s :
       {std::string_view(""), std::string_view("plain"), std::string_view("q\"b\\s/"), std::string_view(all)}) {
    std::string out;
    appendJsonString(out, s);
    EXPECT_EQ(out, json::serialize(json::value(json::string_view(s.data(), s.size()))));
    // The record builder's cursor writes the same, from no room made ahead.
    std::string written;
    TextCursor cursor(written, 0);
    cursor.putJsonString(s);
    cursor.putJsonInt(std::numeric_limits<std::int64_t>::min());
    cursor.putJsonUint(std::numeric_limits<std::uint64_t>::max());
    cursor.finish();
    EXPECT_EQ(written, out + "-922337203685477580818446744073709551615");
  }
  std::string out;
  appendJsonString(out, std::string_view("\x01\b\t\n\f\r\x1f\x7f", 8));
  EXPECT_EQ(out, "\"\\u0001\\b\\t\\n\\f\\r\\u001f\x7f\"");
}

// Strings are scanned eight bytes at a time for what needs escaping: each
// byte that does, at every place in a word and next to bytes that do not
// (high bytes too, which a word test must not take for control characters).
TEST(JsonText, EveryByteIsEscapedAtEveryPlaceOfAWord) {
  for (int c = 0; c < 256; ++c) {
    for (std::size_t at = 0; at < 17; ++at) {
      std::string s(19, 'a');
      s[at] = static_cast<char>(c);
      s[18] = '\xff';
      std::string out;
      appendJsonString(out, s);
      ASSERT_EQ(out, json::serialize(json::value(json::string_view(s.data(), s.size())))) << c << " at " << at;
      // The same string as a body's value, decoded from an escape (the
      // bytes the parser hands over from its own buffer are escaped).
      std::string body = "[\"" + s.substr(0, at) + "\\u00" + "0123456789abcdef"[c >> 4] + "0123456789abcdef"[c & 15] +
                         s.substr(at + 1) + "\"]";
      if (c >= 0x80) continue;  // \u0080 and up are other characters than the byte
      ASSERT_EQ(directText(body), treeText(body)) << c << " at " << at;
    }
  }
}

// The scrubbed text can be longer than the body (redacted numbers, doubles
// in the serializer's form): the output grows as it is written.
TEST(JsonText, TextLongerThanTheBodyIsWrittenWhole) {
  std::string body = "[";
  for (int i = 0; i < 500; ++i) body += std::string(i > 0 ? "," : "") + R"({"api_key":1,"v":[0.1,1.5,2]})";
  body += ']';
  std::string out = "prefix";
  ASSERT_EQ(scan(body, out), ScrubbedJsonResult::kWritten);
  EXPECT_GT(out.size(), body.size() + 6);
  EXPECT_EQ(out, "prefix" + treeText(body));
}

// isSecretKey rules most names out by their last two characters: against
// the rule read literally (docs/records.md, with the camelCase spellings),
// every name of the rule with each of its last two characters replaced by
// every ASCII character, in both cases.
TEST(RecordBuilderSecretNames, TheLastTwoCharactersDecideAsTheWholeRuleDoes) {
  const std::vector<std::string> rule = {
      "api_key",       "apikey",        "secret",       "secret_key",  "password",      "access_token",
      "refresh_token", "session_token", "auth_token",   "private_key", "authorization", "secretkey",
      "accesstoken",   "refreshtoken",  "sessiontoken", "authtoken",   "privatekey"};
  auto reference = [&rule](std::string_view name) {
    std::string n;
    for (char c : name) n += c == '-' ? '_' : (c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
    for (const auto& suffix : rule)
      if (n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) return true;
    return n == "aws_secret_access_key";
  };
  std::vector<std::string> names = rule;
  names.push_back("aws_secret_access_key");
  for (const std::string& name : names) {
    for (std::string n : {"x_" + name, name}) {
      for (int a = 0; a < 128; ++a) {
        for (int b = 0; b < 128; ++b) {
          n[n.size() - 2] = static_cast<char>(a);
          n[n.size() - 1] = static_cast<char>(b);
          ASSERT_EQ(isSecretKey(n), reference(n)) << n;
        }
      }
    }
  }
}

TEST(JsonText, NumbersAreWrittenAsTheSerializerWritesThem) {
  for (std::int64_t v : {std::int64_t{0}, std::int64_t{-1}, std::numeric_limits<std::int64_t>::min(),
                         std::numeric_limits<std::int64_t>::max()}) {
    std::string out;
    appendJsonInt(out, v);
    EXPECT_EQ(out, json::serialize(json::value(v)));
  }
  std::string out;
  appendJsonUint(out, std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(out, "18446744073709551615");
  for (double v : {0.0, -0.0, 1.0, 0.1, 1.5e-7, 123456.789, 1e300, 2.2250738585072014e-308, -4.9e-324,
                   std::numeric_limits<double>::max(), -1.0 / 3, 1e22, 1e23, 0.30000000000000004}) {
    out.clear();
    appendJsonDouble(out, v);
    EXPECT_EQ(out, json::serialize(json::value(v)));
    std::string written = "x";
    TextCursor cursor(written, 0);
    cursor.putJsonDouble(v);
    cursor.finish();
    EXPECT_EQ(written, "x" + out);
  }
}

TEST(JsonText, TreesAreWrittenAsTheSerializerWritesThem) {
  for (
      const std::string& text : std::initializer_list<std::string>{
          R"({"id":"chatcmpl-1","created":1700000000,"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi \"q\" \u00e9\n\u0001"},"finish_reason":"stop"}],"usage":{"prompt_tokens":18446744073709551615,"cost":-2.5e-7,"neg":-9223372036854775808}})",
          R"([true,false,null,[],{},[[]],{"":{"":""}},0.1,1e300,-0.0,"\ud83d\ude00"])",
          R"("just a string")",
          "42",
          "null",
          "1.5",
          "{\"long\":\"" + std::string(5000, 'x') + "\"}",
      }) {
    const json::value tree = json::parse(text);
    std::string out = "prefix";
    appendJsonValue(out, tree);
    EXPECT_EQ(out, "prefix" + json::serialize(tree)) << text;
    if (tree.is_object()) {
      std::string object_out;
      appendJsonValue(object_out, tree.get_object());
      EXPECT_EQ(object_out, json::serialize(tree)) << text;
    }
  }
}

TEST(JsonText, BodiesAreWrittenAsTheTreePathWritesThem) {
  for (const std::string& body : std::initializer_list<std::string>{
           std::string(R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.7,"n":1})"),
           " { \"a\" : [ 1 , -0 , 2.50 , 1e2 , true , false , null , { } , [ ] ] } ",
           R"({"escapes":"\u0041\n\t\"\\\/\u00e9\ud83d\ude00\u0000","k\u0065y":1})",
           R"("just a string")",
           "42",
           "-7",
           "18446744073709551615",
           "18446744073709551616",
           "1.0",
           "null",
           R"([{"api_key":"a"},[{"nested":{"password":{"deep":[1,2,3]}}}],"x"])",
           R"({"Authorization":["Bearer x",{"y":1}],"after":2,"private_key":null,"secretary":"kept"})",
           R"({"a":{"b":{"c":{"api-key":"v"}}},"b":[[[{"session_token":1e5}]]]})",
           "{\"long\":\"" + std::string(10000, 'x') + "\\n" + std::string(10000, 'y') + "\"}",
       }) {
    EXPECT_EQ(directText(body), treeText(body)) << body;
  }
}

TEST(JsonText, SecretsAreRedactedWithoutTheirValues) {
  std::string out;
  ASSERT_EQ(scan(R"({"messages":[{"api_key":{"x":["sk-1"]}},{"OPENAI-API-KEY":"sk-2"}],"pass":"ok"})", out),
            ScrubbedJsonResult::kWritten);
  EXPECT_EQ(out, R"({"messages":[{"api_key":"[REDACTED]"},{"OPENAI-API-KEY":"[REDACTED]"}],"pass":"ok"})");
  // A secret name spelt with escapes is the same name.
  out.clear();
  ASSERT_EQ(scan(R"({"api\u005fkey":"sk-3"})", out), ScrubbedJsonResult::kWritten);
  EXPECT_EQ(out, R"({"api_key":"[REDACTED]"})");
}

TEST(JsonText, WhatTheDirectPassDoesNotWriteGoesToTheTree) {
  // A repeated key (the tree keeps the last value at the first place), a
  // number beyond a double (scrubbed to a string), an object too wide to
  // look for repeats in.
  std::string wide = "{";
  for (std::size_t i = 0; i <= kMaxScannedObjectMembers; ++i) wide += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":1";
  wide += '}';
  for (const std::string& body :
       {std::string(R"({"model":"a","x":1,"model":"b"})"), std::string(R"({"o":{"k":1,"k\u0000":2,"k":3}})"),
        std::string(R"({"t":1e999,"u":[-1e400]})"), wide}) {
    std::string out = "prefix";
    EXPECT_EQ(scan(body, out), ScrubbedJsonResult::kNeedsTree) << body;
    EXPECT_EQ(out, "prefix");
    EXPECT_EQ(directText(body), treeText(body)) << body;
  }
  EXPECT_EQ(treeText(R"({"model":"a","x":1,"model":"b"})"), R"({"model":"b","x":1})");
  // The pass stops at a repeated key: what follows may be no JSON, which
  // the tree parser then finds (the body is kept as text).
  for (std::string_view broken : {R"({"model":"a","model":"b" 2,"t":1e999})", R"({"t":1e999 [})"}) {
    std::string ignored;
    EXPECT_EQ(scan(broken, ignored), ScrubbedJsonResult::kNeedsTree) << broken;
    EXPECT_EQ(directText(broken), treeText(broken)) << broken;
    EXPECT_EQ(directText(broken, 8), treeText(broken, 8)) << broken;
  }
  // Every key of the widest object the pass writes, repeated at its end, is
  // found (keys that share a first and last character and a size too);
  // the same keys once each, and the same key in an inner and an outer
  // object, are no repeat.
  std::vector<std::string> keys;
  for (std::size_t i = 0; i + 1 < kMaxScannedObjectMembers; ++i)
    keys.push_back(i % 2 ? "k" + std::to_string(i) + "x" : std::string(1 + i % 7, static_cast<char>('a' + i % 5)));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::string distinct = "{";
  for (const std::string& key : keys) distinct += (distinct.size() > 1 ? ",\"" : "\"") + key + "\":{\"" + key + "\":1}";
  for (const std::string& key : keys) {
    std::string ignored;
    const std::string repeated = distinct + ",\"" + key + "\":2}";
    EXPECT_EQ(scan(repeated, ignored), ScrubbedJsonResult::kNeedsTree) << key;
    EXPECT_EQ(directText(repeated), treeText(repeated)) << key;
  }
  std::string written;
  EXPECT_EQ(scan(distinct + "}", written), ScrubbedJsonResult::kWritten);
  EXPECT_EQ(written, distinct + "}");
  // Repeats inside a secret's value, and a number beyond a double there,
  // are not written: nothing for the tree to do.
  std::string out;
  EXPECT_EQ(scan(R"({"password":{"a":1,"a":1e999}})", out), ScrubbedJsonResult::kWritten);
  EXPECT_EQ(out, R"({"password":"[REDACTED]"})");
}

TEST(JsonText, InvalidJsonIsRefusedAsTheTreeParserRefusesIt) {
  for (std::string_view body :
       {std::string_view("{"), std::string_view("{\"a\":1,}"), std::string_view("[1 2]"), std::string_view("{} {}"),
        std::string_view("{\"a\":\"\xff\"}"), std::string_view("\"\xc0\xaf\""), std::string_view("\"\\ud800\""),
        std::string_view("// c\n{}"), std::string_view("nul"), std::string_view("\"a\x01\"")}) {
    std::string out = "prefix";
    EXPECT_EQ(scan(body, out), ScrubbedJsonResult::kNotJson) << body;
    EXPECT_EQ(out, "prefix");
    EXPECT_FALSE(parseUntrustedJson(body).has_value()) << body;
    EXPECT_EQ(directText(body), treeText(body)) << body;  // kept as text, or as _binary
  }
}

TEST(JsonText, DepthLimitIsTheTreeParsersLimit) {
  const std::string deepest = std::string(kMaxUntrustedJsonDepth, '[') + std::string(kMaxUntrustedJsonDepth, ']');
  const std::string too_deep = '[' + deepest + ']';
  std::string out;
  EXPECT_EQ(scan(deepest, out), ScrubbedJsonResult::kWritten);
  EXPECT_EQ(out, deepest);
  out.clear();
  EXPECT_EQ(scan(too_deep, out), ScrubbedJsonResult::kNotJson);
  EXPECT_EQ(directText(too_deep), treeText(too_deep));
  const std::string deep_objects = [] {
    std::string s;
    for (std::size_t i = 0; i < kMaxUntrustedJsonDepth; ++i) s += "{\"api_key\":[";
    return s;
  }();
  EXPECT_EQ(directText(deep_objects), treeText(deep_objects));
}

TEST(JsonText, BodiesOverTheCapArePreviewedAsTheTreePathPreviewsThem) {
  const std::string body = R"({"secret":"s3cr3t","text":")" + std::string(6000, 'a') + "\xc3\xa9\"}";
  for (std::size_t cap : {std::size_t{10}, std::size_t{100}, std::size_t{5000}, body.size() - 1}) {
    EXPECT_EQ(directText(body, cap), treeText(body, cap)) << cap;
    EXPECT_EQ(directText(body, cap).find("s3cr3t"), std::string::npos);
  }
  const std::string cut = body.substr(0, 50);  // the capture stopped at the budget
  std::string out;
  appendCapturedBody(out, cut, 1 << 20, true, 123456);
  EXPECT_EQ(out, json::serialize(captureBody(cut, 1 << 20, true, 123456)));
  const std::string binary = "\x89PNG\r\n\x1a\n\xff\xfe";
  EXPECT_EQ(directText(binary), treeText(binary));
  EXPECT_EQ(directText(""), "null");
}

TEST(JsonText, FactsPlaceTheTopLevelMembers) {
  const std::string body =
      R"({"id":"chatcmpl-1","model":"gpt-\u0034o","choices":[{"finish_reason":"stop","message":{"finish_reason":"no"}},)"
      R"(7,{"index":1,"finish_reason":null},{"finish_reason":"length"}],"usage":{"prompt_tokens":3},"n":12})";
  std::string out;
  ScrubbedJsonFacts facts;
  ASSERT_EQ(scan(body, out, &facts), ScrubbedJsonResult::kWritten);
  EXPECT_TRUE(facts.is_object);
  ASSERT_EQ(facts.members.size(), 5u);
  auto value = [&](std::string_view name) {
    const auto* span = facts.member(out, name);
    return span ? out.substr(span->offset, span->size) : std::string("<none>");
  };
  EXPECT_EQ(value("id"), "\"chatcmpl-1\"");
  EXPECT_EQ(jsonTextString(value("model")), "gpt-4o");
  EXPECT_EQ(value("usage"), R"({"prompt_tokens":3})");
  EXPECT_EQ(value("n"), "12");
  EXPECT_EQ(value("missing"), "<none>");
  EXPECT_TRUE(facts.choices_is_array);
  ASSERT_EQ(facts.choice_finish_reasons.size(), 2u);
  EXPECT_EQ(out.substr(facts.choice_finish_reasons[0].offset, facts.choice_finish_reasons[0].size), "\"stop\"");
  EXPECT_EQ(out.substr(facts.choice_finish_reasons[1].offset, facts.choice_finish_reasons[1].size), "\"length\"");

  // Written after the caller's text: places are in `out`.
  out = "{\"request\":";
  ASSERT_EQ(scan(R"({"choices":{"finish_reason":"x"},"stream":true})", out, &facts), ScrubbedJsonResult::kWritten);
  EXPECT_FALSE(facts.choices_is_array);
  EXPECT_TRUE(facts.choice_finish_reasons.empty());
  EXPECT_EQ(value("stream"), "true");
  out.clear();
  ASSERT_EQ(scan("[1]", out, &facts), ScrubbedJsonResult::kWritten);
  EXPECT_FALSE(facts.is_object);
}

// The usage object is read as the pass writes it, by the rules the record
// builder's tree path applies (readOpenAiUsage, readResponsesUsage).
TEST(JsonText, TheUsageObjectIsReadAsTheTreeReadsIt) {
  auto counts = [](std::string_view body, const UsageKeys& keys) -> std::optional<Usage> {
    std::string out;
    ScrubbedJsonFacts facts;
    if (appendScrubbedJson(body, out, &facts, false, &keys) != ScrubbedJsonResult::kWritten) return std::nullopt;
    if (!facts.usage) return std::nullopt;
    Usage u;
    mergeUsage(*facts.usage, u, &keys == &kChatUsageKeys);
    Usage tree;
    const json::value parsed = json::parse(out);
    const json::object& usage = parsed.as_object().at("usage").as_object();
    if (&keys == &kChatUsageKeys)
      readOpenAiUsage(usage, tree);
    else
      readResponsesUsage(usage, tree);
    EXPECT_EQ(std::tie(u.input, u.output, u.total, u.cached_input, u.reasoning),
              std::tie(tree.input, tree.output, tree.total, tree.cached_input, tree.reasoning))
        << body;
    return u;
  };
  auto chat = counts(
      R"({"id":"c","choices":[{"usage":{"prompt_tokens":99}}],"usage":{"prompt_tokens":24,"completion_tokens":62,)"
      R"("total_tokens":86,"prompt_tokens_details":{"cached_tokens":8,"audio_tokens":0},)"
      R"("completion_tokens_details":{"reasoning_tokens":5,"x":[1,{"reasoning_tokens":7}]}},"model":"m"})",
      kChatUsageKeys);
  ASSERT_TRUE(chat);
  EXPECT_EQ(chat->input, 24) << "only the top-level usage object";
  EXPECT_EQ(chat->output, 62);
  EXPECT_EQ(chat->total, 86);
  EXPECT_EQ(chat->cached_input, 8);
  EXPECT_EQ(chat->reasoning, 5);

  auto embeddings = counts(R"({"data":[],"usage":{"prompt_tokens":7,"total_tokens":7}})", kChatUsageKeys);
  ASSERT_TRUE(embeddings);
  EXPECT_EQ(embeddings->output, 0) << "embeddings: no completion count";

  auto responses =
      counts(R"({"object":"response","usage":{"input_tokens":10,"output_tokens":4,)"
             R"("input_tokens_details":{"cached_tokens":2},"output_tokens_details":{"reasoning_tokens":1}}})",
             kResponsesUsageKeys);
  ASSERT_TRUE(responses);
  EXPECT_EQ(responses->total, 14) << "input + output without total_tokens";
  EXPECT_EQ(responses->cached_input, 2);
  EXPECT_EQ(responses->reasoning, 1);

  // Values that are no count, and a usage that is no object.
  auto odd = counts(R"({"usage":{"prompt_tokens":"12","completion_tokens":3.0,"total_tokens":null}})", kChatUsageKeys);
  ASSERT_TRUE(odd);
  EXPECT_FALSE(odd->input);
  EXPECT_EQ(odd->output, 3);
  EXPECT_FALSE(counts(R"({"usage":[1,2]})", kChatUsageKeys));
  EXPECT_FALSE(counts(R"({"usage":null})", kChatUsageKeys));
  EXPECT_FALSE(counts(R"({"choices":[],"x":{"usage":{"prompt_tokens":1}}})", kChatUsageKeys)) << "not top-level";

  // Not read without keys, nor past a failed pass.
  std::string out;
  ScrubbedJsonFacts facts;
  ASSERT_EQ(appendScrubbedJson(R"({"usage":{"prompt_tokens":1}})", out, &facts), ScrubbedJsonResult::kWritten);
  EXPECT_FALSE(facts.usage);
  out.clear();
  EXPECT_EQ(appendScrubbedJson(R"({"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}})", out, &facts, false,
                               &kChatUsageKeys),
            ScrubbedJsonResult::kNeedsTree);
  EXPECT_FALSE(facts.usage) << "a repeated key: the tree decides";
}

TEST(JsonText, TextStrings) {
  EXPECT_EQ(jsonTextString("\"a\""), "a");
  EXPECT_EQ(jsonTextString("\"\\u00e9\\n\""), "\xc3\xa9\n");
  EXPECT_EQ(jsonTextString("12"), std::nullopt);
  EXPECT_EQ(jsonTextString(""), std::nullopt);
}

}  // namespace
}  // namespace gw
