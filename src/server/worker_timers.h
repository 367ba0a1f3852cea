// WorkerTimers: one timer per worker for every time limit on it -- of each
// exchange in flight and of each client connection's head read -- instead
// of a timer per exchange or per connection.
//
// Why: a steady_timer per request costs, each time, a timer-queue insertion,
// usually a timerfd_settime() (the new timer is the earliest), and on
// cancellation a completion handler that the scheduler must run -- which,
// when nothing else is queued, costs an extra epoll_wait() too: system calls
// on every request. Yet these limits almost
// never expire: exchanges end long before.
//
// How: every limit has a fixed delay from its start (the client watch's
// 10 ms, UPSTREAM_TIMEOUT_MS, IDLE_TIMEOUT_MS, CLIENT_HEADER_TIMEOUT_MS),
// so the entries of one delay expire in the
// order they were added. Each delay is a Lane: a FIFO list, intrusive (the
// entry lives in the exchange; adding and removing allocate nothing). The
// one timer is set for the earliest head; when it fires it expires every
// head that is due and is set again for the next. Adding an entry re-arms
// it only when it was idle; removing one never does (the timer then fires
// for nothing, at most once per delay).
//
// Thread: everything here runs on the worker's thread. An Entry must be
// removed (or have expired) before it is destroyed.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <vector>

namespace gw::server {

class WorkerTimers {
 public:
  using Clock = std::chrono::steady_clock;

  struct Entry {
    // Called once when due (the entry is already out of its lane).
    void (*on_due)(Entry&) = nullptr;
    Clock::time_point due{};
    Entry* prev = nullptr;
    Entry* next = nullptr;
    bool linked = false;
  };

  // A lane of entries that all expire `delay` after they were added.
  class Lane {
   public:
    Lane(WorkerTimers& timers, Clock::duration delay) : timers_(timers), delay_(delay) {}
    Lane(const Lane&) = delete;
    Lane& operator=(const Lane&) = delete;

    // Due at `start` + delay; `start` is never earlier than that of the
    // entries already in the lane (the FIFO order is the expiry order).
    void add(Entry& e, Clock::time_point start) {
      e.due = start + delay_;
      e.prev = tail_;
      e.next = nullptr;
      (tail_ ? tail_->next : head_) = &e;
      tail_ = &e;
      e.linked = true;
      timers_.armFor(e.due);
    }
    static void remove(Entry& e, Lane& lane) {
      if (!e.linked) return;
      (e.prev ? e.prev->next : lane.head_) = e.next;
      (e.next ? e.next->prev : lane.tail_) = e.prev;
      e.prev = e.next = nullptr;
      e.linked = false;
    }
    Clock::duration delay() const { return delay_; }

   private:
    friend class WorkerTimers;
    WorkerTimers& timers_;
    Clock::duration delay_;
    Entry* head_ = nullptr;
    Entry* tail_ = nullptr;
  };

  explicit WorkerTimers(boost::asio::io_context& io) : timer_(io) {}
  WorkerTimers(const WorkerTimers&) = delete;
  WorkerTimers& operator=(const WorkerTimers&) = delete;

  // Lanes are registered once, before use, and outlive the timers' use.
  void registerLane(Lane& lane) { lanes_.push_back(&lane); }

  // At shutdown, once the worker's connections are closed: the timer is
  // cancelled and never set again, so that a pending wait (for an entry
  // long removed, or a limit that no longer matters) does not keep the
  // worker's event loop running. Entries added afterwards never expire.
  void stop() {
    stopped_ = true;
    armed_ = false;
    timer_.cancel();
  }

 private:
  void armFor(Clock::time_point due) {
    if (stopped_) return;
    if (armed_ && armed_for_ <= due) return;
    armed_ = true;
    armed_for_ = due;
    timer_.expires_at(due);  // a wait already pending completes as aborted
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;  // re-armed (or shut down)
      armed_ = false;
      onTimer();
    });
  }

  void onTimer() {
    const auto now = Clock::now();
    Clock::time_point next = Clock::time_point::max();
    for (Lane* lane : lanes_) {
      while (lane->head_ && lane->head_->due <= now) {
        Entry& e = *lane->head_;
        Lane::remove(e, *lane);
        e.on_due(e);  // may add entries (to any lane)
      }
    }
    for (Lane* lane : lanes_)
      if (lane->head_ && lane->head_->due < next) next = lane->head_->due;
    if (next != Clock::time_point::max()) armFor(next);
  }

  boost::asio::steady_timer timer_;
  bool armed_ = false;
  bool stopped_ = false;
  Clock::time_point armed_for_{};
  std::vector<Lane*> lanes_;
};

}  // namespace gw::server
