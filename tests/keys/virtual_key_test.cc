// The virtual key model: UTC periods, picodollars, key shapes and hashing,
// allowed_models globs, the admin API's bodies (every field's accepted and
// refused values, patch semantics, RFC 3339) and the stored form.
#include "keys/virtual_key.h"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cmath>
#include <limits>
#include <set>
#include <string>

namespace gw::keys {
namespace {

namespace json = boost::json;

constexpr std::int64_t kNow = 1796551200;  // 2026-12-06T10:00:00Z
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

json::value parse(std::string_view text) { return json::parse(text); }

// The error message for a create body, or "" when it is accepted.
std::string createError(std::string_view body, std::int64_t now = kNow) {
  auto r = parseKeyCreate(parse(body), now);
  if (r) return "";
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_EQ(r.error().code, "invalid_request");
  EXPECT_EQ(r.error().type, "invalid_request_error");
  return r.error().message;
}

// The first word of a message: the field's path.
std::string param(const std::string& message) { return message.substr(0, message.find(' ')); }

VirtualKey create(std::string_view body) {
  auto r = parseKeyCreate(parse(body), kNow);
  EXPECT_TRUE(r) << body << ": " << (r ? "" : r.error().message);
  return r ? *r : VirtualKey{};
}

std::optional<std::int64_t> expiryOf(std::string_view rfc3339) {
  auto r = parseKeyCreate(json::value{{"expires_at", rfc3339}}, 0);
  return r ? r->expires_at : std::nullopt;
}

VirtualKey fullKey() {
  VirtualKey k = create(R"({"name":"ci","project_id":"p1","org_id":"o1","user_id":"u1",
      "allowed_models":["gpt-4o*","claude-3-5-sonnet"],"limits":{"rpm":60,"tpm":100000},
      "budget":{"usd":12.5,"period":"month"},"expires_at":1893456000})");
  k.id = "vk_0123456789abcdef01234567";
  k.hash = hashKey("gw-test");
  k.created_at = kNow;
  return k;
}

// ---- Periods and money.

TEST(Period, NamesRoundTripAndNothingElseParses) {
  for (Period p : {Period::kDay, Period::kMonth, Period::kTotal}) EXPECT_EQ(parsePeriod(toString(p)), p);
  EXPECT_EQ(toString(Period::kDay), "day");
  EXPECT_EQ(toString(Period::kMonth), "month");
  EXPECT_EQ(toString(Period::kTotal), "total");
  for (std::string_view bad : {"", "Day", "week", "total ", "days"}) EXPECT_FALSE(parsePeriod(bad)) << bad;
}

TEST(Period, IdsAcrossDayMonthYearAndLeapBoundaries) {
  EXPECT_EQ(periodId(Period::kDay, 0), "d19700101");
  EXPECT_EQ(periodId(Period::kMonth, 0), "m197001");
  EXPECT_EQ(periodId(Period::kTotal, 0), "t");
  EXPECT_EQ(periodId(Period::kDay, -1), "d19691231");
  EXPECT_EQ(periodId(Period::kDay, kNow), "d20261206");
  EXPECT_EQ(periodId(Period::kMonth, kNow), "m202612");
  EXPECT_EQ(periodId(Period::kDay, 1709208000), "d20240229");  // 2024-02-29T12:00:00Z
  EXPECT_EQ(periodId(Period::kMonth, 1709208000), "m202402");
  EXPECT_EQ(periodId(Period::kDay, 1798761599), "d20261231");  // 2026-12-31T23:59:59Z
  EXPECT_EQ(periodId(Period::kDay, 1798761600), "d20270101");
  EXPECT_EQ(periodId(Period::kDay, 946684800), "d20000101");     // zeros inside every field
  EXPECT_EQ(periodId(Period::kMonth, 253402300800), "m1000001");  // year 10000: past the 4 digits
  EXPECT_EQ(periodId(Period::kDay, -62135596800 - 86400), "d00001231");  // the day before 0001-01-01
  EXPECT_EQ(periodId(Period::kMonth, 1798761600), "m202701");
  EXPECT_EQ(periodId(Period::kDay, 1772323199), "d20260228");  // not a leap year
  EXPECT_EQ(periodId(Period::kDay, 1772323200), "d20260301");
  EXPECT_EQ(periodId(Period::kDay, 951782400), "d20000229");           // divisible by 400: leap
  EXPECT_EQ(periodId(Period::kDay, 4107456000 + 86400), "d21000301");  // 2100: not leap
  EXPECT_EQ(periodId(Period::kDay, 253402300799), "d99991231");
  EXPECT_EQ(periodId(Period::kTotal, kMax), "t");
}

TEST(Period, SecondsToTheEndOfTheDayAndMonth) {
  EXPECT_EQ(secondsToPeriodEnd(Period::kDay, 0), 86400);
  EXPECT_EQ(secondsToPeriodEnd(Period::kMonth, 0), 31 * 86400);
  EXPECT_EQ(secondsToPeriodEnd(Period::kTotal, 0), std::nullopt);
  EXPECT_EQ(secondsToPeriodEnd(Period::kDay, -1), 1);
  EXPECT_EQ(secondsToPeriodEnd(Period::kDay, kNow), 14 * 3600);
  EXPECT_EQ(secondsToPeriodEnd(Period::kMonth, kNow), 25 * 86400 + 14 * 3600);
  // December ends at the next year's January 1st.
  EXPECT_EQ(secondsToPeriodEnd(Period::kDay, 1798761599), 1);
  EXPECT_EQ(secondsToPeriodEnd(Period::kMonth, 1798761599), 1);
  EXPECT_EQ(secondsToPeriodEnd(Period::kMonth, 1798761600), 31 * 86400);
  // February: 29 days in 2024, 28 in 2026.
  EXPECT_EQ(secondsToPeriodEnd(Period::kMonth, 1709208000), 12 * 3600);
  EXPECT_EQ(secondsToPeriodEnd(Period::kMonth, 1709208000 - 86400), 86400 + 12 * 3600);
  EXPECT_EQ(secondsToPeriodEnd(Period::kMonth, 1772323199), 1);
  EXPECT_EQ(secondsToPeriodEnd(Period::kMonth, 1772323200), 31 * 86400);
  EXPECT_EQ(secondsToPeriodEnd(Period::kTotal, 1772323200), std::nullopt);
  EXPECT_EQ(secondsToPeriodEnd(Period::kDay, kMax), 86400 - kMax % 86400);
}

TEST(Money, PicosAreExactAndSaturate) {
  EXPECT_EQ(usdToPicos(0), 0);
  EXPECT_EQ(usdToPicos(1), 1'000'000'000'000);
  EXPECT_EQ(usdToPicos(12.5), 12'500'000'000'000);
  EXPECT_EQ(usdToPicos(0.000001), 1'000'000);
  EXPECT_EQ(usdToPicos(1e-12), 1);
  EXPECT_EQ(usdToPicos(0.4e-12), 0);
  EXPECT_EQ(usdToPicos(0.6e-12), 1);
  EXPECT_EQ(usdToPicos(0.1 + 0.2), 300'000'000'000);
  EXPECT_EQ(usdToPicos(0.00015), 150'000'000);
  EXPECT_EQ(usdToPicos(9.2e6), 9'200'000'000'000'000'000);
  EXPECT_EQ(usdToPicos(1e7), kMax);
  EXPECT_EQ(usdToPicos(1e300), kMax);
  EXPECT_EQ(usdToPicos(std::numeric_limits<double>::infinity()), kMax);
  EXPECT_EQ(usdToPicos(-1), 0);
  EXPECT_EQ(usdToPicos(-std::numeric_limits<double>::infinity()), 0);
  EXPECT_EQ(usdToPicos(std::nan("")), 0);
  EXPECT_EQ(picosToUsd(1'000'000'000'000), 1.0);
  EXPECT_EQ(picosToUsd(12'500'000'000'000), 12.5);
  EXPECT_EQ(picosToUsd(0), 0.0);
  // Ten costs of 0.1 add up to exactly one dollar in picos, in any order.
  std::int64_t sum = 0;
  for (int i = 0; i < 10; ++i) sum += usdToPicos(0.1);
  EXPECT_EQ(sum, usdToPicos(1));
}

// ---- Keys, ids, hashes.

TEST(Keys, HashIsSha256InLowercaseHex) {
  EXPECT_EQ(hashKey("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hashKey(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Keys, GeneratedKeysAndIdsHaveTheirShapeAndDiffer) {
  std::set<std::string> keys, ids;
  for (int i = 0; i < 500; ++i) {
    std::string key = generateKey(), id = generateKeyId();
    EXPECT_TRUE(looksLikeVirtualKey(key)) << key;
    ASSERT_EQ(id.size(), 27u);
    EXPECT_EQ(id.substr(0, 3), "vk_");
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 3), std::string::npos) << id;
    keys.insert(key);
    ids.insert(id);
  }
  EXPECT_EQ(keys.size(), 500u);
  EXPECT_EQ(ids.size(), 500u);
}

TEST(Keys, LooksLikeVirtualKeyOnlyForGwAnd64LowercaseHex) {
  const std::string hex(64, 'a');
  EXPECT_TRUE(looksLikeVirtualKey("gw-" + hex));
  EXPECT_TRUE(looksLikeVirtualKey("gw-" + std::string(32, '0') + std::string(32, 'f')));
  EXPECT_FALSE(looksLikeVirtualKey("gw-" + hex.substr(1)));
  EXPECT_FALSE(looksLikeVirtualKey("gw-" + hex + "a"));
  EXPECT_FALSE(looksLikeVirtualKey("gw-" + std::string(63, 'a') + "A"));
  EXPECT_FALSE(looksLikeVirtualKey("gw-" + std::string(63, 'a') + "g"));
  EXPECT_FALSE(looksLikeVirtualKey("GW-" + hex));
  EXPECT_FALSE(looksLikeVirtualKey("gw_" + hex));
  EXPECT_FALSE(looksLikeVirtualKey("sk-" + hex));
  EXPECT_FALSE(looksLikeVirtualKey(""));
  EXPECT_FALSE(looksLikeVirtualKey("gw-"));
}

// ---- allowed_models.

TEST(Allows, ExactAndGlobEntries) {
  VirtualKey k;
  EXPECT_TRUE(k.allows("anything"));
  EXPECT_TRUE(k.allows(""));
  k.allowed_models = std::vector<std::string>{"gpt-4o*", "*mini", "a*b*c", "claude-3-5-sonnet"};
  EXPECT_TRUE(k.allows("gpt-4o"));
  EXPECT_TRUE(k.allows("gpt-4o-2024-08-06"));
  EXPECT_FALSE(k.allows("gpt-4"));
  EXPECT_FALSE(k.allows("xgpt-4o"));
  EXPECT_TRUE(k.allows("o1-mini"));
  EXPECT_TRUE(k.allows("mini"));
  EXPECT_FALSE(k.allows("mini-x"));
  EXPECT_TRUE(k.allows("abc"));
  EXPECT_TRUE(k.allows("a--b--c"));
  EXPECT_TRUE(k.allows("abbbc"));
  EXPECT_TRUE(k.allows("acbc"));
  EXPECT_FALSE(k.allows("acb"));
  EXPECT_FALSE(k.allows("abcx"));
  EXPECT_TRUE(k.allows("claude-3-5-sonnet"));
  EXPECT_FALSE(k.allows("claude-3-5-sonnet-latest"));
  EXPECT_FALSE(k.allows("Claude-3-5-Sonnet"));  // case-sensitive
  EXPECT_FALSE(k.allows(""));
  k.allowed_models = std::vector<std::string>{"*"};
  EXPECT_TRUE(k.allows(""));
  EXPECT_TRUE(k.allows("x"));
  k.allowed_models = std::vector<std::string>{"a**?"};
  EXPECT_TRUE(k.allows("abc?"));
  EXPECT_FALSE(k.allows("abcd"));  // '?' is literal
  k.allowed_models = std::vector<std::string>{};
  EXPECT_FALSE(k.allows("gpt-4o"));
}

TEST(Allows, EmptyListIsRefusedByTheParser) {
  EXPECT_EQ(createError(R"({"allowed_models":[]})"),
            "allowed_models must be an array of 1 to 1000 model names, or null");
}

// ---- parseKeyCreate: fields.

TEST(ParseKeyCreate, EmptyBodyGivesAKeyWithNothingSet) {
  VirtualKey k = create("{}");
  EXPECT_EQ(k, VirtualKey{});
  EXPECT_TRUE(k.allows("any"));
}

TEST(ParseKeyCreate, EveryField) {
  VirtualKey k = fullKey();
  EXPECT_EQ(k.name, "ci");
  EXPECT_EQ(k.project_id, "p1");
  EXPECT_EQ(k.org_id, "o1");
  EXPECT_EQ(k.user_id, "u1");
  EXPECT_EQ(k.allowed_models, (std::vector<std::string>{"gpt-4o*", "claude-3-5-sonnet"}));
  EXPECT_EQ(k.rpm, 60);
  EXPECT_EQ(k.tpm, 100000);
  ASSERT_TRUE(k.budget);
  EXPECT_EQ(k.budget->usd, 12.5);
  EXPECT_EQ(k.budget->period, Period::kMonth);
  EXPECT_EQ(k.expires_at, 1893456000);
  EXPECT_FALSE(k.revoked());
}

TEST(ParseKeyCreate, NotAnObject) {
  for (std::string_view body : {"[]", "null", "1", "\"x\"", "true"}) {
    EXPECT_EQ(createError(body), "body must be a JSON object") << body;
  }
}

TEST(ParseKeyCreate, TextFields) {
  for (std::string field : {"name", "project_id", "org_id", "user_id"}) {
    EXPECT_EQ(createError("{\"" + field + "\":\"" + std::string(256, 'x') + "\"}"), "") << field;
    EXPECT_EQ(createError("{\"" + field + "\":\"\"}"), "") << field;
    EXPECT_EQ(createError("{\"" + field + "\":null}"), "") << field;
    for (const std::string& bad :
         std::vector<std::string>{"1", "true", "[\"a\"]", "{}", "\"" + std::string(257, 'x') + "\""}) {
      EXPECT_EQ(createError("{\"" + field + "\":" + bad + "}"),
                field + " must be a string of at most 256 bytes, or null")
          << bad;
    }
  }
  EXPECT_EQ(create(R"({"name":null})").name, "");
  EXPECT_EQ(create(R"({"project_id":null})").project_id, std::nullopt);
  EXPECT_EQ(create(R"({"user_id":"\u00e9"})").user_id, "\xc3\xa9");
}

TEST(ParseKeyCreate, AllowedModels) {
  EXPECT_EQ(create(R"({"allowed_models":null})").allowed_models, std::nullopt);
  EXPECT_EQ(create(R"({"allowed_models":["a"]})").allowed_models, std::vector<std::string>{"a"});
  json::array many;
  for (int i = 0; i < 1000; ++i) many.emplace_back("m" + std::to_string(i));
  EXPECT_TRUE(parseKeyCreate(json::value{{"allowed_models", many}}, kNow));
  many.emplace_back("one-too-many");
  auto r = parseKeyCreate(json::value{{"allowed_models", many}}, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(param(r.error().message), "allowed_models");
  for (std::string_view bad : {"\"gpt-4o\"", "{}", "1", "[]"})
    EXPECT_EQ(createError("{\"allowed_models\":" + std::string(bad) + "}"),
              "allowed_models must be an array of 1 to 1000 model names, or null")
        << bad;
  EXPECT_EQ(createError(R"({"allowed_models":["a",""]})"),
            "allowed_models must hold non-empty strings of at most 256 bytes (item 1, counting from 0, is not)");
  for (const std::string& bad :
       std::vector<std::string>{"[null]", "[1]", "[[\"a\"]]", "[\"" + std::string(257, 'm') + "\"]"})
    EXPECT_EQ(param(createError("{\"allowed_models\":" + bad + "}")), "allowed_models") << bad;
}

TEST(ParseKeyCreate, Limits) {
  VirtualKey k = create(R"({"limits":{"rpm":1,"tpm":1000000000000}})");
  EXPECT_EQ(k.rpm, 1);
  EXPECT_EQ(k.tpm, 1'000'000'000'000);
  k = create(R"({"limits":{"rpm":5}})");
  EXPECT_EQ(k.rpm, 5);
  EXPECT_EQ(k.tpm, std::nullopt);
  k = create(R"({"limits":{"rpm":null,"tpm":null}})");
  EXPECT_EQ(k.rpm, std::nullopt);
  EXPECT_EQ(create(R"({"limits":null})").rpm, std::nullopt);
  EXPECT_EQ(create(R"({"limits":{}})").rpm, std::nullopt);
  for (std::string_view bad : {"0", "-1", "1000000000001", "10.0", "1e3", "1.5", "\"10\"", "true", "[]",
                               "18446744073709551615", "-9223372036854775808"}) {
    EXPECT_EQ(createError("{\"limits\":{\"rpm\":" + std::string(bad) + "}}"),
              "limits.rpm must be an integer from 1 to 1000000000000, or null")
        << bad;
    EXPECT_EQ(param(createError("{\"limits\":{\"tpm\":" + std::string(bad) + "}}")), "limits.tpm") << bad;
  }
  EXPECT_EQ(createError(R"({"limits":5})"), "limits must be an object with rpm and tpm, or null");
  EXPECT_EQ(createError(R"({"limits":[1]})"), "limits must be an object with rpm and tpm, or null");
  EXPECT_EQ(createError(R"({"limits":{"rmp":5}})"), "limits.rmp is not a field of limits");
}

TEST(ParseKeyCreate, Budget) {
  VirtualKey k = create(R"({"budget":{"usd":10}})");
  ASSERT_TRUE(k.budget);
  EXPECT_EQ(*k.budget, (Budget{10, Period::kTotal}));
  EXPECT_EQ(*create(R"({"budget":{"usd":0,"period":"day"}})").budget, (Budget{0, Period::kDay}));
  EXPECT_EQ(*create(R"({"budget":{"period":"month","usd":0.25}})").budget, (Budget{0.25, Period::kMonth}));
  EXPECT_EQ(*create(R"({"budget":{"usd":1e12}})").budget, (Budget{1e12, Period::kTotal}));
  EXPECT_EQ(*create(R"({"budget":{"usd":1000000000000}})").budget, (Budget{1e12, Period::kTotal}));
  EXPECT_FALSE(std::signbit(create(R"({"budget":{"usd":-0.0}})").budget->usd));
  EXPECT_EQ(create(R"({"budget":null})").budget, std::nullopt);
  for (std::string_view bad : {"-1", "-0.01", "1000000000000.5", "1e13", "\"5\"", "null", "true", "1e999"})
    EXPECT_EQ(createError("{\"budget\":{\"usd\":" + std::string(bad) + "}}"),
              "budget.usd must be a number from 0 to 1000000000000")
        << bad;
  for (std::string_view bad : {"\"week\"", "\"Day\"", "null", "1", "\"\""})
    EXPECT_EQ(createError("{\"budget\":{\"usd\":1,\"period\":" + std::string(bad) + "}}"),
              "budget.period must be day, month or total")
        << bad;
  EXPECT_EQ(createError(R"({"budget":{"period":"day"}})"), "budget.usd is required");
  EXPECT_EQ(createError(R"({"budget":{}})"), "budget.usd is required");
  EXPECT_EQ(createError(R"({"budget":5})"), "budget must be an object with usd and period, or null");
  EXPECT_EQ(createError(R"({"budget":{"usd":1,"scope":"x"}})"), "budget.scope is not a field of a budget");
}

TEST(ParseKeyCreate, ExpiresAtAsUnixSeconds) {
  EXPECT_EQ(create(R"({"expires_at":1893456000})").expires_at, 1893456000);
  EXPECT_EQ(create(R"({"expires_at":253402300799})").expires_at, 253402300799);
  EXPECT_EQ(create(R"({"expires_at":null})").expires_at, std::nullopt);
  const std::string problem =
      "expires_at must be unix seconds from 1 to 253402300799, an RFC 3339 date-time such as "
      "2027-01-01T00:00:00Z, or null";
  for (std::string_view bad :
       {"253402300800", "1893456000.0", "1.893456e9", "true", "[]", "{}", "18446744073709551615", "0", "-5"})
    EXPECT_EQ(createError("{\"expires_at\":" + std::string(bad) + "}"), problem) << bad;
}

TEST(ParseKeyCreate, ExpiresAtInThePastOrNowIsRefused) {
  EXPECT_EQ(createError(R"({"expires_at":1})"), "expires_at is in the past");
  EXPECT_EQ(createError("{\"expires_at\":" + std::to_string(kNow) + "}"), "expires_at is in the past");
  EXPECT_EQ(createError("{\"expires_at\":" + std::to_string(kNow + 1) + "}"), "");
  EXPECT_EQ(createError(R"({"expires_at":"2026-12-06T09:59:59Z"})"), "expires_at is in the past");
  EXPECT_EQ(createError(R"({"expires_at":"2026-12-06T10:00:01Z"})"), "");
}

TEST(ParseKeyCreate, ExpiresAtAsRfc3339) {
  EXPECT_EQ(expiryOf("2027-01-01T00:00:00Z"), 1798761600);
  EXPECT_EQ(expiryOf("2027-01-01t00:00:00z"), 1798761600);
  EXPECT_EQ(expiryOf("2027-01-01T01:00:00+01:00"), 1798761600);
  EXPECT_EQ(expiryOf("2026-12-31T18:30:00-05:30"), 1798761600);
  EXPECT_EQ(expiryOf("2026-12-31T23:59:59.999999Z"), 1798761599);  // the fraction is dropped
  EXPECT_EQ(expiryOf("2026-12-31T23:59:59.5+00:00"), 1798761599);
  EXPECT_EQ(expiryOf("2026-12-31T23:59:60Z"), 1798761599);  // a leap second reads as :59
  EXPECT_EQ(expiryOf("2024-02-29T12:00:00Z"), 1709208000);
  EXPECT_EQ(expiryOf("2000-02-29T00:00:00Z"), 951782400);
  EXPECT_EQ(expiryOf("9999-12-31T23:59:59Z"), 253402300799);
  EXPECT_EQ(expiryOf("1970-01-01T00:00:01Z"), 1);
  EXPECT_EQ(expiryOf("2026-12-31T23:59:59-00:00"), 1798761599);
}

TEST(ParseKeyCreate, InvalidRfc3339) {
  for (std::string_view bad : {"2026-02-30T00:00:00Z",
                               "2026-02-29T00:00:00Z",
                               "2100-02-29T00:00:00Z",
                               "2026-04-31T00:00:00Z",
                               "2026-13-01T00:00:00Z",
                               "2026-00-10T00:00:00Z",
                               "2026-01-00T00:00:00Z",
                               "2026-01-01T24:00:00Z",
                               "2026-01-01T23:60:00Z",
                               "2026-01-01T23:59:61Z",
                               "2026-01-01T00:00:00",
                               "2026-01-01 00:00:00Z",
                               "2026-01-01T00:00:00.Z",
                               "2026-01-01T00:00:00+0100",
                               "2026-01-01T00:00:00+24:00",
                               "2026-01-01T00:00:00+01:60",
                               "2026-01-01T00:00:00Zjunk",
                               "2026-01-01",
                               "26-01-01T00:00:00Z",
                               "2026-1-01T00:00:00Z",
                               "+2026-01-01T00:00:00Z",
                               "9999-12-31T23:59:59-00:01",
                               "1970-01-01T00:00:00Z",
                               "1969-12-31T23:59:59Z",
                               "0000-01-01T00:00:00Z",
                               "",
                               "tomorrow",
                               "2026-01-01T00:00:00 Z",
                               "2026-01-01T00:00:00z ",
                               "\xef\xbc\x92\xef\xbc\x90\xef\xbc\x92\xef\xbc\x96-01-01"}) {
    EXPECT_EQ(expiryOf(bad), std::nullopt) << bad;
    EXPECT_EQ(param(createError(json::serialize(json::value{{"expires_at", bad}}), 0)), "expires_at") << bad;
  }
}

// ---- Unknown, read-only and secret fields.

TEST(ParseKeyCreate, UnknownFieldsAreRefusedByName) {
  EXPECT_EQ(createError(R"({"rmp":5})"), "rmp is not a field of a key");
  EXPECT_EQ(createError(R"({"name":"a","Name":"b"})"), "Name is not a field of a key");
  EXPECT_EQ(createError(R"({"":1})"), "'' is not a field of a key");
  EXPECT_EQ(createError(R"({"two words\n":1})"), "two?words? is not a field of a key");
}

TEST(ParseKeyCreate, ReadOnlyMembersAreIgnored) {
  VirtualKey k = create(R"({"id":"vk_x","object":"list","created_at":"never","revoked":true,
      "revoked_at":5,"usage":{"requests":1},"name":"n"})");
  EXPECT_EQ(k.id, "");
  EXPECT_EQ(k.created_at, 0);
  EXPECT_FALSE(k.revoked());
  EXPECT_EQ(k.name, "n");
}

TEST(ParseKeyCreate, KeyAndHashAreRefused) {
  const std::string secret = "gw-" + std::string(64, 'a');
  std::string m = createError("{\"key\":\"" + secret + "\"}");
  EXPECT_EQ(m, "key cannot be set: the gateway generates keys");
  m = createError("{\"hash\":\"" + std::string(64, 'b') + "\"}");
  EXPECT_EQ(m, "hash cannot be set: the gateway generates keys");
  EXPECT_EQ(param(createError(R"({"key":null})")), "key");
}

TEST(ParseKeyCreate, MessagesNeverHoldALongValue) {
  const std::string longer(300, 'q');
  const std::string long_name(1000, 'z');
  for (const std::string& body :
       {"{\"name\":\"" + longer + "\"}", "{\"allowed_models\":[\"" + longer + "\"]}",
        "{\"budget\":{\"usd\":1,\"period\":\"" + longer + "\"}}", "{\"expires_at\":\"" + longer + "\"}",
        "{\"" + long_name + "\":1}", "{\"limits\":{\"" + long_name + "\":1}}", "{\"budget\":{\"" + long_name + "\":1}}",
        "{\"key\":\"" + longer + "\"}"}) {
    std::string m = createError(body);
    ASSERT_FALSE(m.empty());
    EXPECT_EQ(m.find(std::string(65, 'z')), std::string::npos) << m;
    EXPECT_EQ(m.find("qqqq"), std::string::npos) << m;
    EXPECT_LT(m.size(), 200u) << m;
  }
  EXPECT_EQ(createError("{\"" + long_name + "\":1}"), std::string(64, 'z') + "... is not a field of a key");
}

// ---- parseKeyPatch.

TEST(ParseKeyPatch, OnlyTheFieldsPresentChange) {
  const VirtualKey current = fullKey();
  auto r = parseKeyPatch(parse(R"({"name":"renamed"})"), current, kNow);
  ASSERT_TRUE(r);
  VirtualKey expected = current;
  expected.name = "renamed";
  EXPECT_EQ(*r, expected);
  EXPECT_EQ(*parseKeyPatch(parse("{}"), current, kNow), current);
}

TEST(ParseKeyPatch, NullClears) {
  auto r = parseKeyPatch(parse(R"({"name":null,"project_id":null,"org_id":null,"user_id":null,
      "allowed_models":null,"limits":null,"budget":null,"expires_at":null})"),
                         fullKey(), kNow);
  ASSERT_TRUE(r);
  VirtualKey expected;
  expected.id = fullKey().id;
  expected.hash = fullKey().hash;
  expected.created_at = fullKey().created_at;
  EXPECT_EQ(*r, expected);
}

TEST(ParseKeyPatch, LimitsMergeAndBudgetIsReplacedWhole) {
  const VirtualKey current = fullKey();
  auto r = parseKeyPatch(parse(R"({"limits":{"tpm":5}})"), current, kNow);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rpm, 60);
  EXPECT_EQ(r->tpm, 5);
  r = parseKeyPatch(parse(R"({"limits":{"rpm":null}})"), current, kNow);
  EXPECT_EQ(r->rpm, std::nullopt);
  EXPECT_EQ(r->tpm, 100000);
  r = parseKeyPatch(parse(R"({"limits":{}})"), current, kNow);
  EXPECT_EQ(r->rpm, 60);
  r = parseKeyPatch(parse(R"({"budget":{"usd":3}})"), current, kNow);
  EXPECT_EQ(r->budget, (Budget{3, Period::kTotal}));  // the month period is not kept
}

