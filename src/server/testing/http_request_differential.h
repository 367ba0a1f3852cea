// Test support shared by tests/server/http_request_test.cc and
// fuzz/http_request_fuzz.cc: parses one request with the gateway's
// HttpRequestParser and with Beast's request_parser<string_body>, driven the
// way the session drives them (the whole head at once, then the body in
// pieces), so that the two results can be compared.
#pragma once

#include "server/http_request.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace gw::server::request_differential {

namespace http = boost::beast::http;

struct Parsed {
  bool failed = false;
  std::string method, target;
  unsigned version = 0;
  std::vector<std::string> fields;  // the head's, "name: value" (see groupByName)
  std::string body;
  bool done = false;
  bool operator==(const Parsed&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const Parsed& p) {
  os << "failed=" << p.failed << " " << p.method << " " << p.target << " " << p.version << " done=" << p.done
     << " body=" << p.body;
  for (const auto& f : p.fields) os << " [" << f << "]";
  return os;
}

// Fields grouped by name (case-insensitively), in order within a name:
// Beast's basic_fields files a repeated name next to that name's first
// field, the flat parser keeps arrival order. Only the order among fields
// of one name means anything in HTTP, and that must agree.
inline void groupByName(std::vector<std::string>& fields) {
  auto name = [](const std::string& f) { return toLower(std::string_view(f).substr(0, f.find(':'))); };
  std::stable_sort(fields.begin(), fields.end(), [&](const auto& a, const auto& b) { return name(a) < name(b); });
}

struct Limits {
  std::uint32_t header = 256;
  std::uint64_t body = 64;
};

// `head` (a complete head, up to its blank line) at once, then `rest`
// `piece` bytes at a time until the message is done.
template <class Parser, class PutHead>
bool drive(Parser& parser, std::string_view head, std::string_view rest, std::size_t piece, Limits limits,
           PutHead&& put_head) {
  parser.header_limit(limits.header);
  parser.body_limit(limits.body);
  parser.eager(true);
  boost::system::error_code ec;
  std::size_t used = put_head(head, ec);
  if (ec || used != head.size() || !parser.is_header_done()) return false;
  std::string buffered;
  std::size_t next = 0;
  while (!parser.is_done()) {
    if (next < rest.size()) {
      buffered.append(rest.substr(next, piece));
      next += piece;
    }
    if (buffered.empty()) return false;  // the body never ended
    std::size_t n = parser.put(boost::asio::buffer(buffered), ec);
    buffered.erase(0, n);
    if (ec == http::error::need_more) {
      ec = {};
      if (next >= rest.size()) return false;
      continue;
    }
    if (ec) return false;
  }
  return true;
}

inline Parsed withBeast(std::string_view head, std::string_view rest, std::size_t piece, Limits limits = {}) {
  http::request_parser<http::string_body> parser;
  // The head's fields, taken when the head is parsed: Beast adds a chunked
  // body's trailer fields to them later (filed among them by name).
  std::vector<std::string> head_fields;
  Parsed out;
  out.failed = !drive(parser, head, rest, piece, limits, [&](std::string_view h, boost::system::error_code& ec) {
    std::size_t n = parser.put(boost::asio::buffer(h.data(), h.size()), ec);
    for (const auto& f : parser.get().base())
      head_fields.push_back(std::string(f.name_string()) + ": " + std::string(f.value()));
    return n;
  });
  if (parser.is_header_done()) {
    const auto& m = parser.get();
    out.method = std::string(m.method_string());
    out.target = std::string(m.target());
    out.version = m.version();
    out.fields = std::move(head_fields);
    groupByName(out.fields);
  }
  out.body = parser.get().body();
  out.done = parser.is_done();
  return out;
}

inline Parsed withFlat(HttpRequest& request, std::string_view head, std::string_view rest, std::size_t piece,
                       Limits limits = {}) {
  HttpRequestParser parser(request);
  Parsed out;
  out.failed = !drive(parser, head, rest, piece, limits,
                      [&](std::string_view h, boost::system::error_code& ec) { return parser.putHead(h, ec); });
  if (parser.is_header_done()) {
    out.method = std::string(request.method_string());
    out.target = std::string(request.target());
    out.version = request.version();
    request.forEachField([&](http::field, std::string_view name, std::string_view value) {
      out.fields.push_back(std::string(name) + ": " + std::string(value));
    });
    groupByName(out.fields);
  }
  out.body = request.body();
  out.done = parser.is_done();
  return out;
}

// Splits `bytes` after its first blank line: (head, rest); an empty head
// when there is none.
inline std::pair<std::string_view, std::string_view> splitHead(std::string_view bytes) {
  std::size_t end = bytes.find("\r\n\r\n");
  if (end == std::string_view::npos) return {{}, bytes};
  return {bytes.substr(0, end + 4), bytes.substr(end + 4)};
}

}  // namespace gw::server::request_differential
