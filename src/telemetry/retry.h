// The one retry policy shared by every exporter: exponential backoff with
// full jitter, Retry-After honoured, and a circuit breaker. The export
// pipeline (export_processor.h) applies them; exporters only classify each
// attempt as an ExportResult (gw::classifyHttpStatus in gw/exporter.h helps).
//
// Not thread-safe: each exporter's worker thread owns its own instances.
#pragma once

#include "gw/exporter.h"
#include "telemetry/clock.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string_view>

namespace gw {

struct RetryPolicy {
  int max_retries = 5;                                // TELEMETRY_MAX_RETRIES: then spool
  std::chrono::milliseconds initial_backoff{500};     // TELEMETRY_RETRY_INITIAL_MS
  std::chrono::milliseconds max_backoff{30000};       // TELEMETRY_RETRY_MAX_MS
  std::chrono::milliseconds max_retry_after{300000};  // a server's Retry-After is capped at this
};

// Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"):
// retry n (1-based) waits uniform[0, min(max, initial * 2^(n-1))]. A server's
// Retry-After replaces the computed delay (capped at max_retry_after).
class Backoff {
 public:
  // `uniform01` returns numbers in [0, 1]; default: a PRNG seeded from the OS.
  explicit Backoff(RetryPolicy policy, std::function<double()> uniform01 = {});
  std::chrono::milliseconds delay(int retry, std::optional<std::chrono::milliseconds> retry_after) const;
  // The upper bound of retry n's delay (without Retry-After).
  std::chrono::milliseconds ceiling(int retry) const;
  const RetryPolicy& policy() const { return policy_; }

 private:
  RetryPolicy policy_;
  std::function<double()> uniform01_;
};

// Closed: every attempt allowed. After `failure_threshold` consecutive
// failures: open for `open_for` (no attempts; records go to the spool). Then
// half-open: one probe is allowed; success closes, failure opens again, each
// consecutive re-open doubling the wait up to `max_open_for`.
class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };
  // "closed", "open", "half_open": as /health and the dashboard show it.
  static constexpr std::string_view toString(State s) {
    return s == State::kClosed ? "closed" : s == State::kOpen ? "open" : "half_open";
  }
  CircuitBreaker(int failure_threshold, std::chrono::milliseconds open_for,
                 std::chrono::milliseconds max_open_for = std::chrono::minutes(5));

  // May an attempt start now? Moves open -> half-open when the wait is over.
  bool allow(Clock::time_point now);
  void onSuccess();
  void onFailure(Clock::time_point now);
  // Opens at once (e.g. retries exhausted), whatever the failure count.
  void trip(Clock::time_point now);

  State state() const { return state_; }
  Clock::time_point reopenAt() const { return reopen_at_; }

 private:
  void open(Clock::time_point now);

  int threshold_;
  std::chrono::milliseconds open_for_, max_open_for_;
  State state_ = State::kClosed;
  int consecutive_failures_ = 0;
  int consecutive_opens_ = 0;
  Clock::time_point reopen_at_{};
};

}  // namespace gw
