#include "exporters/common/record_mapping.h"

#include <cstdio>
#include <ctime>

namespace gw::exporters {

std::string formatRfc3339Millis(std::int64_t unix_nanos) {
  std::time_t secs = static_cast<std::time_t>(unix_nanos / 1000000000);
  int millis = static_cast<int>((unix_nanos % 1000000000) / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

}  // namespace gw::exporters
