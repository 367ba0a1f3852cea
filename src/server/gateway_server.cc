// Listener, connection sessions and the non-proxy routes (/health, /metrics,
// CORS preflight). The proxy itself is in proxy.cc.
#include "server/gateway_server.h"

#include "common/ids.h"
#include "common/log.h"
#include "common/memory_release.h"
#include "common/openai_error.h"
#include "common/strings.h"
#include "common/draining_buffer.h"
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

namespace {
constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);
}
using namespace std::string_view_literals;  // "..."sv: appends without strlen()

Worker::Worker(Shared& s) : shared(s) {
  const auto timeout = s.settings().upstream_timeout;
  // The client watch starts after kWatchClientAfter, or at the deadline if
  // that is sooner (see ExchangeGuards in proxy.cc).
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
                 "\r\nAccess-Control-Expose-Headers: x-request-id\r\n"sv,
                 p.cors_origin != "*" ? "Vary: Origin\r\n"sv : ""sv);
  if (p.extra)
    for (const auto& [k, v] : *p.extra) appendPieces(h, k, ": "sv, v, "\r\n"sv);
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

net::awaitable<bool> serveHealth(Worker& w, beast::tcp_stream& client, const HttpRequest& req, std::string_view id,
                                 bool keep_alive) {
  boost::json::object body;
  bool draining = w.shared.draining.load(std::memory_order_relaxed);
  body["status"] = draining ? "shutting_down" : "healthy";
  body["version"] = GW_VERSION;
  body["exporters"] = w.shared.deps.exporter_health ? w.shared.deps.exporter_health() : boost::json::object();
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

// Handles one parsed request; returns whether to keep the connection.
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
      co_await rejectRequest(w, client, buffer, req, received, Error::badRequest("invalid_path", problem));
      co_return false;
    }
    if (isRefusedCrossSite(w.shared.settings(), req)) {
      co_await rejectRequest(w, client, buffer, req, received,
                             Error(403, "invalid_request_error", "cross_site_request",
                                   "Cross-site browser requests need their origin in CORS_ALLOWED_ORIGINS"));
      co_return false;
    }
    co_return co_await proxyRequest(w, client, buffer, req, received);
  }
  RequestHeaders headers(req);
  std::string id = requestIdFor(headers);
  if (req.method() == http::verb::options && !w.shared.settings().cors_allowed_origins.empty())
    co_return co_await servePreflight(w, client, req, id, keep_alive) && keep_alive;
  bool is_get = req.method() == http::verb::get || req.method() == http::verb::head;
  if (path == "/health" && is_get) co_return co_await serveHealth(w, client, req, id, keep_alive) && keep_alive;
  if (path == "/metrics" && is_get) co_return co_await serveMetrics(w, client, id, keep_alive) && keep_alive;
  ResponseHeadParams p;
  p.status = (path == "/health" || path == "/metrics") ? 405 : 404;
  p.content_type = "application/json";
  p.request_id = id;
  p.keep_alive = keep_alive;
  Error e{p.status, "invalid_request_error", p.status == 405 ? "method_not_allowed" : "not_found",
          p.status == 405 ? "Method not allowed" : "Unknown route: the gateway serves /v1/*, /health and /metrics"};
  co_return co_await writeSimpleResponse(client, p, openAiErrorBody(e)) && keep_alive;
}

// The deadline for reading a request head from a client connection: the
// keep-alive idle time until the first byte, CLIENT_HEADER_TIMEOUT_MS from
// there to the end of the head. When it passes, the pending read is
// cancelled (the session sees operation_aborted and closes).
//
// An entry in one of the worker's two head-read lanes (WorkerTimers): no
// timer of its own, and moving it is a few pointer stores. Beast's stream
// timeouts instead start and cancel a timer around every read, a cost paid
// per request for a deadline that almost never passes. Used from the
// session's coroutine on its worker thread.
class HeadReadDeadline final : WorkerTimers::Entry {
 public:
  HeadReadDeadline(Worker& worker, tcp::socket& socket) : worker_(worker), socket_(socket) { on_due = &onDue; }
  ~HeadReadDeadline() { clear(); }
  HeadReadDeadline(const HeadReadDeadline&) = delete;
  HeadReadDeadline& operator=(const HeadReadDeadline&) = delete;

