// Delivery for one exporter: batching, retry with backoff, circuit breaker
// and spool. The model is opentelemetry-cpp's BatchSpanProcessor and the
// OpenTelemetry Collector's sending queue + retry, except that nothing is
// dropped silently: what cannot be delivered goes to the spool, and what the
// spool cannot take is counted and logged.
//
// An ExportProcessor is a single-threaded state machine driven by its
// exporter's worker thread (ExporterWorker, below) or directly by tests with
// a ManualClock: records arrive in its RecordQueue (from the telemetry
// thread), and step() does whatever is due and says when it next needs to
// run. It never sleeps.
#pragma once

#include "gw/exporter.h"
#include "gw/metrics.h"
#include "telemetry/clock.h"
#include "telemetry/retry.h"
#include "telemetry/spool.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gw {

struct ExportOptions {
  std::size_t batch_size = 100;                    // TELEMETRY_BATCH_SIZE
  std::chrono::milliseconds flush_interval{1000};  // TELEMETRY_FLUSH_INTERVAL_MS
  std::size_t queue_capacity = 10000;              // TELEMETRY_QUEUE_SIZE (per exporter)
  std::size_t queue_max_bytes = 64u << 20;         // TELEMETRY_QUEUE_MAX_BYTES (per exporter)
  RetryPolicy retry;
  int breaker_failures = 5;                       // TELEMETRY_BREAKER_FAILURES
  std::chrono::milliseconds breaker_open{30000};  // TELEMETRY_BREAKER_OPEN_MS
};

// The heap memory a record keeps alive while it waits in a queue: the
// record object with its shared_ptr control block, its text, its id and
// every string of its fields that does not fit in the string itself, each
// with the allocator's rounding and bookkeeping. It reads only members that
// never change, so a record counts the same when it leaves a queue as when
// it entered. Not counted: the JSON tree that TelemetryRecord::json()
// parses on first use (only the OTLP exporter's http/json encoding and
// CONSOLE_PRETTY ask for it); a record whose tree one exporter had parsed
// keeps it while it waits in another exporter's queue.
std::size_t recordFootprint(const TelemetryRecord& r);

// A bounded multi-producer queue of records in front of one exporter,
// bounded both in records and in bytes (recordFootprint): a few large
// records must not hold gigabytes while a backend is slow. The mutex is held
// only to move pointers; never while exporting.
class RecordQueue {
 public:
  explicit RecordQueue(std::size_t capacity, std::size_t max_bytes = SIZE_MAX)
      : capacity_(std::max<std::size_t>(1, capacity)), max_bytes_(max_bytes) {}
  // False when full (one record is always accepted into an empty queue,
  // however large). `size_after` receives the new size.
  bool push(RecordPtr r, std::size_t* size_after = nullptr);
  // Moves up to `n` records to `out` (appends).
  std::size_t pop(std::size_t n, std::vector<RecordPtr>& out);
  std::size_t size() const { return size_.load(std::memory_order_relaxed); }
  std::size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  std::size_t capacity() const { return capacity_; }
  // At its record or byte bound: what arrives now goes to the spool.
  bool full() const { return size() >= capacity_ || bytes() >= max_bytes_; }

 private:
  const std::size_t capacity_;
  const std::size_t max_bytes_;
  mutable std::mutex mutex_;
  std::deque<RecordPtr> items_;
  std::atomic<std::size_t> size_{0};
  std::atomic<std::size_t> bytes_{0};
};

// Per-exporter accounting, shared by the telemetry thread, the worker and
// /health. The counters are the metric series
// ai_gateway_exporter_records_total{exporter,outcome}.
class ExporterStats {
 public:
  enum class Health { kHealthy, kDegraded, kDown };
  // "healthy", "degraded", "down": as /health and the dashboard show it.
  static constexpr std::string_view toString(Health h) {
    return h == Health::kHealthy ? "healthy" : h == Health::kDegraded ? "degraded" : "down";
  }
  ExporterStats(MetricsRegistry& metrics, const std::string& exporter);

  void exported(std::size_t n) { Counter::addTo(exported_, static_cast<double>(n)); }
  void retried(std::size_t n) { Counter::addTo(retried_, static_cast<double>(n)); }
  void spooled(std::size_t n) { Counter::addTo(spooled_, static_cast<double>(n)); }
  void dropped(std::size_t n) { Counter::addTo(dropped_, static_cast<double>(n)); }
  void queueDepth(std::size_t n) { Gauge::setTo(queue_depth_, static_cast<double>(n)); }
  void queueBytes(std::size_t n) { Gauge::setTo(queue_bytes_, static_cast<double>(n)); }
  void spoolRecords(std::uint64_t n) { Gauge::setTo(spool_records_, static_cast<double>(n)); }
  void corruptTails(std::uint64_t n) { Counter::addTo(corrupt_, static_cast<double>(n)); }
  void exportDuration(double seconds) { duration_.observeInto(duration_series_, seconds); }
  void health(Health h) { health_.store(h, std::memory_order_relaxed); }
  void breaker(CircuitBreaker::State s) { breaker_.store(s, std::memory_order_relaxed); }

