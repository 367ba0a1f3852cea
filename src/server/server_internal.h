// Internals shared by the server's translation units (Beast included here,
// so only src/server .cc files include this header).
#pragma once

#include "config/settings.h"
#include "gw/provider.h"
#include "keys/key_service.h"
#include "server/worker_timers.h"
#include "server/gateway_server.h"
#include "server/http_request.h"
#include "upstream/upstream_pool.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <atomic>
#include <memory>
#include <random>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>

namespace gw::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// Completion token of the server's coroutines: errors as values, no throw.
inline constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);

struct Shared;

// Whether the connection stays open after this request (RFC 9112 section 9.3).
bool keepAlive(const HttpRequest& request);

// One worker thread: its io_context, listener, upstream pool and sessions.
// Everything in a Worker is touched only from its own thread, except
// `io` (posted to) and the atomics.
// How long an exchange runs before the gateway starts watching its client
// for a disconnect (see ExchangeGuards in exchange_guards.h).
inline constexpr std::chrono::milliseconds kWatchClientAfter{10};

struct Worker {
  explicit Worker(Shared& shared);

  Shared& shared;
  // Run by the worker's one thread, and every socket and timer on it is used
  // only from that thread (start() registers the acceptor before the thread
  // runs; other threads only post): the reactor's per-descriptor mutex
  // (a lock and unlock around every operation) guards nothing, so it is
  // off. Posting stays locked.
  net::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  // Every time limit on the worker, on one timer: of the exchanges in
  // flight (exchange_guards.h) when their client watch starts and
  // UPSTREAM_TIMEOUT_MS; of the client connections' head reads
  // (session.cc, HeadReadDeadline) IDLE_TIMEOUT_MS before a
  // request's first byte and CLIENT_HEADER_TIMEOUT_MS from there.
  WorkerTimers worker_timers{io};
  std::optional<WorkerTimers::Lane> watch_lane;
  std::optional<WorkerTimers::Lane> deadline_lane;
  std::optional<WorkerTimers::Lane> idle_lane;
  std::optional<WorkerTimers::Lane> header_lane;
  std::optional<tcp::acceptor> acceptor;
  std::optional<upstream::UpstreamPool> pool;
  std::unordered_set<tcp::socket*> sockets;  // live client connections
  // The providers and routes of the requests that start now (a request
  // copies the pointer and keeps its snapshot); GatewayServer::reload()
  // posts the next one.
  std::shared_ptr<const routing::RoutingConfig> routing;
  std::minstd_rand rng{std::random_device{}()};  // routing's weighted and tie-breaking draws
  // Virtual keys: admission and the admin API with this worker's state
  // connection. Made and destroyed on the worker's thread (null when the
  // server has no key service: unit tests).
  std::unique_ptr<keys::KeyWorker> keys;
  std::thread thread;
};

// State shared by all workers; read-only after start() except atomics.
struct Shared {
  ServerDeps deps;
  const Settings& settings() const { return *deps.settings; }
  std::shared_ptr<net::ssl::context> tls;
  std::atomic<bool> draining{false};
  std::atomic<std::size_t> in_flight{0};
  // Request body bytes held by the requests in flight on every worker,
  // bounded by MAX_INFLIGHT_BODY_BYTES (see BodyReservation in
  // session.cc).
  std::atomic<std::uint64_t> inflight_body_bytes{0};
};

// The target that answered a routed request (docs/routing.md), for its
// x-gateway-provider, x-gateway-model and x-gateway-attempts headers.
struct RoutedBy {
  std::string_view provider;
  std::string_view model;
  int attempts = 0;  // the answering one included
};

// What the session needs to write a response head.
struct ResponseHeadParams {
  int status = 200;
  std::string_view content_type;
  std::optional<std::uint64_t> content_length;  // nullopt = chunked
  std::string_view request_id;
  bool keep_alive = true;
  std::string_view cors_origin;  // "" = no CORS headers
  const std::vector<std::pair<std::string, std::string>>* extra = nullptr;
  const RoutedBy* routed_by = nullptr;  // a routed request's answer
  // The gateway's own header lines ("name: value\r\n" each), e.g. a
  // virtual key's x-ratelimit-* headers; "" for none.
  std::string_view gateway_headers;
};

// Serialises a response status line and headers (ends with the blank line).
std::string buildResponseHead(const ResponseHeadParams& params);

// The Access-Control-Allow-Origin value for this request, or "".
std::string corsOriginFor(const Settings& settings, const HttpRequest& request);

// Answers a request that could not be parsed, and closes: the error in the
// OpenAI shape with a new request id. Runs on the worker's thread.
net::awaitable<void> writeEarlyError(beast::tcp_stream& client, const Error& error);

// Serves one parsed request (the proxy, /health, /metrics, CORS preflight);
// returns whether the connection may be reused. Runs on the worker's thread.
net::awaitable<bool> dispatch(Worker& worker, beast::tcp_stream& client, beast::flat_buffer& client_buffer,
                              HttpRequest& request, std::chrono::steady_clock::time_point received);

// Accepts connections on the worker's listener and runs a session for each
// (session.cc), until the listener closes. Runs on the worker's thread.
net::awaitable<void> acceptLoop(Worker& worker);

// Serves one /v1/* request; returns whether the connection may be reused.
// Runs on the worker's thread.
net::awaitable<bool> proxyRequest(Worker& worker, beast::tcp_stream& client, beast::flat_buffer& client_buffer,
                                  HttpRequest& request, std::chrono::steady_clock::time_point received);

// Whether a refused request's body was read (a client still sending it
// must be lingered for, or it would lose the answer).
enum class RefusedBody { kRead, kUnread };

// Answers a request the gateway refuses with `error` and Connection: close,
// echoing the client's x-request-id; a /v1 request also gets its record.
// With RefusedBody::kUnread (413 and the like, before the body was read) it
// then shuts down the sending side and lingers (lingerBeforeClose), so that
// a client still sending its body gets the answer. The caller closes the
// connection. Runs on the worker's thread.
net::awaitable<void> rejectRequest(Worker& worker, beast::tcp_stream& client, beast::flat_buffer& client_buffer,
                                   HttpRequest& request, std::chrono::steady_clock::time_point received,
                                   const Error& error, RefusedBody body);

// Reads and discards what the client still sends, for a bounded time and
// number of bytes, before the connection is closed (see session.cc).
net::awaitable<void> lingerBeforeClose(beast::tcp_stream& client, std::uint64_t max_bytes);

// Writes a complete response with a body. Returns false if the write failed.
net::awaitable<bool> writeSimpleResponse(beast::tcp_stream& client, const ResponseHeadParams& head,
                                         std::string_view body);

}  // namespace gw::server
