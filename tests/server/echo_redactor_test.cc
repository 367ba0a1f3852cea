// EchoRedactor: credentials echoed in a body are masked wherever the body
// is split, and the body keeps its length.
#include "server/echo_redactor.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace gw::server {
namespace {

// Runs `body` through a redactor in pieces of `piece` bytes.
std::string filtered(const std::vector<std::string_view>& secrets, std::string_view body, std::size_t piece) {
  EchoRedactor echo(secrets);
  std::string out;
  for (std::size_t at = 0; at < body.size(); at += piece) out.append(echo.filter(body.substr(at, piece), false));
  out.append(echo.filter({}, true));
  return out;
}

TEST(EchoRedactor, MasksEveryEchoAtEverySplitKeepingTheLength) {
  const std::string key = "sk-test-SECRET-9f8e7d6c5b4a";
  const std::string other = "AKIAEXAMPLETOKEN1234";
  const std::vector<std::string_view> secrets{key, other};
  const std::string body = "{\"error\":\"Incorrect API key provided: Bearer " + key + "\",\"again\":\"" + key + key +
                           "\",\"token\":\"" + other + "\",\"near\":\"sk-test-SECRET-9f8e7d6c5b4\"}";
  const std::string masked = "[REDACTED]" + std::string(key.size() - 10, '*');
  const std::string expected = "{\"error\":\"Incorrect API key provided: Bearer " + masked + "\",\"again\":\"" + masked +
                               masked + "\",\"token\":\"" + "[REDACTED]" + std::string(other.size() - 10, '*') +
                               "\",\"near\":\"sk-test-SECRET-9f8e7d6c5b4\"}";
  for (std::size_t piece = 1; piece <= body.size(); ++piece) {
    std::string out = filtered(secrets, body, piece);
    ASSERT_EQ(out, expected) << "piece " << piece;
    ASSERT_EQ(out.size(), body.size());
  }
}

TEST(EchoRedactor, LeavesOtherBodiesAloneWithoutCopying) {
  const std::string key = "sk-test-SECRET-9f8e7d6c5b4a";
  const std::vector<std::string_view> secrets{key};
  EchoRedactor echo(secrets);
  std::string_view piece = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
  std::string_view out = echo.filter(piece, false);
  EXPECT_EQ(out.data(), piece.data()) << "the piece itself, not a copy";
  // A piece ending with what could begin the key is held back until the
  // next piece shows it is not the key.
  EXPECT_EQ(echo.filter("text sk-te", false), "text ");
  EXPECT_EQ(echo.filter("xt", false), "sk-text");
  EXPECT_EQ(echo.filter("tail sk", true), "tail sk") << "nothing is held at the end";
}

TEST(EchoRedactor, NoSecretsMeansNoWork) {
  const std::vector<std::string_view> none;
  EchoRedactor echo(none);
  std::string_view piece = "anything sk-";
  EXPECT_EQ(echo.filter(piece, false).data(), piece.data());
}

// findBytes against std::string_view::find for every needle position,
// haystack length and alignment around the 16- and 32-byte blocks, with near
// matches (first and last bytes right, a middle byte wrong) everywhere.
TEST(EchoRedactor, FindBytesAgreesWithAPlainSearch) {
  for (std::size_t m : {2, 3, 8, 15, 16, 17, 40}) {
    std::string needle;
    for (std::size_t k = 0; k < m; ++k) needle += static_cast<char>('a' + k % 26);
    std::string near = needle;
    if (m > 2) near[m / 2] = '#';
    for (std::size_t n = 0; n < 140; ++n) {  // past two AVX2 blocks
      for (std::size_t at = 0; at + m <= n + m; ++at) {
        std::string hay(n, 'x');
        for (std::size_t p = 0; p + m <= n; p += m + 1) hay.replace(p, m, near);
        if (at + m <= n) hay.replace(at, m, needle);
        const char* found = findBytes(hay, needle);
        const std::size_t want = hay.find(needle);
        ASSERT_EQ(found ? static_cast<std::size_t>(found - hay.data()) : std::string::npos, want)
            << "m " << m << " n " << n << " at " << at;
      }
    }
  }
}

}  // namespace
}  // namespace gw::server
