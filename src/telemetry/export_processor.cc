#include "telemetry/export_processor.h"

#include "telemetry/spooler.h"

#include "common/log.h"

#include <algorithm>

namespace gw {

namespace {
constexpr std::chrono::seconds kWarningInterval{10};
std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("telemetry");
  return l;
}
// Work done per step() before yielding to the worker loop, so stop() and new
// records are noticed even while a large spool is replayed.
constexpr int kMaxActionsPerStep = 64;
}  // namespace

// --- ExporterStats

ExporterStats::ExporterStats(MetricsRegistry& metrics, const std::string& exporter) {
  auto records = metrics.counter("ai_gateway_exporter_records_total",
                                 "Records handled by each exporter, by outcome (exported, retried, spooled, dropped)",
                                 "1", {"exporter", "outcome"});
  exported_ = records.bind({exporter, "exported"});
  retried_ = records.bind({exporter, "retried"});
  spooled_ = records.bind({exporter, "spooled"});
  dropped_ = records.bind({exporter, "dropped"});
  queue_depth_ =
      metrics.gauge("ai_gateway_exporter_queue_depth", "Records waiting in each exporter's queue", "1", {"exporter"})
          .bind({exporter});
  queue_bytes_ = metrics
                     .gauge("ai_gateway_exporter_queue_bytes",
                            "Memory held by the records waiting in each exporter's queue (a record waiting in "
                            "several queues counts in each; ai_gateway_telemetry_queued_bytes counts it once)",
                            "By", {"exporter"})
                     .bind({exporter});
  spool_records_ = metrics
                       .gauge("ai_gateway_exporter_spool_records", "Records waiting in each exporter's on-disk spool",
                              "1", {"exporter"})
                       .bind({exporter});
  corrupt_ = metrics
                 .counter("ai_gateway_exporter_spool_corrupt_total",
                          "Corrupt spool segment tails skipped (records lost to a torn write or disk damage)", "1",
                          {"exporter"})
                 .bind({exporter});
  duration_ =
      metrics.histogram("ai_gateway_exporter_export_duration_seconds", "Duration of each export attempt (one batch)",
                        "s", {"exporter"}, MetricsRegistry::durationBuckets());
  duration_series_ = duration_.bind({exporter});
}

// --- ExportProcessor

ExportProcessor::ExportProcessor(Exporter& exporter, ExportOptions options, const Clock& clock, RecordQueue& queue,
                                 Spool* spool, ExporterStats& stats, std::function<double()> uniform01)
    : exporter_(exporter),
      options_(options),
      clock_(clock),
      queue_(queue),
      spool_(spool),
      stats_(stats),
      backoff_(options.retry, std::move(uniform01)),
      breaker_(options.breaker_failures, options.breaker_open) {
  options_.batch_size = std::max<std::size_t>(1, options_.batch_size);
  last_sync_ = clock_.now();
  stats_.watch(queue_);
  publishHealth();
}

void ExportProcessor::warn(const std::string& message) {
  const auto now = clock_.now();
  if (last_warning_ != Clock::time_point{} && now - last_warning_ < kWarningInterval) {
    ++suppressed_warnings_;
    return;
  }
  last_warning_ = now;
  if (suppressed_warnings_ > 0)
    logger()->warn("exporter {}: {} ({} similar messages suppressed)", exporter_.name(), message, suppressed_warnings_);
  else
    logger()->warn("exporter {}: {}", exporter_.name(), message);
  suppressed_warnings_ = 0;
}

void ExportProcessor::publishHealth() {
  std::uint64_t spooled = 0;
  if (spool_) {
    spooled = spool_->records();
    stats_.spoolRecords(spooled);
    if (auto corrupt = spool_->corruptTails(); corrupt > corrupt_reported_) {
      stats_.corruptTails(corrupt - corrupt_reported_);
      corrupt_reported_ = corrupt;
    }
  }
  using H = ExporterStats::Health;
  H h = H::kHealthy;
  if (breaker_.state() == CircuitBreaker::State::kOpen)
    h = H::kDown;
  else if (breaker_.state() == CircuitBreaker::State::kHalfOpen || retries_ > 0 || spooled > 0)
    h = H::kDegraded;
  stats_.health(h);
  stats_.breaker(breaker_.state());
}

