// A client's HTTP request as the server read it (HttpRequest), and the
// parser that fills it (HttpRequestParser: Beast's basic_parser does the
// HTTP; this class only keeps what it reports).
//
// Why not http::request_parser<string_body>: its basic_fields copies every
// field into a heap node of an ordered tree, freed with the request. Here
// the head is a FlatHead (flat_head.h), and the session keeps one
// HttpRequest for its connection and clears it per request, so after the
// first request on a connection the head costs no allocation at all.
//
// The fields are the head's only: the fields of a chunked body's trailer
// are dropped as they are parsed. A trailer is not a header (RFC 9110
// section 6.5): a proxy in front checked the head only, so a trailer could
// otherwise add a header it never saw (x-provider, authorization...).
//
// Used by the session (src/server/session.cc) on its worker thread;
// not thread-safe.
#pragma once

#include "gw/provider.h"
#include "server/flat_head.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/verb.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace gw::server {

class HttpRequest {
 public:
  using field = boost::beast::http::field;
  using verb = boost::beast::http::verb;

  // Forgets the last request, keeping the memory for the next one.
  void clear() {
    head_.clear();
    body_.clear();
    method_ = verb::unknown;
    method_at_ = method_size_ = target_at_ = target_size_ = 0;
    version_ = 11;
  }

  verb method() const { return method_; }
  std::string_view method_string() const { return head_.slice(method_at_, method_size_); }
  std::string_view target() const { return head_.slice(target_at_, target_size_); }
  unsigned version() const { return version_; }  // 11 for HTTP/1.1
  std::string& body() { return body_; }
  const std::string& body() const { return body_; }

  // The head's fields (see FlatHead): first match for find(), in order for
  // forEachField().
  std::optional<std::string_view> find(field id) const { return head_.find(id); }
  std::optional<std::string_view> find(std::string_view name) const { return head_.find(name); }
  template <class Visit>
  void forEachField(Visit&& visit) const {
    head_.forEachField(std::forward<Visit>(visit));
  }
  std::size_t fieldCount() const { return head_.fieldCount(); }

 private:
  friend class HttpRequestParser;

  FlatHead head_;
  std::string body_;
  verb method_ = verb::unknown;
  unsigned version_ = 11;
  std::uint32_t method_at_ = 0, method_size_ = 0, target_at_ = 0, target_size_ = 0;
};

// Read-only view of a request's head fields for providers and the router.
class RequestHeaders final : public HeaderLookup {
 public:
  explicit RequestHeaders(const HttpRequest& request) : request_(request) {}
  std::optional<std::string_view> get(std::string_view name) const override { return request_.find(name); }
  void forEach(const std::function<void(std::string_view, std::string_view)>& visit) const override {
    request_.forEachField([&](boost::beast::http::field, std::string_view name, std::string_view value) {
      visit(name, value);
    });
  }

 private:
  const HttpRequest& request_;
};

// Parses one request into an HttpRequest that outlives the parser (one
// parser per request, as Beast's parsers cannot be reused): the complete
// head with putHead(), then the body with Beast's put() or http::read. The
// body is appended to request.body(); body_limit() bounds it as for any
// Beast parser.
class HttpRequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  // Clears `request` and parses into it.
  explicit HttpRequestParser(HttpRequest& request) : request_(request) { request_.clear(); }

  // Parses `head`, a complete request head (up to and including its blank
  // line), from a copy in the request. Returns the bytes used, as put()
  // does; is_header_done() tells whether the head was whole.
  std::size_t putHead(std::string_view head, boost::beast::error_code& ec) {
    std::string_view text = request_.head_.copy(head);
    return put(boost::asio::const_buffer(text.data(), text.size()), ec);
  }

  HttpRequest& get() { return request_; }
  const HttpRequest& get() const { return request_; }

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;

  void on_request_impl(boost::beast::http::verb method, string_view method_string, string_view target, int version,
                       error_code& ec) override {
    auto method_at = request_.head_.offsetOf(method_string);
    auto target_at = request_.head_.offsetOf(target);
    if (!method_at || !target_at) {
      ec = boost::beast::http::error::bad_method;  // only putHead() is given a head
      return;
    }
    request_.method_ = method;
    request_.method_at_ = *method_at;
    request_.method_size_ = static_cast<std::uint32_t>(method_string.size());
    request_.target_at_ = *target_at;
    request_.target_size_ = static_cast<std::uint32_t>(target.size());
    request_.version_ = static_cast<unsigned>(version);
  }
  void on_response_impl(int, string_view, int, error_code&) override {}  // requests only
  void on_field_impl(boost::beast::http::field id, string_view name, string_view value, error_code& ec) override {
    if (is_header_done()) return;  // a trailer field: dropped (see above)
    if (!request_.head_.add(id, name, value)) ec = boost::beast::http::error::bad_value;
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length, error_code&) override {
    // The session refuses a Content-Length beyond MAX_REQUEST_BODY_BYTES
    // before the body is parsed, but the parser does not rely on it: what
    // a header claims reserves at most kMaxReserve (larger bodies grow).
    if (content_length) request_.body_.reserve(static_cast<std::size_t>(std::min(*content_length, kMaxReserve)));
  }
  std::size_t on_body_impl(string_view body, error_code&) override {
    request_.body_.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    request_.body_.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  static constexpr std::uint64_t kMaxReserve = 1u << 20;
  HttpRequest& request_;
};

}  // namespace gw::server
