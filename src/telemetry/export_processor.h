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
//
// Memory: every record waiting in an exporter queue, or in a SpillLane for
// the spool (telemetry/spooler.h), is charged once to one QueueBudget for the
// whole process (TELEMETRY_QUEUE_MAX_BYTES), however many queues hold it.
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

class SpillLane;
class Spooler;

struct ExportOptions {
  std::size_t batch_size = 100;                    // TELEMETRY_BATCH_SIZE
  std::chrono::milliseconds flush_interval{1000};  // TELEMETRY_FLUSH_INTERVAL_MS
  std::size_t queue_capacity = 10000;              // TELEMETRY_QUEUE_SIZE (per exporter)
  std::size_t queue_max_bytes = 16u << 20;         // TELEMETRY_QUEUE_MAX_BYTES (process-wide QueueBudget)
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

// The memory bound of the records waiting in the exporter queues and spill
// lanes of a process: each record is charged its recordFootprint once, by
// the first queue or lane that takes it, and the charge is released when the
// last of them lets it go (a Charge shared by all of them). Queues take a
// record while the charges stay within maxBytes(), and each queue up to its
// queueReserveBytes() whatever the others hold (one stalled exporter must not
// starve the others); spill lanes, which only hold a record until the
// spooler thread has written it, within spillMaxBytes() (a quarter more), so
// that the spool can still take what the queues cannot. With N queues the
// charges stay below spillMaxBytes() + N * queueReserveBytes(). Thread-safe
// (atomics).
class QueueBudget {
 public:
  class Charge {
   public:
    Charge(QueueBudget& budget, std::size_t bytes) : budget_(budget), bytes_(bytes) {}
    ~Charge();
    Charge(const Charge&) = delete;
    Charge& operator=(const Charge&) = delete;
    std::size_t bytes() const { return bytes_; }

   private:
    QueueBudget& budget_;
    const std::size_t bytes_;
  };
  using ChargePtr = std::shared_ptr<const Charge>;

  // `used_gauge` (may be null) follows used().
  explicit QueueBudget(std::size_t max_bytes, metrics_detail::Series* used_gauge = nullptr)
      : max_bytes_(std::max<std::size_t>(1, max_bytes)), used_gauge_(used_gauge) {}
  // Charges `bytes` if the charges stay within `limit`, or whatever they
  // are if `force`; null otherwise.
  ChargePtr charge(std::size_t bytes, std::size_t limit, bool force);
  std::size_t used() const { return used_.load(std::memory_order_relaxed); }
  std::size_t maxBytes() const { return max_bytes_; }
  std::size_t spillMaxBytes() const { return max_bytes_ + max_bytes_ / 4; }
  // What each queue may hold whatever the others hold (a sixteenth of the
  // bound): a queue within it takes records past maxBytes().
  std::size_t queueReserveBytes() const { return max_bytes_ / 16; }

 private:
  const std::size_t max_bytes_;
  metrics_detail::Series* used_gauge_;
  std::atomic<std::size_t> used_{0};
};

// One record handed to the exporters (Telemetry::process fans it out): its
// footprint is computed once, and the charge made by the first queue or lane
// that takes it is shared by the others.
struct RecordOffer {
  explicit RecordOffer(RecordPtr r) : record(std::move(r)), footprint(recordFootprint(*record)) {}
  RecordPtr record;
  std::size_t footprint;
  QueueBudget::ChargePtr charge;
};

// A bounded multi-producer queue of records in front of one exporter,
// bounded in records (its capacity) and in bytes by a QueueBudget: its own
// (max_bytes) or the one it shares with every exporter queue of the process.
// A few large records must not hold gigabytes while a backend is slow. The
// mutex is held only to move pointers; never while exporting.
class RecordQueue {
 public:
  explicit RecordQueue(std::size_t capacity, std::size_t max_bytes = SIZE_MAX)
      : capacity_(std::max<std::size_t>(1, capacity)),
        own_budget_(std::make_unique<QueueBudget>(max_bytes)),
        budget_(*own_budget_) {}
  RecordQueue(std::size_t capacity, QueueBudget& shared)
      : capacity_(std::max<std::size_t>(1, capacity)), budget_(shared) {}
  // False when full: at capacity, or the record is not charged yet and the
  // budget has no room for it (one record is always accepted into an empty
  // queue, however large, and records within the budget's per-queue reserve). A record already charged (taken by
  // another queue) costs nothing more, while the charges are within the queues' bound (past it, the charge was a spill
  // lane's, which lets the record go once it is written). `size_after` receives the new size.
  bool push(RecordOffer& offer, std::size_t* size_after = nullptr);
  bool push(RecordPtr r, std::size_t* size_after = nullptr) {
    RecordOffer offer(std::move(r));
    return push(offer, size_after);
  }
  // Moves up to `n` records to `out` (appends).
  std::size_t pop(std::size_t n, std::vector<RecordPtr>& out);
  std::size_t size() const { return size_.load(std::memory_order_relaxed); }
  // The footprints of the records in this queue (each counted here even when
  // another queue holds it too: the ai_gateway_exporter_queue_bytes gauge).
  std::size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  std::size_t capacity() const { return capacity_; }
  // At its record bound, or its budget is spent: what arrives now goes to
  // the spool.
  bool full() const { return size() >= capacity_ || budget_.used() >= budget_.maxBytes(); }

