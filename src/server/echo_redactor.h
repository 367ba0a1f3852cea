// Masks the credentials the gateway sent upstream wherever an upstream
// echoes them in a response body, before anything (the provider's handler,
// the record, the client) sees the bytes.
//
// The body arrives in pieces, and a credential may straddle two: the
// longest end of a piece that could begin a credential is held back and
// put in front of the next piece. Each occurrence becomes "[REDACTED]"
// padded with '*' to the credential's length, so that a body keeps its
// length (a relayed Content-Length stays true). Credentials are the bare
// values sentSecrets() lists in proxy.cc: 8 bytes or more, so that a short
// one cannot mask ordinary text.
//
// One per response, on the worker's thread.
#pragma once

#include <algorithm>
#include <cstring>
#include <string.h>  // memmem
#include <string>
#include <string_view>
#include <vector>

namespace gw::server {

class EchoRedactor {
 public:
  explicit EchoRedactor(const std::vector<std::string_view>& secrets) : secrets_(secrets) {}

  // The next piece of the body (`at_end`: the body is over, nothing
  // follows), returned masked, without what is held back. The result is
  // `piece` itself when nothing needed masking or holding (no copy), else
  // a view of internal memory valid until the next call.
  std::string_view filter(std::string_view piece, bool at_end) {
    if (secrets_.empty()) return piece;
    if (held_.empty() && !containsAny(piece) && (at_end || heldSuffix(piece) == 0)) return piece;
    out_.assign(held_).append(piece);
    held_.clear();
    mask(out_);
    if (!at_end) {
      const std::size_t keep = heldSuffix(out_);
      held_.assign(out_, out_.size() - keep, keep);
      out_.resize(out_.size() - keep);
    }
    return out_;
  }

 private:
  bool containsAny(std::string_view text) const {
    for (std::string_view s : secrets_)
      if (memmem(text.data(), text.size(), s.data(), s.size()) != nullptr) return true;
    return false;
  }

  void mask(std::string& text) const {
    static constexpr std::string_view kRedacted = "[REDACTED]";
    for (std::string_view s : secrets_) {
      for (std::size_t at = 0;;) {
        const void* found = memmem(text.data() + at, text.size() - at, s.data(), s.size());
        if (found == nullptr) break;
        at = static_cast<std::size_t>(static_cast<const char*>(found) - text.data());
        const std::size_t shown = std::min(kRedacted.size(), s.size());
        text.replace(at, shown, kRedacted.substr(0, shown));
        std::fill_n(text.begin() + static_cast<std::ptrdiff_t>(at + shown), s.size() - shown, '*');
        at += s.size();
      }
    }
  }

  // The length of the longest end of `text` that is a proper beginning of
  // some credential (it may continue in the next piece).
  std::size_t heldSuffix(std::string_view text) const {
    std::size_t longest = 0;
    const char* end = text.data() + text.size();
    for (std::string_view s : secrets_) {
      const std::size_t most = std::min(s.size() - 1, text.size());
      // Candidates start with the credential's first byte; the earliest
      // one that matches is the longest.
      const char* from = end - most;
      while (const void* hit = std::memchr(from, s[0], static_cast<std::size_t>(end - from))) {
        const char* p = static_cast<const char*>(hit);
        const std::size_t k = static_cast<std::size_t>(end - p);
        if (k <= longest) break;
        if (std::memcmp(p, s.data(), k) == 0) {
          longest = k;
          break;
        }
        from = p + 1;
      }
    }
    return longest;
  }

  const std::vector<std::string_view>& secrets_;
  std::string held_;
  std::string out_;
};

}  // namespace gw::server
