// HttpRequestParser (src/server/http_request.h) against Beast's own
// request_parser<string_body>, driven as the session drives them: the whole
// head at once (putHead for the flat parser), then the body in pieces of
// every size. Same method, target, version, head fields in order, body,
// completion and errors; trailer fields are not head fields.
#include "server/testing/http_request_differential.h"

#include <boost/asio/buffer.hpp>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gw::server {
namespace {

using request_differential::Parsed;
using request_differential::splitHead;
namespace http = boost::beast::http;

Parsed withBeast(std::string_view bytes, std::size_t piece) {
  auto [head, rest] = splitHead(bytes);
  return request_differential::withBeast(head, rest, piece);
}
Parsed withFlat(HttpRequest& request, std::string_view bytes, std::size_t piece) {
  auto [head, rest] = splitHead(bytes);
  return request_differential::withFlat(request, head, rest, piece);
}

const std::vector<std::string>& requests() {
  static const std::vector<std::string> r = {
      "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
      "Authorization: Bearer sk-x\r\nContent-Length: 11\r\n\r\n{\"ok\":true}",
      "GET /health?x=1 HTTP/1.0\r\nX-Empty:\r\nX-Request-Id: abc\r\nx-request-id: def\r\n\r\n",
      "POST /v1/files HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Provider: anthropic\r\nAuthorization: Bearer evil\r\n\r\n",
      "POST /v1/x HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'b'),  // over the body limit
      "POST /v1/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",            // bad chunk size
      "POST /v1/x HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",                       // cut short
      "BREW /pot HTTP/1.1\r\nX-Long: " + std::string(300, 'v') + "\r\n\r\n",     // over the header limit
      "GET / HTTP/1.1\r\nBad Header\r\n\r\n",                                     // no colon
      "GET /\x01 HTTP/1.1\r\n\r\n",                                               // bad target
  };
  return r;
}

TEST(HttpRequestParser, SameResultsAsBeastsRequestParserForEveryBodySplit) {
  HttpRequest request;  // reused, as the session reuses it
  for (const auto& bytes : requests()) {
    for (std::size_t piece = 1; piece <= bytes.size(); ++piece) {
      Parsed beast = withBeast(bytes, piece), flat = withFlat(request, bytes, piece);
      ASSERT_EQ(beast, flat) << "request: " << bytes.substr(0, 50) << " piece " << piece;
    }
  }
  // The cases are not all alike.
  EXPECT_FALSE(withFlat(request, requests()[0], 4).failed);
  EXPECT_EQ(withFlat(request, requests()[2], 3).body, "hello world");
  EXPECT_TRUE(withFlat(request, requests()[3], 7).failed);
  EXPECT_TRUE(withFlat(request, requests()[6], 7).failed);
}

TEST(HttpRequestParser, TrailerFieldsAreNotHeadFields) {
  HttpRequest request;
  Parsed p = withFlat(request, requests()[2], 5);
  ASSERT_FALSE(p.failed);
  EXPECT_EQ(p.fields, std::vector<std::string>{"Transfer-Encoding: chunked"});
  EXPECT_FALSE(request.find(http::field::authorization));
  EXPECT_FALSE(request.find("x-provider"));
}

TEST(HttpRequestParser, LooksUpFieldsFirstOfDuplicatesAndForgetsTheLastRequest) {
  HttpRequest request;
  ASSERT_FALSE(withFlat(request, requests()[1], 1).failed);
  EXPECT_EQ(request.method(), http::verb::get);
  EXPECT_EQ(request.version(), 10u);
  EXPECT_EQ(request.find("X-REQUEST-ID").value_or("-"), "abc");
  EXPECT_EQ(request.find("x-empty").value_or("-"), "");
  EXPECT_EQ(request.fieldCount(), 3u);

  // The next request on the connection sees none of it.
  ASSERT_FALSE(withFlat(request, requests()[0], 64).failed);
  EXPECT_EQ(request.method(), http::verb::post);
  EXPECT_EQ(request.target(), "/v1/chat/completions");
  EXPECT_FALSE(request.find("x-request-id"));
  EXPECT_EQ(request.find(http::field::authorization).value_or("-"), "Bearer sk-x");
  EXPECT_EQ(request.body(), "{\"ok\":true}");
}

TEST(HttpRequestParser, UnfoldsAFoldedValueAsBeastDoes) {
  // The session refuses obsolete line folding before parsing; the parser
  // itself reads it as Beast does.
  const std::string bytes = "GET / HTTP/1.1\r\nX-Folded: a\r\n b\r\n\tc\r\nX-After: d\r\n\r\n";
  HttpRequest request;
  Parsed flat = withFlat(request, bytes, 1);
  EXPECT_EQ(flat, withBeast(bytes, 1));
  EXPECT_EQ(request.find("x-folded").value_or("-"), "a b c");
  EXPECT_EQ(request.find("x-after").value_or("-"), "d");
}

TEST(HttpRequestParser, RefusesAHeadItWasNotGivenWhole) {
  // put() on bytes that are not the request's copy of the head.
  HttpRequest request;
  HttpRequestParser parser(request);
  boost::system::error_code ec;
  std::string head = "GET / HTTP/1.1\r\n\r\n";
  parser.put(boost::asio::buffer(head), ec);
  EXPECT_TRUE(ec);
}

}  // namespace
}  // namespace gw::server
