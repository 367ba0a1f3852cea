// Helpers shared by the fuzz targets. Compiles with gcc too (the targets are
// also built as plain executables that replay their corpora in CTest), so it
// does not use clang's <fuzzer/FuzzedDataProvider.h>.
#pragma once

#include "gw/provider.h"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gw::fuzz {

// Reads typed values off the front of the fuzz input. Past the end every
// read returns zero / empty, so a short input is still a valid one.
class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size)
      : rest_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return rest_.empty(); }
  std::size_t remaining() const { return rest_.size(); }

  std::uint8_t byte() {
    if (rest_.empty()) return 0;
    auto b = static_cast<std::uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return b;
  }
  bool flag() { return byte() & 1; }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | byte();
    return v;
  }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  // An integer in [0, n).
  std::size_t below(std::size_t n) { return n == 0 ? 0 : byte() % n; }

  // A length-prefixed string of arbitrary bytes (any value, invalid UTF-8
  // included), at most `max` long.
  std::string_view bytes(std::size_t max = 255) {
    std::size_t n = std::min<std::size_t>({byte(), max, rest_.size()});
    auto s = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return s;
  }
  // Everything left.
  std::string_view rest() {
    auto s = rest_;
    rest_ = {};
    return s;
  }
  // One of `choices`, or (when the selector says so) arbitrary bytes.
  std::string pick(std::initializer_list<std::string_view> choices) {
    std::size_t i = byte();
    if (i < choices.size()) return std::string(choices.begin()[i]);
    return std::string(bytes());
  }

 private:
  std::string_view rest_;
};

// Splits `data` into pieces whose sizes are 1..max_piece, chosen by the
// bytes of `sizes` (cycled), so the code under test sees every split point.
inline std::vector<std::string_view> pieces(std::string_view data, std::string_view sizes, std::size_t max_piece) {
  std::vector<std::string_view> out;
  std::size_t k = 0;
  while (!data.empty()) {
    std::size_t n = 1 + (sizes.empty() ? max_piece - 1 : static_cast<std::uint8_t>(sizes[k++ % sizes.size()]) % max_piece);
    n = std::min(n, data.size());
    out.push_back(data.substr(0, n));
    data.remove_prefix(n);
  }
  return out;
}

// Headers as a vector, looked up case-insensitively like Beast does.
class VectorHeaders final : public HeaderLookup {
 public:
  std::vector<std::pair<std::string, std::string>> fields;

  std::optional<std::string_view> get(std::string_view name) const override {
    for (const auto& [n, v] : fields)
      if (std::ranges::equal(n, name, [](char a, char b) { return lower(a) == lower(b); })) return v;
    return std::nullopt;
  }
  void forEach(const std::function<void(std::string_view, std::string_view)>& visit) const override {
    for (const auto& [n, v] : fields) visit(n, v);
  }

 private:
  static char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }
};

// Valid JSON (UTF-8 included). The depth limit is a receiver's, not
// Boost's default of 32: OTLP's AnyValue encoding nests four levels per
// level of the record.
inline bool isJson(std::string_view text) {
  boost::json::parse_options options;
  options.max_depth = 10000;
  boost::system::error_code ec;
  boost::json::parse(text, ec, {}, options);
  return !ec;
}

// The SSE a translating provider writes to the client: every "data:" event
// must be [DONE] or one valid JSON document, and every event terminated.
inline void checkGeneratedSse(std::string_view out) {
  std::size_t pos = 0;
  while ((pos = out.find("data: ", pos)) != std::string_view::npos) {
    std::size_t end = out.find("\n\n", pos);
    if (end == std::string_view::npos) std::abort();
    std::string_view payload = out.substr(pos + 6, end - pos - 6);
    if (payload != "[DONE]" && !isJson(payload)) std::abort();
    pos = end + 2;
  }
}

// A header name or value that could split the upstream request.
inline bool hasLineBreakOrNul(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

}  // namespace gw::fuzz
