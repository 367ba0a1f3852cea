// A strict local OTLP/HTTP receiver (JSON encoding) for the exporter's tests.
// It checks what the OTLP JSON mapping requires (hex ids of the right length,
// 64-bit integers as strings, AnyValue shapes, histogram bucket arithmetic)
// and answers 400 with a google.rpc.Status body on any violation, like the
// OpenTelemetry Collector does.
#pragma once

#include "backend_http/testing/fake_http_server.h"

#include <boost/json/object.hpp>

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace gw::exporters::otlp::testing {

class FakeOtlpReceiver {
 public:
  FakeOtlpReceiver();

  http::testing::FakeHttpServer& server() { return server_; }
  std::string url() const { return server_.url(); }

  // The next `n` requests to `path` ("/v1/logs"...) answer `status`.
  void failNext(const std::string& path, int n, int status, std::string retry_after = "");

  std::vector<boost::json::object> logRecords() const;
  std::vector<boost::json::object> spans() const;
  std::vector<boost::json::object> metrics() const;  // every metric object received
  std::vector<boost::json::object> resources() const;
  std::vector<std::string> violations() const;

 private:
  http::testing::FakeResponse handle(const http::testing::ReceivedRequest& request);

  struct Failure {
    int remaining = 0;
    int status = 503;
    std::string retry_after;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Failure> failures_;
  std::vector<boost::json::object> logs_, spans_, metrics_, resources_;
  std::vector<std::string> violations_;
  http::testing::FakeHttpServer server_;
};

}  // namespace gw::exporters::otlp::testing
