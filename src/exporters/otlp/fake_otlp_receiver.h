// A strict local OTLP/HTTP receiver for the exporter's tests, for both
// encodings, chosen by Content-Type like the OpenTelemetry Collector does:
//
// - application/x-protobuf: the body must parse as the signal's
//   Export*ServiceRequest with no unknown fields (a field number we got
//   wrong would land there), trace ids of 16 bytes and span ids of 8; it is
//   then turned into the OTLP JSON form (protobuf's JSON mapping, ids as hex)
//   and goes through the same checks as a JSON body;
// - application/json: what the OTLP JSON mapping requires (hex ids of the
//   right length, 64-bit integers as strings, AnyValue shapes, histogram
//   bucket arithmetic).
//
// Accepted items are stored in their JSON form, so tests assert the same
// content whatever the encoding. Violations are answered 400 with a
// google.rpc.Status body in the request's encoding.
#pragma once

#include "exporters/common/testing/fake_http_server.h"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace gw::exporters::otlp::testing {

// The OTLP JSON form of a protobuf Export*ServiceRequest `body` sent to
// `path` ("/v1/logs", "/v1/traces", "/v1/metrics"): protobuf's JSON mapping
// with enums as integers and trace/span ids as hex. Fails when the body does
// not parse, carries unknown fields or ids of the wrong length.
boost::system::result<boost::json::object, std::string> protobufToOtlpJson(const std::string& path,
                                                                          const std::string& body);

// `v` with every number as a double and empty arrays/objects removed from
// objects: protobuf's JSON printer leaves out empty and default fields and
// prints integral doubles as integers, so this is the form in which the two
// encodings of one payload compare equal.
boost::json::value canonicalOtlpJson(const boost::json::value& v);

class FakeOtlpReceiver {
 public:
  FakeOtlpReceiver();

  exporters::testing::FakeHttpServer& server() { return server_; }
  std::string url() const { return server_.url(); }

  // The next `n` requests to `path` ("/v1/logs"...) answer `status`.
  void failNext(const std::string& path, int n, int status, std::string retry_after = "");

  std::vector<boost::json::object> logRecords() const;
  std::vector<boost::json::object> spans() const;
  std::vector<boost::json::object> metrics() const;  // every metric object received
  std::vector<boost::json::object> resources() const;
  std::vector<std::string> violations() const;
  // Content-Type of every accepted request, in order.
  std::vector<std::string> encodings() const;

 private:
  exporters::testing::FakeResponse handle(const exporters::testing::ReceivedRequest& request);

  struct Failure {
    int remaining = 0;
    int status = 503;
    std::string retry_after;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Failure> failures_;
  std::vector<boost::json::object> logs_, spans_, metrics_, resources_;
  std::vector<std::string> violations_;
  std::vector<std::string> encodings_;
  exporters::testing::FakeHttpServer server_;
};

}  // namespace gw::exporters::otlp::testing
