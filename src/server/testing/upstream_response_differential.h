// Test support shared by tests/server/upstream_response_parser_test.cc and
// fuzz/upstream_response_fuzz.cc: parses one upstream response with the
// gateway's UpstreamResponseParser and with Beast's response_parser, driven
// the way the proxy drives them, so that the two results can be compared.
#pragma once

#include "server/upstream_response_parser.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <sstream>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

namespace gw::server::differential {

namespace http = boost::beast::http;

struct Parsed {
  bool failed = false;
  int status = 0;
  std::vector<std::string> fields;  // "name: value"
  std::string body;
  bool done = false;
  bool keep_alive = false;
  std::size_t consumed = 0;  // bytes the parser used (not compared)
  bool operator==(const Parsed&) const = default;
};

// Fields are listed grouped by name (case-insensitively), in order within a
// name: Beast's basic_fields files a repeated name after that name's last
// field, the flat parser keeps arrival order. Only the order among fields
// of one name means anything in HTTP, and that must agree.
inline void describe(std::ostream& os, const Parsed& p) {
  os << "failed=" << p.failed << " status=" << p.status << " done=" << p.done << " body=" << p.body;
  std::vector<std::pair<std::string, std::string>> fields;  // (lower-case name, field)
  for (const auto& f : p.fields) fields.emplace_back(toLower(f.substr(0, f.find(':'))), f);
  std::stable_sort(fields.begin(), fields.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& f : fields) os << " [" << f.second << "]";
}

// How the proxy hands each parser what is buffered (UpstreamRelay's
// readHead and readPiece, upstream_relay.cc), and sets its header limit.
inline std::size_t putSome(http::response_parser<http::string_body>& parser, std::string_view buffered,
                           boost::system::error_code& ec) {
  return parser.put(boost::asio::buffer(buffered.data(), buffered.size()), ec);
}
inline std::size_t putSome(UpstreamResponseParser& parser, std::string_view buffered, boost::system::error_code& ec) {
  return parser.putBuffered(buffered, ec);
}
inline void limitHead(http::response_parser<http::string_body>& parser, std::uint32_t limit) {
  parser.header_limit(limit);
}
inline void limitHead(UpstreamResponseParser& parser, std::uint32_t limit) { parser.setHeaderLimit(limit); }

// The header limit both parsers get here.
inline constexpr std::uint32_t kHeaderLimit = 1024;

// The size of the response's head, blank line included (all of `bytes`
// when it has none).
inline std::size_t headSize(std::string_view bytes) {
  std::size_t end = bytes.find("\r\n\r\n");
  return end == std::string_view::npos ? bytes.size() : end + 4;
}

// Whether `bytes` starts with an interim status line (1xx but 101), as
// UpstreamResponseParser recognises one.
inline bool isInterimStatusLine(std::string_view bytes) {
  return bytes.size() >= 13 && bytes.substr(0, 5) == "HTTP/" && bytes[6] == '.' && bytes[8] == ' ' &&
         bytes[9] == '1' && bytes[10] >= '0' && bytes[10] <= '9' && bytes[11] >= '0' && bytes[11] <= '9' &&
         !(bytes[10] == '0' && bytes[11] == '1');
}

// Whether two results agree. One difference is by design: the flat
// parser's header limit bounds the whole head, so it refuses every head
// longer than the limit, where Beast, which applies the limit to what each
// put() has not parsed yet and consumes a head field by field, reads some
// of them (depending on how the bytes arrive). At the limit and beyond,
// Beast's result is not compared.
inline bool agree(std::string_view bytes, const Parsed& beast, const Parsed& flat) {
  // Every head counts, interim ones included (the flat parser bounds each).
  for (std::string_view rest = bytes;;) {
    const std::size_t head = headSize(rest);
    if (head > kHeaderLimit) return flat.failed;
    if (head == kHeaderLimit) return true;
    if (!isInterimStatusLine(rest) || head == rest.size()) break;
    rest.remove_prefix(head);
  }
  std::ostringstream a, b;
  describe(a, beast);
  describe(b, flat);
  return a.str() == b.str();
}

// Feeds `bytes` in pieces of `piece` bytes, as the proxy does: whatever is
// buffered is put until the parser needs more, then the next piece.
// `on_head` runs once, right after the head is parsed.
template <class Parser, class TakeBody, class OnHead>
Parsed drive(Parser& parser, std::string_view bytes, std::size_t piece, TakeBody&& take_body, OnHead&& on_head) {
  Parsed out;
  // A limit the proxy does not set (it relays bodies of any length): Beast's
  // string_body would otherwise reserve a Content-Length's worth of memory
  // for the reference reading. Both parsers refuse alike past it.
  parser.body_limit(1u << 20);
  limitHead(parser, kHeaderLimit);
  std::string buffered;
  std::size_t next = 0;
  boost::system::error_code ec;
  while (!parser.is_done()) {
    const bool had_head = parser.is_header_done();
    std::size_t used = buffered.empty() ? 0 : putSome(parser, buffered, ec);
    if (!had_head && parser.is_header_done()) on_head();
    take_body(out.body);
    buffered.erase(0, used);
    if (ec == http::error::need_buffer) {  // the body buffer was full and is emptied now
      ec = {};
      continue;
    }
    if (ec == http::error::need_more || (!ec && used == 0)) {
      ec = {};
      if (next >= bytes.size()) {
        // The connection closed. As the proxy: nothing received is
        // end_of_stream (Beast's put_eof requires got_some()).
        if (!parser.got_some()) {
          out.failed = true;
          break;
        }
        parser.put_eof(ec);
        if (ec) out.failed = true;
        break;
      }
      buffered.append(bytes.substr(next, piece));
      next += piece;
      continue;
    }
    if (ec) {
      out.failed = true;
      break;
    }
  }
  if (!out.failed && parser.is_header_done()) out.keep_alive = parser.keep_alive();
  out.done = parser.is_done();
  out.consumed = std::min(next, bytes.size()) - buffered.size();
  return out;
}

// The reference: Beast's response_parser, one message after another while
// each is an interim response (1xx but 101), which the proxy skips.
inline Parsed withBeastOnce(std::string_view bytes, std::size_t piece, std::size_t& used);

inline Parsed withBeast(std::string_view bytes, std::size_t piece) {
  for (;;) {
    std::size_t used = 0;
    Parsed p = withBeastOnce(bytes, piece, used);
    if (p.failed || !p.done || p.status < 100 || p.status > 199 || p.status == 101) return p;
    if (!isInterimStatusLine(bytes)) {
      // Beast read an interim status the flat parser's quick check does not
      // see as one (it then takes the head as final): compare that way.
      return p;
    }
    bytes.remove_prefix(used);
  }
}

inline Parsed withBeastOnce(std::string_view bytes, std::size_t piece, std::size_t& used) {
  http::response_parser<http::string_body> parser;
  // The head's fields only: Beast adds a chunked body's trailer fields to
  // them later, the flat parser drops them.
  std::vector<std::string> head_fields;
  Parsed out = drive(parser, bytes, piece, [](std::string&) {}, [&] {
    for (const auto& f : parser.get().base())
      head_fields.push_back(std::string(f.name_string()) + ": " + std::string(f.value()));
  });
  if (parser.is_header_done()) {
    out.status = static_cast<int>(parser.get().result_int());
    out.fields = std::move(head_fields);
  }
  out.body = parser.get().body();
  used = out.consumed;
  return out;
}

inline Parsed withFlat(std::string_view bytes, std::size_t piece) {
  UpstreamResponseParser parser;
  char buf[5];  // smaller than the bodies: need_buffer on the way
  parser.setBodyBuffer(buf, sizeof buf);
  Parsed out = drive(
      parser, bytes, piece,
      [&](std::string& body) {
        body.append(buf, sizeof buf - parser.bodySpaceLeft());
        parser.setBodyBuffer(buf, sizeof buf);
      },
      [] {});
  if (parser.is_header_done()) {
    out.status = parser.status();
    parser.forEachField([&](http::field, std::string_view name, std::string_view value) {
      out.fields.push_back(std::string(name) + ": " + std::string(value));
    });
  }
  return out;
}

}  // namespace gw::server::differential