void ExportProcessor::spoolRecords(std::span<const RecordPtr> records) {
  if (records.empty()) return;
  std::size_t stored = spool_ ? spool_->append(records) : 0;
  stats_.spooled(stored);
  if (stored < records.size()) {
    stats_.dropped(records.size() - stored);
    warn(fmt::format("{} records dropped: {}", records.size() - stored,
                     spool_ ? "the spool is full (TELEMETRY_SPOOL_MAX_BYTES) or not writable" : "spooling is off"));
  }
}

void ExportProcessor::moveQueueToSpool() {
  std::vector<RecordPtr> chunk;
  while (queue_.pop(options_.batch_size, chunk) > 0) {
    spoolRecords(chunk);
    chunk.clear();
  }
  oldest_queued_since_.reset();
}

// The batch goes back to the spool: queue batches are appended; spool
// batches stay where they are (not consumed), unless only part of them is
// left, which is then re-appended and the original frames consumed.
void ExportProcessor::giveUp(Clock::time_point now) {
  releaseBatchToSpool();
  if (breaker_.state() != CircuitBreaker::State::kOpen) breaker_.trip(now);
}

void ExportProcessor::finishBatch(std::size_t /*delivered*/) {
  if (source_ == Source::kSpool && spool_) spool_->consume(spool_taken_);
  batch_.clear();
  retries_ = 0;
  spool_taken_ = 0;
}

void ExportProcessor::attempt(Clock::time_point now) {
  if (!initialized_) {
    Status st = ok();
    try {
      st = exporter_.init();
    } catch (const std::exception& e) {
      st = Error::internal(std::string("init threw: ") + e.what());
    }
    if (!st) {
      warn("init failed: " + st.error().message);
      breaker_.onFailure(now);
      ++retries_;
      if (retries_ > options_.retry.max_retries || breaker_.state() == CircuitBreaker::State::kOpen) {
        giveUp(now);
      } else {
        next_attempt_ = now + backoff_.delay(retries_, std::nullopt);
        stats_.retried(batch_.size());
      }
      return;
    }
    initialized_ = true;
  }

  const auto started = clock_.now();
  ExportResult r;
  try {
    r = exporter_.exportBatch(batch_);
  } catch (const std::exception& e) {
    // Exporters should not throw; if one does, the worker must survive and
    // the records must not be lost: treat it like a transport error.
    r = ExportResult::retryable(std::string("exporter threw: ") + e.what());
  }
  const auto ended = clock_.now();
  stats_.exportDuration(std::chrono::duration<double>(ended - started).count());
  now = ended;
  notePendingFlush(now);

  const std::size_t n = batch_.size();
  std::vector<char> rejected(n, 0), retry(n, 0);
  std::size_t rejected_count = 0;
  for (auto i : r.rejected_indexes)
    if (i < n && !rejected[i]) {
      rejected[i] = 1;
      ++rejected_count;
    }

  switch (r.kind) {
    case ExportResult::Kind::kSuccess:
      breaker_.onSuccess();
      stats_.exported(n - rejected_count);
      if (rejected_count > 0) {
        stats_.dropped(rejected_count);
        warn(fmt::format("{} records rejected permanently: {}", rejected_count, r.message));
      }
      finishBatch(n - rejected_count);
      return;

    case ExportResult::Kind::kPermanent: {
      // The backend answered: it is up, the data is what it refuses.
      breaker_.onSuccess();
      const std::size_t dropped = r.rejected_indexes.empty() ? n : rejected_count;
      stats_.dropped(dropped);
      stats_.exported(n - dropped);
      warn(fmt::format("{} records rejected permanently: {}", dropped, r.message));
      finishBatch(n - dropped);
      return;
    }

    case ExportResult::Kind::kRetryable: {
      std::vector<RecordPtr> keep;
      if (!r.retry_indexes.empty()) {
        // A partial failure: the backend is up; only some records retry.
        for (auto i : r.retry_indexes)
          if (i < n && !rejected[i] && !retry[i]) retry[i] = 1;
        for (std::size_t i = 0; i < n; ++i)
          if (retry[i]) keep.push_back(batch_[i]);
        stats_.exported(n - keep.size() - rejected_count);
      } else {
        for (std::size_t i = 0; i < n; ++i)
          if (!rejected[i]) keep.push_back(batch_[i]);
        breaker_.onFailure(now);
      }
      if (rejected_count > 0) {
        stats_.dropped(rejected_count);
        warn(fmt::format("{} records rejected permanently: {}", rejected_count, r.message));
      }
      if (keep.empty()) {
        finishBatch(0);
        return;
      }
      batch_ = std::move(keep);
      ++retries_;
      if (retries_ > options_.retry.max_retries || breaker_.state() == CircuitBreaker::State::kOpen) {
        warn(fmt::format("export failed ({}); {} records go to the spool", r.message, batch_.size()));
        giveUp(now);
        return;
      }
      warn(fmt::format("export failed ({}); retry {} of {}", r.message, retries_, options_.retry.max_retries));
      stats_.retried(batch_.size());
      next_attempt_ = now + backoff_.delay(retries_, r.retry_after);
      return;
    }
  }
}

