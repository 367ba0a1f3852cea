// Masks the operator's credentials that the gateway sent upstream wherever
// an upstream echoes them in a response body, before anything (the
// provider's handler, the record, the client) sees the bytes: a client
// spending the gateway's key must never learn it.
//
// The body arrives in pieces, and a credential may straddle two: the
// longest end of a piece that could begin a credential is held back and
// put in front of the next piece. Each occurrence becomes "[REDACTED]"
// padded with '*' to the credential's length, so that a body keeps its
// length (a relayed Content-Length stays true). Credentials are the bare
// values collectOperatorSecrets() lists (upstream_heads.h): 8 bytes or
// more, so that a short one cannot mask ordinary text.
//
// One per response, on the worker's thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace gw::server {

// The first occurrence of `needle` (2 bytes or more) in `hay`, or null.
// Every relayed body piece is searched, and most are a few hundred bytes:
// glibc's memmem spends more on its set-up per call (a shift table) than
// on such a search. This compares 32 (AVX2) or 16 (SSE2) positions at a
// time for the needle's first and last bytes (W. Mula's filter) and checks
// only the positions where both match; the last positions one by one.
namespace find_bytes_detail {

inline bool matchesAt(const char* h, std::string_view needle) {
  return h[0] == needle[0] && h[needle.size() - 1] == needle.back() &&
         std::memcmp(h + 1, needle.data() + 1, needle.size() - 2) == 0;
}

// The first match among the candidate positions `at + k` for each bit k
// of `mask` (positions whose first and last bytes match), or null.
inline const char* checkCandidates(const char* h, std::size_t at, std::uint64_t mask, std::string_view needle) {
  for (; mask != 0; mask &= mask - 1) {
    const std::size_t pos = at + static_cast<std::size_t>(__builtin_ctzll(mask));
    if (std::memcmp(h + pos + 1, needle.data() + 1, needle.size() - 2) == 0) return h + pos;
  }
  return nullptr;
}

#if defined(__x86_64__) || defined(__i386__)
// The positions at..at+31 whose first and last bytes match, as bytes.
__attribute__((target("avx2"))) inline __m256i hitsAvx2(const char* at, std::size_t m, __m256i first, __m256i last) {
  const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at));
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at + m - 1));
  return _mm256_and_si256(_mm256_cmpeq_epi8(a, first), _mm256_cmpeq_epi8(b, last));
}

// Precondition: last_start >= 31 (a whole block fits).
__attribute__((target("avx2"))) inline const char* findAvx2(const char* h, std::size_t last_start,
                                                            std::string_view needle) {
  const std::size_t m = needle.size();
  const __m256i first = _mm256_set1_epi8(needle[0]);
  const __m256i last = _mm256_set1_epi8(needle[m - 1]);
  auto hits = [&](std::size_t at) __attribute__((target("avx2"))) { return hitsAvx2(h + at, m, first, last); };
  std::size_t i = 0;
  // Two blocks a round: one test of both for the usual round without a
  // candidate.
  for (; i + 63 <= last_start; i += 64) {
    const __m256i hit0 = hits(i), hit1 = hits(i + 32);
    const __m256i any = _mm256_or_si256(hit0, hit1);
    if (_mm256_testz_si256(any, any)) continue;
    const std::uint64_t lo = static_cast<unsigned>(_mm256_movemask_epi8(hit0));
    const std::uint64_t hi = static_cast<unsigned>(_mm256_movemask_epi8(hit1));
    if (const char* found = checkCandidates(h, i, lo | (hi << 32), needle)) return found;
  }
  for (; i + 31 <= last_start; i += 32)
    if (const char* found = checkCandidates(h, i, static_cast<unsigned>(_mm256_movemask_epi8(hits(i))), needle))
      return found;
  // The rest, fewer than 32 positions: one last block ending at the last
  // position, overlapping positions already checked (none matched).
  if (i <= last_start) return checkCandidates(h, last_start - 31, static_cast<unsigned>(_mm256_movemask_epi8(hits(last_start - 31))), needle);
  return nullptr;
}
#endif

#ifdef __SSE2__
// Precondition: last_start >= 15.
inline const char* findSse2(const char* h, std::size_t last_start, std::string_view needle) {
  const std::size_t m = needle.size();
  const __m128i first = _mm_set1_epi8(needle[0]);
  const __m128i last = _mm_set1_epi8(needle[m - 1]);
  auto mask = [&](std::size_t at) -> std::uint64_t {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + at));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + at + m - 1));
    return static_cast<unsigned>(_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, last))));
  };
  std::size_t i = 0;
  for (; i + 15 <= last_start; i += 16)
    if (const char* found = checkCandidates(h, i, mask(i), needle)) return found;
  if (i <= last_start) return checkCandidates(h, last_start - 15, mask(last_start - 15), needle);
  return nullptr;
}
#endif

}  // namespace find_bytes_detail

inline const char* findBytes(std::string_view hay, std::string_view needle) {
  using namespace find_bytes_detail;
  const std::size_t m = needle.size();
  if (m < 2 || hay.size() < m) return nullptr;
  const char* h = hay.data();
  const std::size_t last_start = hay.size() - m;  // the last position a match can start at
#if defined(__x86_64__) || defined(__i386__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2 && last_start >= 31) return findAvx2(h, last_start, needle);
#endif
#ifdef __SSE2__
  if (last_start >= 15) return findSse2(h, last_start, needle);
#endif
  for (std::size_t i = 0; i <= last_start; ++i)
    if (matchesAt(h + i, needle)) return h + i;
  return nullptr;
}

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
      if (findBytes(text, s) != nullptr) return true;
    return false;
  }

  void mask(std::string& text) const {
    static constexpr std::string_view kRedacted = "[REDACTED]";
    for (std::string_view s : secrets_) {
      for (std::size_t at = 0;;) {
        const char* found = findBytes(std::string_view(text).substr(at), s);
        if (found == nullptr) break;
        at = static_cast<std::size_t>(found - text.data());
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
