// A protobuf wire-format writer for the otlp exporter's requests: fields are
// appended to one string as the generated classes would serialize them,
// without building messages first.
//
// What the caller must do to produce the bytes the generated code does
// (protobuf's serializer, which the receivers' parsers and the tests'
// decoders check against): write each message's fields in field-number
// order, leave out proto3 fields that hold their default value (0, "",
// false) unless they are oneof members or `optional` fields that are set,
// and write set sub-messages even when they are empty.
//
// Lengths are minimal varints, as protobuf writes them. A message whose size
// the caller knows is written with it (lengthPrefix); any other is opened
// with a one-byte length that close() fixes, moving the message's bytes when
// its length needs more than one byte (messages of 128 bytes or more: a move
// of their own bytes per level of nesting).
//
// The string grows ahead of the bytes written (a cursor into it); finish()
// cuts it to them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace gw::exporters::otlp::wire {

enum WireType : unsigned { kVarint = 0, kFixed64 = 1, kLength = 2 };

// Bytes of `v` as a varint.
constexpr std::size_t varintSize(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Bytes of a whole field: its tag (field numbers below 16 take one byte) and
// its payload.
constexpr std::size_t tagSize(unsigned field) { return varintSize(static_cast<std::uint64_t>(field) << 3); }
constexpr std::size_t lengthFieldSize(unsigned field, std::size_t n) { return tagSize(field) + varintSize(n) + n; }

inline std::uint64_t bitsOf(double v) {
  std::uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits;
}

class Writer {
 public:
  // Appends to `out`; finish() must be called before `out` is read.
  explicit Writer(std::string& out) : out_(out), size_(out.size()) {}

  // Cuts `out` to the bytes written.
  void finish() { out_.resize(size_); }

  std::size_t size() const { return size_; }
  // Where the bytes written from offset `from` on are (valid until the next
  // write).
  char* bytesFrom(std::size_t from) { return out_.data() + from; }
  // Drops what was written after the first `n` bytes.
  void truncate(std::size_t n) { size_ = std::min(size_, n); }

  void tag(unsigned field, WireType type) { varint((static_cast<std::uint64_t>(field) << 3) | type); }

  void varint(std::uint64_t v) {
    char* p = room(10);
    putVarint(p, v);
    advanceTo(p);
  }

  void fixed64(std::uint64_t v) {
    char* p = room(8);
    putFixed64(p, v);
    advanceTo(p);
  }

  void raw(std::string_view s) {
    if (s.empty()) return;
    std::memcpy(room(s.size()), s.data(), s.size());
    size_ += s.size();
  }

  // Singular fields, always written (oneof members, set `optional` fields).
  void varintField(unsigned field, std::uint64_t v) {
    tag(field, kVarint);
    varint(v);
  }
  void fixed64Field(unsigned field, std::uint64_t v) {
    tag(field, kFixed64);
    fixed64(v);
  }
  void doubleField(unsigned field, double v) { fixed64Field(field, bitsOf(v)); }
  void bytesField(unsigned field, std::string_view s) {
    lengthPrefix(field, s.size());
    raw(s);
  }
  // The tag and length of a length-delimited field whose `n` bytes follow.
  void lengthPrefix(unsigned field, std::size_t n) {
    tag(field, kLength);
    varint(n);
  }

  // proto3 fields without presence: left out when they hold the default.
  void varintIfSet(unsigned field, std::uint64_t v) {
    if (v != 0) varintField(field, v);
  }
  void fixed64IfSet(unsigned field, std::uint64_t v) {
    if (v != 0) fixed64Field(field, v);
  }
  void bytesIfSet(unsigned field, std::string_view s) {
    if (!s.empty()) bytesField(field, s);
  }

  // Writing a run of fields whose size the caller knows: at() makes room
  // for `n` bytes and returns where they go, the put* functions write
  // through that pointer (no check, no member update per byte), and
  // advanceTo() takes the pointer back. For the small messages written by
  // the thousand (a body's scalars).
  char* at(std::size_t n) { return room(n); }
  void advanceTo(const char* p) { size_ = static_cast<std::size_t>(p - out_.data()); }
  static void putVarint(char*& p, std::uint64_t v) {
    while (v >= 0x80) {
      *p++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *p++ = static_cast<char>(v);
  }
  static void putTag(char*& p, unsigned field, WireType type) {
    putVarint(p, (static_cast<std::uint64_t>(field) << 3) | type);
  }
  static void putFixed64(char*& p, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) *p++ = static_cast<char>(v >> (8 * i));
  }
  static void putBytes(char*& p, std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  }

  // A nested message of unknown size: open() writes its tag and returns what
  // close() takes.
  [[nodiscard]] std::size_t open(unsigned field) {
    tag(field, kLength);
    *room(1) = '\0';
    return ++size_;
  }
  void close(std::size_t start) {
    const std::size_t n = size_ - start;
    if (n < 0x80) {
      out_[start - 1] = static_cast<char>(n);
      return;
    }
    const std::size_t k = varintSize(n);
    room(k - 1);
    char* body = out_.data() + start;
    std::memmove(body + k - 1, body, n);
    size_ = start - 1;
    varint(n);
    size_ += n;
  }

 private:
  // At least `n` writable bytes at the cursor.
  char* room(std::size_t n) {
    if (out_.size() - size_ < n) [[unlikely]]
      grow(n);
    return out_.data() + size_;
  }
  // The first growth takes the capacity the caller reserved (one fill, no
  // reallocation), later ones double.
  [[gnu::noinline]] void grow(std::size_t n) {
    out_.resize(std::max({out_.capacity(), out_.size() * 2, size_ + n + 4096}));
  }

  std::string& out_;
  std::size_t size_;  // bytes written; out_ holds more (room ahead)
};

}  // namespace gw::exporters::otlp::wire