  // Waiting for the first byte of a request: the idle time from now.
  void waitingForRequest() { moveTo(*worker_.idle_lane); }
  // A head has begun: the rest of it within the header time from now.
  void readingHead() { moveTo(*worker_.header_lane); }
  // No deadline (the request is being served).
  void clear() {
    if (lane_) WorkerTimers::Lane::remove(*this, *lane_);
    lane_ = nullptr;
  }

 private:
  void moveTo(WorkerTimers::Lane& lane) {
    clear();
    lane_ = &lane;
    lane.add(*this, WorkerTimers::Clock::now());
  }
  static void onDue(WorkerTimers::Entry& entry) {
    auto& self = static_cast<HeadReadDeadline&>(entry);
    self.lane_ = nullptr;
    boost::system::error_code ec;
    self.socket_.cancel(ec);
  }

  Worker& worker_;
  tcp::socket& socket_;
  WorkerTimers::Lane* lane_ = nullptr;  // the lane this entry is in, if any
};

// A request's share of MAX_INFLIGHT_BODY_BYTES: the memory its body holds,
// taken before that memory is (a Content-Length is reserved whole, a
// chunked body as it grows) and given back when the request is over. The
// total is shared by all workers, so it is updated with a compare-and-swap
// that never lets it pass the limit. On the session's worker thread.
class BodyReservation {
 public:
  BodyReservation(std::atomic<std::uint64_t>& total, std::uint64_t limit) : total_(total), limit_(limit) {}
  ~BodyReservation() { release(); }
  BodyReservation(const BodyReservation&) = delete;
  BodyReservation& operator=(const BodyReservation&) = delete;

  // Holds `bytes` in all (no less than now); false, holding what it held,
  // when that would take the total past the limit.
  bool growTo(std::uint64_t bytes) {
    if (bytes <= held_) return true;
    const std::uint64_t more = bytes - held_;
    std::uint64_t current = total_.load(std::memory_order_relaxed);
    do {
      if (current + more > limit_) return false;
    } while (!total_.compare_exchange_weak(current, current + more, std::memory_order_relaxed));
    held_ = bytes;
    return true;
  }

  // Gives everything back. After a large body, once no request holds any,
  // the allocator returns the freed memory to the system: a burst of large
  // requests does not leave the process at its peak size.
  void release() {
    if (held_ == 0) return;
    const std::uint64_t before = total_.fetch_sub(held_, std::memory_order_relaxed);
    if (held_ >= kLargeBody && before == held_) releaseFreeMemory();
    held_ = 0;
  }

 private:
  static constexpr std::uint64_t kLargeBody = 1u << 20;
  std::atomic<std::uint64_t>& total_;
  const std::uint64_t limit_;
  std::uint64_t held_ = 0;
};

// What a connection keeps of a body's memory for its next request: a
// larger buffer is freed once its request is over.
constexpr std::size_t kKeptBodyCapacity = 64u << 10;

Error overloadedError() {
  return Error::overloaded("The gateway holds too many request bodies (MAX_INFLIGHT_BODY_BYTES); retry shortly", 1);
}

// After refusing a request whose body it did not read (413, 503), the
// gateway has sent its answer and shut down its side; closing at once with
// the body's bytes still arriving would make the kernel reset the
// connection, and the client, still sending, would lose the answer. So the
// rest is read and discarded first (as nginx's lingering close does), for a
// bounded time and number of bytes, with no memory held.
net::awaitable<void> lingerBeforeClose(beast::tcp_stream& client, std::uint64_t max_bytes) {
  constexpr auto kLingerTime = std::chrono::seconds(5);
  std::array<char, 16 * 1024> scratch;
  client.expires_after(kLingerTime);
  for (std::uint64_t drained = 0; drained <= max_bytes;) {
    auto [ec, n] = co_await client.async_read_some(net::buffer(scratch), kAsTuple);
    if (ec) break;
    drained += n;
  }
  client.expires_never();
}

