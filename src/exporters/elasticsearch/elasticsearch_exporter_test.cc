#include "exporters/common/testing/test_records.h"
#include "exporters/elasticsearch/elasticsearch_exporter.h"
#include "exporters/elasticsearch/fake_elasticsearch.h"

#include <gtest/gtest.h>

namespace gw::exporters::elasticsearch {
namespace {
using namespace gw::exporters::testing;
using Kind = ExportResult::Kind;

Options optionsFor(const std::string& url) {
  Options o;
  o.url = url;
  // Generous: these tests are about what is sent, not about speed, and a
  // sanitizer build on a loaded machine is slow.
  o.timeout = std::chrono::milliseconds(30000);
  return o;
}

TEST(ElasticsearchExporter, InitInstallsTemplateAndBulkIndexesEveryRecord) {
  testing::FakeElasticsearch es;
  es.server().start();
  ElasticsearchExporter exporter(optionsFor(es.url()));
  ASSERT_TRUE(exporter.init());
  EXPECT_FALSE(es.installedTemplate().empty());
  auto batch = makeRecords(5);
  auto r = exporter.exportBatch(batch);
  EXPECT_EQ(r.kind, Kind::kSuccess) << r.message;
  EXPECT_EQ(es.documentCount(), 5u);
  auto docs = es.documents();
  EXPECT_EQ(docs.at({"noveum-metrics", "req-3"}), batch[3]->serialized);
  EXPECT_EQ(es.protocolViolations(), 0u);
}

TEST(ElasticsearchExporter, RetriedBatchDoesNotDuplicate) {
  testing::FakeElasticsearch es;
  es.server().start();
  ElasticsearchExporter exporter(optionsFor(es.url()));
  auto batch = makeRecords(4);
  EXPECT_EQ(exporter.exportBatch(batch).kind, Kind::kSuccess);
  auto again = exporter.exportBatch(batch);  // 409 per item = already there
  EXPECT_EQ(again.kind, Kind::kSuccess) << again.message;
  EXPECT_EQ(es.documentCount(), 4u);
}

TEST(ElasticsearchExporter, DownAtStartIsRetryableThenRecovers) {
  auto port = unusedPort();
  ElasticsearchExporter exporter(optionsFor("http://127.0.0.1:" + std::to_string(port)));
  EXPECT_FALSE(exporter.init());
  auto batch = makeRecords(2);
  EXPECT_EQ(exporter.exportBatch(batch).kind, Kind::kRetryable);
  testing::FakeElasticsearch es;
  es.server().start(port);
  EXPECT_EQ(exporter.exportBatch(batch).kind, Kind::kSuccess);
  EXPECT_EQ(es.documentCount(), 2u);
  EXPECT_FALSE(es.installedTemplate().empty()) << "template installed before the first document";
}

TEST(ElasticsearchExporter, Http429WithRetryAfterIsRetryable) {
  testing::FakeElasticsearch es;
  es.server().start();
  ElasticsearchExporter exporter(optionsFor(es.url()));
  ASSERT_TRUE(exporter.init());
  es.failNextRequests(1, 429, "12");
  auto r = exporter.exportBatch(makeRecords(2));
  EXPECT_EQ(r.kind, Kind::kRetryable);
  ASSERT_TRUE(r.retry_after);
  EXPECT_EQ(r.retry_after->count(), 12000);
  EXPECT_EQ(exporter.exportBatch(makeRecords(2)).kind, Kind::kSuccess);
  EXPECT_EQ(es.documentCount(), 2u);
}

TEST(ElasticsearchExporter, Http503IsRetryable) {
  testing::FakeElasticsearch es;
  es.server().start();
  ElasticsearchExporter exporter(optionsFor(es.url()));
  ASSERT_TRUE(exporter.init());
  es.failNextRequests(1, 503);
  EXPECT_EQ(exporter.exportBatch(makeRecords(1)).kind, Kind::kRetryable);
}

TEST(ElasticsearchExporter, WrongCredentialsArePermanent) {
  testing::FakeElasticsearch es;
  es.requireAuthorization("ApiKey right-key");
  es.server().start();
  auto o = optionsFor(es.url());
  o.install_template = false;
  o.api_key = "wrong-key";
  ElasticsearchExporter exporter(o);
  auto r = exporter.exportBatch(makeRecords(1));
  EXPECT_EQ(r.kind, Kind::kPermanent);
  EXPECT_EQ(r.message.find("wrong-key"), std::string::npos);
}

TEST(ElasticsearchExporter, SendsApiKeyAndBasicAuth) {
  testing::FakeElasticsearch es;
  es.requireAuthorization("ApiKey a2V5");
  es.server().start();
  auto o = optionsFor(es.url());
  o.api_key = "a2V5";
  ElasticsearchExporter with_key(o);
  EXPECT_EQ(with_key.exportBatch(makeRecords(1)).kind, Kind::kSuccess);
  es.requireAuthorization("Basic ZWxhc3RpYzpwdw==");
  auto b = optionsFor(es.url());
  b.username = "elastic";
  b.password = "pw";
  ElasticsearchExporter with_basic(b);
  EXPECT_EQ(with_basic.exportBatch(makeRecords(2, "basic")).kind, Kind::kSuccess);
  EXPECT_EQ(es.documentCount(), 3u);
}

TEST(ElasticsearchExporter, OneBadRecordIsRejectedOthersDelivered) {
  testing::FakeElasticsearch es;
  es.server().start();
  ElasticsearchExporter exporter(optionsFor(es.url()));
  auto batch = makeRecords(4);
  es.rejectIds({"req-2"});
  auto r = exporter.exportBatch(batch);
  EXPECT_EQ(r.kind, Kind::kPermanent);
  EXPECT_EQ(r.rejected_indexes, (std::vector<std::size_t>{2}));
  EXPECT_EQ(es.documentCount(), 3u);
}

TEST(ElasticsearchExporter, ThrottledItemsAreRetriedAlone) {
  testing::FakeElasticsearch es;
  es.server().start();
  ElasticsearchExporter exporter(optionsFor(es.url()));
  auto batch = makeRecords(4);
  es.throttleIdsOnce({"req-1", "req-3"});
  auto r = exporter.exportBatch(batch);
  ASSERT_EQ(r.kind, Kind::kRetryable);
  ASSERT_EQ(r.retry_indexes, (std::vector<std::size_t>{1, 3}));
  std::vector<RecordPtr> retry{batch[1], batch[3]};
  EXPECT_EQ(exporter.exportBatch(retry).kind, Kind::kSuccess);
  EXPECT_EQ(es.documentCount(), 4u);
}

TEST(ElasticsearchExporter, SlowClusterTimesOutAsRetryable) {
  testing::FakeElasticsearch es;
  es.server().start();
  auto o = optionsFor(es.url());
  o.install_template = false;
  o.timeout = std::chrono::milliseconds(200);
  ElasticsearchExporter exporter(o);
  es.server().setHandler([](const ReceivedRequest&) {
    auto r = FakeResponse::json(200, R"({"errors":false,"items":[]})");
    r.delay = std::chrono::seconds(5);
    return r;
  });
  auto r = exporter.exportBatch(makeRecords(1));
  EXPECT_EQ(r.kind, Kind::kRetryable);
  EXPECT_NE(r.message.find("timed out"), std::string::npos) << r.message;
}

TEST(ElasticsearchExporter, DateSuffixedIndexes) {
  testing::FakeElasticsearch es;
  es.server().start();
  auto o = optionsFor(es.url());
  o.index_date_suffix = true;
  ElasticsearchExporter exporter(o);
  EXPECT_EQ(exporter.exportBatch(makeRecords(1)).kind, Kind::kSuccess);
  EXPECT_TRUE(es.documents().contains({"noveum-metrics-2024.05.01", "req-0"}));
}

}  // namespace
}  // namespace gw::exporters::elasticsearch