  std::uint64_t exportedTotal() const { return load(exported_); }
  std::uint64_t retriedTotal() const { return load(retried_); }
  std::uint64_t spooledTotal() const { return load(spooled_); }
  std::uint64_t droppedTotal() const { return load(dropped_); }
  std::uint64_t queueDepthNow() const { return load(queue_depth_); }
  std::uint64_t spoolRecordsNow() const { return load(spool_records_); }
  Health healthNow() const { return health_.load(std::memory_order_relaxed); }
  CircuitBreaker::State breakerNow() const { return breaker_.load(std::memory_order_relaxed); }

 private:
  static std::uint64_t load(const metrics_detail::Series* s) {
    return static_cast<std::uint64_t>(s->value.load(std::memory_order_relaxed));
  }
  metrics_detail::Series *exported_, *retried_, *spooled_, *dropped_, *queue_depth_, *queue_bytes_, *spool_records_,
      *corrupt_;
  Histogram duration_;
  metrics_detail::Series* duration_series_;
  std::atomic<Health> health_{Health::kHealthy};
  std::atomic<CircuitBreaker::State> breaker_{CircuitBreaker::State::kClosed};
};

class ExportProcessor {
 public:
  // `spool` may be null (spooling off): what would be spooled is dropped
  // and counted. `uniform01` is the jitter source (tests pass a fixed one).
  ExportProcessor(Exporter& exporter, ExportOptions options, const Clock& clock, RecordQueue& queue, Spool* spool,
                  ExporterStats& stats, std::function<double()> uniform01 = {});

  // Does what is due now: init, export a full or expired batch, retry,
  // replay the spool. Returns the time it next needs to run if no record
  // arrives meanwhile (time_point::max() when idle).
  Clock::time_point step();

  // Shutdown: delivers what it can until `deadline` (no spool replay, no
  // waits past the deadline), spools the rest, flushes and shuts the
  // exporter down. Called once; step() must not be called after.
  void drain(Clock::time_point deadline);

  bool retryPending() const { return !batch_.empty(); }
  CircuitBreaker::State breakerState() const { return breaker_.state(); }

 private:
  enum class Source { kQueue, kSpool };
  void attempt(Clock::time_point now);
  void finishBatch(std::size_t delivered);
  void giveUp(Clock::time_point now);  // retries exhausted / breaker open: spool the batch, open the breaker
  void releaseBatchToSpool();
  void spoolRecords(std::span<const RecordPtr> records);
  void moveQueueToSpool();
  void publishHealth();
  void warn(const std::string& message);

  Exporter& exporter_;
  ExportOptions options_;
  const Clock& clock_;
  RecordQueue& queue_;
  Spool* spool_;
  ExporterStats& stats_;
  Backoff backoff_;
  CircuitBreaker breaker_;
  bool initialized_ = false;

  // The batch being delivered (first attempt or waiting for a retry).
  std::vector<RecordPtr> batch_;
  Source source_ = Source::kQueue;
  std::size_t spool_taken_ = 0;  // records of batch_ that came from spool.peek()
  int retries_ = 0;
  bool replay_turn_ = false;  // the next batch comes from the spool if it has records
  Clock::time_point next_attempt_{};
  // When the queue last became non-empty: the flush interval runs from here.
  std::optional<Clock::time_point> oldest_queued_since_;
  Clock::time_point last_sync_{};
  Clock::time_point last_warning_{};
  std::uint64_t suppressed_warnings_ = 0;
  std::uint64_t corrupt_reported_ = 0;
};

// The worker thread of one exporter: owns the exporter, its queue, its
// spool and its processor. offer() is called by the telemetry thread.
class ExporterWorker {
 public:
  ExporterWorker(std::unique_ptr<Exporter> exporter, ExportOptions options, std::unique_ptr<Spool> spool,
                 MetricsRegistry& metrics, const Clock& clock = Clock::steady());
  ~ExporterWorker();

  // Starts the thread (records offered before are kept).
  void start();
  // Hands one record over: to the queue, or to the spool when the queue is
  // full, or counted as dropped when the spool is full too. Never blocks on
  // the exporter.
  void offer(const RecordPtr& record);
  // Delivers what it can within `deadline`, spools the rest, joins. Idempotent.
  void stop(Clock::time_point deadline);

  const std::string& name() const { return name_; }
  const ExporterStats& stats() const { return stats_; }
  Exporter& exporter() { return *exporter_; }
  std::uint64_t spoolRecords() const { return spool_ ? spool_->records() : 0; }

 private:
  void run();

  std::string name_;
  std::unique_ptr<Exporter> exporter_;
  ExportOptions options_;
  std::unique_ptr<Spool> spool_;
  const Clock& clock_;
  ExporterStats stats_;
  RecordQueue queue_;
  ExportProcessor processor_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool signalled_ = false;
  bool stopping_ = false;
  Clock::time_point stop_deadline_{};
  std::thread thread_;
  std::atomic<bool> stopped_{false};
  std::atomic<std::int64_t> last_drop_log_ns_{0};
};

}  // namespace gw
