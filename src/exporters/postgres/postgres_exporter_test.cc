// Against a real PostgreSQL 15 server: the gw_postgres CTest fixture runs
// scripts/services/postgres.sh, which writes the server's URL to
// GW_PG_STATE_DIR/url. Each test uses its own table.
#include "exporters/common/testing/test_records.h"
#include "exporters/common/testing/fake_http_server.h"
#include "exporters/postgres/postgres_exporter.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <fstream>

namespace gw::exporters::postgres {
namespace {
using namespace gw::exporters::testing;
using Kind = ExportResult::Kind;

std::string serverUrl() {
  std::ifstream in(std::string(GW_PG_STATE_DIR) + "/url");
  std::string url;
  std::getline(in, url);
  return url;
}

class PostgresExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = serverUrl();
    ASSERT_FALSE(url_.empty()) << "no PostgreSQL server: run through ctest (fixture gw_postgres starts one)";
    table_ = std::string("t_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (auto& c : table_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    query("DROP TABLE IF EXISTS " + table_);
  }

  Options options() const {
    Options o;
    o.url = url_;
    o.table = table_;
    o.connect_timeout = std::chrono::milliseconds(2000);
    o.statement_timeout = std::chrono::milliseconds(5000);
    return o;
  }

  // One value from a query on a separate connection (the test's own view).
  std::string query(const std::string& sql) {
    PGconn* c = PQconnectdb(url_.c_str());
    EXPECT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
    PGresult* r = PQexec(c, sql.c_str());
    std::string out;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
    EXPECT_TRUE(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK)
        << PQresultErrorMessage(r);
    PQclear(r);
    PQfinish(c);
    return out;
  }
  int rowCount() { return std::stoi(query("SELECT count(*) FROM " + table_)); }

  static void service(const std::string& action) {
    std::string cmd = std::string("bash ") + GW_PG_SCRIPT + " " + action + " " + GW_PG_STATE_DIR;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }

  std::string url_;
  std::string table_;
};

TEST_F(PostgresExporterTest, CreatesTableAndIndexesAndStoresEveryRecord) {
  PostgresExporter exporter(options());
  ASSERT_TRUE(exporter.init());
  auto batch = makeRecords(25);
  auto r = exporter.exportBatch(batch);
  ASSERT_EQ(r.kind, Kind::kSuccess) << r.message;
  EXPECT_EQ(rowCount(), 25);
  EXPECT_EQ(query("SELECT count(*) FROM pg_indexes WHERE tablename = '" + table_ + "'"), "5");  // pk, unique, 3
  EXPECT_EQ(query("SELECT provider || '/' || model || '/' || project_id || '/' || input_tokens || '/' || "
                  "output_tokens || '/' || total_tokens || '/' || status || '/' || status_code || '/' || latency "
                  "|| '/' || ttfb FROM " + table_ + " WHERE request_id = 'req-3'"),
            "openai/gpt-4o/proj-a/13/26/39/success/200/850/120");
  EXPECT_EQ(query("SELECT log_data->'attributes'->>'id' FROM " + table_ + " WHERE request_id = 'req-7'"), "req-7");
  EXPECT_EQ(query("SELECT to_char(timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') FROM " + table_ +
                  " WHERE request_id = 'req-5'"),
            "2024-05-01 12:00:05.250");
  EXPECT_EQ(query("SELECT cost FROM " + table_ + " WHERE request_id = 'req-0'"), "0.000125");
}

TEST_F(PostgresExporterTest, SameBatchTwiceStillNRows) {
  PostgresExporter exporter(options());
  auto batch = makeRecords(10);
  ASSERT_EQ(exporter.exportBatch(batch).kind, Kind::kSuccess);
  ASSERT_EQ(exporter.exportBatch(batch).kind, Kind::kSuccess);
  EXPECT_EQ(rowCount(), 10);
}

TEST_F(PostgresExporterTest, OneBadRecordIsRejectedOthersStored) {
  PostgresExporter exporter(options());
  auto batch = makeRecords(5);
  batch[1] = makeRecordWith([](RecordSpec& s) {
    s.id = "too-many-tokens";
    s.input_tokens = 5'000'000'000;  // INTEGER overflow: SQLSTATE 22003
  });
  batch[3] = makeRecordWith([](RecordSpec& s) {
    s.id = "no-time";
    s.timestamp = "not a time";
  });
  auto r = exporter.exportBatch(batch);
  EXPECT_EQ(r.kind, Kind::kPermanent);
  EXPECT_EQ(r.rejected_indexes, (std::vector<std::size_t>{1, 3}));
  EXPECT_EQ(rowCount(), 3);
}

// PostgreSQL refuses \u0000 in JSONB; a record with a NUL character in a
// captured body is still stored (the NUL as U+FFFD in log_data).
TEST_F(PostgresExporterTest, RecordWithNulCharacterIsStored) {
  PostgresExporter exporter(options());
  auto batch = makeRecords(3);
  boost::json::object tree(batch[1]->json(), boost::json::storage_ptr());  // own memory
  tree.at("attributes").as_object()["note"] = std::string("nul\0here", 8);
  batch[1] = recordFromTree(tree);
  auto r = exporter.exportBatch(batch);
  ASSERT_EQ(r.kind, Kind::kSuccess) << r.message;
  EXPECT_EQ(rowCount(), 3);
  EXPECT_EQ(query("SELECT log_data->'attributes'->>'note' FROM " + table_ + " WHERE request_id = 'req-1'"),
            "nul\xEF\xBF\xBDhere");
}

TEST_F(PostgresExporterTest, DownAtStartIsRetryable) {
  auto o = options();
  o.url = "postgresql://gw@127.0.0.1:" + std::to_string(unusedPort()) + "/postgres";
  PostgresExporter exporter(o);
  EXPECT_FALSE(exporter.init());
  EXPECT_EQ(exporter.exportBatch(makeRecords(2)).kind, Kind::kRetryable);
}

TEST_F(PostgresExporterTest, ServerStoppedMidRunThenRestartedExactlyNRows) {
  PostgresExporter exporter(options());
  auto batch = makeRecords(40);
  std::span<const RecordPtr> all(batch);
  ASSERT_EQ(exporter.exportBatch(all.subspan(0, 20)).kind, Kind::kSuccess);
  service("pause");
  auto during = exporter.exportBatch(all.subspan(10, 20));  // overlaps what is stored
  EXPECT_EQ(during.kind, Kind::kRetryable) << during.message;
  EXPECT_EQ(exporter.exportBatch(all.subspan(10, 20)).kind, Kind::kRetryable);
  service("resume");
  auto after = exporter.exportBatch(all.subspan(10, 20));
  EXPECT_EQ(after.kind, Kind::kSuccess) << after.message;
  EXPECT_EQ(exporter.exportBatch(all.subspan(30, 10)).kind, Kind::kSuccess);
  EXPECT_EQ(rowCount(), 40);
  EXPECT_EQ(query("SELECT count(DISTINCT request_id) FROM " + table_), "40");
}

TEST_F(PostgresExporterTest, TableDroppedWhileRunningIsRecreated) {
  PostgresExporter exporter(options());
  ASSERT_EQ(exporter.exportBatch(makeRecords(3)).kind, Kind::kSuccess);
  query("DROP TABLE " + table_);
  EXPECT_EQ(exporter.exportBatch(makeRecords(3)).kind, Kind::kRetryable);
  EXPECT_EQ(exporter.exportBatch(makeRecords(3)).kind, Kind::kSuccess);
  EXPECT_EQ(rowCount(), 3);
}

}  // namespace
}  // namespace gw::exporters::postgres
