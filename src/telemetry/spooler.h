// Spooling off the telemetry thread. When an exporter's queue is full, the
// telemetry thread (ExporterWorker::offer) only moves the record's pointer
// into that exporter's SpillLane; one Spooler thread for the whole process
// writes every lane to its exporter's spool in batches (Spool::append: one
// writev(2) per batch, one fdatasync per batch under the "always" policy).
//
// Why a thread of its own, shared by every exporter, rather than a spill
// step run by each exporter's worker: a worker can be inside one export for
// as long as its exporter's timeout (a stalled backend), and records must
// reach the disk meanwhile; and the telemetry thread must not pay a write or
// an fdatasync per record, or it falls behind and the ingest queue drops.
// Writing is cheap next to exporting, so one thread keeps up with every
// exporter's overflow. Each lane is written by that one thread, in the order
// its records arrived: the spool keeps each exporter's overflow in order.
//
// Memory: a record waits in a lane only until the spooler has written it;
// lanes take records while the process's QueueBudget stays within its
// spillMaxBytes(), which the queues cannot fill (they stop at maxBytes()).
// What a lane cannot take, and what the spool cannot store (full, not
// writable), is counted as dropped (ai_gateway_exporter_records_total
// {outcome="dropped"}) and logged, rate-limited.
#pragma once

#include "telemetry/export_processor.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gw {

// The records of one exporter waiting to be written to its spool.
class SpillLane {
 public:
  // `spool` may be null (spooling off): push() takes nothing. `on_written`
  // is called on the writing thread after records were stored (the worker
  // syncs them under the "batch" fsync policy).
  SpillLane(std::string name, Spool* spool, ExporterStats& stats, QueueBudget& budget,
            std::function<void()> on_written);

  // Telemetry thread. True: the lane holds the record until it is written;
  // `was_empty` says whether the spooler needs a wake-up. False: no spool,
  // or the budget's spill room is spent (the caller counts the drop).
  bool push(RecordOffer& offer, bool& was_empty);
  // Writes everything pending, in batches of Spool::kMaxFramesPerWrite;
  // counts what was spooled and what the spool could not take. Called by
  // the Spooler (one thread at a time). True if it took any record.
  bool writePending();
  // Writes one record that push() refused, after what the lane holds;
  // counts it spooled or dropped. True when the spool stored it. Called
  // through Spooler::writeThrough.
  bool writeOne(const RecordPtr& record);
  std::size_t pending() const;

 private:
  struct Item {
    RecordPtr record;
    QueueBudget::ChargePtr charge;
  };
  const std::string name_;
  Spool* const spool_;
  ExporterStats& stats_;
  QueueBudget& budget_;
  const std::function<void()> on_written_;
  mutable std::mutex mutex_;
  std::deque<Item> items_;
  std::chrono::steady_clock::time_point last_warning_{};  // writing thread only
  std::uint64_t suppressed_warnings_ = 0;
};

// The thread that writes the spill lanes. Telemetry owns one for the
// process; an ExporterWorker made without one owns its own.
class Spooler {
 public:
  Spooler() = default;
  ~Spooler();  // stop()
  Spooler(const Spooler&) = delete;
  Spooler& operator=(const Spooler&) = delete;

  // Adds a lane, before start(), from the thread that builds the pipeline.
  void add(SpillLane& lane);
  // Removes a lane that is going away (ExporterWorker's destructor, after
  // its stop()); what it still holds is not written.
  void remove(SpillLane& lane);
  void start();
  // A lane has new records (telemetry thread). Once stopped, the lanes are
  // written at once on the caller's thread: nothing waits in a lane that
  // nobody writes. Before start(), records wait for start(), flush() or
  // stop().
  void wake();
  // The telemetry thread's way out when `lane` is at its memory bound (a
  // burst of large records, or a disk slower than the overflow): it writes
  // the lane's records and then `record` itself, so the spool keeps their
  // order and nothing is dropped while the spool has room; the telemetry
  // thread slows to the disk's pace. True when the spool stored `record`.
  bool writeThrough(SpillLane& lane, const RecordPtr& record);
  // Returns once every record pushed before the call is written (or counted
  // as dropped). Any thread but the spooler's.
  void flush();
  // Writes everything pending and joins the thread. Idempotent. Called
  // after the last push that the thread must write (Telemetry::shutdown,
  // after the telemetry thread has stopped).
  void stop();

 private:
  void run();
  void writeAll();

  std::mutex write_mutex_;         // one writer of the lanes at a time (the thread, or a caller when it does not run)
  std::vector<SpillLane*> lanes_;  // guarded by write_mutex_
  std::mutex mutex_;
  std::condition_variable wake_cv_, done_cv_;
  bool running_ = false, stopping_ = false, signalled_ = false;
  std::uint64_t requested_ = 0, completed_ = 0;  // flush() generations
  std::thread thread_;
};

}  // namespace gw