TEST(ParseKeyPatch, SameChecksAndNothingAppliedOnError) {
  const VirtualKey current = fullKey();
  auto r = parseKeyPatch(parse(R"({"name":"x","limits":{"rpm":0}})"), current, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "limits.rpm must be an integer from 1 to 1000000000000, or null");
  EXPECT_EQ(parseKeyPatch(parse(R"({"hash":"x"})"), current, kNow).error().message,
            "hash cannot be set: the gateway generates keys");
  EXPECT_EQ(parseKeyPatch(parse(R"({"expires_at":5})"), current, kNow).error().message, "expires_at is in the past");
  EXPECT_EQ(parseKeyPatch(parse("[]"), current, kNow).error().message, "body must be a JSON object");
}

TEST(ParseKeyPatch, AKeyReadBackCanBeSentAgainEvenOnceExpired) {
  VirtualKey current = fullKey();
  current.revoked_at = kNow;
  const std::int64_t later = *current.expires_at + 10;  // the key has expired
  auto r = parseKeyPatch(toAdminJson(current), current, later);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, current);
  // Another expiry in the past is still refused.
  json::object body = toAdminJson(current);
  body["expires_at"] = *current.expires_at - 1;
  EXPECT_FALSE(parseKeyPatch(body, current, later));
}

