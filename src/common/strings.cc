#include "common/strings.h"

#include <openssl/crypto.h>

namespace gw {

bool constantTimeEquals(std::string_view a, std::string_view b) {
  // Compare lengths without an early exit on content; CRYPTO_memcmp is
  // OpenSSL's constant-time comparison.
  if (a.size() != b.size()) {
    (void)CRYPTO_memcmp(a.data(), a.data(), a.size());
    return false;
  }
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace gw
