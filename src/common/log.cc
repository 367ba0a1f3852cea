#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace gw::log {

namespace {
std::mutex g_mutex;
spdlog::level::level_enum g_level = spdlog::level::info;
}  // namespace

bool setLevel(const std::string& level) {
  spdlog::level::level_enum l;
  if (level == "debug" || level == "trace") l = spdlog::level::debug;
  else if (level == "info") l = spdlog::level::info;
  else if (level == "warn" || level == "warning") l = spdlog::level::warn;
  else if (level == "error") l = spdlog::level::err;
  else return false;
  std::lock_guard lock(g_mutex);
  g_level = l;
  spdlog::set_level(l);
  return true;
}

std::shared_ptr<spdlog::logger> get(const std::string& component) {
  std::lock_guard lock(g_mutex);
  if (auto existing = spdlog::get(component)) return existing;
  auto logger = spdlog::stderr_color_mt(component, spdlog::color_mode::never);
  logger->set_level(g_level);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ [%n] %v", spdlog::pattern_time_type::utc);
  return logger;
}

}  // namespace gw::log
