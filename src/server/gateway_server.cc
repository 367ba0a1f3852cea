// The server: its workers and listeners (start, shutdown), response heads,
// and the routes that are not the proxy (/health, /metrics, the dashboard,
// CORS preflight). A client connection's requests are read in session.cc; the
// proxy is proxy.cc.
#include "server/gateway_server.h"

#include "common/ids.h"
#include "common/log.h"
#include "common/memory_release.h"
#include "common/openai_error.h"
#include "common/strings.h"
#include "common/draining_buffer.h"
#include "dashboard/dashboard.h"
#include "server/request_head.h"
#include "server/server_internal.h"
#include "telemetry/telemetry_sink.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <mutex>

namespace gw {

namespace server {

using namespace std::string_view_literals;  // "..."sv: appends without strlen()

Worker::Worker(Shared& s) : shared(s), routing(s.deps.routing) {
  const auto timeout = s.settings().upstream_timeout;
  // The client watch starts after kWatchClientAfter, or at the deadline if
  // that is sooner (see ExchangeGuards in exchange_guards.h).
  watch_lane.emplace(worker_timers, std::min<WorkerTimers::Clock::duration>(kWatchClientAfter, timeout));
  deadline_lane.emplace(worker_timers, timeout);
  idle_lane.emplace(worker_timers, s.settings().idle_timeout);
  header_lane.emplace(worker_timers, s.settings().client_header_timeout);
  for (auto* lane : {&*watch_lane, &*deadline_lane, &*idle_lane, &*header_lane}) worker_timers.registerLane(*lane);
}

std::string buildResponseHead(const ResponseHeadParams& p) {
  std::string h;
  h.reserve(256);
  // std::to_chars, not std::to_string: no temporary strings.
  char status_digits[16], length_digits[24];
  std::string_view status(status_digits, std::to_chars(status_digits, status_digits + sizeof status_digits, p.status).ptr);
  // Beast names unknown codes "<unknown-status>"; a status line says less.
  auto reason = http::int_to_status(static_cast<unsigned>(p.status)) == http::status::unknown
                    ? boost::beast::string_view()
                    : http::obsolete_reason(static_cast<http::status>(p.status));
  std::string_view length = "Transfer-Encoding: chunked"sv;
  if (p.content_length)
    length = std::string_view(length_digits, std::to_chars(length_digits, length_digits + sizeof length_digits,
                                                           *p.content_length).ptr);
  const bool typed = !p.content_type.empty();
  appendPieces(h, "HTTP/1.1 "sv, status, " "sv,
               reason.empty() ? "Unknown"sv : std::string_view(reason.data(), reason.size()),
               typed ? "\r\nContent-Type: "sv : ""sv, p.content_type,
               p.content_length ? "\r\nContent-Length: "sv : "\r\n"sv, length,
               "\r\nx-request-id: "sv, p.request_id, "\r\n"sv);
  if (!p.cors_origin.empty())
    appendPieces(h, "Access-Control-Allow-Origin: "sv, p.cors_origin,
                 p.routed_by ? "\r\nAccess-Control-Expose-Headers: x-request-id, x-gateway-provider, x-gateway-model, "
                               "x-gateway-attempts\r\n"sv
                             : "\r\nAccess-Control-Expose-Headers: x-request-id\r\n"sv,
                 p.cors_origin != "*" ? "Vary: Origin\r\n"sv : ""sv);
  if (p.extra)
    for (const auto& [k, v] : *p.extra) appendPieces(h, k, ": "sv, v, "\r\n"sv);
  h.append(p.gateway_headers);
  if (p.routed_by) {
    char attempts_digits[16];
    std::string_view attempts(attempts_digits, std::to_chars(attempts_digits, attempts_digits + sizeof attempts_digits,
                                                             p.routed_by->attempts).ptr);
    appendPieces(h, "x-gateway-provider: "sv, p.routed_by->provider, "\r\nx-gateway-model: "sv, p.routed_by->model,
                 "\r\nx-gateway-attempts: "sv, attempts, "\r\n"sv);
  }
  appendPieces(h, p.keep_alive ? "\r\n"sv : "Connection: close\r\n\r\n"sv);
  return h;
}

bool keepAlive(const HttpRequest& request) {
  // The first Connection field decides, as Beast's keep_alive() reads it.
  auto connection = request.find(http::field::connection);
  if (request.version() < 11) return connection && http::token_list{*connection}.exists("keep-alive");
  return !connection || !http::token_list{*connection}.exists("close");
}

std::string corsOriginFor(const Settings& s, const HttpRequest& req) {
  if (s.cors_allowed_origins.empty()) return {};
  auto origin = req.find(http::field::origin);
  if (!origin) return {};
  for (const auto& o : s.cors_allowed_origins) {
    if (o == "*") return "*";
    if (o == *origin) return std::string(*origin);
  }
  return {};
}

net::awaitable<bool> writeSimpleResponse(beast::tcp_stream& client, const ResponseHeadParams& head,
                                         std::string_view body) {
  ResponseHeadParams p = head;
  p.content_length = body.size();
  std::string h = buildResponseHead(p);
  std::array<net::const_buffer, 2> bufs{net::buffer(h), net::buffer(body)};
  auto [ec, n] = co_await net::async_write(client, bufs, kAsTuple);
  co_return !ec;
}

// Errors before a request could be parsed: answer and close.
net::awaitable<void> writeEarlyError(beast::tcp_stream& client, const Error& e) {
  std::string id = newRequestId();
  ResponseHeadParams p;
  p.status = e.http_status;
  p.content_type = "application/json";
  p.request_id = id;
  p.keep_alive = false;
  co_await writeSimpleResponse(client, p, openAiErrorBody(e));
}

namespace {

bool isRefusedCrossSite(const Settings& s, const HttpRequest& req) {
  // Browsers (and only browsers) send Sec-Fetch-Site. A page on another site
  // can make the browser POST to a gateway on 127.0.0.1 without a preflight
  // ("simple" requests: text/plain bodies, which the gateway reads as JSON)
  // and spend the operator's keys, even though it cannot read the answer.
  // Same-origin requests and direct navigation ("none") are fine, and so is
  // any origin that CORS_ALLOWED_ORIGINS lets in.
  auto fetch_site = req.find("sec-fetch-site");
  if (!fetch_site) return false;
  std::string_view site = trim(*fetch_site);
  if (!iequals(site, "cross-site") && !iequals(site, "same-site")) return false;
  return corsOriginFor(s, req).empty();
}

net::awaitable<bool> serveHealth(Worker& w, beast::tcp_stream& client, const HttpRequest& req, std::string_view id,
                                 bool keep_alive) {
  boost::json::object body;
  bool draining = w.shared.draining.load(std::memory_order_relaxed);
  body["status"] = draining ? "shutting_down" : "healthy";
  body["version"] = GW_VERSION;
  body["exporters"] = w.shared.deps.exporter_health ? w.shared.deps.exporter_health() : boost::json::object();
  if (w.shared.deps.keys) body["state_store"] = w.shared.deps.keys->health();
  ResponseHeadParams p;
  p.status = draining ? 503 : 200;
  p.content_type = "application/json";
  p.request_id = id;
  p.keep_alive = keep_alive;
  std::string cors = corsOriginFor(w.shared.settings(), req);
  p.cors_origin = cors;
  co_return co_await writeSimpleResponse(client, p, boost::json::serialize(body));
}

net::awaitable<bool> serveMetrics(Worker& w, beast::tcp_stream& client, std::string_view id, bool keep_alive) {
  ResponseHeadParams p;
  p.request_id = id;
  p.keep_alive = keep_alive;
  std::optional<std::string> text = w.shared.deps.metrics_text ? w.shared.deps.metrics_text() : std::nullopt;
  if (!text) {
    p.status = 404;
    p.content_type = "application/json";
    co_return co_await writeSimpleResponse(
        client, p, openAiErrorBody(Error{404, "invalid_request_error", "not_found",
                                         "/metrics is served when the prometheus exporter is enabled"}));
  }
  p.content_type = "text/plain; version=0.0.4; charset=utf-8";
  co_return co_await writeSimpleResponse(client, p, *text);
}

// The admin API (docs/keys-and-budgets.md); makes no record.
net::awaitable<bool> serveAdmin(Worker& w, beast::tcp_stream& client, const HttpRequest& req, std::string_view id,
                                bool keep_alive) {
  std::string_view target = req.target();
  const std::string_view authorization = req.find(http::field::authorization).value_or(std::string_view());
  keys::AdminResponse answer = co_await w.keys->handleAdmin(
      std::string_view(req.method_string().data(), req.method_string().size()), target.substr(0, target.find('?')),
      authorization, req.body());
  ResponseHeadParams p;
  p.status = answer.status;
  p.content_type = "application/json";
  p.request_id = id;
  p.keep_alive = keep_alive;
  std::vector<std::pair<std::string, std::string>> extra;
  if (answer.retry_after_seconds > 0) {
    extra.emplace_back("Retry-After", std::to_string(answer.retry_after_seconds));
    p.extra = &extra;
  }
  co_return co_await writeSimpleResponse(client, p, answer.body);
}

// The dashboard (docs/dashboard.md): the page at /ui without a key (it asks
// for one when GATEWAY_ADMIN_KEY is set), the JSON API at /ui/api/ behind
// the admin key. Makes no record.
net::awaitable<bool> serveDashboard(Worker& w, beast::tcp_stream& client, const HttpRequest& req, std::string_view path,
                                    std::string_view query, std::string_view id, bool keep_alive) {
  ResponseHeadParams p;
  p.request_id = id;
  p.keep_alive = keep_alive;
  const bool is_head = req.method() == http::verb::head;
  const bool is_get = req.method() == http::verb::get || is_head;
  const std::string_view method(req.method_string().data(), req.method_string().size());
  const std::string_view authorization = req.find(http::field::authorization).value_or(std::string_view());
  std::vector<std::pair<std::string, std::string>> extra{{"Cache-Control", "no-store"},
                                                         {"X-Content-Type-Options", "nosniff"}};
  p.extra = &extra;
  // The answer is decided first and written once at the end (no temporary
  // lives across a co_await but the key service's answer).
  dashboard::ApiResponse out;
  bool page = false;
  dashboard::Dashboard* board = w.shared.deps.dashboard;
  if (!board) {
    out = dashboard::errorResponse(
        Error{404, "invalid_request_error", "not_found", "The dashboard is off (DASHBOARD_ENABLED=false)"});
  } else if (path == "/ui" || path == "/ui/") {
    if (!is_get) {
      out = dashboard::errorResponse(Error{405, "invalid_request_error", "method_not_allowed", "Method not allowed"});
    } else {
      // Everything the page shows from records is set as text; the policy
      // also keeps any injected markup from loading or sending anything.
      extra.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                         "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
                         "frame-ancestors 'none'");
      extra.emplace_back("Referrer-Policy", "no-referrer");
      extra.emplace_back("X-Frame-Options", "DENY");
      out.content_type = "text/html; charset=utf-8";
      page = true;
    }
  } else if (!path.starts_with("/ui/api/")) {
    out = dashboard::errorResponse(
        Error{404, "invalid_request_error", "not_found", "Unknown dashboard path: the page is /ui, the API /ui/api/"});
  } else if (path == "/ui/api/keys") {
    if (auto refusal = board->refuse(authorization)) {
      out = std::move(*refusal);
    } else if (!is_get) {
      out = dashboard::errorResponse(
          Error{405, "invalid_request_error", "method_not_allowed", "The dashboard API is read-only: GET"});
    } else if (!query.empty()) {
      out = dashboard::errorResponse(Error::badRequest("invalid_parameter", "keys takes no parameters"));
    } else if (!w.keys || !w.shared.deps.keys->adminEnabled()) {
      out.body = R"({"enabled":false})";
    } else {
      keys::AdminResponse answer = co_await w.keys->dashboardKeys();
      out.status = answer.status;
      out.body = std::move(answer.body);
    }
  } else {
    out = board->handleApi(method, path, query, authorization);
  }
  p.status = out.status;
  p.content_type = out.content_type;
  std::string_view body = page ? dashboard::Dashboard::page() : std::string_view(out.body);
  co_return co_await writeSimpleResponse(client, p, is_head ? std::string_view() : body);
}

net::awaitable<bool> servePreflight(Worker& w, beast::tcp_stream& client, const HttpRequest& req, std::string_view id,
                                    bool keep_alive) {
  std::string origin = corsOriginFor(w.shared.settings(), req);
  std::vector<std::pair<std::string, std::string>> extra;
  if (!origin.empty()) {
    extra.emplace_back("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
    auto rh = req.find(http::field::access_control_request_headers);
    std::string allow = rh ? std::string(*rh) : std::string("authorization, content-type");
    if (hasHeaderUnsafeBytes(allow)) allow = "authorization, content-type";
    extra.emplace_back("Access-Control-Allow-Headers", allow);
    extra.emplace_back("Access-Control-Max-Age", "600");
  }
  ResponseHeadParams p;
  p.status = 204;
  p.request_id = id;
  p.keep_alive = keep_alive;
  p.cors_origin = origin;
  p.extra = &extra;
  co_return co_await writeSimpleResponse(client, p, "");
}

}  // namespace

net::awaitable<bool> dispatch(Worker& w, beast::tcp_stream& client, beast::flat_buffer& buffer, HttpRequest& req,
                              std::chrono::steady_clock::time_point received) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  bool keep_alive = keepAlive(req) && !w.shared.draining.load(std::memory_order_relaxed);
  if (path == "/v1" || path.starts_with("/v1/")) {
    if (req.method() == http::verb::options && !w.shared.settings().cors_allowed_origins.empty()) {
      RequestHeaders headers(req);
      co_return co_await servePreflight(w, client, req, requestIdFor(headers), keep_alive) && keep_alive;
    }
    if (std::string problem = targetPathProblem(path); !problem.empty()) {
      // Never forwarded: see targetPathProblem. The request still gets its
      // record; the connection is closed like for any refused request.
      co_await rejectRequest(w, client, buffer, req, received, Error::badRequest("invalid_path", problem),
                             RefusedBody::kRead);
      co_return false;
    }
    if (isRefusedCrossSite(w.shared.settings(), req)) {
      co_await rejectRequest(w, client, buffer, req, received,
                             Error(403, "invalid_request_error", "cross_site_request",
                                   "Cross-site browser requests need their origin in CORS_ALLOWED_ORIGINS"),
                             RefusedBody::kRead);
      co_return false;
    }
    co_return co_await proxyRequest(w, client, buffer, req, received);
  }
  RequestHeaders headers(req);
  std::string id = requestIdFor(headers);
  if (req.method() == http::verb::options && !w.shared.settings().cors_allowed_origins.empty())
    co_return co_await servePreflight(w, client, req, id, keep_alive) && keep_alive;
  bool is_get = req.method() == http::verb::get || req.method() == http::verb::head;
  if ((path == "/admin" || path.starts_with("/admin/")) && w.keys && w.shared.deps.keys->adminEnabled())
    co_return co_await serveAdmin(w, client, req, id, keep_alive) && keep_alive;
  if (path == "/ui" || path.starts_with("/ui/")) {
    std::string_view query = target.size() > path.size() ? target.substr(path.size() + 1) : std::string_view();
    co_return co_await serveDashboard(w, client, req, path, query, id, keep_alive) && keep_alive;
  }
  if (path == "/health" && is_get) co_return co_await serveHealth(w, client, req, id, keep_alive) && keep_alive;
  if (path == "/metrics" && is_get) co_return co_await serveMetrics(w, client, id, keep_alive) && keep_alive;
  ResponseHeadParams p;
  p.status = (path == "/health" || path == "/metrics") ? 405 : 404;
  p.content_type = "application/json";
  p.request_id = id;
  p.keep_alive = keep_alive;
  Error e{p.status, "invalid_request_error", p.status == 405 ? "method_not_allowed" : "not_found",
          p.status == 405 ? "Method not allowed" : "Unknown route: the gateway serves /v1/*, /health, /metrics and /ui"};
  co_return co_await writeSimpleResponse(client, p, openAiErrorBody(e)) && keep_alive;
}

}  // namespace server

