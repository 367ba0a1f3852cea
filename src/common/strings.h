// Small string helpers used across the gateway (ASCII only, no locale).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace gw {

inline char asciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (asciiLower(a[i]) != asciiLower(b[i])) return false;
  return true;
}

// Space, tab, CR, LF: JSON's whitespace, and what trim() removes.
inline bool isJsonWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && isJsonWhitespace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isJsonWhitespace(s.back())) s.remove_suffix(1);
  return s;
}

inline std::string toLower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = asciiLower(c);
  return out;
}

inline std::string toUpper(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return out;
}

// Position of `needle` in `haystack`, or npos. glibc's memmem: much faster
// than string_view::find on JSON text, where find() stops at every quote
// when the needle starts with one.
inline std::size_t findBytes(std::string_view haystack, std::string_view needle, std::size_t from = 0) {
  if (from > haystack.size()) return std::string_view::npos;
  const void* p = ::memmem(haystack.data() + from, haystack.size() - from, needle.data(), needle.size());
  return p ? static_cast<std::size_t>(static_cast<const char*>(p) - haystack.data()) : std::string_view::npos;
}

inline bool containsBytes(std::string_view haystack, std::string_view needle) {
  return findBytes(haystack, needle) != std::string_view::npos;
}

// Splits on `sep`, trims items, drops empty ones.
inline std::vector<std::string> splitList(std::string_view s, char sep) {
  std::vector<std::string> out;
  while (true) {
    auto pos = s.find(sep);
    auto item = trim(s.substr(0, pos));
    if (!item.empty()) out.emplace_back(item);
    if (pos == std::string_view::npos) break;
    s.remove_prefix(pos + 1);
  }
  return out;
}

// True when `s` contains a byte that must never appear in an HTTP header
// value or name (CR, LF, NUL): header injection.
//
// Checked eight bytes at a time, because every forwarded header name and
// value goes through it. A word has a zero byte exactly when
// (w - 0x01..01) & ~w & 0x80..80 is not zero; XOR with a repeated byte
// turns that byte into zero.
inline bool hasHeaderUnsafeBytes(std::string_view s) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  // Not zero exactly when w has a zero byte; the three masks are or-ed
  // without branches.
  auto zeroBytes = [](std::uint64_t w) { return (w - kOnes) & ~w & kHighs; };
  auto unsafeWordAt = [&](std::size_t i) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    return (zeroBytes(w) | zeroBytes(w ^ (kOnes * '\r')) | zeroBytes(w ^ (kOnes * '\n'))) != 0;
  };
  if (s.size() < 8) {
    for (char c : s)
      if (c == '\r' || c == '\n' || c == '\0') return true;
    return false;
  }
  for (std::size_t i = 0; i + 8 <= s.size(); i += 8)
    if (unsafeWordAt(i)) return true;
  return unsafeWordAt(s.size() - 8);  // the last bytes, overlapping the words before
}

// Text from a configuration file as an error message shows it: printable
// ASCII (any other byte becomes '?'), at most `max_bytes` of it, then "..."
// when cut. The message goes to a terminal and may be about anything.
inline std::string printableExcerpt(std::string_view text, std::size_t max_bytes = 64) {
  std::string out;
  for (char c : text.substr(0, max_bytes)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > max_bytes) out += "...";
  return out;
}

// Where the first blank line (CR LF CR LF) of an HTTP head ends, or npos:
// one memchr per line (glibc's memmem sets up a general search per call,
// which costs more than a head's few lines).
inline std::size_t findHeadEnd(std::string_view bytes) {
  std::size_t from = 0;
  while (from < bytes.size()) {
    const void* hit = std::memchr(bytes.data() + from, '\n', bytes.size() - from);
    if (!hit) return std::string_view::npos;
    std::size_t lf = static_cast<std::size_t>(static_cast<const char*>(hit) - bytes.data());
    if (lf >= 3 && bytes[lf - 1] == '\r' && bytes[lf - 2] == '\n' && bytes[lf - 3] == '\r') return lf + 1;
    from = lf + 1;
  }
  return std::string_view::npos;
}

// Appends every piece to `out` with one length check and one growth.
// std::string::append is a capacity check and an out-of-line copy per call,
// and the heads the proxy writes are 10-20 pieces each; here a literal
// piece is a fixed-size copy.
[[gnu::always_inline]] inline char* copyPiece(char* to, std::string_view piece) {
  if (!piece.empty()) std::memcpy(to, piece.data(), piece.size());  // an empty view's data() may be null
  return to + piece.size();
}

template <class... Pieces>
[[gnu::always_inline]] inline void appendPieces(std::string& out, const Pieces&... pieces) {
  const std::size_t at = out.size();
  out.resize(at + (std::string_view(pieces).size() + ...));
  char* p = out.data() + at;
  ((p = copyPiece(p, std::string_view(pieces))), ...);
}

// Length of the valid UTF-8 sequence starting at text[i] (1-4), or 0 when
// the bytes there are not one (stray continuation byte, overlong form,
// surrogate, beyond U+10FFFF, cut short).
std::size_t utf8SequenceLength(std::string_view text, std::size_t i);

bool isValidUtf8(std::string_view text);

// `text` with every byte that does not start a valid UTF-8 sequence replaced
// by U+FFFD: for untrusted bytes (HTTP header values, binary bodies) that go
// into JSON, which must be UTF-8.
std::string toValidUtf8(std::string_view text);

// Replaces each secret (of 8 bytes or more: a shorter "secret" would
// redact ordinary text) in `text` with [REDACTED], also where JSON escaped
// its '/' as "\/". For error bodies that are passed on or logged: a
// provider or telemetry backend that echoes the key it was sent must not
// hand it to a client, a record or a log line.
void redactSecrets(std::string& text, const std::vector<std::string>& secrets);

// Constant-time comparison for secrets (gateway keys): the time taken does
// not depend on where the strings first differ.
bool constantTimeEquals(std::string_view a, std::string_view b);

}  // namespace gw