// One client connection: read requests one at a time (so pipelined requests
// are answered in order), dispatch, repeat while keep-alive.
net::awaitable<void> session(Worker& w, tcp::socket socket) {
  const Settings& s = w.shared.settings();
  beast::tcp_stream client(std::move(socket));
  tcp::socket* registered = &client.socket();
  w.sockets.insert(registered);
  HeadReadDeadline head_deadline(w, client.socket());
  beast::flat_buffer buffer;
  buffer.reserve(8 * 1024);  // read requests in one piece, not Beast's 512-byte minimum
  // The connection's requests, one at a time: its memory is reused.
  HttpRequest request;
  bool unread_body = false;  // the session ends on a refused body the client may still be sending
  for (;;) {
    if (w.shared.draining.load(std::memory_order_relaxed) && buffer.size() == 0) break;
    HttpRequestParser parser(request);
    parser.header_limit(s.max_header_bytes);
    // The body limit is applied after the head is read (below), so that a
    // refused request still has all its headers: its x-request-id is echoed
    // and its record written.
    parser.body_limit(boost::none);
    // The whole head is gathered (and screened) before Beast parses it.
    // Waiting for the first byte is the keep-alive idle time; from the first
    // byte on, the whole head must arrive within CLIENT_HEADER_TIMEOUT_MS
    // (one deadline, not one per read: a client trickling a byte at a time
    // cannot stretch it).
    HeadScan scan = scanRequestHead(std::string_view(static_cast<const char*>(buffer.data().data()), buffer.size()));
    bool read_failed = false;
    if (!scan.complete && buffer.size() > 0) head_deadline.readingHead();
    else if (!scan.complete) head_deadline.waitingForRequest();
    while (!scan.complete && !scan.obs_fold && !scan.bare_lf && buffer.size() <= s.max_header_bytes) {
      bool first = buffer.size() == 0;
      std::size_t room = std::max<std::size_t>(512, buffer.capacity() - buffer.size());
      // The socket itself, not the Beast stream: HeadReadDeadline is the
      // timeout, and a DrainingBuffer makes the read after a response wait
      // for the next request instead of first trying a recv() that fails.
      auto [rec, rn] = co_await client.socket().async_read_some(
          DrainingBuffer{buffer.prepare(std::min<std::size_t>(room, 64 * 1024))}, kAsTuple);
      if (rec) {
        read_failed = true;
        break;
      }
      buffer.commit(rn);
      scan = scanRequestHead(std::string_view(static_cast<const char*>(buffer.data().data()), buffer.size()),
                             scan.resume);
      if (first && !scan.complete) head_deadline.readingHead();
    }
    head_deadline.clear();
    if (read_failed) break;  // closed, reset or timed out: nobody to answer
    if (scan.obs_fold || scan.bare_lf) {
      co_await writeEarlyError(client, Error::badRequest("bad_request",
                                                         scan.obs_fold ? "Malformed HTTP request: obsolete line folding"
                                                                       : "Malformed HTTP request: bare LF line ending"));
      break;
    }
    if (!scan.complete || scan.end > s.max_header_bytes) {
      co_await writeEarlyError(client, Error{431, "invalid_request_error", "headers_too_large",
                                             "Request headers exceed MAX_HEADER_BYTES"});
      break;
    }
    // The head is complete in the buffer: parse it without another read.
    boost::system::error_code hec;
    buffer.consume(parser.putHead(std::string_view(static_cast<const char*>(buffer.data().data()), scan.end), hec));
    if (!hec && !parser.is_header_done()) hec = http::error::partial_message;
    if (hec) {
      if (hec == http::error::header_limit)
        co_await writeEarlyError(client, Error{431, "invalid_request_error", "headers_too_large",
                                               "Request headers exceed MAX_HEADER_BYTES"});
      else
        co_await writeEarlyError(client, Error::badRequest("bad_request", "Malformed HTTP request: " + hec.message()));
      break;
    }
    // Framing that the gateway and a proxy in front of it could read
    // differently is refused, and the connection closed: whatever follows
    // on it cannot be trusted to start a request.
    std::size_t hosts = 0;
    {
      std::vector<std::string_view> te;
      request.forEachField([&](http::field id, std::string_view, std::string_view value) {
        if (id == http::field::transfer_encoding) te.push_back(value);
        if (id == http::field::host) ++hosts;
      });
      std::string problem =
          framingProblem(request.version(), te, request.find(http::field::content_length).has_value());
      if (!problem.empty()) {
        co_await writeEarlyError(client, Error::badRequest("bad_request", "Malformed HTTP request: " + problem));
        break;
      }
    }
    auto received = std::chrono::steady_clock::now();
    // RFC 9112 section 3.2: an HTTP/1.1 request has exactly one Host
    // header; no request has two (which one a proxy in front used is
    // anybody's guess).
    if (hosts > 1 || (hosts == 0 && request.version() >= 11)) {
      co_await rejectRequest(w, client, buffer, request, received,
                             Error::badRequest("bad_request", hosts == 0
                                                                  ? "Malformed HTTP request: no Host header"
                                                                  : "Malformed HTTP request: more than one Host header"));
      unread_body = true;
      break;
    }
    if (auto cl = parser.content_length(); cl && *cl > s.max_request_body_bytes) {
      co_await rejectRequest(w, client, buffer, request, received,
                             Error::tooLarge("Request body exceeds MAX_REQUEST_BODY_BYTES"));
      unread_body = true;
      break;
    }
    parser.body_limit(s.max_request_body_bytes);
    BodyReservation body_memory(w.shared.inflight_body_bytes, s.max_inflight_body_bytes);
    if (auto cl = parser.content_length(); cl && *cl > 0) {
      if (!body_memory.growTo(*cl)) {
        co_await rejectRequest(w, client, buffer, request, received, overloadedError());
        unread_body = true;
        break;
      }
      // Reserved whole: a body grown by appending would hold up to twice
      // its size, and copies on the way.
      request.body().reserve(static_cast<std::size_t>(*cl));
    }
    if (!parser.is_done()) {
      auto expect = request.find(http::field::expect);
      if (expect && iequals(*expect, "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        auto [cec, cn] = co_await net::async_write(client, net::buffer(kContinue), kAsTuple);
        if (cec) break;
      }
      // A body that arrived with its head (the usual case) is parsed at once:
      // an asynchronous read would complete through the scheduler even with
      // nothing left to read.
      boost::system::error_code bec;
      parser.eager(true);
      while (buffer.size() > 0 && !parser.is_done()) {
        std::size_t used = parser.put(buffer.data(), bec);
        buffer.consume(used);
        if (bec == http::error::need_more) {
          bec = {};
          break;
        }
        if (bec || used == 0) break;
      }
      // A chunked body is counted against the budget as it grows.
      bool overloaded = !body_memory.growTo(request.body().capacity());
      if (!bec && !overloaded && !parser.is_done()) {
        client.expires_after(s.client_header_timeout);
        while (!bec && !parser.is_done()) {
          std::tie(bec, std::ignore) = co_await http::async_read_some(client, buffer, parser, kAsTuple);
          if (!body_memory.growTo(request.body().capacity())) {
            overloaded = true;
            break;
          }
        }
        client.expires_never();
      }
      if (overloaded) {
        co_await rejectRequest(w, client, buffer, request, received, overloadedError());
        unread_body = true;
        break;
      }
      if (bec) {
        if (bec == http::error::body_limit) {
          co_await rejectRequest(w, client, buffer, request, received,
                                 Error::tooLarge("Request body exceeds MAX_REQUEST_BODY_BYTES"));
          unread_body = true;
        }
        else if (bec.category() == http::make_error_code(http::error::bad_target).category() &&
                 bec != http::error::partial_message)
          co_await rejectRequest(w, client, buffer, request, received,
                                 Error::badRequest("bad_request", "Malformed HTTP request body"));
        break;
      }
      // A chunked body's trailer fields were dropped by the parser (see
      // HttpRequestParser).
    }
    bool keep = co_await dispatch(w, client, buffer, request, received);
    if (request.body().capacity() > kKeptBodyCapacity) std::string().swap(request.body());
    body_memory.release();
    if (!keep) break;
  }
  boost::system::error_code ec;
  client.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (unread_body) co_await lingerBeforeClose(client, s.max_request_body_bytes);
  w.sockets.erase(registered);
  client.socket().close(ec);
}

net::awaitable<void> acceptLoop(Worker& w) {
  for (;;) {
    auto [ec, socket] = co_await w.acceptor->async_accept(kAsTuple);
    if (ec) {
      if (ec == net::error::operation_aborted || !w.acceptor->is_open()) co_return;
      // EMFILE and friends: log (rate-limited by the logger level) and go on.
      log::get("server")->warn("accept failed: {}", ec.message());
      continue;
    }
    boost::system::error_code oec;
    socket.set_option(tcp::no_delay(true), oec);
    // Synchronous reads on it must never block the worker (see watchClient).
    socket.non_blocking(true, oec);
    net::co_spawn(w.io, session(w, std::move(socket)), net::detached);
  }
}

}  // namespace
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
    w->thread = std::thread([wp = w.get()] { wp->io.run(); });
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
  //    requests past the grace period) and the idle upstream connections.
  for (auto& w : impl_->workers)
    net::post(w->io, [wp = w.get()] {
      boost::system::error_code ec;
      for (auto* sock : wp->sockets) sock->close(ec);
      wp->pool->closeIdle();
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
