// ExchangeGuards: the time limits and client watch of one exchange (see
// the class comment). Only src/server/proxy.cc includes it.
#pragma once

#include "server/proxy_context.h"
#include "server/worker_timers.h"

#include <memory>

namespace gw::server {

// Pipelined bytes the client may send while a request is in flight before
// the gateway stops reading from it (TCP backpressure does the rest).
inline constexpr std::size_t kMaxPipelinedBytes = 1u << 20;

// While the exchange runs: watches the client connection (so that the
// upstream request is cancelled when the client goes away) and enforces
// UPSTREAM_TIMEOUT_MS for the whole exchange. Both are driven by the
// worker's WorkerTimers (one timer for all exchanges, no timer operation
// per request) and act by closing the upstream connection, which ends the
// exchange's pending read; the exchange then reports the cause it finds in
// the context (client_gone -> cancelled, upstream_timed_out -> 504 or a
// final error event).
//
// The watch starts only once the exchange has run for kWatchClientAfter:
// waiting for readability costs system calls on every request (an
// EPOLL_CTL_MOD to re-arm the socket, the wait, its cancellation), which an
// exchange that ends within a few milliseconds does not need -- a
// client that leaves during it costs the upstream at most those
// milliseconds. The entry then moves from the worker's watch lane to its
// deadline lane.
//
// The watch's handler may run after the request ended (a cancelled wait
// still completes), so it shares only `Watch` with the exchange; the
// destructor detaches the context and ends the wait.
class ExchangeGuards final : WorkerTimers::Entry {
 public:
  explicit ExchangeGuards(ProxyContext& ctx) : ctx_(ctx), start_(Clock::now()) {
    on_due = &ExchangeGuards::onDue;
    lane_ = &*ctx.worker.watch_lane;
    lane_->add(*this, start_);
  }
  ~ExchangeGuards() {
    WorkerTimers::Lane::remove(*this, *lane_);
    if (!watch_) return;
    watch_->ctx = nullptr;
    // Ends the pending readiness wait, so that the session's next read on
    // this socket is tried at once instead of queueing behind it.
    if (watch_->waiting && !ctx_.client_gone) {
      boost::system::error_code ec;
      ctx_.client.socket().cancel(ec);
    }
  }
  ExchangeGuards(const ExchangeGuards&) = delete;
  ExchangeGuards& operator=(const ExchangeGuards&) = delete;

  // Starts the deadline again, for the next attempt of a routed request
  // (each attempt has UPSTREAM_TIMEOUT_MS); the client watch goes on, or
  // is started again if a past deadline ended it.
  void restart() {
    WorkerTimers::Lane::remove(*this, *lane_);
    start_ = Clock::now();
    ctx_.upstream_timed_out = false;
    if (!watch_) {
      lane_ = &*ctx_.worker.watch_lane;
    } else {
      lane_ = &*ctx_.worker.deadline_lane;
      if (!watch_->waiting && !ctx_.client_gone) watchClient(watch_);
    }
    lane_->add(*this, start_);
  }

 private:
  struct Watch {
    explicit Watch(ProxyContext& c) : ctx(&c) {}
    ProxyContext* ctx;  // null once the exchange is over
    bool waiting = false;
  };

  static void onDue(WorkerTimers::Entry& entry) {
    auto& self = static_cast<ExchangeGuards&>(entry);
    ProxyContext& ctx = self.ctx_;
    if (!self.watch_) {
      self.watch_ = std::make_shared<Watch>(ctx);
      watchClient(self.watch_);
      if (Clock::now() < self.start_ + ctx.settings().upstream_timeout) {
        self.lane_ = &*ctx.worker.deadline_lane;
        self.lane_->add(self, self.start_);
        return;
      }
    }
    ctx.upstream_timed_out = true;
    if (ctx.upstream) ctx.upstream->close();
    // A write to a client that stopped reading would otherwise never end
    // (client writes have no deadline of their own): it fails now, and the
    // request ends as cancelled. A pending write to a client that reads
    // is only a write in progress: the client then misses the error
    // event, which it could not have received any sooner.
    boost::system::error_code cec;
    ctx.client.socket().cancel(cec);
  }

  // Waits for readability, then reads without blocking: pipelined bytes are
  // kept for the next request; end of stream or an error means the client
  // is gone. Waiting first avoids a recv() per request for the usual
  // "nothing yet".
  static void watchClient(std::shared_ptr<Watch> w) {
    ProxyContext& ctx = *w->ctx;
    // Enough pipelined bytes buffered: stop reading (TCP backpressure does
    // the rest) and stop watching.
    if (ctx.client_buffer.size() >= kMaxPipelinedBytes) {
      w->waiting = false;
      return;
    }
    w->waiting = true;
    auto& socket = ctx.client.socket();
    socket.async_wait(tcp::socket::wait_read, [w = std::move(w)](boost::system::error_code wec) mutable {
      w->waiting = false;
      ProxyContext* c = w->ctx;
      if (!c || wec == net::error::operation_aborted) return;
      boost::system::error_code ec;
      std::size_t n = wec ? 0 : c->client.socket().read_some(c->client_buffer.prepare(16 * 1024), ec);
      if (!wec && ec == net::error::would_block) return watchClient(std::move(w));
      if (wec || ec) {
        c->client_gone = true;
        if (c->upstream) c->upstream->close();
        if (c->retry_wait) c->retry_wait->cancel();
        // A write to the client that is stuck (the peer stopped reading
        // and left) ends now too.
        boost::system::error_code cec;
        c->client.socket().cancel(cec);
        return;
      }
      c->client_buffer.commit(n);
      watchClient(std::move(w));
    });
  }

  ProxyContext& ctx_;
  Clock::time_point start_;
  WorkerTimers::Lane* lane_ = nullptr;  // the lane this entry is in (or was last in)
  std::shared_ptr<Watch> watch_;          // once the watch has started
};

}  // namespace gw::server
