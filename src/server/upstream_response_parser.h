// The parser of upstream response heads and bodies (Beast's basic_parser
// does the HTTP; this class only keeps what it reports).
//
// Why not http::response_parser<buffer_body>: that keeps the head in a
// basic_fields, one heap node per field in an ordered tree, plus the reason
// phrase; the relay only ever walks the fields in order or looks up two or
// three of them. Here the head is a FlatHead (flat_head.h): putHead() hands
// Beast a copy of the complete head, which it parses in place.
//
// The body goes where the caller points it (setBodyBuffer), as with
// buffer_body: put() stops with http::error::need_buffer when that space is
// full. Used by the upstream relay (src/server/upstream_relay.cc) on a worker thread; one
// parser per response, not thread-safe.
#pragma once

#include "server/flat_head.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace gw::server {

class UpstreamResponseParser final : public boost::beast::http::basic_parser<false> {
 public:
  using field = boost::beast::http::field;

  // The header limit, as basic_parser::header_limit (which cannot be read
  // back): putBuffered() needs it to refuse a head that never ends.
  void setHeaderLimit(std::uint32_t limit) {
    header_limit_bytes_ = limit;
    header_limit(limit);
  }

  // Puts the bytes received so far (from the start of the response until
  // its head is parsed, then the body's) and returns how many were used.
  // Until the head's blank line has arrived nothing is used and the result
  // is need_more (header_limit once as many bytes as the limit are
  // waiting): Beast would parse a head piecemeal, reporting fields from
  // each piece, where this parser keeps the fields as slices of one copy
  // of the whole head (putHead()). An error Beast would find in a head's
  // first lines is found once the head is whole. The header limit bounds
  // the whole head, blank line included (Beast applies its limit to what
  // each put() has not parsed yet, so a head read piecemeal can exceed it).
  //
  // Interim responses (1xx but 101) before the final one are consumed
  // here, each validated by Beast as a head of its own and then dropped:
  // the caller only ever sees the final response, so the rest of a
  // response can never be left on a connection that looks finished.
  // Past kMaxInterimResponses of them the result is bad_status.
  std::size_t putBuffered(std::string_view buffered, boost::beast::error_code& ec) {
    if (is_header_done()) return put(boost::asio::const_buffer(buffered.data(), buffered.size()), ec);
    std::size_t used = 0;
    for (;;) {
      std::string_view rest = buffered.substr(used);
      std::size_t end = findHeadEnd(rest);
      if (end == std::string_view::npos) {
        ec = rest.size() >= header_limit_bytes_ ? boost::beast::http::error::header_limit
                                                : boost::beast::http::error::need_more;
        return used;
      }
      // The limit bounds the whole head (Beast's own applies to each put()).
      if (end > header_limit_bytes_) {
        ec = boost::beast::http::error::header_limit;
        return used;
      }
      std::string_view head = rest.substr(0, end);
      if (!looksInterim(head)) return used + putHead(head, ec);
      if (!validInterimHead(head, ec)) return used;
      if (++interim_responses_ > kMaxInterimResponses) {
        ec = boost::beast::http::error::bad_status;
        return used;
      }
      used += end;
    }
  }

  // How many interim responses have been consumed.
  std::size_t interimResponses() const { return interim_responses_; }
  // Whether any byte of a response arrived: an interim one counts (the
  // upstream has the request, so it must not be sent again).
  bool receivedAny() const { return interim_responses_ > 0 || got_some(); }

  // An upstream may send any number of interim responses; these are cheap
  // to skip, and the exchange's deadline bounds the time they take, but a
  // peer sending nothing else is broken and gets a 502 well before that.
  static constexpr std::size_t kMaxInterimResponses = 100000;

  // Parses `head`, a complete response head (up to and including its blank
  // line), from a copy. Returns the bytes used, as put() does.
  std::size_t putHead(std::string_view head, boost::beast::error_code& ec) {
    std::string_view text = head_.copy(head);
    return put(boost::asio::const_buffer(text.data(), text.size()), ec);
  }

  // Valid once is_header_done().
  int status() const { return status_; }

  // The head's fields (see FlatHead): first match for find(), in order for
  // forEachField().
  std::optional<std::string_view> find(field id) const { return head_.find(id); }
  std::optional<std::string_view> find(std::string_view name) const { return head_.find(name); }
  template <class Visit>
  void forEachField(Visit&& visit) const {
    head_.forEachField(std::forward<Visit>(visit));
  }

  // Where the next body bytes go; bodySpaceLeft() shrinks as put() fills it.
  void setBodyBuffer(char* data, std::size_t size) {
    body_data_ = data;
    body_space_ = size;
  }
  std::size_t bodySpaceLeft() const { return body_space_; }

 private:
  void on_request_impl(boost::beast::http::verb, boost::beast::string_view, boost::beast::string_view, int,
                       boost::beast::error_code&) override {}  // responses only
  void on_response_impl(int code, boost::beast::string_view, int, boost::beast::error_code&) override {
    status_ = code;
  }
  void on_field_impl(field id, boost::beast::string_view name, boost::beast::string_view value,
                     boost::beast::error_code& ec) override {
    if (is_header_done()) return;  // a trailer field: not part of the head
    if (!head_.add(id, name, value)) ec = boost::beast::http::error::bad_value;
  }
  void on_header_impl(boost::beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, boost::beast::error_code&) override {}
  std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code& ec) override {
    return takeBody(body, ec);
  }
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view, boost::beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body, boost::beast::error_code& ec) override {
    return takeBody(body, ec);
  }
  void on_finish_impl(boost::beast::error_code&) override {}

  // As buffer_body's reader: copies what fits; need_buffer when not all did.
  std::size_t takeBody(boost::beast::string_view body, boost::beast::error_code& ec) {
    const std::size_t n = std::min(body.size(), body_space_);
    if (n > 0) std::memcpy(body_data_, body.data(), n);
    body_data_ += n;
    body_space_ -= n;
    if (n < body.size()) ec = boost::beast::http::error::need_buffer;
    return n;
  }

  // Whether `head` starts with an interim status line ("HTTP/1.1 1xx",
  // not 101), in the one form Beast accepts. A line that only resembles
  // one goes to the real parser, which refuses it or reports its status.
  static bool looksInterim(std::string_view head) {
    if (head.size() < 13 || head.substr(0, 5) != "HTTP/" || head[6] != '.' || head[8] != ' ' || head[9] != '1')
      return false;
    if (head[10] < '0' || head[10] > '9' || head[11] < '0' || head[11] > '9') return false;
    return !(head[10] == '0' && head[11] == '1');
  }
  // Parses an interim head with a parser of its own, which it leaves
  // finished: the head must be as well-formed as a final one.
  bool validInterimHead(std::string_view head, boost::beast::error_code& ec) const {
    boost::beast::http::response_parser<boost::beast::http::empty_body> interim;
    interim.header_limit(header_limit_bytes_);
    interim.put(boost::asio::const_buffer(head.data(), head.size()), ec);
    if (!ec && !interim.is_header_done()) ec = boost::beast::http::error::partial_message;
    if (!ec && (interim.get().result_int() < 100 || interim.get().result_int() > 199))
      ec = boost::beast::http::error::bad_status;
    return !ec;
  }

  int status_ = 0;
  std::size_t interim_responses_ = 0;
  std::uint32_t header_limit_bytes_ = 8 * 1024;  // Beast's default
  FlatHead head_;
  char* body_data_ = nullptr;
  std::size_t body_space_ = 0;
};

}  // namespace gw::server
