// parseRedisUrl: every accepted form, and errors that name REDIS_URL and
// never hold the password.
#include "state/redis_url.h"

#include <gtest/gtest.h>

namespace gw::state {
namespace {

RedisEndpoint parse(std::string_view url) {
  auto r = parseRedisUrl(url);
  EXPECT_TRUE(r) << url << ": " << (r ? "" : r.error().message);
  return r ? *r : RedisEndpoint{};
}

TEST(RedisUrl, HostAlonePortAndDbDefault) {
  auto e = parse("redis://localhost");
  EXPECT_FALSE(e.tls);
  EXPECT_EQ(e.host, "localhost");
  EXPECT_EQ(e.port, 6379);
  EXPECT_EQ(e.db, 0u);
  EXPECT_EQ(e.user, "");
  EXPECT_EQ(e.password, "");
  EXPECT_EQ(parse("redis://localhost/").db, 0u);
}

TEST(RedisUrl, EveryPart) {
  auto e = parse("rediss://app:s3cret@cache.internal:6380/3");
  EXPECT_TRUE(e.tls);
  EXPECT_EQ(e.host, "cache.internal");
  EXPECT_EQ(e.port, 6380);
  EXPECT_EQ(e.user, "app");
  EXPECT_EQ(e.password, "s3cret");
  EXPECT_EQ(e.db, 3u);
  EXPECT_EQ(e.describe(), "rediss://cache.internal:6380/3");
}

TEST(RedisUrl, PasswordWithoutUser) {
  auto e = parse("redis://:only-pass@10.0.0.5");
  EXPECT_EQ(e.user, "");
  EXPECT_EQ(e.password, "only-pass");
  EXPECT_EQ(e.host, "10.0.0.5");
  // Empty userinfo: no credentials at all.
  auto none = parse("redis://:@10.0.0.5");
  EXPECT_EQ(none.password, "");
  auto at = parse("redis://@10.0.0.5");
  EXPECT_EQ(at.password, "");
}

TEST(RedisUrl, UserAndPasswordArePercentDecoded) {
  auto e = parse("redis://us%65r:p%40ss%3Aw%2Frd%25@h");
  EXPECT_EQ(e.user, "user");
  EXPECT_EQ(e.password, "p@ss:w/rd%");
}

TEST(RedisUrl, Ipv6) {
  auto e = parse("redis://[::1]:6390/2");
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, 6390);
  EXPECT_EQ(e.db, 2u);
  EXPECT_EQ(e.describe(), "redis://[::1]:6390/2");
  EXPECT_EQ(parse("rediss://:pw@[2001:db8::7]").host, "2001:db8::7");
}

TEST(RedisUrl, SchemeIsCaseInsensitive) { EXPECT_TRUE(parse("REDISS://h").tls); }

TEST(RedisUrl, LargestDb) { EXPECT_EQ(parse("redis://h/2147483647").db, 2147483647u); }

TEST(RedisUrl, Errors) {
  struct Case {
    const char* url;
    const char* says;
  };
  const Case cases[] = {
      {"", "not a valid URL"},
      {"localhost:6379", "scheme"},
      {"http://h", "scheme"},
      {"unix:///tmp/redis.sock", "scheme"},
      {"redis:/h", "missing host"},
      {"redis://", "missing host"},
      {"redis://:pw@", "missing host"},
      {"redis://h:0", "invalid port"},
      {"redis://h:65536", "invalid port"},
      {"redis://h:99999999999999999999", "invalid port"},
      {"redis://h:port", "invalid port"},
      {"redis://h/x", "/<database number>"},
      {"redis://h/-1", "/<database number>"},
      {"redis://h/1/2", "/<database number>"},
      {"redis://h/2147483648", "/<database number>"},
      {"redis://h//", "/<database number>"},
      {"redis://h?db=2", "query"},
      {"redis://h/0?ssl_cert_reqs=none", "query"},
      {"redis://h#frag", "fragment"},
      {"redis://user@h", "a user needs a password"},
      {"redis://user:@h", "a user needs a password"},
      {"redis://[v1.x]/", "unsupported host"},
      {"redis://h%00x", "invalid host"},
      {"redis://a b", "not a valid URL"},
  };
  for (const auto& c : cases) {
    auto r = parseRedisUrl(c.url);
    ASSERT_FALSE(r) << c.url;
    EXPECT_EQ(r.error().message.rfind("REDIS_URL: ", 0), 0u) << r.error().message;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << c.url << " -> " << r.error().message;
    EXPECT_EQ(r.error().code, "REDIS_URL");
  }
}

TEST(RedisUrl, ErrorsNeverHoldThePassword) {
  const char* secret = "Hunter2-Secret";
  const std::string bad[] = {
      std::string("redis://u:") + secret + "@h:0",   std::string("redis://u:") + secret + "@h/x",
      std::string("redis://u:") + secret + "@h?x=1",
      std::string("redis://u:") + secret + "%zz@h",  // bad escape
      std::string("redis://u:") + secret + " @h",    std::string("ftp://u:") + secret + "@h",
  };
  for (const auto& url : bad) {
    auto r = parseRedisUrl(url);
    ASSERT_FALSE(r) << url;
    EXPECT_EQ(r.error().message.find(secret), std::string::npos) << r.error().message;
  }
  auto ok = parseRedisUrl(std::string("redis://u:") + secret + "@h");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->describe().find(secret), std::string::npos);
}

}  // namespace
}  // namespace gw::state
