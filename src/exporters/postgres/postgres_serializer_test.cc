#include "exporters/common/testing/test_records.h"
#include "exporters/postgres/postgres_serializer.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace gw::exporters::postgres {
namespace {
using namespace gw::exporters::testing;

std::string rowsAsJson(const std::vector<RecordPtr>& batch) {
  boost::json::array out;
  for (const auto& r : batch) {
    auto row = rowFor(*r);
    if (!row) {
      out.emplace_back("REJECTED");
      continue;
    }
    boost::json::object o;
    for (std::size_t c = 0; c < kColumnCount; ++c) {
      if (std::string(kColumns[c]) == "log_data") {
        o[kColumns[c]] = (*row)[c] == r->serialized ? "<record.serialized>" : "MISMATCH";
      } else {
        o[kColumns[c]] = (*row)[c] ? boost::json::value(*(*row)[c]) : boost::json::value(nullptr);
      }
    }
    out.push_back(std::move(o));
  }
  return boost::json::serialize(out) + "\n";
}

TEST(PostgresSerializer, SchemaMatchesGolden) {
  std::string all;
  for (const auto& s : schemaStatements("ai_gateway_logs")) all += s + ";\n";
  expectGolden(all, "postgres/schema.sql");
}

TEST(PostgresSerializer, InsertMatchesGolden) {
  expectGolden(insertStatement("ai_gateway_logs", 2) + "\n", "postgres/insert_2_rows.sql");
}

TEST(PostgresSerializer, RowsMatchGolden) {
  std::vector<RecordPtr> batch{
      makeRecord(),
      makeRecordWith([](RecordSpec& s) {
        s.id = "req-err";
        s.status = "error";
        s.status_code = 502;
        s.cost = std::nullopt;
        s.project_id = std::nullopt;
        s.latency_ms = 12.6;
        s.error_type = "upstream_error";
      }),
      makeRecordWith([](RecordSpec& s) { s.timestamp = "yesterday"; })};
  expectGolden(rowsAsJson(batch), "postgres/rows.json");
}

TEST(PostgresSerializer, NulEscapesBecomeReplacementCharactersForJsonb) {
  EXPECT_EQ(jsonbSafe(R"({"a":"x\u0000y"})"), R"({"a":"x\ufffdy"})");
  EXPECT_EQ(jsonbSafe(R"({"a":"\u0000\u0000","b":"\u0000"})"), R"({"a":"\ufffd\ufffd","b":"\ufffd"})");
  // A backslash then the letters: not an escape of NUL, nothing to change.
  EXPECT_EQ(jsonbSafe(R"({"a":"\\u0000"})"), std::nullopt);
  EXPECT_EQ(jsonbSafe(R"({"a":"\\\u0000"})"), R"({"a":"\\\ufffd"})");
  EXPECT_EQ(jsonbSafe(R"({"a":"\u00001"})"), R"({"a":"\ufffd1"})");
  EXPECT_EQ(jsonbSafe(R"({"a":"\u0001"})"), std::nullopt);
  EXPECT_EQ(jsonbSafe(""), std::nullopt);
  // The row's log_data is that text; the record itself is unchanged.
  boost::json::object tree(makeRecord()->json(), boost::json::storage_ptr());  // own memory
  tree.at("attributes").as_object()["note"] = std::string("nul\0here", 8);
  auto record = recordFromTree(tree);
  ASSERT_NE(record->serialized.find("\\u0000"), std::string::npos);
  auto row = rowFor(*record);
  ASSERT_TRUE(row);
  EXPECT_EQ((*row)[1]->find("\\u0000"), std::string::npos);
  EXPECT_NE((*row)[1]->find("nul\\ufffdhere"), std::string::npos);
  EXPECT_NE(record->serialized.find("nul\\u0000here"), std::string::npos);
}

// A record without NUL escapes is sent as it is: the row's log_data is the
// record's own text, not a copy; the cost is the shortest text of the same
// double.
TEST(PostgresSerializer, RowViewsTheRecordTextAndWritesTheShortestCost) {
  auto record = makeRecordWith([](RecordSpec& s) { s.cost = 0.1 + 0.2; });
  auto row = rowFor(*record);
  ASSERT_TRUE(row);
  EXPECT_EQ((*row)[1]->data(), record->serialized.data());
  EXPECT_EQ(*(*row)[13], "0.30000000000000004");
  EXPECT_EQ(std::stod(std::string(*(*row)[13])), 0.1 + 0.2);
  // Every value is a NUL-terminated string, as libpq reads it.
  for (std::size_t c = 0; c < row->size(); ++c) {
    if ((*row)[c]) {
      EXPECT_EQ((*row)[c]->data()[(*row)[c]->size()], '\0') << kColumns[c];
    }
  }
  // Moving the row keeps its values valid.
  Row moved = std::move(*row);
  EXPECT_EQ(*moved[13], "0.30000000000000004");
}

TEST(PostgresSerializer, SchemaQualifiedTable) {
  EXPECT_EQ(quotedTable("s.t"), "\"s\".\"t\"");
  auto stmts = schemaStatements("s.t");
  EXPECT_NE(stmts[1].find("\"t_timestamp_idx\" ON \"s\".\"t\""), std::string::npos) << stmts[1];
}

TEST(PostgresSerializer, ParameterCountPerRow) {
  auto sql = insertStatement("t", 3);
  EXPECT_NE(sql.find("$48)"), std::string::npos);
  EXPECT_EQ(sql.find("$49"), std::string::npos);
  EXPECT_NE(sql.find("ON CONFLICT (request_id) DO NOTHING"), std::string::npos);
}

}  // namespace
}  // namespace gw::exporters::postgres
