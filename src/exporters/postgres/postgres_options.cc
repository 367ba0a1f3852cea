#include "exporters/postgres/postgres_options.h"

#include "gw/setting_table.h"

#include <libpq-fe.h>

namespace gw::exporters::postgres {
namespace {
bool validPart(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}
}  // namespace

bool isValidTableName(const std::string& table) {
  auto dot = table.find('.');
  if (dot == std::string::npos) return validPart(table);
  return validPart(std::string_view(table).substr(0, dot)) && validPart(std::string_view(table).substr(dot + 1));
}

namespace {
constexpr SettingDoc kSettings[] = {
    {"POSTGRES_URL", "", "libpq URI or key=value string (required)"},
    {"POSTGRES_TABLE", "ai_gateway_logs", "table or schema.table"},
    {"POSTGRES_CONNECT_TIMEOUT_MS", "5000", "libpq connect_timeout (whole seconds, at least 2)"},
    {"POSTGRES_STATEMENT_TIMEOUT_MS", "30000", "server statement_timeout; tcp_user_timeout is this + 5 s"},
};
}  // namespace

std::span<const SettingDoc> Options::settings() { return kSettings; }

Result<Options> Options::fromConfig(const ConfigSource& source) {
  const DeclaredSettings<kSettings> config(source);
  Options o;
  auto url = config.get("POSTGRES_URL");
  if (!url) return configError("POSTGRES_URL", "required when the postgres exporter is enabled");
  o.url = *url;
  // Parse only (no connection): a typo stops start-up, an unreachable server does not.
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(o.url.c_str(), &err);
  if (!parsed) {
    // libpq's message quotes the offending part, never the password value.
    std::string message = err ? err : "cannot parse the connection string";
    if (err) PQfreemem(err);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return configError("POSTGRES_URL", "invalid libpq connection string: " + message);
  }
  PQconninfoFree(parsed);
  o.table = config.getString("POSTGRES_TABLE", o.table);
  if (!isValidTableName(o.table))
    return configError("POSTGRES_TABLE", "'" + o.table + "' is not a valid table name ([schema.]name, letters, digits, _)");
  auto connect = config.getInt("POSTGRES_CONNECT_TIMEOUT_MS", 5000, 1000, 600000);
  if (!connect) return connect.error();
  o.connect_timeout = std::chrono::milliseconds(*connect);
  auto statement = config.getInt("POSTGRES_STATEMENT_TIMEOUT_MS", 30000, 100, 3600000);
  if (!statement) return statement.error();
  o.statement_timeout = std::chrono::milliseconds(*statement);
  return o;
}

}  // namespace gw::exporters::postgres
