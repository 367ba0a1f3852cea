// A local HTTP/1.1 server for exporter tests: strict fakes of the backends
// (Elasticsearch, Datadog, New Relic, OTLP receivers) are handlers on it.
//
// It runs on its own thread with its own io_context, listens on 127.0.0.1,
// records every request (gzip bodies are inflated, malformed gzip is answered
// 400 like the real intakes do), can answer slowly, and can be stopped and
// started again on the same port to simulate a backend going down.
//
// Test-only: linked as gw_backend_http_testing.
#pragma once

#include "backend_http/http_client.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gw::http::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;  // path + query
  Headers headers;
  std::string body;  // inflated when the request was gzip-encoded
  bool gzipped = false;

  std::optional<std::string> header(std::string_view name) const;
};

struct FakeResponse {
  int status = 200;
  Headers headers;
  std::string body;
  std::chrono::milliseconds delay{0};  // answer this much later (a slow backend)
  bool close_connection = false;

  static FakeResponse json(int status, std::string body, Headers extra = {});
};

using Handler = std::function<FakeResponse(const ReceivedRequest&)>;

class FakeHttpServer {
 public:
  explicit FakeHttpServer(Handler handler);
  ~FakeHttpServer();
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  // Listens on 127.0.0.1:`port` (0: a free port chosen by the kernel).
  void start(unsigned short port = 0);
  // Closes the listener and every connection; pending answers are dropped.
  void stop();

  unsigned short port() const { return port_; }
  std::string url() const;  // "http://127.0.0.1:PORT"

  void setHandler(Handler handler);
  std::vector<ReceivedRequest> requests() const;
  std::size_t requestCount() const;
  void clearRequests();
  // Waits (condition variable, bounded) until `n` requests were received.
  bool waitForRequests(std::size_t n, std::chrono::milliseconds timeout) const;

 private:
  struct Impl;
  FakeResponse handle(ReceivedRequest request);
  static boost::asio::awaitable<void> acceptLoop(FakeHttpServer* self, boost::asio::ip::tcp::acceptor* acceptor);
  static boost::asio::awaitable<void> session(FakeHttpServer* self, boost::asio::ip::tcp::socket socket);

  Handler handler_;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  unsigned short port_ = 0;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::vector<ReceivedRequest> requests_;
};

// A loopback port that nothing listens on (bound then released).
unsigned short unusedPort();

}  // namespace gw::http::testing
