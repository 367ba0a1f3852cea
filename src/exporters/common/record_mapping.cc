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

std::string genAiOperationName(const std::optional<std::string>& path) {
  if (!path) return "generate_content";
  std::string_view p(*path);
  p = p.substr(0, p.find('?'));
  if (p.ends_with("/chat/completions")) return "chat";
  if (p.ends_with("/completions")) return "text_completion";
  if (p.ends_with("/embeddings")) return "embeddings";
  return "generate_content";
}

std::string genAiProviderName(const std::optional<std::string>& provider) {
  if (!provider) return "_OTHER";
  if (*provider == "bedrock") return "aws.bedrock";
  return *provider;
}

}  // namespace gw::exporters
