// buildResponseHead (src/server/gateway_server.cc): the exact bytes of the
// heads the gateway writes, for each combination of its optional parts.
#include "server/server_internal.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace gw::server {
namespace {

TEST(ResponseHead, JsonWithLengthKeptAlive) {
  ResponseHeadParams p;
  p.status = 200;
  p.content_type = "application/json";
  p.content_length = 945;
  p.request_id = "req-1";
  EXPECT_EQ(buildResponseHead(p),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 945\r\nx-request-id: req-1\r\n\r\n");
}

TEST(ResponseHead, ChunkedStreamWithCorsExtraHeadersAndClose) {
  std::vector<std::pair<std::string, std::string>> extra = {{"x-ratelimit-remaining", "9"}, {"Retry-After", "3"}};
  ResponseHeadParams p;
  p.status = 429;
  p.content_type = "text/event-stream";
  p.request_id = "abc";
  p.keep_alive = false;
  p.cors_origin = "https://app.example";
  p.extra = &extra;
  EXPECT_EQ(buildResponseHead(p),
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
            "x-request-id: abc\r\nAccess-Control-Allow-Origin: https://app.example\r\n"
            "Access-Control-Expose-Headers: x-request-id\r\nVary: Origin\r\n"
            "x-ratelimit-remaining: 9\r\nRetry-After: 3\r\nConnection: close\r\n\r\n");
}

TEST(ResponseHead, ARoutedAnswerNamesItsTargetAndExposesTheHeaders) {
  RoutedBy routed{"anthropic", "claude-sonnet-4-5", 3};
  ResponseHeadParams p;
  p.status = 200;
  p.content_type = "application/json";
  p.content_length = 2;
  p.request_id = "r";
  p.cors_origin = "*";
  p.routed_by = &routed;
  EXPECT_EQ(buildResponseHead(p),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nx-request-id: r\r\n"
            "Access-Control-Allow-Origin: *\r\n"
            "Access-Control-Expose-Headers: x-request-id, x-gateway-provider, x-gateway-model, x-gateway-attempts\r\n"
            "x-gateway-provider: anthropic\r\nx-gateway-model: claude-sonnet-4-5\r\nx-gateway-attempts: 3\r\n\r\n");
}

TEST(ResponseHead, NoTypeAnyOriginAndAnUnknownStatus) {
  ResponseHeadParams p;
  p.status = 520;
  p.content_length = 0;
  p.request_id = "id";
  p.cors_origin = "*";
  EXPECT_EQ(buildResponseHead(p),
            "HTTP/1.1 520 Unknown\r\nContent-Length: 0\r\nx-request-id: id\r\nAccess-Control-Allow-Origin: *\r\n"
            "Access-Control-Expose-Headers: x-request-id\r\n\r\n");
}

}  // namespace
}  // namespace gw::server