// ---- parseBudget.

TEST(ParseBudget, BodyOfPutBudgets) {
  EXPECT_EQ(*parseBudget(parse(R"({"usd":50,"period":"day"})")), (Budget{50, Period::kDay}));
  EXPECT_EQ(*parseBudget(parse(R"({"usd":0.5})")), (Budget{0.5, Period::kTotal}));
  // What GET shows can be sent again.
  EXPECT_EQ(*parseBudget(parse(R"({"object":"budget","scope":"project","id":"p1","usd":2,"period":"month",
      "usage":{"requests":3}})")),
            (Budget{2, Period::kMonth}));
  EXPECT_EQ(parseBudget(parse(R"({"period":"day"})")).error().message, "usd is required");
  EXPECT_EQ(parseBudget(parse(R"({"usd":-1})")).error().message, "usd must be a number from 0 to 1000000000000");
  EXPECT_EQ(parseBudget(parse(R"({"usd":1,"period":"year"})")).error().message, "period must be day, month or total");
  EXPECT_EQ(parseBudget(parse(R"({"usd":1,"rpm":1})")).error().message, "rpm is not a field of a budget");
  EXPECT_EQ(parseBudget(parse("[]")).error().message, "body must be a JSON object");
  EXPECT_EQ(parseBudget(parse("[]")).error().code, "invalid_request");
}

