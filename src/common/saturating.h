// Arithmetic on numbers that come from untrusted JSON (token counts in
// upstream usage objects): any value is possible, so sums saturate instead
// of overflowing (undefined behaviour) and doubles convert without an
// undefined out-of-range cast. Found by fuzz_exporters.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace gw {

inline std::int64_t saturatingAdd(std::int64_t a, std::int64_t b) {
  std::int64_t sum;
  if (__builtin_add_overflow(a, b, &sum)) return b > 0 ? std::numeric_limits<std::int64_t>::max()
                                                       : std::numeric_limits<std::int64_t>::min();
  return sum;
}

// NaN is 0; values beyond the int64 range are clamped to it.
inline std::int64_t saturatingInt64(double d) {
  if (std::isnan(d)) return 0;
  if (d >= 9.2e18) return std::numeric_limits<std::int64_t>::max();
  if (d <= -9.2e18) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(d);
}

inline std::int64_t saturatingInt64(std::uint64_t u) {
  return u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
             ? std::numeric_limits<std::int64_t>::max()
             : static_cast<std::int64_t>(u);
}

}  // namespace gw