Clock::time_point ExportProcessor::step() {
  auto now = clock_.now();
  Clock::time_point next = Clock::time_point::max();
  bool yielded = false;
  for (int actions = 0;; ++actions) {
    if (actions >= kMaxActionsPerStep) {
      next = now;  // more to do: run again at once
      yielded = true;
      break;
    }
    now = clock_.now();
    if (!batch_.empty()) {
      if (now < next_attempt_) {
        next = next_attempt_;
        // The queue must not fill up behind a long Retry-After: keep
        // spooling what is waiting.
        if (queue_.full()) moveQueueToSpool();
        break;
      }
      if (!breaker_.allow(now)) {
        giveUp(now);
        continue;
      }
      attempt(now);
      continue;
    }
    if (breaker_.state() == CircuitBreaker::State::kOpen && now < breaker_.reopenAt()) {
      // A dead backend: what arrives goes straight to disk.
      if (spool_) moveQueueToSpool();
      next = breaker_.reopenAt();
      break;
    }
    const std::size_t queued = queue_.size();
    if (queued == 0)
      oldest_queued_since_.reset();
    else if (!oldest_queued_since_)
      oldest_queued_since_ = now;
    const bool due =
        queued >= options_.batch_size || (queued > 0 && now >= *oldest_queued_since_ + options_.flush_interval);
    // Under sustained load the queue is always due: alternate with the
    // spool so that a backlog still drains.
    const bool replay = spool_ && spool_->records() > 0 && (replay_turn_ || !due);
    if (replay && breaker_.allow(now)) {
      batch_ = spool_->peek(options_.batch_size);
      if (!batch_.empty()) {
        source_ = Source::kSpool;
        spool_taken_ = batch_.size();
        retries_ = 0;
        next_attempt_ = now;
        replay_turn_ = false;
        continue;
      }
    }
    if (due) {
      queue_.pop(options_.batch_size, batch_);
      source_ = Source::kQueue;
      retries_ = 0;
      next_attempt_ = now;
      replay_turn_ = true;
      if (queue_.size() == 0)
        oldest_queued_since_.reset();
      else
        oldest_queued_since_ = now;
      continue;
    }
    if (queued > 0) next = *oldest_queued_since_ + options_.flush_interval;
    break;
  }
  // The "batch" fsync policy's tick.
  if (spool_ && spool_->options().fsync == FsyncPolicy::kBatch) {
    if (now - last_sync_ >= options_.flush_interval) {
      spool_->sync();
      last_sync_ = now;
    }
    // Written but not yet synced (e.g. by the spooler thread on overflow):
    // come back within one interval to sync it.
    if (!yielded && spool_->dirty()) next = std::min(next, last_sync_ + options_.flush_interval);
  }
  // The exporter's own deferred work, on the same tick.
  if (flush_pending_since_) {
    if (now - *flush_pending_since_ >= options_.flush_interval) {
      exporter_.flush();
      flush_pending_since_.reset();
      notePendingFlush(now);  // a failed flush is tried again one interval later
    }
    if (!yielded && flush_pending_since_) next = std::min(next, *flush_pending_since_ + options_.flush_interval);
  }
  publishHealth();
  return next;
}

void ExportProcessor::notePendingFlush(Clock::time_point now) {
  if (!flush_pending_since_ && exporter_.flushPending()) flush_pending_since_ = now;
}

void ExportProcessor::releaseBatchToSpool() {
  if (batch_.empty()) return;
  if (source_ == Source::kQueue) {
    spoolRecords(batch_);
  } else if (batch_.size() < spool_taken_) {
    spool_->consume(spool_taken_);
    spoolRecords(batch_);
  }  // else: a whole spool batch is still in the spool
  batch_.clear();
  retries_ = 0;
  spool_taken_ = 0;
}

