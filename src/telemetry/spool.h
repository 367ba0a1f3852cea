// A bounded on-disk spool of records for one exporter: what could not be
// delivered yet (queue full, circuit open, retries exhausted) waits here and
// is replayed when the backend recovers and when the gateway starts again.
//
// Layout: TELEMETRY_SPOOL_DIR/<exporter>/segment-<20-digit sequence>.spool,
// append-only, and TELEMETRY_SPOOL_DIR/.lock (SpoolDirLock below): the whole
// directory belongs to one running gateway, so the segments of a spool are
// only ever written by one process. Each record is one frame:
//   u32 little-endian payload length | u32 little-endian zlib crc32(payload) | payload
// where the payload is the record's compact JSON (TelemetryRecord::serialized).
// append() writes a batch of frames with one writev(2) per batch (at most
// kMaxFramesPerWrite frames, and never across a segment boundary). A process
// killed in the middle of a write (kill -9) leaves at most one torn frame at
// the end of the segment, which the reader cuts (below); the frames before it
// are intact. What reaches the disk after a power loss depends on the fsync
// policy:
//   always  fdatasync after every append (one per batch), before append()
//           returns: a spooled record survives a power loss / kernel crash.
//   batch   (default) fdatasync by sync(), which the exporter's worker calls
//           within one TELEMETRY_FLUSH_INTERVAL_MS of any append (its own or
//           the spooler thread's), and when a segment is closed and at
//           shutdown: a power loss may lose the records spooled in the last
//           interval (plus the worker's wake-up latency).
//   never   the kernel writes back when it likes (~30 s): a power loss may
//           lose more; a process crash still loses nothing that append()
//           reported stored.
// Whatever the policy, a torn or corrupt tail (CRC or length mismatch) is
// detected when the segment is read: the segment is cut at the last good
// frame, the rest skipped and counted (corruptTails()).
//
// Replay reads the oldest segment incrementally: peek(n) parses only the
// frames it needs to hand out n records (a small read buffer, never a whole
// segment in memory), consume() forgets them; a segment is deleted once every
// record in it has been consumed. The oldest segment may be the one being
// written: replay reads what is written so far and goes on from there, so
// that a replay under sustained overflow does not close a segment (an
// fdatasync, and a directory fsync for the next) per replayed batch. Opening a spool scans each segment the same
// way, frame by frame, to count its records and cut a corrupt tail. The read position is not persisted: after a crash
// the segment being replayed is replayed again from its start, so delivery is at-least-once and backends deduplicate by
// record id.
//
// Bounds: the sum of the segment files never exceeds max_bytes; append()
// stores what fits and reports the rest, which the caller counts as dropped.
//
// Threading: every method is thread-safe (one mutex; appends come from the
// spooler thread when a queue overflows and from the exporter's worker,
// peek/consume/sync from the worker).
#pragma once

