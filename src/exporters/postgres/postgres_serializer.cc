#include "exporters/postgres/postgres_serializer.h"

#include "exporters/common/record_mapping.h"

#include <charconv>
#include <cmath>

namespace gw::exporters::postgres {
namespace {

std::string quoteIdent(std::string_view s) { return "\"" + std::string(s) + "\""; }  // validated: no quotes inside

std::string bareName(const std::string& table) {
  auto dot = table.find('.');
  return dot == std::string::npos ? table : table.substr(dot + 1);
}

std::optional<std::string> text(const std::optional<std::int64_t>& v) {
  return v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt;
}

// INTEGER columns hold milliseconds; the record may carry fractions.
std::optional<std::string> roundedMs(const std::optional<double>& v) {
  if (!v || !std::isfinite(*v)) return std::nullopt;
  return std::to_string(std::llround(*v));
}

// The shortest text that reads back as exactly `v` (PostgreSQL's float8
// input is correctly rounded; "inf" and "nan" it reads too), without the C
// library's printf. 32 bytes hold any double's shortest form.
std::string shortestRoundTrip(double v) {
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

}  // namespace

std::string quotedTable(const std::string& table) {
  auto dot = table.find('.');
  if (dot == std::string::npos) return quoteIdent(table);
  return quoteIdent(std::string_view(table).substr(0, dot)) + "." + quoteIdent(std::string_view(table).substr(dot + 1));
}

std::vector<std::string> schemaStatements(const std::string& table) {
  const std::string t = quotedTable(table);
  const std::string base = bareName(table).substr(0, 40);  // index names stay under 63 bytes
  return {
      "CREATE TABLE IF NOT EXISTS " + t +
          " (id SERIAL PRIMARY KEY, timestamp TIMESTAMPTZ NOT NULL, log_data JSONB NOT NULL, ttfb INTEGER, "
          "latency INTEGER, request_id TEXT UNIQUE NOT NULL, provider TEXT, model TEXT, project_id TEXT, "
          "org_id TEXT, user_id TEXT, input_tokens INTEGER, output_tokens INTEGER, total_tokens INTEGER, "
          "cost DOUBLE PRECISION, status TEXT, status_code INTEGER)",
      "CREATE INDEX IF NOT EXISTS " + quoteIdent(base + "_timestamp_idx") + " ON " + t + " (timestamp)",
      "CREATE INDEX IF NOT EXISTS " + quoteIdent(base + "_project_id_idx") + " ON " + t + " (project_id)",
      "CREATE INDEX IF NOT EXISTS " + quoteIdent(base + "_model_idx") + " ON " + t + " (model)",
  };
}

std::optional<std::string> jsonbSafe(std::string_view text) {
  static constexpr std::string_view kNul = "\\u0000";
  std::optional<std::string> out;
  std::size_t copied = 0;
  for (std::size_t pos = text.find(kNul); pos != std::string_view::npos; pos = text.find(kNul, pos + 1)) {
    // An escape only when an odd run of backslashes ends here ("\\u0000"
    // is a backslash, then the letters u0000).
    std::size_t run = 1;
    while (pos >= run && text[pos - run] == '\\') ++run;
    if (run % 2 == 0) continue;
    if (!out) out.emplace().reserve(text.size());
    out->append(text, copied, pos - copied).append("\\ufffd");
    copied = pos + kNul.size();
  }
  if (out) out->append(text, copied);
  return out;
}

void Row::addOwned(std::optional<std::string> value) {
  if (!value) {
    values_.emplace_back(std::nullopt);
    return;
  }
  values_.emplace_back(owned_.emplace_back(std::move(*value)));
}

std::optional<Row> rowFor(const TelemetryRecord& record) {
  const auto& f = record.fields;
  if (f.id.empty() || !f.unix_nanos || record.serialized.empty()) return std::nullopt;
  Row row;
  row.addView(f.timestamp);
  if (auto safe = jsonbSafe(record.serialized))
    row.addOwned(std::move(*safe));
  else
    row.addView(record.serialized);
  row.addOwned(roundedMs(f.ttfb_ms));
  row.addOwned(roundedMs(f.latency_ms));
  row.addView(f.id);
  row.addView(f.provider);
  row.addView(f.model);
  row.addView(f.project_id);
  row.addView(f.org_id);
  row.addView(f.user_id);
  row.addOwned(text(f.input_tokens));
  row.addOwned(text(f.output_tokens));
  row.addOwned(text(f.total_tokens));
  row.addOwned(f.cost ? std::optional<std::string>(shortestRoundTrip(*f.cost)) : std::nullopt);
  row.addView(f.status);
  row.addOwned(text(f.status_code));
  return row;
}

std::string insertStatement(const std::string& table, std::size_t rows) {
  std::string sql = "INSERT INTO " + quotedTable(table) + " (";
  for (std::size_t c = 0; c < kColumnCount; ++c) sql += (c ? ", " : "") + std::string(kColumns[c]);
  sql += ") VALUES ";
  std::size_t n = 1;
  for (std::size_t r = 0; r < rows; ++r) {
    sql += r ? ", (" : "(";
    for (std::size_t c = 0; c < kColumnCount; ++c) sql += (c ? ", $" : "$") + std::to_string(n++);
    sql += ")";
  }
  sql += " ON CONFLICT (request_id) DO NOTHING";
  return sql;
}

}  // namespace gw::exporters::postgres
