// Upstream connections: a keep-alive pool per worker thread.
//
// Each worker thread owns one UpstreamPool (no locks: it is only used from
// that thread's io_context). acquire() hands out an idle connection to the
// endpoint when one is alive, else resolves (asynchronously; results cached),
// connects and, for https, handshakes TLS with certificate and host-name
// verification -- all within the connect timeout. release() returns a
// connection whose last response was complete and keep-alive.
//
// An idle connection is watched for anything the upstream sends while it
// has no request (a close, or stray bytes that would otherwise be read as
// the next request's response -- possibly another client's): a read of one
// byte is pending on it, which the reactor completes when anything arrives.
// acquire() then knows from a flag whether the connection is still clean,
// and cancels the pending read instead of probing the socket with a
// recv(MSG_PEEK) (a system call per request; the pending read costs none
// when the socket was drained by the response's last read).
//
// This header includes Beast; only src/upstream and src/server .cc files
// include it.
#pragma once

#include "gw/error.h"
#include "gw/provider.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

namespace gw::upstream {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

struct PoolOptions {
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds max_idle_time{30000};  // discard idle connections older than this
  std::uint32_t max_connections_per_host = 1024;
  std::uint32_t max_idle_per_host = 64;
};

// One upstream connection: plain TCP or TLS over TCP.
class Connection {
 public:
  Connection(std::string key, beast::tcp_stream stream);
  Connection(std::string key, std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream);

  bool tls() const { return ssl_ != nullptr; }
  beast::tcp_stream& tcpStream() { return ssl_ ? beast::get_lowest_layer(*ssl_) : *tcp_; }
  beast::tcp_stream& plain() { return *tcp_; }
  beast::ssl_stream<beast::tcp_stream>& secure() { return *ssl_; }
  beast::flat_buffer& buffer() { return buffer_; }
  const std::string& key() const { return key_; }
  bool reused() const { return reused_; }
  // Closes the socket at once (cancels pending operations).
  void close();

 private:
  friend class UpstreamPool;
  std::string key_;
  std::unique_ptr<beast::tcp_stream> tcp_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> ssl_;
  beast::flat_buffer buffer_;
  std::chrono::steady_clock::time_point idle_since_{};
  bool reused_ = false;
  // The idle watch (see above): set by its read, in the reactor, as soon as
  // anything (bytes, end of stream, an error) arrived while idle.
  bool idle_watch_fired_ = false;
  char idle_watch_byte_ = 0;
};

// Makes the process-wide TLS client context: system CA store (plus an extra
// CA file when given), peer verification on, TLS 1.2 minimum.
Result<std::shared_ptr<net::ssl::context>> makeClientTlsContext(const std::string& extra_ca_file);

class UpstreamPool {
 public:
  UpstreamPool(net::io_context& io, std::shared_ptr<net::ssl::context> tls, PoolOptions options);
  ~UpstreamPool();

  // Errors: 502 upstream_unreachable (DNS, refused, TLS failure), 504 when
  // the connect timeout passes, 503 when the per-host limit is reached.
  net::awaitable<Result<std::unique_ptr<Connection>>> acquire(const UpstreamEndpoint& endpoint);
  // acquire()'s first step without a coroutine: a checked idle connection
  // to the endpoint, or null (then acquire() connects). The usual request
  // finds one, and a coroutine frame and its resumption cost more than the
  // rest of the reuse.
  std::unique_ptr<Connection> takeIdle(const UpstreamEndpoint& endpoint);

  // Returns a connection that may carry another request.
  void release(std::unique_ptr<Connection> connection);
  // A connection that must not be reused (error, not keep-alive).
  void discard(std::unique_ptr<Connection> connection);

  // Closes every idle connection (shutdown).
  void closeIdle();


 private:
  struct HostState {
    std::deque<std::unique_ptr<Connection>> idle;
    std::uint32_t open = 0;  // idle + in use
  };
  struct ResolvedHost {
    tcp::resolver::results_type results;
    std::chrono::steady_clock::time_point expires;
  };

  std::unique_ptr<Connection> takeIdle(HostState& host, std::chrono::steady_clock::time_point now);
  net::awaitable<Result<tcp::resolver::results_type>> resolve(const UpstreamEndpoint& endpoint);
  // Starts the idle watch; false when it fired at once (already unusable).
  static bool startIdleWatch(Connection& c);

  net::io_context& io_;
  std::shared_ptr<net::ssl::context> tls_;
  PoolOptions options_;
  tcp::resolver resolver_;
  std::unordered_map<std::string, HostState> hosts_;  // entries are never erased
  struct LastHost {
    bool tls = false;
    std::uint16_t port = 0;
    std::string host;
    HostState* state = nullptr;
  };
  LastHost last_host_;  // see takeIdle()
  std::unordered_map<std::string, ResolvedHost> dns_cache_;
};

// "https://host:port" style key for pooling.
std::string endpointKey(const UpstreamEndpoint& endpoint);

}  // namespace gw::upstream