#include "gw/error.h"
#include "gw/exporter.h"
#include "telemetry/fsync_policy.h"

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace gw {

struct SpoolOptions {
  std::filesystem::path dir;               // this exporter's own directory
  std::uint64_t max_bytes = 256ull << 20;  // TELEMETRY_SPOOL_MAX_BYTES
  std::uint64_t segment_bytes = 8ull << 20;
  FsyncPolicy fsync = FsyncPolicy::kBatch;  // TELEMETRY_SPOOL_FSYNC
};

// The lock that makes a spool directory (TELEMETRY_SPOOL_DIR as a whole,
// every exporter's sub-directory included) belong to one running gateway:
// flock(LOCK_EX | LOCK_NB) on TELEMETRY_SPOOL_DIR/.lock, held as long as the
// object lives. Two gateways writing the same segments would collide on
// their names and replay (and delete) each other's records; a second gateway
// refuses to start instead. The kernel drops the lock when its holder dies
// (kill -9 included), so the next gateway started on the directory takes it
// and replays what the dead one left. The descriptor is O_CLOEXEC: a child
// process never keeps the lock alive.
//
// flock locks belong to the open file description: a second acquire() on
// the same directory fails in the same process too.
//
// Threading: acquire() is called by Telemetry::start (main thread) before
// any Spool of the directory is opened; the object is then only destroyed.
class SpoolDirLock {
 public:
  SpoolDirLock() = default;  // holds nothing
  SpoolDirLock(SpoolDirLock&& other) noexcept;
  SpoolDirLock& operator=(SpoolDirLock&& other) noexcept;
  SpoolDirLock(const SpoolDirLock&) = delete;
  SpoolDirLock& operator=(const SpoolDirLock&) = delete;
  ~SpoolDirLock();  // releases the lock (the lock file stays: removing it would race the next holder)

  // Creates `dir` if missing and locks it; writes the holder's pid into the
  // lock file (only for the message another gateway prints).
  // Error (a TELEMETRY_SPOOL_DIR config error naming the directory): another
  // process, or another SpoolDirLock of this one, holds the lock.
  // A directory that cannot be created or a lock file that cannot be opened
  // or locked for another reason (read-only file system, no flock support)
  // is not an error: it is logged and an object that holds nothing is
  // returned, so that the gateway starts as it would without the lock (and
  // where the directory cannot be written, its spools count what they drop).
  static Result<SpoolDirLock> acquire(const std::filesystem::path& dir);

  bool held() const { return fd_ >= 0; }
  static constexpr const char* kFileName = ".lock";

 private:
  int fd_ = -1;
};

class Spool {
 public:
  // Scans the segments already in `dir` (created lazily on first append),
  // cutting corrupt tails. Errors only when `dir` exists but cannot be read.
  static Result<std::unique_ptr<Spool>> open(SpoolOptions options);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Appends records in order, one writev(2) per kMaxFramesPerWrite frames
  // (fewer at a segment boundary); returns how many were stored (a prefix of
  // `records`). Stops at the first that does not fit or cannot be written.
  std::size_t append(std::span<const RecordPtr> records);

  // Up to `n` of the oldest records, not yet removed. Repeated calls
  // without consume() return the same records.
  std::vector<RecordPtr> peek(std::size_t n);
  // Removes the first `n` records that peek() returned.
  void consume(std::size_t n);

  // fdatasync of the segment being written (the "batch" policy's tick).
  void sync();

  bool dirty() const;             // "batch" policy: appended since the last fdatasync
  std::uint64_t records() const;  // records waiting
  std::uint64_t bytes() const;    // bytes of segment files
  std::uint64_t corruptTails() const;
  std::uint64_t unreadableRecords() const;  // frames with a good CRC whose JSON is not a record
  const SpoolOptions& options() const { return options_; }

  // Frame helpers (also used by tests to craft corrupt segments).
  static std::string frame(std::string_view payload);
  // The most frames one append() writes with a single writev(2) (two
  // iovecs a frame, within IOV_MAX).
  static constexpr std::size_t kMaxFramesPerWrite = 256;
  // Records parsed from the segment being replayed and not yet consumed
  // (at most what the last peek() asked for).
  std::size_t replayBuffered() const;
  // write(2)/writev(2) calls that appended frames so far (tests).
  std::uint64_t writeCalls() const;

 private:
  explicit Spool(SpoolOptions options);
  struct Segment {
    std::uint64_t seq = 0;
    std::filesystem::path path;
    std::uint64_t bytes = 0;
    std::uint64_t records = 0;
  };
  Status scanLocked();
  bool openWriterLocked();
  void closeWriterLocked();
  class FrameReader;
  // Opens the oldest segment for replay (closing it for writes first).
  // False when there is none.
  bool openReaderLocked();
  // Counts a segment's good frames, cutting a corrupt tail.
  void scanSegmentLocked(Segment& segment);
  // Removes the oldest segment and forgets what was read of it.
  void dropOldestLocked();
  // The oldest segment is the one being written.
  bool writingOldestLocked() const;
  // Logs a write error, at most once per 10 s (a full disk fails every
  // append: one line per record would flood the log).
  void writeErrorLocked(const std::string& message);

  SpoolOptions options_;
  mutable std::mutex mutex_;
  std::deque<Segment> segments_;  // oldest first; the writer appends to the last when writer_fd_ >= 0
  int writer_fd_ = -1;
  bool dirty_ = false;  // written since the last fdatasync
  std::uint64_t next_seq_ = 1;
  std::uint64_t total_bytes_ = 0;
  std::uint64_t total_records_ = 0;
  std::uint64_t corrupt_tails_ = 0;
  std::uint64_t unreadable_ = 0;
  std::chrono::steady_clock::time_point last_write_error_{};
  std::uint64_t suppressed_write_errors_ = 0;
  std::uint64_t write_calls_ = 0;
  // Replay: the reader of the oldest segment, and the records parsed from
  // it that peek() handed out and consume() has not removed yet.
  std::unique_ptr<FrameReader> reader_;
  std::deque<RecordPtr> replay_;
};

}  // namespace gw
