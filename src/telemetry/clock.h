// An injectable monotonic clock, so that batching, retry schedules and the
// circuit breaker can be tested without sleeping.
#pragma once

#include <atomic>
#include <chrono>

namespace gw {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
  // The process-wide real clock.
  static const Clock& steady();
};

class SteadyClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
};

inline const Clock& Clock::steady() {
  static const SteadyClock clock;
  return clock;
}

// A clock that only moves when told (tests). Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(time_point start = time_point{} + std::chrono::hours(1)) : now_(start.time_since_epoch().count()) {}
  time_point now() const override { return time_point(duration(now_.load())); }
  void advance(duration d) { now_.fetch_add(d.count()); }
  void set(time_point t) { now_.store(t.time_since_epoch().count()); }

 private:
  std::atomic<duration::rep> now_;
};

}  // namespace gw
