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
  // Written a byte (two digits) at a time; the dashes sit between bytes.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  char* p = out.data();
  auto put = [&](std::uint64_t v, int from_byte, int bytes) {
    for (int i = from_byte; i < from_byte + bytes; ++i) {
      unsigned b = static_cast<unsigned>(v >> ((7 - i) * 8)) & 0xffU;
      *p++ = kHex[b >> 4];
      *p++ = kHex[b & 0xf];
    }
  };
  put(hi, 0, 4);  // 8 digits
  ++p;
  put(hi, 4, 2);  // 4
  ++p;
  put(hi, 6, 2);  // 4
  ++p;
  put(lo, 0, 2);  // 4
  ++p;
  put(lo, 2, 6);  // 12
  return out;
}

}  // namespace gw
