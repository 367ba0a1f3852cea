#include "providers/common/forwarding.h"

#include <gtest/gtest.h>

namespace gw::providers {
namespace {

TEST(Forwarding, GatewayOnlyHeadersNeverGoUpstream) {
  for (std::string_view name : {"connection", "keep-alive", "transfer-encoding", "host", "content-length",
                                "accept-encoding", "x-gateway-key", "x-provider", "expect", "x-aws-region",
                                "x-aws-secret-access-key"})
    EXPECT_TRUE(isGatewayOnlyHeader(name)) << name;
  for (std::string_view name : {"authorization", "content-type", "openai-organization", "x-api-key", "x-aws"})
    EXPECT_FALSE(isGatewayOnlyHeader(name)) << name;
}

TEST(Forwarding, BearerToken) {
  EXPECT_EQ(bearerToken("Bearer sk-1"), "sk-1");
  EXPECT_EQ(bearerToken("  bearer   sk-2  "), "sk-2");
  EXPECT_EQ(bearerToken("Basic abc"), "");
  EXPECT_EQ(bearerToken("Bearer "), "");
  EXPECT_EQ(bearerToken(""), "");
}

}  // namespace
}  // namespace gw::providers
