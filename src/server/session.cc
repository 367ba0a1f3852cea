// One client connection: each request's head read under its deadline, its
// body read under MAX_REQUEST_BODY_BYTES and MAX_INFLIGHT_BODY_BYTES, then
// dispatched (gateway_server.cc), repeated while the connection is kept;
// and the worker's accept loop that starts a session per connection.
#include "common/draining_buffer.h"
#include "common/log.h"
#include "common/memory_release.h"
#include "common/strings.h"
#include "server/request_head.h"
#include "server/server_internal.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <string_view>
#include <vector>

namespace gw::server {

namespace {

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
                                                                  : "Malformed HTTP request: more than one Host header"),
                             RefusedBody::kUnread);
      break;
    }
    if (auto cl = parser.content_length(); cl && *cl > s.max_request_body_bytes) {
      co_await rejectRequest(w, client, buffer, request, received,
                             Error::tooLarge("Request body exceeds MAX_REQUEST_BODY_BYTES"), RefusedBody::kUnread);
      break;
    }
    parser.body_limit(s.max_request_body_bytes);
    BodyReservation body_memory(w.shared.inflight_body_bytes, s.max_inflight_body_bytes);
    if (auto cl = parser.content_length(); cl && *cl > 0) {
      if (!body_memory.growTo(*cl)) {
        co_await rejectRequest(w, client, buffer, request, received, overloadedError(), RefusedBody::kUnread);
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
        co_await rejectRequest(w, client, buffer, request, received, overloadedError(), RefusedBody::kUnread);
        break;
      }
      if (bec) {
        if (bec == http::error::body_limit)
          co_await rejectRequest(w, client, buffer, request, received,
                                 Error::tooLarge("Request body exceeds MAX_REQUEST_BODY_BYTES"), RefusedBody::kUnread);
        else if (bec.category() == http::make_error_code(http::error::bad_target).category() &&
                 bec != http::error::partial_message)
          co_await rejectRequest(w, client, buffer, request, received,
                                 Error::badRequest("bad_request", "Malformed HTTP request body"), RefusedBody::kRead);
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
  w.sockets.erase(registered);
  client.socket().close(ec);
}

}  // namespace

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

}  // namespace gw::server
