#include "keys/virtual_key.h"

#include "keys/key_text.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace gw::keys {

using namespace detail;

namespace {

// ---- Glob: '*' matches any run of characters. On a mismatch the last '*'
// takes one more character; no other backtracking is needed.

bool globMatches(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0;
  std::size_t star = std::string_view::npos, star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace

// ---- Periods and money.

std::string_view toString(Period period) {
  switch (period) {
    case Period::kDay:
      return "day";
    case Period::kMonth:
      return "month";
    case Period::kTotal:
      break;
  }
  return "total";
}

std::optional<Period> parsePeriod(std::string_view text) {
  if (text == "day") return Period::kDay;
  if (text == "month") return Period::kMonth;
  if (text == "total") return Period::kTotal;
  return std::nullopt;
}

std::int64_t usdToPicos(double usd) {
  if (!(usd > 0)) return 0;  // negative, zero and NaN
  const double picos = usd * 1e12;
  // 2^63 is the first double past the int64 range; every double below it fits.
  if (picos >= 9223372036854775808.0) return std::numeric_limits<std::int64_t>::max();
  return std::llround(picos);
}

double picosToUsd(std::int64_t picos) { return static_cast<double>(picos) / 1e12; }

std::string periodId(Period period, std::int64_t unix_seconds) {
  if (period == Period::kTotal) return "t";
  const CivilDate date = civilFromDays(dayOf(unix_seconds));
  const auto year = static_cast<long long>(date.year);
  if (year < 0 || year > 9999) {  // not a date the gateway meets; formatted all the same
    char buf[40];
    if (period == Period::kDay)
      std::snprintf(buf, sizeof buf, "d%04lld%02u%02u", year, date.month, date.day);
    else
      std::snprintf(buf, sizeof buf, "m%04lld%02u", year, date.month);
    return buf;
  }
  // Digits by hand: this names the usage hashes of every accounted record.
  std::string id(period == Period::kDay ? "d00000000" : "m000000");
  auto put = [&id](std::size_t end, unsigned value) {
    for (std::size_t i = end; value > 0; --i, value /= 10) id[i] = static_cast<char>('0' + value % 10);
  };
  put(4, static_cast<unsigned>(year));
  put(6, date.month);
  if (period == Period::kDay) put(8, date.day);
  return id;
}

std::optional<std::int64_t> secondsToPeriodEnd(Period period, std::int64_t unix_seconds) {
  const std::int64_t to_midnight = kSecondsPerDay - secondOfDay(unix_seconds);
  if (period == Period::kDay) return to_midnight;
  if (period == Period::kTotal) return std::nullopt;
  // Whole days left after today, counted from the first of the next month.
  const std::int64_t today = dayOf(unix_seconds);
  const CivilDate date = civilFromDays(today);
  const bool december = date.month == 12;
  const std::int64_t next_month = daysFromCivil(date.year + (december ? 1 : 0), december ? 1 : date.month + 1, 1);
  return (next_month - today - 1) * kSecondsPerDay + to_midnight;
}

// ---- Keys.

bool VirtualKey::allows(std::string_view model) const {
  if (!allowed_models) return true;
  return std::any_of(allowed_models->begin(), allowed_models->end(),
                     [&](const std::string& pattern) { return globMatches(pattern, model); });
}

std::string generateKey() { return "gw-" + randomHex(32); }

std::string generateKeyId() { return "vk_" + randomHex(12); }

namespace {
// SHA-256 fetched once: with EVP_sha256() OpenSSL 3 looks the implementation
// up again at every EVP_Digest, which costs more than hashing a key (the
// request path hashes the key of every keyed request). Immutable once
// fetched, so shared by every thread.
const EVP_MD* sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}
}  // namespace

std::string hashKey(std::string_view key) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!sha256() || EVP_Digest(key.data(), key.size(), md, &len, sha256(), nullptr) != 1 || len != 32) return "";
  return toHex(md, len);
}

bool looksLikeVirtualKey(std::string_view text) { return hasPrefixAndHex(text, "gw-", 64); }

bool adminKeyMatches(std::string_view presented, std::string_view expected) {
  unsigned char a[EVP_MAX_MD_SIZE]{}, b[EVP_MAX_MD_SIZE]{};
  unsigned int n = 0;
  if (!sha256()) return false;
  EVP_Digest(presented.data(), presented.size(), a, &n, sha256(), nullptr);
  EVP_Digest(expected.data(), expected.size(), b, &n, sha256(), nullptr);
  return CRYPTO_memcmp(a, b, 32) == 0;
}

}  // namespace gw::keys
