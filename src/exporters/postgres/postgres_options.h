// Settings of the postgres exporter (docs/exporters.md), read once at start-up.
#pragma once

#include "gw/setting_table.h"
#include "gw/error.h"

#include <chrono>
#include <span>
#include <string>

namespace gw::exporters::postgres {

struct Options {
  std::string url;                      // POSTGRES_URL: libpq URI or key=value string (required)
  std::string table = "ai_gateway_logs";  // POSTGRES_TABLE: `table` or `schema.table`
  std::chrono::milliseconds connect_timeout{5000};     // POSTGRES_CONNECT_TIMEOUT_MS
  std::chrono::milliseconds statement_timeout{30000};  // POSTGRES_STATEMENT_TIMEOUT_MS

  static Result<Options> fromConfig(const ConfigSource& config);
  // The variables fromConfig() reads, for --help (registered with the factory).
  static std::span<const SettingDoc> settings();
};

// `name` or `schema.name`, each part [A-Za-z_][A-Za-z0-9_]* of at most 63 bytes.
bool isValidTableName(const std::string& table);

}  // namespace gw::exporters::postgres
