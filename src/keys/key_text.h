// Helpers the key model's two rooms share (virtual_key.cc: periods and
// keys; key_json.cc: the admin API's bodies and the stored form):
// limits, civil dates in UTC and lowercase hex. Internal to src/keys.
#pragma once

#include <openssl/rand.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <stdexcept>
#include <string_view>

namespace gw::keys::detail {

constexpr std::int64_t kSecondsPerDay = 86400;
constexpr std::int64_t kMaxCount = 1'000'000'000'000;  // rpm and tpm
constexpr double kMaxUsd = 1e12;
constexpr std::int64_t kMaxUnixSeconds = 253402300799;  // 9999-12-31T23:59:59Z
constexpr std::size_t kMaxTextBytes = 256;
constexpr std::size_t kMaxModels = 1000;
constexpr std::size_t kMaxNameShown = 64;
constexpr char kHex[] = "0123456789abcdef";

// ---- Civil dates (proleptic Gregorian, UTC), Howard Hinnant's algorithms.

struct CivilDate {
  std::int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
};

// Days since 1970-01-01.
inline std::int64_t daysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

inline CivilDate civilFromDays(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

inline bool isLeapYear(std::int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

inline unsigned daysInMonth(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && isLeapYear(y) ? 29 : kDays[m - 1];
}

// Floor division and its remainder (0..86399), also for times before 1970.
inline std::int64_t dayOf(std::int64_t unix_seconds) {
  return unix_seconds / kSecondsPerDay - (unix_seconds % kSecondsPerDay < 0 ? 1 : 0);
}
inline std::int64_t secondOfDay(std::int64_t unix_seconds) {
  const std::int64_t r = unix_seconds % kSecondsPerDay;
  return r < 0 ? r + kSecondsPerDay : r;
}

// ---- Hex.

inline std::string toHex(const unsigned char* bytes, std::size_t n) {
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 15]);
  }
  return out;
}

inline std::string randomHex(std::size_t bytes) {
  unsigned char buf[32];
  if (bytes > sizeof buf || RAND_bytes(buf, static_cast<int>(bytes)) != 1)
    throw std::runtime_error("RAND_bytes failed: cannot make a virtual key");
  return toHex(buf, bytes);
}

inline bool isLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

inline bool hasPrefixAndHex(std::string_view text, std::string_view prefix, std::size_t hex_digits) {
  return text.size() == prefix.size() + hex_digits && text.substr(0, prefix.size()) == prefix &&
         isLowerHex(text.substr(prefix.size()));
}


}  // namespace gw::keys::detail
