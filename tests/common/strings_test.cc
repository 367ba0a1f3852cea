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
