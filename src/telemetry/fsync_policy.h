// When a durable writer (the spool, the file exporter) calls fdatasync:
// after every write, within one TELEMETRY_FLUSH_INTERVAL_MS of the first
// unsynced write, or never (the kernel's writeback decides).
#pragma once

#include "gw/config_source.h"
#include "gw/error.h"

#include <string>
#include <string_view>

namespace gw {

enum class FsyncPolicy { kAlways, kBatch, kNever };

// `value` of the setting `variable`: always, batch or never; an error
// naming the variable otherwise.
inline Result<FsyncPolicy> parseFsyncPolicy(std::string_view variable, const std::string& value) {
  if (value == "always") return FsyncPolicy::kAlways;
  if (value == "batch") return FsyncPolicy::kBatch;
  if (value == "never") return FsyncPolicy::kNever;
  return configError(variable, "must be always, batch or never, not '" + value + "'");
}

}  // namespace gw
