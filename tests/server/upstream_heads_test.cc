// The operator's headers for a provider (ProviderConfig::upstream_headers)
// added to the request prepare() built (src/server/upstream_heads.h), and
// the request head the gateway then writes.
#include "server/upstream_heads.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace gw::server {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

TEST(ConfiguredHeaders, AreAppendedAfterTheProvidersOwn) {
  Headers headers = {{"authorization", "Bearer sk-op"}, {"content-type", "application/json"}};
  addConfiguredHeaders({{"x-team", "research"}, {"x-budget", "42"}}, headers);
  EXPECT_EQ(headers, (Headers{{"authorization", "Bearer sk-op"},
                              {"content-type", "application/json"},
                              {"x-team", "research"},
                              {"x-budget", "42"}}));
}

// A header the client sent and the provider forwarded (once or more) gives
// way to the operator's: the upstream sees one value, the configured one.
TEST(ConfiguredHeaders, ReplaceEveryHeaderOfTheirName) {
  Headers headers = {{"x-team", "client-a"}, {"authorization", "Bearer k"}, {"x-team", "client-b"}};
  addConfiguredHeaders({{"x-team", "research"}}, headers);
  EXPECT_EQ(headers, (Headers{{"authorization", "Bearer k"}, {"x-team", "research"}}));
}

TEST(ConfiguredHeaders, NoneLeaveTheRequestAsItIs) {
  Headers headers = {{"x-api-key", "k"}, {"anthropic-version", "2023-06-01"}};
  const Headers before = headers;
  addConfiguredHeaders({}, headers);
  EXPECT_EQ(headers, before);
}

TEST(ConfiguredHeaders, GoIntoTheRequestHead) {
  UpstreamRequest up;
  up.endpoint.tls = false;
  up.endpoint.host = "10.0.0.5";
  up.endpoint.port = 8000;
  up.method = "POST";
  up.target = "/v1/chat/completions";
  up.headers = {{"authorization", "Bearer sk-op"}, {"x-team", "client"}};
  addConfiguredHeaders({{"x-team", "research"}}, up.headers);
  auto head = upstreamRequestHead(up, "{}");
  ASSERT_TRUE(head);
  EXPECT_EQ(*head,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 10.0.0.5:8000\r\nauthorization: Bearer sk-op\r\n"
            "x-team: research\r\nAccept-Encoding: identity\r\nContent-Length: 2\r\n\r\n");
}

}  // namespace
}  // namespace gw::server
