#include "providers/common/forwarding.h"

#include "common/strings.h"

namespace gw::providers {

bool isGatewayOnlyHeader(std::string_view n) {
  static constexpr std::string_view kNames[] = {
      "connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate",
      "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length", "accept-encoding",
      "x-gateway-key", "x-provider", "expect"};
  for (auto k : kNames)
    if (n == k) return true;
  return n.starts_with("x-aws-");
}

std::string_view bearerToken(std::string_view authorization) {
  std::string_view v = trim(authorization);
  if (v.size() > 7 && iequals(v.substr(0, 7), "bearer ")) return trim(v.substr(7));
  return {};
}

}  // namespace gw::providers
