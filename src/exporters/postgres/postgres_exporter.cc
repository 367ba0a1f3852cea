#include "exporters/postgres/postgres_exporter.h"

#include "gw/config_source.h"
#include "common/log.h"
#include "gw/exporter_registry.h"

#include <libpq-fe.h>

#include <algorithm>

namespace gw::exporters::postgres {
namespace {

// 16 parameters per row; libpq allows 65535 per statement.
constexpr std::size_t kRowsPerStatement = 1000;

std::string firstLine(const char* message) {
  std::string s = message ? message : "";
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

void PostgresExporter::ConnDeleter::operator()(pg_conn* c) const { PQfinish(c); }

PostgresExporter::PostgresExporter(Options options) : options_(std::move(options)) {}
PostgresExporter::~PostgresExporter() = default;

void PostgresExporter::disconnect() {
  conn_.reset();
}

void PostgresExporter::shutdown() { disconnect(); }

ExportResult PostgresExporter::ensureReady() {
  if (conn_ && PQstatus(conn_.get()) != CONNECTION_OK) disconnect();
  if (!conn_) {
    schema_ready_ = false;
    const std::string connect_s = std::to_string(std::max<long long>(2, options_.connect_timeout.count() / 1000));
    const std::string server_options = "-c statement_timeout=" + std::to_string(options_.statement_timeout.count());
    const std::string tcp_timeout = std::to_string(options_.statement_timeout.count() + 5000);
    // Our defaults first, the user's URL last: its own settings win.
    const char* keys[] = {"application_name", "connect_timeout", "options", "tcp_user_timeout", "dbname", nullptr};
    const char* values[] = {"magicapi-gateway", connect_s.c_str(), server_options.c_str(), tcp_timeout.c_str(),
                            options_.url.c_str(), nullptr};
    conn_.reset(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
    if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
      std::string message = conn_ ? firstLine(PQerrorMessage(conn_.get())) : "out of memory";
      disconnect();
      return ExportResult::retryable("postgres connect: " + message);
    }
  }
  if (!schema_ready_) {
    for (const auto& sql : schemaStatements(options_.table)) {
      auto r = execute(sql, {});
      if (r.outcome == Outcome::kOk) continue;
      // Two gateways creating the table at once can collide: try again later.
      if (r.outcome == Outcome::kFatal) return ExportResult::permanent("postgres schema: " + r.message);
      return ExportResult::retryable("postgres schema: " + r.message);
    }
    schema_ready_ = true;
  }
  return ExportResult::success();
}

PostgresExporter::StatementResult PostgresExporter::execute(const std::string& sql,
                                                            const std::vector<const Row*>& rows) {
  std::vector<const char*> params;
  params.reserve(rows.size() * kColumnCount);
  for (const Row* row : rows)
    for (std::size_t c = 0; c < row->size(); ++c) params.push_back((*row)[c] ? (*row)[c]->data() : nullptr);
  PGresult* res = PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(params.size()), nullptr, params.data(),
                               nullptr, nullptr, 0);
  StatementResult out;
  const auto status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    PQclear(res);
    return out;
  }
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : "";
  out.message = firstLine(res ? PQresultErrorMessage(res) : PQerrorMessage(conn_.get()));
  if (!sqlstate.empty()) out.message += " (SQLSTATE " + sqlstate + ")";
  PQclear(res);
  if (PQstatus(conn_.get()) != CONNECTION_OK || sqlstate.empty()) {
    disconnect();
    out.outcome = Outcome::kRetry;
  } else if (sqlstate.starts_with("22") || sqlstate.starts_with("23")) {
    out.outcome = Outcome::kBadData;  // data exception / integrity violation: this data, not the server
  } else if (sqlstate == "42P01" || sqlstate == "3F000") {
    schema_ready_ = false;  // table or schema dropped under us: recreate, then retry
    out.outcome = Outcome::kRetry;
  } else if (sqlstate.starts_with("08") || sqlstate.starts_with("53") || sqlstate.starts_with("57") ||
             sqlstate.starts_with("40") || sqlstate.starts_with("55") || sqlstate.starts_with("58") ||
             sqlstate == "XX000" || sqlstate == "25P03") {
    out.outcome = Outcome::kRetry;
  } else {
    out.outcome = Outcome::kFatal;  // permissions, syntax: retrying cannot help
  }
  return out;
}

Status PostgresExporter::init() {
  auto r = ensureReady();
  if (r.kind != ExportResult::Kind::kSuccess) return Error::badGateway("postgres_unavailable", r.message);
  return ok();
}

const std::string& PostgresExporter::insertSql(std::size_t rows) {
  auto hit = std::find_if(insert_sql_.begin(), insert_sql_.end(), [&](const auto& s) { return s.first == rows; });
  if (hit == insert_sql_.end()) {
    if (insert_sql_.size() == kCachedStatements) insert_sql_.pop_back();
    insert_sql_.emplace_front(rows, insertStatement(options_.table, rows));
  } else if (hit != insert_sql_.begin()) {
    insert_sql_.splice(insert_sql_.begin(), insert_sql_, hit);  // most recently used first
  }
  return insert_sql_.front().second;
}

ExportResult PostgresExporter::exportBatch(std::span<const RecordPtr> batch) {
  std::vector<Row> rows(batch.size());
  std::vector<std::size_t> good;  // indexes of records that have a row
  ExportResult result;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto row = rowFor(*batch[i]);
    if (row) {
      rows[i] = std::move(*row);
      good.push_back(i);
    } else {
      result.rejected_indexes.push_back(i);
    }
  }
  if (auto ready = ensureReady(); ready.kind != ExportResult::Kind::kSuccess) return ready;

