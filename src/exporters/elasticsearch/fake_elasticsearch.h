// A strict local stand-in for Elasticsearch 8, for the exporter's tests.
//
// It validates what the real cluster validates on the paths the exporter
// uses (_bulk NDJSON framing and action lines, Content-Type, credentials,
// index template shape) and answers in Elasticsearch's shapes, including
// `errors: true` with mixed item statuses, 429 with Retry-After and 503.
#pragma once

#include "exporters/common/testing/fake_http_server.h"

#include <map>
#include <mutex>
#include <set>
#include <string>

namespace gw::exporters::elasticsearch::testing {

class FakeElasticsearch {
 public:
  FakeElasticsearch();

  exporters::testing::FakeHttpServer& server() { return server_; }
  std::string url() const { return server_.url(); }

  // Authorization header value every request must carry ("" = none).
  void requireAuthorization(std::string value);
  // Documents with these ids are rejected with 400 mapper_parsing_exception.
  void rejectIds(std::set<std::string> ids);
  // The next `n` _bulk items for these ids answer 429 (es_rejected_execution_exception).
  void throttleIdsOnce(std::set<std::string> ids);
  // The next `n` requests answer `status` (429 carries Retry-After: `retry_after`).
  void failNextRequests(int n, int status, std::string retry_after = "");

  // Indexed documents: (index, id) -> source.
  std::map<std::pair<std::string, std::string>, std::string> documents() const;
  std::size_t documentCount() const;
  std::size_t bulkRequests() const;
  std::string installedTemplate() const;
  std::size_t protocolViolations() const;  // requests answered 400 for bad framing

 private:
  exporters::testing::FakeResponse handle(const exporters::testing::ReceivedRequest& request);
  exporters::testing::FakeResponse bulk(const exporters::testing::ReceivedRequest& request);

  mutable std::mutex mutex_;
  std::string authorization_;
  std::set<std::string> reject_ids_;
  std::set<std::string> throttle_ids_;
  int fail_next_ = 0;
  int fail_status_ = 503;
  std::string fail_retry_after_;
  std::map<std::pair<std::string, std::string>, std::string> documents_;
  std::size_t bulk_requests_ = 0;
  std::size_t violations_ = 0;
  std::string template_;
  exporters::testing::FakeHttpServer server_;
};

}  // namespace gw::exporters::elasticsearch::testing
