#include "common/strings.h"

#include <openssl/crypto.h>

namespace gw {

namespace {
void replaceAll(std::string& text, std::string_view needle, std::string_view with) {
  std::size_t pos = 0;
  while ((pos = findBytes(text, needle, pos)) != std::string::npos) {
    text.replace(pos, needle.size(), with);
    pos += with.size();
  }
}
}  // namespace

void redactSecrets(std::string& text, const std::vector<std::string>& secrets) {
  static constexpr std::string_view kRedacted = "[REDACTED]";
  for (const auto& secret : secrets) {
    if (secret.size() < 8) continue;
    replaceAll(text, secret, kRedacted);
    if (secret.find('/') != std::string::npos) {
      std::string escaped;
      for (char c : secret) {
        if (c == '/') escaped.push_back('\\');
        escaped.push_back(c);
      }
      replaceAll(text, escaped, kRedacted);
    }
  }
}

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