  std::string first_rejection = result.rejected_indexes.empty() ? "" : "record without id or valid timestamp";
  for (std::size_t start = 0; start < good.size(); start += kRowsPerStatement) {
    const std::size_t n = std::min(kRowsPerStatement, good.size() - start);
    std::vector<const Row*> chunk;
    for (std::size_t k = 0; k < n; ++k) chunk.push_back(&rows[good[start + k]]);
    auto r = execute(insertSql(n), chunk);
    if (r.outcome == Outcome::kOk) continue;
    if (r.outcome == Outcome::kRetry) {
      // Rows already inserted are harmless to resend (ON CONFLICT DO NOTHING).
      return ExportResult::retryable("postgres insert: " + r.message);
    }
    if (r.outcome == Outcome::kFatal) return ExportResult::permanent("postgres insert: " + r.message);
    // Bad data somewhere in the chunk: find the culprits one row at a time.
    const std::string single = insertSql(1);
    for (std::size_t k = 0; k < n; ++k) {
      auto one = execute(single, {chunk[k]});
      if (one.outcome == Outcome::kOk) continue;
      if (one.outcome == Outcome::kBadData) {
        result.rejected_indexes.push_back(good[start + k]);
        if (first_rejection.empty()) first_rejection = one.message;
        continue;
      }
      return one.outcome == Outcome::kRetry ? ExportResult::retryable("postgres insert: " + one.message)
                                            : ExportResult::permanent("postgres insert: " + one.message);
    }
  }
  if (result.rejected_indexes.empty()) return ExportResult::success();
  std::sort(result.rejected_indexes.begin(), result.rejected_indexes.end());
  result.kind = ExportResult::Kind::kPermanent;
  result.message = "postgres: " + std::to_string(result.rejected_indexes.size()) + " record(s) rejected (first: " +
                   first_rejection + ")";
  return result;
}

}  // namespace gw::exporters::postgres

GW_REGISTER_EXPORTER_CLASS(postgres, gw::exporters::postgres::Options, gw::exporters::postgres::PostgresExporter)
