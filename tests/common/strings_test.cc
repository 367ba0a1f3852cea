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

// The word-at-a-time check against the byte-at-a-time definition: every
// byte value at every position of strings of 0-24 bytes (both sides of each
// 8-byte word and the tail), on fillers of plain, high and boundary bytes
// (a borrow from one byte must not hide or fake another's match).
TEST(Strings, HeaderUnsafeBytesMatchesTheDefinitionEverywhere) {
  auto reference = [](std::string_view s) {
    for (char c : s)
      if (c == '\r' || c == '\n' || c == '\0') return true;
    return false;
  };
  for (char filler : {'a', '\x01', '\x0b', '\x0e', '\x80', '\xff'}) {
    for (std::size_t len = 0; len <= 24; ++len) {
      std::string s(len, filler);
      ASSERT_EQ(hasHeaderUnsafeBytes(s), reference(s)) << len;
      for (std::size_t at = 0; at < len; ++at) {
        for (int b = 0; b < 256; ++b) {
          std::string t = s;
          t[at] = static_cast<char>(b);
          ASSERT_EQ(hasHeaderUnsafeBytes(t), reference(t)) << "len " << len << " at " << at << " byte " << b;
        }
      }
    }
  }
}

TEST(Strings, FindHeadEndFindsTheFirstBlankLine) {
  EXPECT_EQ(findHeadEnd("HTTP/1.1 200 OK\r\n\r\n"), 19u);
  EXPECT_EQ(findHeadEnd("HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody\r\n\r\n"), 25u);
  EXPECT_EQ(findHeadEnd("\r\n\r\n"), 4u);
  EXPECT_EQ(findHeadEnd("\n\r\n\r\n"), 5u);
  EXPECT_EQ(findHeadEnd("HTTP/1.1 200 OK\r\nA: b\r\n"), std::string_view::npos);
  EXPECT_EQ(findHeadEnd("A\n\nB\r\n\nC\n\r\n"), std::string_view::npos);  // bare LFs are not a blank line
  EXPECT_EQ(findHeadEnd("\r\n\r"), std::string_view::npos);
  EXPECT_EQ(findHeadEnd(""), std::string_view::npos);
  // Against the plain search, at every length of a head with a body.
  std::string bytes = "HTTP/1.1 200 OK\r\nX: \r\r\n\nY: z\r\n\r\n{}\r\n\r\n";
  for (std::size_t n = 0; n <= bytes.size(); ++n) {
    std::string_view v = std::string_view(bytes).substr(0, n);
    std::size_t at = v.find("\r\n\r\n");
    EXPECT_EQ(findHeadEnd(v), at == std::string_view::npos ? at : at + 4) << n;
  }
}

TEST(Strings, AppendPiecesConcatenatesInOrder) {
  std::string out = "HTTP/1.1 ";
  std::string status = "200";
  std::string_view reason = "OK";
  appendPieces(out, status, " ", reason, "\r\n");
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\n");
  appendPieces(out, std::string_view(), "", std::string("x-a: b\r\n"));
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nx-a: b\r\n");
  std::string big(5000, 'z');
  appendPieces(out, big, "!");
  EXPECT_EQ(out.size(), 17u + 8u + 5001u);
  EXPECT_EQ(out.substr(25, 3), "zzz");
  EXPECT_EQ(out.back(), '!');
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
