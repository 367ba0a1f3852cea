#include "common/strings.h"

#include <gtest/gtest.h>

namespace gw {
namespace {

TEST(Strings, SplitListTrimsAndDropsEmpty) {
  EXPECT_EQ(splitList(" a, b ,,c ,", ','), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(splitList("", ',').empty());
}

TEST(Strings, CaseInsensitiveEquals) {
  EXPECT_TRUE(iequals("Content-Type", "content-type"));
  EXPECT_FALSE(iequals("Content-Type", "content-typ"));
}

TEST(Strings, ConstantTimeEquals) {
  EXPECT_TRUE(constantTimeEquals("secret", "secret"));
  EXPECT_FALSE(constantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(constantTimeEquals("secret", "secret2"));
  EXPECT_TRUE(constantTimeEquals("", ""));
}

TEST(Strings, HeaderUnsafeBytes) {
  EXPECT_TRUE(hasHeaderUnsafeBytes("a\r\nX-Injected: 1"));
  EXPECT_TRUE(hasHeaderUnsafeBytes(std::string_view("a\0b", 3)));
  EXPECT_FALSE(hasHeaderUnsafeBytes("Bearer sk-abc"));
}

}  // namespace
}  // namespace gw

namespace gw {
namespace {

TEST(Utf8, ValidationFollowsRfc3629) {
  EXPECT_TRUE(isValidUtf8(""));
  EXPECT_TRUE(isValidUtf8("plain ascii"));
  EXPECT_TRUE(isValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));  // é € 😀
  EXPECT_FALSE(isValidUtf8("org-\xff\xfe"));
  EXPECT_FALSE(isValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(isValidUtf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(isValidUtf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(isValidUtf8("\xF4\x90\x80\x80"));  // beyond U+10FFFF
  EXPECT_FALSE(isValidUtf8("\xE2\x82"));          // cut short
  EXPECT_FALSE(isValidUtf8("\x80"));              // stray continuation byte
}

TEST(Utf8, InvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(toValidUtf8("org-\xff\xfe"), "org-\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(toValidUtf8("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(toValidUtf8("a\xE2\x82" "b"), "a\xEF\xBF\xBD\xEF\xBF\xBD" "b");
  EXPECT_TRUE(isValidUtf8(toValidUtf8("\xF0\x9F\x98")));
}

}  // namespace
}  // namespace gw

#include "common/saturating.h"

namespace gw {
namespace {

TEST(Saturating, SumsAndConversionsNeverOverflow) {
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  EXPECT_EQ(saturatingAdd(2, 3), 5);
  EXPECT_EQ(saturatingAdd(kMax, 1), kMax);
  EXPECT_EQ(saturatingAdd(kMin, -1), kMin);
  EXPECT_EQ(saturatingInt64(1e300), kMax);
  EXPECT_EQ(saturatingInt64(-1e300), kMin);
  EXPECT_EQ(saturatingInt64(std::nan("")), 0);
  EXPECT_EQ(saturatingInt64(42.9), 42);
  EXPECT_EQ(saturatingInt64(std::uint64_t{18446744073709551615ull}), kMax);
}

}  // namespace
}  // namespace gw