// ---- JSON forms.

TEST(AdminJson, EveryMemberAlwaysAndNeverTheHash) {
  VirtualKey k;
  k.id = "vk_0123456789abcdef01234567";
  k.hash = std::string(64, 'a');
  k.created_at = 7;
  EXPECT_EQ(json::serialize(toAdminJson(k)),
            R"({"id":"vk_0123456789abcdef01234567","object":"virtual_key","name":null,"project_id":null,)"
            R"("org_id":null,"user_id":null,"allowed_models":null,"limits":{"rpm":null,"tpm":null},)"
            R"("budget":null,"expires_at":null,"created_at":7,"revoked":false,"revoked_at":null})");
  const json::object full = toAdminJson(fullKey());
  EXPECT_EQ(json::serialize(full.at("budget")), R"({"usd":1.25E1,"period":"month"})");
  EXPECT_EQ(json::serialize(full.at("limits")), R"({"rpm":60,"tpm":100000})");
  EXPECT_EQ(json::serialize(full.at("allowed_models")), R"(["gpt-4o*","claude-3-5-sonnet"])");
  EXPECT_FALSE(full.contains("hash"));
  EXPECT_FALSE(full.contains("key"));
  EXPECT_EQ(toStoredJson(fullKey()).at("hash"), json::value(hashKey("gw-test")));
}

