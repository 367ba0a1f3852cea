// Test support shared by tests/server/upstream_response_parser_test.cc and
// fuzz/upstream_response_fuzz.cc: parses one upstream response with the
// gateway's UpstreamResponseParser and with Beast's response_parser, driven
// the way the proxy drives them, so that the two results can be compared.
#pragma once

#include "server/upstream_response_parser.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <ostream>
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
  bool operator==(const Parsed&) const = default;
};

inline void describe(std::ostream& os, const Parsed& p) {
  os << "failed=" << p.failed << " status=" << p.status << " done=" << p.done << " body=" << p.body;
  for (auto& f : p.fields) os << " [" << f << "]";
}

// Feeds `bytes` in pieces of `piece` bytes, as the proxy does: whatever is
// buffered is put() until the parser needs more, then the next piece.
template <class Parser, class TakeBody>
Parsed drive(Parser& parser, std::string_view bytes, std::size_t piece, TakeBody&& take_body) {
  Parsed out;
  parser.body_limit(boost::none);
  parser.header_limit(1024);
  std::string buffered;
  std::size_t next = 0;
  boost::system::error_code ec;
  while (!parser.is_done()) {
    std::size_t used = buffered.empty() ? 0 : parser.put(boost::asio::buffer(buffered), ec);
    take_body(out.body);
    buffered.erase(0, used);
    if (ec == http::error::need_buffer) {  // the body buffer was full and is emptied now
      ec = {};
      continue;
    }
    if (ec == http::error::need_more || (!ec && used == 0)) {
      ec = {};
      if (next >= bytes.size()) {
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
  return out;
}

inline Parsed withBeast(std::string_view bytes, std::size_t piece) {
  http::response_parser<http::string_body> parser;
  Parsed out = drive(parser, bytes, piece, [](std::string&) {});
  if (parser.is_header_done()) {
    out.status = static_cast<int>(parser.get().result_int());
    for (const auto& f : parser.get().base()) out.fields.push_back(std::string(f.name_string()) + ": " + std::string(f.value()));
  }
  out.body = parser.get().body();
  return out;
}

inline Parsed withFlat(std::string_view bytes, std::size_t piece) {
  UpstreamResponseParser parser;
  char buf[5];  // smaller than the bodies: need_buffer on the way
  parser.setBodyBuffer(buf, sizeof buf);
  Parsed out = drive(parser, bytes, piece, [&](std::string& body) {
    body.append(buf, sizeof buf - parser.bodySpaceLeft());
    parser.setBodyBuffer(buf, sizeof buf);
  });
  if (parser.is_header_done()) {
    out.status = parser.status();
    parser.forEachField([&](http::field, std::string_view name, std::string_view value) {
      out.fields.push_back(std::string(name) + ": " + std::string(value));
    });
  }
  return out;
}

}  // namespace gw::server::differential
