// UpstreamResponseParser against Beast's own response_parser: the same
// status, fields (in order), body, completion and errors, for every split
// of the input and with a body buffer smaller than the body.
#include "server/testing/upstream_response_differential.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace gw::server {
namespace {

using differential::describe;
using differential::Parsed;
using differential::withBeast;
using differential::withFlat;
namespace http = boost::beast::http;

const std::vector<std::string>& responses() {
  static const std::vector<std::string> r = {
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nX-Request-Id: abc\r\n"
      "x-ratelimit-remaining: 9\r\nX-RateLimit-Remaining: 8\r\n\r\n{\"ok\":true}",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"
      "7\r\ndata: 1\r\n3;ext=1\r\n\n\n\r\nc\r\ndata: [DONE]\r\n0\r\n\r\n",
      "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the connection closes",
      "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",  // conflicting lengths
      "HTTP/1.1 2000 OK\r\n\r\n",                                           // bad status
      "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",                               // no colon
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",                  // cut short
      "HTTP/1.1 200 OK\r\nX-Big: " + std::string(2000, 'v') + "\r\n\r\n",    // over the header limit
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",         // bad chunk size
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"                  // a trailer: not a field
      "2\r\nok\r\n0\r\nX-Trailer: t\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\n\t c\r\nContent-Length: 0\r\n\r\n",  // obsolete line folding
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\r\n\r\nHTTP/1.1",    // bytes after the message
      "HTX/1.1 200 OK\r\nContent-Length: 0\r\n",                          // bad version, never ends
      // Interim answers before the final one: skipped.
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
      "HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",  // no body in a 1xx
      "HTTP/1.1 100 Continue\r\nBad Header\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",  // malformed
      "HTTP/1.1 102 Processing\r\n\r\n",                                   // interim, then the end
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",  // 101 is a final answer
      "HTTP/1.1 199 X\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 500 E\r\nContent-Length: 1\r\n\r\n!",
  };
  return r;
}

TEST(UpstreamResponseParser, SameResultsAsBeastsResponseParserAtEverySplit) {
  for (const auto& bytes : responses()) {
    for (std::size_t piece = 1; piece <= bytes.size(); ++piece) {
      Parsed beast = withBeast(bytes, piece), flat = withFlat(bytes, piece);
      std::ostringstream a, b;
      describe(a, beast);
      describe(b, flat);
      ASSERT_EQ(a.str(), b.str()) << "response: " << bytes.substr(0, 60) << " piece " << piece;
    }
  }
  // The cases are not all alike: some succeed, some fail.
  EXPECT_FALSE(withFlat(responses()[0], 3).failed);
  EXPECT_TRUE(withFlat(responses()[6], 3).failed);
  EXPECT_EQ(withFlat(responses()[11], 4).body, "ok");
  EXPECT_EQ(withFlat(responses()[11], 4).fields.size(), 1u);  // Transfer-Encoding only
  EXPECT_EQ(withFlat(responses()[12], 2).fields.front(), "X-Folded: a b c");  // unfolded, as Beast does
}

// Interim answers (1xx but 101) are consumed: only the final response is
// reported, and the count of interim ones is bounded.
TEST(UpstreamResponseParser, ConsumesInterimResponsesBeforeTheFinalOne) {
  Parsed p = withFlat(responses()[15], 7);
  EXPECT_FALSE(p.failed);
  EXPECT_EQ(p.status, 200);
  EXPECT_EQ(p.body, "ok");
  EXPECT_EQ(p.fields, std::vector<std::string>{"Content-Length: 2"});
  EXPECT_TRUE(withFlat(responses()[17], 64).failed) << "a malformed interim head is an error";
  EXPECT_EQ(withFlat(responses()[19], 64).status, 101) << "101 is the final answer (the proxy refuses it)";
  EXPECT_EQ(withFlat(responses()[20], 3).status, 500);

  // Thousands in a row, in one buffer.
  std::string many;
  for (int i = 0; i < 5000; ++i) many += "HTTP/1.1 100 Continue\r\n\r\n";
  many += "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  UpstreamResponseParser parser;
  boost::system::error_code ec;
  std::size_t used = parser.putBuffered(many, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  EXPECT_EQ(used, many.size());
  EXPECT_EQ(parser.interimResponses(), 5000u);
  EXPECT_TRUE(parser.receivedAny());

  // Interim heads split across reads: what is used is exactly the heads
  // consumed, and the caller keeps the rest.
  UpstreamResponseParser split;
  std::string first = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early";
  EXPECT_EQ(split.putBuffered(first, ec), 25u);
  EXPECT_EQ(ec, http::error::need_more);
  EXPECT_FALSE(split.got_some());
  EXPECT_TRUE(split.receivedAny()) << "an interim answer means the upstream has the request";
}

TEST(UpstreamResponseParser, EndlessInterimResponsesAreRefused) {
  std::string endless;
  for (std::size_t i = 0; i <= UpstreamResponseParser::kMaxInterimResponses; ++i) endless += "HTTP/1.1 100 C\r\n\r\n";
  UpstreamResponseParser parser;
  boost::system::error_code ec;
  parser.putBuffered(endless, ec);
  EXPECT_EQ(ec, http::error::bad_status);
  EXPECT_FALSE(parser.is_header_done());
}

// The header limit bounds the whole head here; Beast applies its limit to
// what it has not parsed yet, and may read a longer head field by field
// (found by fuzz_upstream_response).
TEST(UpstreamResponseParser, HeaderLimitBoundsTheWholeHead) {
  std::string bytes = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 60; ++i) bytes += "X-Field-" + std::to_string(i) + ": value\r\n";
  bytes += "Content-Length: 2\r\n\r\nok";
  ASSERT_GT(bytes.size(), differential::kHeaderLimit);
  for (std::size_t piece : {1, 16, 4096}) EXPECT_TRUE(withFlat(bytes, piece).failed) << piece;
  EXPECT_TRUE(differential::agree(bytes, withBeast(bytes, 16), withFlat(bytes, 16)));
  // Under the limit, the same head parses alike.
  std::string small = "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok";
  EXPECT_FALSE(withFlat(small, 16).failed);
}

// Nothing of a head is used until its blank line is buffered: the fields
// are slices of one copy of the whole head.
TEST(UpstreamResponseParser, WaitsForTheWholeHeadThenLeavesTheBody) {
  const std::string bytes = responses()[0];
  const std::size_t head_end = bytes.find("\r\n\r\n") + 4;
  for (std::size_t have = 0; have < head_end; ++have) {
    UpstreamResponseParser parser;
    boost::system::error_code ec;
    EXPECT_EQ(parser.putBuffered(std::string_view(bytes).substr(0, have), ec), 0u) << have;
    EXPECT_EQ(ec, http::error::need_more) << have;
    EXPECT_FALSE(parser.is_header_done());
  }
  UpstreamResponseParser parser;
  boost::system::error_code ec;
  EXPECT_EQ(parser.putBuffered(bytes, ec), head_end);  // the body stays buffered
  EXPECT_FALSE(ec);
  EXPECT_TRUE(parser.is_header_done());
  EXPECT_EQ(parser.status(), 200);

  // A head that has not ended within the header limit is refused.
  UpstreamResponseParser limited;
  limited.setHeaderLimit(64);
  std::string endless = "HTTP/1.1 200 OK\r\nX-Long: " + std::string(100, 'v');
  EXPECT_EQ(limited.putBuffered(endless.substr(0, 63), ec), 0u);
  EXPECT_EQ(ec, http::error::need_more);
  EXPECT_EQ(limited.putBuffered(endless, ec), 0u);
  EXPECT_EQ(ec, http::error::header_limit);
}

TEST(UpstreamResponseParser, LooksUpFieldsByEnumAndByNameFirstOfDuplicates) {
  UpstreamResponseParser parser;
  boost::system::error_code ec;
  std::string head = responses()[0].substr(0, responses()[0].find("\r\n\r\n") + 4);
  parser.putHead(head, ec);
  ASSERT_FALSE(ec);
  ASSERT_TRUE(parser.is_header_done());
  EXPECT_EQ(parser.status(), 200);
  EXPECT_EQ(parser.find(http::field::content_type).value_or("-"), "application/json");
  EXPECT_EQ(parser.find("CONTENT-type").value_or("-"), "application/json");
  EXPECT_EQ(parser.find("x-ratelimit-remaining").value_or("-"), "9");
  EXPECT_FALSE(parser.find(http::field::set_cookie));
  EXPECT_FALSE(parser.find("x-missing"));

  // Fields are kept in arrival order, repeated names included (Beast's
  // basic_fields would file the second Retry-After next to the first).
  UpstreamResponseParser interleaved;
  interleaved.putHead("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nX-A: a\r\nretry-after: 2\r\n\r\n", ec);
  ASSERT_FALSE(ec);
  std::string order;
  interleaved.forEachField([&](http::field, std::string_view name, std::string_view value) {
    order += std::string(name) + "=" + std::string(value) + ";";
  });
  EXPECT_EQ(order, "Retry-After=1;X-A=a;retry-after=2;");
  EXPECT_EQ(interleaved.find(http::field::retry_after).value_or("-"), "1");
}

}  // namespace
}  // namespace gw::server
