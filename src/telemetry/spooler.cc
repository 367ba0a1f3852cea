#include "telemetry/spooler.h"

#include "common/log.h"

namespace gw {

namespace {
constexpr std::chrono::seconds kWarningInterval{10};
std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("telemetry");
  return l;
}
}  // namespace

// --- SpillLane

SpillLane::SpillLane(std::string name, Spool* spool, ExporterStats& stats, QueueBudget& budget,
                     std::function<void()> on_written)
    : name_(std::move(name)), spool_(spool), stats_(stats), budget_(budget), on_written_(std::move(on_written)) {}

bool SpillLane::push(RecordOffer& offer, bool& was_empty) {
  if (!spool_) return false;
  std::lock_guard lock(mutex_);
  if (!offer.charge) {
    // Not held by any queue yet: it costs its footprint, within the spill
    // room. An empty lane always takes one record, as a queue does.
    offer.charge = budget_.charge(offer.footprint, budget_.spillMaxBytes(), items_.empty());
    if (!offer.charge) return false;
  }
  was_empty = items_.empty();
  items_.push_back({offer.record, offer.charge});
  return true;
}

bool SpillLane::writePending() {
  bool any = false, stored_any = false;
  std::vector<Item> items;
  std::vector<RecordPtr> records;
  for (;;) {
    items.clear();
    {
      std::lock_guard lock(mutex_);
      const std::size_t n = std::min(items_.size(), Spool::kMaxFramesPerWrite);
      for (std::size_t i = 0; i < n; ++i) {
        items.push_back(std::move(items_.front()));
        items_.pop_front();
      }
    }
    if (items.empty()) break;
    any = true;
    records.clear();
    for (const auto& item : items) records.push_back(item.record);
    const std::size_t stored = spool_->append(records);
    stats_.spooled(stored);
    stored_any = stored_any || stored > 0;
    if (stored < records.size()) {
      stats_.dropped(records.size() - stored);
      const auto now = std::chrono::steady_clock::now();
      if (last_warning_ == std::chrono::steady_clock::time_point{} || now - last_warning_ >= kWarningInterval) {
        logger()->warn(
            "exporter {}: {} records dropped: the spool is full (TELEMETRY_SPOOL_MAX_BYTES) or not "
            "writable ({} similar messages suppressed)",
            name_, records.size() - stored, suppressed_warnings_);
        last_warning_ = now;
        suppressed_warnings_ = 0;
      } else {
        ++suppressed_warnings_;
      }
    }
    // `items` is cleared at the top of the loop: the records' charges are
    // released once they are on disk.
  }
  if (stored_any && on_written_) on_written_();
  return any;
}

bool SpillLane::writeOne(const RecordPtr& record) {
  if (!spool_) return false;
  writePending();
  if (spool_->append(std::span<const RecordPtr>(&record, 1)) == 0) return false;
  stats_.spooled(1);
  if (on_written_) on_written_();
  return true;
}

std::size_t SpillLane::pending() const {
  std::lock_guard lock(mutex_);
  return items_.size();
}

// --- Spooler

Spooler::~Spooler() { stop(); }

void Spooler::add(SpillLane& lane) {
  std::lock_guard lock(write_mutex_);
  lanes_.push_back(&lane);
}

void Spooler::remove(SpillLane& lane) {
  std::lock_guard lock(write_mutex_);
  std::erase(lanes_, &lane);
}

void Spooler::start() {
  std::lock_guard lock(mutex_);
  if (running_ || stopping_) return;
  running_ = true;
  signalled_ = true;  // what was pushed before start()
  thread_ = std::thread([this] { run(); });
}

void Spooler::writeAll() {
  std::lock_guard lock(write_mutex_);
  for (bool any = true; any;) {
    any = false;
    for (auto* lane : lanes_) any = lane->writePending() || any;
  }
}

bool Spooler::writeThrough(SpillLane& lane, const RecordPtr& record) {
  std::lock_guard lock(write_mutex_);
  return lane.writeOne(record);
}

void Spooler::wake() {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      // Not started yet: start(), flush() or stop() writes it.
      signalled_ = true;
      wake_cv_.notify_one();
      return;
    }
  }
  writeAll();
}

void Spooler::flush() {
  std::unique_lock lock(mutex_);
  if (!running_) {
    lock.unlock();
    writeAll();
    return;
  }
  const std::uint64_t generation = ++requested_;
  signalled_ = true;
  wake_cv_.notify_one();
  done_cv_.wait(lock, [&] { return completed_ >= generation; });
}

void Spooler::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_cv_.wait(lock, [&] { return signalled_ || stopping_; });
    signalled_ = false;
    const bool stop = stopping_;
    const std::uint64_t generation = requested_;
    lock.unlock();
    writeAll();
    lock.lock();
    completed_ = generation;
    done_cv_.notify_all();
    if (stop) return;
  }
}

void Spooler::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    // From here on wake() writes on the caller's thread.
    running_ = false;
    stopping_ = true;
    wake_cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
  writeAll();  // never started: what the lanes hold is written here (later pushes: by wake())
}

}  // namespace gw
