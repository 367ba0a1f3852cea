#include "exporters/common/testing/test_records.h"
#include "exporters/elasticsearch/elasticsearch_serializer.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace gw::exporters::elasticsearch {
namespace {
using namespace gw::exporters::testing;

TEST(ElasticsearchSerializer, BulkMatchesGolden) {
  std::vector<RecordPtr> batch{makeRecordWith([](RecordSpec& s) { s.id = "req-a"; }),
                               makeRecordWith([](RecordSpec& s) {
                                 s.id = "req-\"quoted\"";
                                 s.model = "gpt-4o";
                                 s.cost = std::nullopt;
                               })};
  expectGolden(serializeBulk(batch, "noveum-metrics", false), "elasticsearch/bulk.ndjson");
}

TEST(ElasticsearchSerializer, BulkLinesAreCreateActionsWithIds) {
  auto batch = makeRecords(3);
  auto body = serializeBulk(batch, "idx", true);
  ASSERT_EQ(body.back(), '\n');
  std::vector<std::string> lines;
  for (std::size_t pos = 0; pos < body.size();) {
    auto end = body.find('\n', pos);
    lines.push_back(body.substr(pos, end - pos));
    pos = end + 1;
  }
  ASSERT_EQ(lines.size(), 6u);
  for (std::size_t i = 0; i < 3; ++i) {
    auto action = boost::json::parse(lines[2 * i]);
    EXPECT_EQ(action.at("create").at("_id").as_string(), batch[i]->id);
    EXPECT_EQ(action.at("create").at("_index").as_string(), "idx-2024.05.01");
    EXPECT_EQ(lines[2 * i + 1], batch[i]->serialized);
  }
}

TEST(ElasticsearchSerializer, DateSuffixFallsBackOnBadTimestamp) {
  auto r = makeRecordWith([](RecordSpec& s) { s.timestamp = "garbage"; });
  EXPECT_EQ(indexFor(*r, "idx", true), "idx");
  EXPECT_EQ(indexFor(*makeRecord(), "idx", false), "idx");
}

TEST(ElasticsearchSerializer, BulkResponseMixedStatuses) {
  const char* body = R"({"took":5,"errors":true,"items":[
    {"create":{"_index":"i","_id":"a","status":201}},
    {"create":{"_index":"i","_id":"b","status":409,"error":{"type":"version_conflict_engine_exception"}}},
    {"create":{"_index":"i","_id":"c","status":400,"error":{"type":"mapper_parsing_exception"}}},
    {"create":{"_index":"i","_id":"d","status":429,"error":{"type":"es_rejected_execution_exception"}}},
    {"create":{"_index":"i","_id":"e","status":503,"error":{"type":"unavailable_shards_exception"}}}]})";
  auto r = interpretBulkResponse(body, 5);
  EXPECT_EQ(r.kind, ExportResult::Kind::kRetryable);
  EXPECT_EQ(r.retry_indexes, (std::vector<std::size_t>{3, 4}));
  EXPECT_EQ(r.rejected_indexes, (std::vector<std::size_t>{2}));
  EXPECT_NE(r.message.find("mapper_parsing_exception"), std::string::npos);
}

TEST(ElasticsearchSerializer, BulkResponseOnlyRejections) {
  auto r = interpretBulkResponse(
      R"({"errors":true,"items":[{"create":{"status":201}},{"create":{"status":400,"error":{"type":"x"}}}]})", 2);
  EXPECT_EQ(r.kind, ExportResult::Kind::kPermanent);
  EXPECT_EQ(r.rejected_indexes, (std::vector<std::size_t>{1}));
  EXPECT_TRUE(r.retry_indexes.empty());
}

TEST(ElasticsearchSerializer, BulkResponseMalformed) {
  EXPECT_EQ(interpretBulkResponse(R"({"errors":false,"items":[]})", 2).kind, ExportResult::Kind::kSuccess);
  EXPECT_EQ(interpretBulkResponse("not json", 1).kind, ExportResult::Kind::kRetryable);
  EXPECT_EQ(interpretBulkResponse(R"({"errors":true,"items":[]})", 2).kind, ExportResult::Kind::kRetryable);
  EXPECT_EQ(interpretBulkResponse(R"([1,2])", 1).kind, ExportResult::Kind::kRetryable);
}

TEST(ElasticsearchSerializer, TemplateMatchesGolden) {
  auto tmpl = indexTemplate("noveum-metrics");
  auto v = boost::json::parse(tmpl);
  EXPECT_EQ(v.at("template").at("mappings").at("dynamic").as_bool(), false);
  EXPECT_EQ(v.at("template").at("mappings").at("properties").at("attributes").at("properties").at("request").at("enabled").as_bool(), false);
  expectGolden(tmpl + "\n", "elasticsearch/index_template.json");
}

}  // namespace
}  // namespace gw::exporters::elasticsearch