TEST(AdminJson, WholeDollarsAreIntegers) {
  EXPECT_EQ(json::serialize(toAdminJson(Budget{10, Period::kDay})), R"({"usd":10,"period":"day"})");
  EXPECT_EQ(json::serialize(toAdminJson(Budget{1e12, Period::kTotal})), R"({"usd":1000000000000,"period":"total"})");
  EXPECT_EQ(json::serialize(toAdminJson(Budget{0, Period::kTotal})), R"({"usd":0,"period":"total"})");
}

TEST(StoredJson, RoundTrips) {
  VirtualKey k = fullKey();
  EXPECT_EQ(*fromStoredJson(toStoredJson(k)), k);
  k.revoked_at = kNow + 5;
  k.expires_at = 1;  // stored keys may have expired
  k.budget = Budget{0.1, Period::kDay};
  EXPECT_EQ(*fromStoredJson(toStoredJson(k)), k);
  // Through text too.
  EXPECT_EQ(*fromStoredJson(json::parse(json::serialize(toStoredJson(k)))), k);
  VirtualKey bare;
  bare.id = generateKeyId();
  bare.hash = hashKey(generateKey());
  EXPECT_EQ(*fromStoredJson(toStoredJson(bare)), bare);
}

TEST(StoredJson, CorruptFormsAreRefused) {
  const json::object good = toStoredJson(fullKey());
  auto refusal = [&](std::string_view member, json::value v) {
    json::object o = good;
    if (v.is_string() && v.as_string() == "<remove>")
      o.erase(member);
    else
      o[member] = std::move(v);
    auto r = fromStoredJson(o);
    return r ? std::string() : r.error().message;
  };
  EXPECT_EQ(refusal("id", "<remove>"), "id is required");
  EXPECT_EQ(refusal("hash", "<remove>"), "hash is required");
  EXPECT_EQ(refusal("created_at", "<remove>"), "created_at is required");
  EXPECT_EQ(refusal("id", "vk_0123"), "id must be vk_ followed by 24 lowercase hex digits");
  EXPECT_EQ(refusal("id", "vk_0123456789ABCDEF01234567"), "id must be vk_ followed by 24 lowercase hex digits");
  EXPECT_EQ(refusal("id", 5), "id must be vk_ followed by 24 lowercase hex digits");
  EXPECT_EQ(refusal("hash", json::string(63, 'a')), "hash must be 64 lowercase hex digits");
  EXPECT_EQ(refusal("hash", json::string(64, 'g')), "hash must be 64 lowercase hex digits");
  EXPECT_EQ(refusal("created_at", 1.5), "created_at must be unix seconds from 0 to 253402300799");
  EXPECT_EQ(refusal("created_at", -1), "created_at must be unix seconds from 0 to 253402300799");
  EXPECT_EQ(refusal("created_at", nullptr), "created_at must be unix seconds from 0 to 253402300799");
  EXPECT_EQ(refusal("revoked_at", "x"), "revoked_at must be unix seconds from 0 to 253402300799, or null");
  EXPECT_EQ(refusal("revoked", "no"), "revoked must be true or false");
  EXPECT_EQ(refusal("revoked", true), "revoked must be true exactly when revoked_at is set");
  EXPECT_EQ(refusal("object", "budget"), "object must be virtual_key");
  EXPECT_EQ(refusal("key", "gw-x"), "key cannot be set: the gateway generates keys");
  EXPECT_EQ(refusal("limits", json::object{{"rpm", 0}}),
            "limits.rpm must be an integer from 1 to 1000000000000, or null");
  EXPECT_EQ(refusal("budget", json::object{{"usd", -1}}), "budget.usd must be a number from 0 to 1000000000000");
  EXPECT_EQ(refusal("extra", 1), "extra is not a field of a key");
  EXPECT_EQ(refusal("usage", json::object{}), "");
  EXPECT_EQ(refusal("object", "<remove>"), "");
  EXPECT_EQ(refusal("revoked", "<remove>"), "");
  EXPECT_EQ(fromStoredJson(json::value(json::array{})).error().message, "body must be a JSON object");
}

}  // namespace
}  // namespace gw::keys