  // The gauges that show this queue's size and bytes (may be null). The
  // queue sets them under its mutex whenever it changes, so they show the
  // last change whichever thread made it (the telemetry thread pushes, the
  // worker pops and may then sit in an export for a long time).
  void publishTo(metrics_detail::Series* depth, metrics_detail::Series* bytes);

 private:
  struct Item {
    RecordPtr record;
    QueueBudget::ChargePtr charge;
    std::size_t footprint;
  };
  void publishLocked();
  const std::size_t capacity_;
  std::unique_ptr<QueueBudget> own_budget_;
  QueueBudget& budget_;
  mutable std::mutex mutex_;
  std::deque<Item> items_;
  std::atomic<std::size_t> size_{0};
  std::atomic<std::size_t> bytes_{0};
  metrics_detail::Series* depth_gauge_ = nullptr;
  metrics_detail::Series* bytes_gauge_ = nullptr;
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
  // The queue depth and bytes gauges show `queue` (RecordQueue::publishTo).
  void watch(RecordQueue& queue) { queue.publishTo(queue_depth_, queue_bytes_); }
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
  void notePendingFlush(Clock::time_point now);
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
  // Since when the exporter has had work for flush() (Exporter::flushPending).
  std::optional<Clock::time_point> flush_pending_since_;
  Clock::time_point last_warning_{};
  std::uint64_t suppressed_warnings_ = 0;
  std::uint64_t corrupt_reported_ = 0;
};

// The worker thread of one exporter: owns the exporter, its queue, its
// spool, its spill lane and its processor. offer() is called by the
// telemetry thread.
//
// Overflow: a record the queue cannot take goes to the worker's SpillLane,
// which the Spooler's thread writes to the spool in batches. The telemetry
// thread only moves pointers, and the worker thread, which may be inside a
// slow export for as long as the exporter's timeout, takes no part in it.
class ExporterWorker {
 public:
  // `budget` and `spooler` are the process's (Telemetry's); both must
  // outlive the worker, and the spooler must be stopped before the worker
  // is. Null: the worker makes its own, from options.queue_max_bytes, and
  // runs and stops its own spooler with itself (tests, one exporter alone).
  ExporterWorker(std::unique_ptr<Exporter> exporter, ExportOptions options, std::unique_ptr<Spool> spool,
                 MetricsRegistry& metrics, const Clock& clock = Clock::steady(), QueueBudget* budget = nullptr,
                 Spooler* spooler = nullptr);
  ~ExporterWorker();

  // Starts the thread (records offered before are kept), and the worker's
  // own spooler if it has one.
  void start();
  // Hands one record over: to the queue, or to the spill lane (the spool)
  // when the queue is full, or counted as dropped when the lane's budget is
  // spent or there is no spool. Never blocks on the exporter or the disk.
  // Telemetry thread (or the test that drives the worker).
  void offer(RecordOffer& offer);
  void offer(const RecordPtr& record) {
    RecordOffer o(record);
    offer(o);
  }
  // Delivers what it can within `deadline`, spools the rest, joins. Stops the
  // worker's own spooler first, if it has one. Idempotent.
  void stop(Clock::time_point deadline);

  const std::string& name() const { return name_; }
  const ExporterStats& stats() const { return stats_; }
  Exporter& exporter() { return *exporter_; }
  std::uint64_t spoolRecords() const { return spool_ ? spool_->records() : 0; }
  // The spooler that writes this worker's overflow (its own or the shared one).
  Spooler& spooler() { return *spooler_; }

 private:
  void run();
  void signal();
  void countDrop();

  std::string name_;
  std::unique_ptr<Exporter> exporter_;
  ExportOptions options_;
  std::unique_ptr<Spool> spool_;
  const Clock& clock_;
  ExporterStats stats_;
  std::unique_ptr<QueueBudget> own_budget_;
  QueueBudget& budget_;
  RecordQueue queue_;
  ExportProcessor processor_;
  std::unique_ptr<SpillLane> lane_;
  std::unique_ptr<Spooler> own_spooler_;
  Spooler* spooler_;

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
