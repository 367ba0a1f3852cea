#include "upstream/upstream_pool.h"

#include "common/draining_buffer.h"
#include "common/log.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/stream_traits.hpp>

#include <openssl/ssl.h>

#include <charconv>


namespace gw::upstream {

namespace {
constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);
}

// Beast sizes each socket read by the buffer's free capacity (at least 512
// bytes). Reserving up front makes every read take what the kernel has, up
// to 64 KiB, instead of 512-byte pieces.
constexpr std::size_t kReadBufferBytes = 64 * 1024;

Connection::Connection(std::string key, beast::tcp_stream stream)
    : key_(std::move(key)), tcp_(std::make_unique<beast::tcp_stream>(std::move(stream))) {
  buffer_.reserve(kReadBufferBytes);
}

Connection::Connection(std::string key, std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream)
    : key_(std::move(key)), ssl_(std::move(stream)) {
  buffer_.reserve(kReadBufferBytes);
}

void Connection::close() {
  boost::system::error_code ec;
  tcpStream().socket().shutdown(tcp::socket::shutdown_both, ec);
  tcpStream().socket().close(ec);
}

std::string endpointKey(const UpstreamEndpoint& e) {
  // Built for every acquire(): one allocation and no temporaries, which a
  // chain of operator+ and to_string would make.
  std::string key;
  key.reserve(8 + e.host.size() + 6);
  key.append(e.tls ? std::string_view("https://") : std::string_view("http://")).append(e.host).push_back(':');
  char port[8];
  key.append(port, std::to_chars(port, port + sizeof port, e.port).ptr);
  return key;
}

Result<std::shared_ptr<net::ssl::context>> makeClientTlsContext(const std::string& extra_ca_file) {
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                       net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1,
                   ec);
  ctx->set_default_verify_paths(ec);
  if (ec) return Error::internal("cannot load the system CA store: " + ec.message());
  if (!extra_ca_file.empty()) {
    ctx->load_verify_file(extra_ca_file, ec);
    if (ec) return Error{2, "config_error", "UPSTREAM_CA_FILE", "UPSTREAM_CA_FILE: cannot load " + extra_ca_file};
  }
  ctx->set_verify_mode(net::ssl::verify_peer);
  return ctx;
}

UpstreamPool::UpstreamPool(net::io_context& io, std::shared_ptr<net::ssl::context> tls, PoolOptions options)
    : io_(io), tls_(std::move(tls)), options_(options), resolver_(io) {}

UpstreamPool::~UpstreamPool() { closeIdle(); }

void UpstreamPool::closeIdle() {
  for (auto& [k, h] : hosts_) {
    for (auto& c : h.idle) c->close();
    h.open -= static_cast<std::uint32_t>(h.idle.size());
    h.idle.clear();
  }
}

bool UpstreamPool::startIdleWatch(Connection& c) {
  // A DrainingBuffer read: when the response's last read emptied the socket
  // the reactor queues it without a system call; otherwise it tries one
  // recv() now (the old probe's cost). Whatever it reads, the connection is
  // not reused, so the byte it may take from a TLS stream is never missed.
  // The handler does nothing: the flag is set by the read itself, and the
  // connection may be gone when the handler runs (closing it, or acquire()
  // cancelling the read, completes it as aborted).
  c.idle_watch_fired_ = false;
  c.tcpStream().socket().async_read_some(DrainingBuffer{net::buffer(&c.idle_watch_byte_, 1), &c.idle_watch_fired_},
                                         [](const boost::system::error_code&, std::size_t) {});
  return !c.idle_watch_fired_;
}

net::awaitable<Result<tcp::resolver::results_type>> UpstreamPool::resolve(const UpstreamEndpoint& e) {
  auto now = std::chrono::steady_clock::now();
  std::string key = e.host + ":" + std::to_string(e.port);
  if (auto it = dns_cache_.find(key); it != dns_cache_.end() && it->second.expires > now)
    co_return it->second.results;
  // Asio resolves on its internal thread: the event loop never blocks.
  auto [ec, results] = co_await resolver_.async_resolve(e.host, std::to_string(e.port), kAsTuple);
  if (ec) co_return Error::badGateway("upstream_unreachable", "cannot resolve upstream host " + e.host);
  dns_cache_[key] = ResolvedHost{results, now + std::chrono::seconds(30)};
  co_return results;
}

