// Logging: spdlog, one named logger per component, all writing to stderr
// (stdout belongs to the console exporter). Level from LOG_LEVEL/RUST_LOG.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace gw::log {

// Sets the global level ("debug", "info", "warn", "error"); false if unknown.
bool setLevel(const std::string& level);
// A logger named `component`, created on first use. Thread-safe.
std::shared_ptr<spdlog::logger> get(const std::string& component);

}  // namespace gw::log
