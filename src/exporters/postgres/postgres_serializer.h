// Pure functions from request records to SQL: the schema statements and the
// batched, idempotent INSERT. Values always travel as parameters ($n), never
// inside the SQL text; the table name is validated and quoted.
#pragma once

#include "gw/exporter.h"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gw::exporters::postgres {

// "schema"."table" or "table", double-quoted.
std::string quotedTable(const std::string& table);

// CREATE TABLE IF NOT EXISTS with the docs/exporters.md columns, and the indexes
// on timestamp, project_id and model.
std::vector<std::string> schemaStatements(const std::string& table);

inline constexpr const char* kColumns[] = {
    "timestamp", "log_data", "ttfb",         "latency",       "request_id",   "provider", "model",  "project_id",
    "org_id",    "user_id",  "input_tokens", "output_tokens", "total_tokens", "cost",     "status", "status_code"};
inline constexpr std::size_t kColumnCount = std::size(kColumns);

// The 16 column values of one record, in kColumns order, as text
// parameters (nullopt = NULL). Each value views a whole std::string, so it
// is NUL-terminated as libpq wants: one of the record's own (its text, its
// fields: the row must not outlive the record) or one the row made (numbers,
// a rewritten text), kept in the row. Moving a row keeps its values valid;
// copying is not allowed.
class Row {
 public:
  Row() { owned_.reserve(kColumnCount); }
  Row(Row&&) noexcept = default;
  Row& operator=(Row&&) noexcept = default;
  Row(const Row&) = delete;
  Row& operator=(const Row&) = delete;

  const std::optional<std::string_view>& operator[](std::size_t column) const { return values_[column]; }
  std::size_t size() const { return values_.size(); }

  void addView(const std::string& value) { values_.emplace_back(value); }
  void addView(const std::optional<std::string>& value) {
    values_.push_back(value ? std::optional<std::string_view>(*value) : std::nullopt);
  }
  void addOwned(std::optional<std::string> value);

 private:
  std::vector<std::optional<std::string_view>> values_;
  std::vector<std::string> owned_;  // reserved once: never reallocated, so views into it stay valid
};

// Nullopt when the record cannot be stored (no id, unparsable timestamp): it
// is rejected without a round trip.
std::optional<Row> rowFor(const TelemetryRecord& record);

// The record's JSON text as a JSONB value can hold it: PostgreSQL refuses
// the escape \u0000 in JSONB (valid JSON: a NUL character in a captured
// body or header), which would lose the whole record, so each such escape
// becomes \ufffd (the replacement character). Text that only looks like it
// (an escaped backslash followed by "u0000") is left alone. Nullopt when
// nothing needs to change: the text can be sent as it is.
std::optional<std::string> jsonbSafe(std::string_view json_text);

// INSERT INTO t (...) VALUES ($1,...),(...) ON CONFLICT (request_id) DO NOTHING
// for `rows` rows.
std::string insertStatement(const std::string& table, std::size_t rows);

}  // namespace gw::exporters::postgres
