// A write cursor over a std::string, for text written in many small pieces
// (the record's JSON): the string is grown ahead of the writing and cut to
// what was written by finish(), so that a write is a copy after one check
// of the room left (ensure), with no call into std::string. Not
// thread-safe; the record builder uses one per record on the telemetry
// thread. Its writers of values are defined in json_text.cc, with the
// escapes they share with appendScrubbedJson.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace gw {

class TextCursor {
 public:
  // Writes after `out`'s current text, with room for `expected` bytes made.
  TextCursor(std::string& out, std::size_t expected) : out_(out) { resume(expected); }

  // Room for n more bytes.
  void ensure(std::size_t n) {
    if (static_cast<std::size_t>(end_ - cur_) < n) grow(n);
  }
  // The puts write into room made by ensure.
  void put(char c) { *cur_++ = c; }
  void put(const char* s, std::size_t n) {
    std::memcpy(cur_, s, n);
    cur_ += n;
  }
  // The first n (<= N) of N readable bytes, with room for N made.
  template <std::size_t N>
  void putBlock(const char* s, std::size_t n) {
    std::memcpy(cur_, s, N);
    cur_ += n;
  }
  template <std::size_t N>
  void putLiteral(const char (&text)[N]) {
    put(text, N - 1);
  }
  // The characters of a string escaped as Boost.JSON's serializer escapes
  // them (appendJsonString), without quotes; makes its own room.
  void putEscaped(std::string_view text);

  // Whole values, each making its own room: text the caller wrote as JSON
  // already (keys, punctuation), a string (appendJsonString's text), an
  // integer.
  template <std::size_t N>
  void literal(const char (&text)[N]) {
    ensure(N - 1);
    put(text, N - 1);
  }
  void raw(std::string_view text) {
    ensure(text.size());
    put(text.data(), text.size());
  }
  void putJsonString(std::string_view text);
  void putJsonInt(std::int64_t value);
  void putJsonUint(std::uint64_t value);
  // appendJsonDouble's text.
  void putJsonDouble(double value);

  // The last byte written (the caller has written one).
  char last() const { return cur_[-1]; }
  std::size_t size() const { return static_cast<std::size_t>(cur_ - out_.data()); }
  const char* data() const { return out_.data(); }

  // Cuts the string to what was written: it holds the text, for the caller
  // to read or append to, until resume().
  void finish() { out_.resize(size()); }
  // Writes on after the string's text (as finish() left it, and what the
  // caller appended since), with room for `expected` bytes made.
  void resume(std::size_t expected) {
    const std::size_t used = out_.size();
    out_.resize(used + expected);
    reset(used);
  }

 private:
  [[gnu::noinline]] void grow(std::size_t n);
  void reset(std::size_t used) {
    cur_ = out_.data() + used;
    end_ = out_.data() + out_.size();
  }

  std::string& out_;
  char* cur_ = nullptr;
  char* end_ = nullptr;
};

}  // namespace gw
