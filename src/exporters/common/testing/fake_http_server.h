// A local HTTP/1.1 server for exporter tests: strict fakes of the backends
// (Elasticsearch, Datadog, New Relic, OTLP receivers) are handlers on it.
//
// It runs on its own thread with its own io_context, listens on 127.0.0.1,
// records every request (gzip bodies are inflated, malformed gzip is answered
// 400 like the real intakes do), can answer slowly, and can be stopped and
// started again on the same port to simulate a backend going down. With
// useTls() it serves HTTPS instead (one TLS server per instance; see
// test_pki.h for throwaway certificates).
//
// Test-only: linked as gw_exporter_testing.
#pragma once

#include "exporters/common/http_client.h"

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

namespace gw::exporters::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;  // path + query
  http::Headers headers;
  std::string body;  // inflated when the request was gzip-encoded
  bool gzipped = false;

  std::optional<std::string> header(std::string_view name) const;
};

struct FakeResponse {
  int status = 200;
  http::Headers headers;
  std::string body;
  std::chrono::milliseconds delay{0};  // answer this much later (a slow backend)
  bool close_connection = false;

  static FakeResponse json(int status, std::string body, http::Headers extra = {});
};

using Handler = std::function<FakeResponse(const ReceivedRequest&)>;

class FakeHttpServer {
 public:
  explicit FakeHttpServer(Handler handler);
  ~FakeHttpServer();
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  // Serve HTTPS with this certificate (chain) and private key, both PEM.
  // Call before start(); applies to every later start().
  void useTls(std::string cert_file, std::string key_file);

  // Listens on 127.0.0.1:`port` (0: a free port chosen by the kernel).
  // Throws when the port or (with TLS) the certificate cannot be used.
  void start(unsigned short port = 0);
  // Closes the listener and every connection; pending answers are dropped.
  void stop();

  unsigned short port() const { return port_; }
  std::string url() const;  // "http://127.0.0.1:PORT" (https:// with TLS)

  void setHandler(Handler handler);
  std::vector<ReceivedRequest> requests() const;
  std::size_t requestCount() const;
  void clearRequests();
  // Waits (condition variable, bounded) until `n` requests were received.
  bool waitForRequests(std::size_t n, std::chrono::milliseconds timeout) const;
  // Waits (bounded) until `n` TLS handshakes have failed on this server (a
  // client that refused our certificate).
  bool waitForFailedHandshakes(std::size_t n, std::chrono::milliseconds timeout) const;

 private:
  struct Impl;
  struct Session;  // the per-connection coroutines, in the .cc
  FakeResponse handle(ReceivedRequest request);
  void record(ReceivedRequest request);
  static boost::asio::awaitable<void> acceptLoop(FakeHttpServer* self, boost::asio::ip::tcp::acceptor* acceptor);

  Handler handler_;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  unsigned short port_ = 0;
  std::string tls_cert_file_, tls_key_file_;  // empty: plain HTTP
  std::size_t failed_handshakes_ = 0;          // guarded by mutex_
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::vector<ReceivedRequest> requests_;
};

// A loopback port that nothing listens on (bound then released).
unsigned short unusedPort();

}  // namespace gw::exporters::testing