std::unique_ptr<Connection> UpstreamPool::takeIdle(const UpstreamEndpoint& e) {
  // A request usually goes where the last one went: that host's state is
  // found by comparing the endpoint, without building its key and hashing
  // it (hosts_ never drops an entry, so the pointer stays valid).
  if (!last_host_.state || last_host_.tls != e.tls || last_host_.port != e.port || last_host_.host != e.host) {
    auto it = hosts_.find(endpointKey(e));
    if (it == hosts_.end()) return nullptr;
    last_host_ = LastHost{e.tls, e.port, e.host, &it->second};
  }
  return takeIdle(*last_host_.state, std::chrono::steady_clock::now());
}

std::unique_ptr<Connection> UpstreamPool::takeIdle(HostState& host, std::chrono::steady_clock::time_point now) {
  while (!host.idle.empty()) {
    auto c = std::move(host.idle.back());
    host.idle.pop_back();
    // Every reuse is checked (see the idle watch in the header): bytes that
    // arrived after the last response (a broken upstream, or a proxy before
    // it) would otherwise be read as the next request's response, which may
    // be another client's. A closed connection is caught here too.
    auto idle_for = now - c->idle_since_;
    if (idle_for < options_.max_idle_time && !c->idle_watch_fired_) {
      boost::system::error_code ec;
      c->tcpStream().socket().cancel(ec);  // ends the idle watch
      c->reused_ = true;
      return c;
    }
    c->close();
    --host.open;
  }
  return nullptr;
}

net::awaitable<Result<std::unique_ptr<Connection>>> UpstreamPool::acquire(const UpstreamEndpoint& e) {
  std::string key = endpointKey(e);
  HostState& host = hosts_[key];
  auto now = std::chrono::steady_clock::now();
  if (auto idle = takeIdle(host, now)) co_return std::move(idle);
  if (host.open >= options_.max_connections_per_host)
    co_return Error{503, "upstream_error", "upstream_connection_limit",
                    "Too many concurrent connections to the upstream"};
  ++host.open;  // reserved; given back below on failure
  auto fail = [&](Error err) -> Result<std::unique_ptr<Connection>> {
    --hosts_[key].open;
    return err;
  };

  auto deadline = now + options_.connect_timeout;
  auto resolved = co_await resolve(e);
  if (!resolved) co_return fail(resolved.error());

  beast::tcp_stream stream(io_);
  stream.expires_at(deadline);
  auto [cec, ep] = co_await stream.async_connect(*resolved, kAsTuple);
  if (cec) {
    if (cec == beast::error::timeout) co_return fail(Error::gatewayTimeout("Timed out connecting to the upstream"));
    co_return fail(Error::badGateway("upstream_unreachable", "Cannot connect to the upstream " + e.host + ": " +
                                                                 cec.message()));
  }
  stream.socket().set_option(tcp::no_delay(true));
  // The proxy writes requests with a synchronous writev() first (see
  // UpstreamRelay::sendRequestNow in server/upstream_relay.cc): it must never block the worker.
  boost::system::error_code nbec;
  stream.socket().non_blocking(true, nbec);
  if (!e.tls) {
    stream.expires_never();
    co_return std::make_unique<Connection>(key, std::move(stream));
  }

  auto tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(stream), *tls_);
  // SNI and host-name verification (the certificate must name the host).
  if (!SSL_set_tlsext_host_name(tls->native_handle(), e.host.c_str()))
    co_return fail(Error::badGateway("upstream_unreachable", "TLS: cannot set server name"));
  tls->set_verify_callback(net::ssl::host_name_verification(e.host));
  auto [hec] = co_await tls->async_handshake(net::ssl::stream_base::client, kAsTuple);
  if (hec) {
    if (hec == beast::error::timeout) co_return fail(Error::gatewayTimeout("Timed out in the TLS handshake"));
    co_return fail(Error::badGateway("upstream_unreachable", "TLS handshake with " + e.host + " failed: " +
                                                                 hec.message()));
  }
  beast::get_lowest_layer(*tls).expires_never();
  co_return std::make_unique<Connection>(key, std::move(tls));
}

void UpstreamPool::release(std::unique_ptr<Connection> c) {
  auto it = hosts_.find(c->key());
  if (it == hosts_.end()) return;
  HostState& host = it->second;
  if (host.idle.size() >= options_.max_idle_per_host || c->buffer_.size() != 0) {
    c->close();
    --host.open;
    return;
  }
  if (!startIdleWatch(*c)) {
    c->close();
    --host.open;
    return;
  }
  c->idle_since_ = std::chrono::steady_clock::now();
  host.idle.push_back(std::move(c));
}

void UpstreamPool::discard(std::unique_ptr<Connection> c) {
  c->close();
  if (auto it = hosts_.find(c->key()); it != hosts_.end()) --it->second.open;
}

}  // namespace gw::upstream
