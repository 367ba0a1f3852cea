#include "common/ids.h"

#include <openssl/rand.h>

#include <cstdint>
#include <random>

namespace gw {

namespace {
std::uint64_t seed() {
  std::uint64_t s = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&s), sizeof s) != 1) s = std::random_device{}();
  return s;
}
}  // namespace

std::string newRequestId() {
  // Not a security token: ids only need to be unique, so a fast PRNG seeded
  // from the OS per thread is enough.
  thread_local std::mt19937_64 rng(seed());
  std::uint64_t hi = rng(), lo = rng();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  int pos = 0;
  auto put = [&](std::uint64_t v, int nibbles_from, int count) {
    for (int i = 0; i < count; ++i) {
      if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
      out[pos++] = kHex[(v >> ((nibbles_from - 1 - i) * 4)) & 0xf];
    }
  };
  put(hi, 16, 16);
  put(lo, 16, 16);
  return out;
}

}  // namespace gw