struct GatewayServer::Impl {
  server::Shared shared;
  std::vector<std::unique_ptr<server::Worker>> workers;
  std::uint16_t port = 0;
  bool started = false;
  bool stopped = false;
};

GatewayServer::GatewayServer(ServerDeps deps) : impl_(std::make_unique<Impl>()) {
  impl_->shared.deps = std::move(deps);
}

GatewayServer::~GatewayServer() { shutdown(std::chrono::milliseconds(0)); }

void GatewayServer::reload(std::shared_ptr<const routing::RoutingConfig> config) {
  impl_->shared.deps.routing = config;
  for (auto& w : impl_->workers) {
    server::Worker* worker = w.get();
    boost::asio::post(worker->io, [worker, config] { worker->routing = config; });
  }
}

std::uint16_t GatewayServer::port() const { return impl_->port; }

std::size_t GatewayServer::inFlight() const { return impl_->shared.in_flight.load(); }

Status GatewayServer::start() {
  using namespace server;
  const Settings& s = impl_->shared.settings();
  auto tls = upstream::makeClientTlsContext(s.upstream_ca_file);
  if (!tls) return tls.error();
  impl_->shared.tls = *tls;

  boost::system::error_code ec;
  auto address = net::ip::make_address(s.host == "localhost" ? "127.0.0.1" : s.host, ec);
  if (ec) return configError("HOST", "not an IP address: " + s.host);
  std::uint16_t port = s.port;
  upstream::PoolOptions pool_options;
  pool_options.connect_timeout = s.upstream_connect_timeout;
  pool_options.max_connections_per_host = s.max_connections_per_host;
  pool_options.max_idle_per_host = s.max_idle_connections_per_host;

  for (int i = 0; i < s.worker_threads; ++i) {
    auto w = std::make_unique<Worker>(impl_->shared);
    tcp::endpoint ep(address, port);
    w->acceptor.emplace(w->io);
    w->acceptor->open(ep.protocol(), ec);
    if (!ec) w->acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) {
      // Every worker listens on the same port; the kernel spreads connections.
      int one = 1;
      if (::setsockopt(w->acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        ec = boost::system::error_code(errno, boost::system::system_category());
    }
    if (!ec) w->acceptor->bind(ep, ec);
    if (!ec) w->acceptor->listen(net::socket_base::max_listen_connections, ec);
    if (ec) return configError("PORT", "cannot listen on " + s.host + ":" + std::to_string(port) + ": " + ec.message());
    port = w->acceptor->local_endpoint().port();
    w->pool.emplace(w->io, impl_->shared.tls, pool_options);
    impl_->workers.push_back(std::move(w));
  }
  impl_->port = port;
  for (auto& w : impl_->workers) {
    net::co_spawn(w->io, acceptLoop(*w), net::detached);
    w->thread = std::thread([wp = w.get()] {
      if (wp->shared.deps.keys) wp->keys = wp->shared.deps.keys->attachWorker(wp->io);
      wp->io.run();
      wp->keys.reset();
    });
  }
  impl_->started = true;
  return ok();
}

void GatewayServer::shutdown(std::chrono::milliseconds grace) {
  using namespace server;
  if (!impl_->started || impl_->stopped) return;
  impl_->stopped = true;
  impl_->shared.draining = true;
  // 1. Stop accepting: new connections are refused.
  for (auto& w : impl_->workers)
    net::post(w->io, [wp = w.get()] {
      boost::system::error_code ec;
      wp->acceptor->close(ec);
    });
  // 2. Let in-flight requests finish, within the grace period.
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (impl_->shared.in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // 3. Close every connection that is left (idle keep-alive ones, and
  //    requests past the grace period) and the idle upstream connections,
  //    and stop the worker's timer (its pending wait would keep the loop
  //    running until the next limit falls due).
  for (auto& w : impl_->workers)
    net::post(w->io, [wp = w.get()] {
      boost::system::error_code ec;
      for (auto* sock : wp->sockets) sock->close(ec);
      wp->pool->closeIdle();
      wp->worker_timers.stop();
      if (wp->keys) wp->keys->close();
    });
  // 4. Workers exit when their last operation finishes; bound the wait.
  auto stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (auto& w : impl_->workers) {
    while (!w->io.stopped() && std::chrono::steady_clock::now() < stop_deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    w->io.stop();
    if (w->thread.joinable()) w->thread.join();
  }
  for (auto& w : impl_->workers) w->pool.reset();
}

}  // namespace gw
