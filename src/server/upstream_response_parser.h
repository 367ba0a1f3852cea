// The parser of upstream response heads and bodies (Beast's basic_parser
// does the HTTP; this class only keeps what it reports).
//
// Why not http::response_parser<buffer_body>: that keeps the head in a
// basic_fields, one heap node per field in an ordered tree, plus the reason
// phrase; the relay only ever walks the fields in order or looks up two or
// three of them. Here the head is flat: every field's name and value copied
// into one string, indexed by a vector (two allocations per response,
// reserved up front, instead of one per field).
//
// The body goes where the caller points it (setBodyBuffer), as with
// buffer_body: put() stops with http::error::need_buffer when that space is
// full. Used by the proxy (src/server/proxy.cc) on a worker thread; one
// parser per response, not thread-safe.
#pragma once

#include "common/strings.h"

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::server {

class UpstreamResponseParser final : public boost::beast::http::basic_parser<false> {
 public:
  using field = boost::beast::http::field;

  UpstreamResponseParser() {
    text_.reserve(1024);
    fields_.reserve(16);
  }

  // Valid once is_header_done().
  int status() const { return status_; }

  // The first field with this known name, or its value: as
  // basic_fields::find, which gives the first of duplicates.
  std::optional<std::string_view> find(field id) const {
    for (const auto& f : fields_)
      if (f.id == id) return value(f);
    return std::nullopt;
  }
  // By name, case-insensitively (for names Beast has no enum for too).
  std::optional<std::string_view> find(std::string_view name) const {
    for (const auto& f : fields_)
      if (iequals(this->name(f), name)) return value(f);
    return std::nullopt;
  }

  // Calls visit(field id, name as received, value) for every field, in the
  // order received.
  template <class Visit>
  void forEachField(Visit&& visit) const {
    for (const auto& f : fields_) visit(f.id, name(f), value(f));
  }

  // Where the next body bytes go; bodySpaceLeft() shrinks as put() fills it.
  void setBodyBuffer(char* data, std::size_t size) {
    body_data_ = data;
    body_space_ = size;
  }
  std::size_t bodySpaceLeft() const { return body_space_; }

 private:
  struct Field {
    field id;
    std::uint32_t name_at, name_size, value_at, value_size;
  };
  std::string_view name(const Field& f) const { return std::string_view(text_).substr(f.name_at, f.name_size); }
  std::string_view value(const Field& f) const { return std::string_view(text_).substr(f.value_at, f.value_size); }

  void on_request_impl(boost::beast::http::verb, boost::beast::string_view, boost::beast::string_view, int,
                       boost::beast::error_code&) override {}  // responses only
  void on_response_impl(int code, boost::beast::string_view, int, boost::beast::error_code&) override {
    status_ = code;
  }
  void on_field_impl(field id, boost::beast::string_view name, boost::beast::string_view value,
                     boost::beast::error_code&) override {
    // Offsets fit: the header limit (64 KiB in the proxy) bounds the text.
    Field f{id, static_cast<std::uint32_t>(text_.size()), static_cast<std::uint32_t>(name.size()), 0,
            static_cast<std::uint32_t>(value.size())};
    text_.append(name.data(), name.size());
    f.value_at = static_cast<std::uint32_t>(text_.size());
    text_.append(value.data(), value.size());
    fields_.push_back(f);
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

  int status_ = 0;
  std::string text_;
  std::vector<Field> fields_;
  char* body_data_ = nullptr;
  std::size_t body_space_ = 0;
};

}  // namespace gw::server