void ExportProcessor::drain(Clock::time_point deadline) {
  while (true) {
    const auto now = clock_.now();
    if (now >= deadline) break;
    if (!batch_.empty()) {
      // No waiting for a backoff at shutdown: a batch whose retry is not
      // due yet goes to disk, and the queue behind it still gets its try.
      if (now >= next_attempt_ && breaker_.allow(now))
        attempt(now);
      else
        releaseBatchToSpool();
      continue;
    }
    if (breaker_.state() == CircuitBreaker::State::kOpen && now < breaker_.reopenAt()) break;
    if (queue_.pop(options_.batch_size, batch_) == 0) break;
    source_ = Source::kQueue;
    retries_ = 0;
    next_attempt_ = now;
  }
  releaseBatchToSpool();
  moveQueueToSpool();
  if (spool_) spool_->sync();
  publishHealth();
  if (initialized_) exporter_.flush();
  exporter_.shutdown();
}

// --- ExporterWorker

ExporterWorker::ExporterWorker(std::unique_ptr<Exporter> exporter, ExportOptions options, std::unique_ptr<Spool> spool,
                               MetricsRegistry& metrics, const Clock& clock, QueueBudget* budget, Spooler* spooler)
    : name_(exporter->name()),
      exporter_(std::move(exporter)),
      options_(options),
      spool_(std::move(spool)),
      clock_(clock),
      stats_(metrics, name_),
      own_budget_(budget ? nullptr : std::make_unique<QueueBudget>(options.queue_max_bytes)),
      budget_(budget ? *budget : *own_budget_),
      queue_(options.queue_capacity, budget_),
      processor_(*exporter_, options, clock, queue_, spool_.get(), stats_),
      own_spooler_(spooler ? nullptr : std::make_unique<Spooler>()),
      spooler_(spooler ? spooler : own_spooler_.get()) {
  // The "batch" fsync policy: the worker syncs within one interval of the
  // first unsynced append, even while it waits for a long backoff.
  lane_ = std::make_unique<SpillLane>(name_, spool_.get(), stats_, budget_, [this] {
    if (spool_->dirty()) signal();
  });
  spooler_->add(*lane_);
}

ExporterWorker::~ExporterWorker() {
  stop(clock_.now());
  spooler_->remove(*lane_);
}

void ExporterWorker::start() {
  if (own_spooler_) own_spooler_->start();
  thread_ = std::thread([this] { run(); });
}

void ExporterWorker::signal() {
  {
    std::lock_guard lock(mutex_);
    signalled_ = true;
  }
  wake_.notify_one();
}

void ExporterWorker::offer(RecordOffer& offer) {
  std::size_t size = 0;
  if (queue_.push(offer, &size)) {
    // Wake the worker only when it has something new to decide: the first
    // record starts the flush interval, a full batch is due at once.
    if (size == 1 || size == options_.batch_size) signal();
    return;
  }
  // Queue full (a slow or dead backend): to the spool, by the spooler; when
  // its lane is at its bound too, written here rather than dropped.
  bool was_empty = false;
  if (lane_->push(offer, was_empty)) {
    if (was_empty) spooler_->wake();
    return;
  }
  if (spool_ && spooler_->writeThrough(*lane_, offer.record)) return;
  countDrop();
}

void ExporterWorker::countDrop() {
  stats_.dropped(1);
  const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.now().time_since_epoch()).count();
  auto last = last_drop_log_ns_.load(std::memory_order_relaxed);
  if (now_ns - last >= std::chrono::nanoseconds(kWarningInterval).count() &&
      last_drop_log_ns_.compare_exchange_strong(last, now_ns))
    logger()->warn(
        "exporter {}: queue full and {}, records are dropped (counted in "
        "ai_gateway_exporter_records_total{{outcome=\"dropped\"}}; total so far {})",
        name_, spool_ ? "the spool is full (TELEMETRY_SPOOL_MAX_BYTES) or not writable" : "spooling is off",
        stats_.droppedTotal());
}

void ExporterWorker::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    const auto next = processor_.step();
    lock.lock();
    if (stopping_) break;
    auto woken = [this] { return signalled_ || stopping_; };
    if (next == Clock::time_point::max())
      wake_.wait(lock, woken);
    else
      wake_.wait_until(lock, next, woken);
    signalled_ = false;
  }
  const auto deadline = stop_deadline_;
  lock.unlock();
  processor_.drain(deadline);
}

void ExporterWorker::stop(Clock::time_point deadline) {
  if (stopped_.exchange(true)) return;
  // What waits in the spill lane goes to disk first (a shared spooler was
  // stopped by its owner before).
  if (own_spooler_) own_spooler_->stop();
  if (!thread_.joinable()) {
    processor_.drain(deadline);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    stop_deadline_ = deadline;
  }
  wake_.notify_one();
  thread_.join();
}

}  // namespace gw
