// The postgres exporter: request records as rows of the docs/exporters.md table.
//
// Uses libpq's blocking API (it runs on its own worker thread) with bounded
// connect time, statement_timeout and tcp_user_timeout, so no call hangs past
// the pipeline's export timeout. Rows go in with one multi-row INSERT ... ON
// CONFLICT (request_id) DO NOTHING per chunk: a retried batch never adds a
// row twice. A data error in a batch is narrowed down row by row, so one bad
// record is rejected and the others are stored.
#pragma once

#include "exporters/postgres/postgres_options.h"
#include "exporters/postgres/postgres_serializer.h"
#include "gw/exporter.h"

#include <list>
#include <memory>
#include <string>
#include <utility>

struct pg_conn;

namespace gw::exporters::postgres {

class PostgresExporter final : public Exporter {
 public:
  explicit PostgresExporter(Options options);
  ~PostgresExporter() override;

  std::string_view name() const override { return "postgres"; }
  Status init() override;
  ExportResult exportBatch(std::span<const RecordPtr> batch) override;
  void shutdown() override;

 private:
  enum class Outcome { kOk, kRetry, kBadData, kFatal };
  struct StatementResult {
    Outcome outcome = Outcome::kOk;
    std::string message;
  };

  ExportResult ensureReady();
  StatementResult execute(const std::string& sql, const std::vector<const Row*>& rows);
  // The INSERT text for `rows` rows, made once and kept for the next
  // batches of the same size (the last kCachedStatements sizes used).
  const std::string& insertSql(std::size_t rows);
  void disconnect();

  Options options_;
  struct ConnDeleter {
    void operator()(pg_conn* c) const;
  };
  std::unique_ptr<pg_conn, ConnDeleter> conn_;
  bool schema_ready_ = false;
  static constexpr std::size_t kCachedStatements = 4;
  std::list<std::pair<std::size_t, std::string>> insert_sql_;  // most recently used first
};

}  // namespace gw::exporters::postgres
