// The ring of the most recent requests for the dashboard's live tail and
// record view: each entry is the record's summary (what the list shows and
// filters on) and, when the record was built (an exporter that receives
// records is enabled), a copy of the record's text (bodies included when
// TELEMETRY_CAPTURE_BODIES captured them), which the record view sends as
// it is. The record itself is not kept: it is freed once its exporters are
// done with it.
//
// Storage: the entries sit in a circular buffer of slots, and each entry's
// strings and record text in one chunk of a circular byte arena (RecentArena)
// written in arrival order, so that a push writes its bytes right after the
// previous entry's, into memory the oldest entries left: once both buffers
// have grown to hold the ring, a push allocates nothing.
//
// Bounded by count (DASHBOARD_RECENT_RECORDS) and by bytes
// (DASHBOARD_RECENT_MAX_BYTES; an entry counts sizeof(RecentEntry) and its
// chunk, and the arena grows past the bound only for an entry alone): the
// oldest entries leave first; an entry that alone passes a quarter of the
// byte bound keeps its summary only (record_dropped).
//
// Not thread-safe: the Dashboard holds its lock around every call and
// around every read of an entry.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::dashboard {

struct RecentEntry {
  std::uint64_t seq = 0;      // 1, 2, ... in arrival order (set by push())
  std::int64_t start_ms = 0;  // request received, unix ms
  // Views of the caller's strings until push(), which copies them into the
  // ring's arena and points them there.
  std::string_view id, provider, model, project, user, key, status, path, method, error_type;
  // The record's text (docs/records.md), empty when none was built or it
  // was too large to keep (record_dropped). A view like the strings above.
  std::string_view record;
  int status_code = 0;
  bool streamed = false;
  std::optional<double> latency_ms, ttfb_ms, cost_usd;
  std::optional<std::int64_t> input_tokens, output_tokens, cached_input_tokens, cache_creation_tokens, reasoning_tokens;
  bool record_dropped = false;

  bool hasRecord() const { return !record.empty(); }
  // The bytes of its strings and record text: its chunk in the arena.
  std::size_t textBytes() const;
  // What the entry counts against the byte bound: itself and its chunk.
  std::size_t bytes() const { return sizeof(RecentEntry) + textBytes(); }
  boost::json::object summaryJson() const;

 private:
  friend class RecentRecords;
  std::uint64_t arena_start_ = 0;  // its chunk's position in the arena (RecentArena)
};

// A circular byte buffer that hands out chunks in FIFO order: put() places
// a chunk right after the newest one, wrapping to the buffer's start when
// it does not fit before the end (the bytes skipped count as used until the
// chunk before them leaves); release() frees the oldest chunk. Positions
// are logical (they only grow; a byte's place is position % capacity), so
// that a chunk's position stays valid until it is released.
//
// The buffer is allocated on the first grow() and grows by half its size
// (a grown buffer is at most 1.5 times what it must hold), up to
// `max_capacity`; growing moves the live chunks to the start of the new
// buffer, which changes their positions: the owner renumbers its chunks
// with relocated().
//
// Not thread-safe: used by RecentRecords only.
class RecentArena {
 public:
  explicit RecentArena(std::size_t max_capacity) : max_capacity_(max_capacity) {}

  // Where a chunk of `size` (> 0) bytes would start, or nullopt if it does not
  // fit beside the live chunks at the current capacity.
  std::optional<std::uint64_t> fit(std::size_t size) const;
  // Places a chunk of `size` bytes at `start`, a value fit(size) returned
  // since the last change; returns its first byte.
  char* put(std::uint64_t start, std::size_t size);
  // The oldest chunk leaves: the next oldest begins at `next_start` (the
  // write position when none is left).
  void release(std::uint64_t next_start) { read_ = next_start; }
  // Allocates the buffer (64 KiB) or grows it by half, to at least
  // `min_capacity` and at most max_capacity (or `min_capacity` when
  // `past_max`), and moves the live chunks, in order, to its start; false
  // when it cannot grow that far. After true, the chunk that began at old
  // position p begins at relocated(p).
  bool grow(std::size_t min_capacity, bool past_max);
  std::uint64_t relocated(std::uint64_t old_start) const { return old_start - moved_by_; }

  char* at(std::uint64_t position);
  std::size_t capacity() const { return capacity_; }
  // The bytes from the oldest chunk to the end of the newest, skipped ones included.
  std::size_t liveBytes() const { return write_ - read_; }
  std::uint64_t writePosition() const { return write_; }

 private:
  std::size_t max_capacity_;
  std::size_t capacity_ = 0;
  // Mapped from the system and unmapped when replaced, so that the buffers
  // a growing arena leaves behind go back to the system at once instead of
  // staying in the heap.
  struct Unmap {
    std::size_t size;
    void operator()(char* buffer) const;
  };
  std::unique_ptr<char[], Unmap> buffer_{nullptr, Unmap{0}};
  std::uint64_t read_ = 0, write_ = 0;  // the live chunks are [read_, write_)
  std::uint64_t moved_by_ = 0;          // by how much the last grow() moved positions back
};

// Which entries a listing wants; an empty string matches anything.
struct RecentFilter {
  std::string status, provider, model, project;
  bool matches(const RecentEntry& e) const;
};

class RecentRecords {
 public:
  RecentRecords(std::size_t max_count, std::size_t max_bytes);

  // Copies the entry's strings and record text into the arena; keeps its
  // record text unless the entry would then pass a quarter of the byte bound.
  void push(RecentEntry entry);
  // Newest first: at most `limit` matching entries with seq < before (0:
  // no bound) and seq > after. Valid until the next push().
  std::vector<const RecentEntry*> list(const RecentFilter& filter, std::size_t limit, std::uint64_t before,
                                       std::uint64_t after) const;
  // The newest with this id; valid until the next push().
  const RecentEntry* find(std::string_view id) const;

  std::size_t size() const { return count_; }
  std::size_t bytes() const { return bytes_; }
  std::size_t arenaCapacity() const { return arena_.capacity(); }
  std::uint64_t lastSeq() const { return next_seq_ - 1; }

 private:
  // The i-th entry, oldest first.
  RecentEntry& at(std::size_t i) { return slots_[(head_ + i) % slots_.size()]; }
  const RecentEntry& at(std::size_t i) const { return slots_[(head_ + i) % slots_.size()]; }
  void popOldest();
  void growSlots();
  // Makes room in the arena for `size` bytes (growing it, else evicting the
  // oldest entries) and returns where they go.
  std::uint64_t placeChunk(std::size_t size);
  // Points the entry's strings at its chunk (copying them there when `copy`).
  static void pointInto(RecentEntry& e, char* chunk, bool copy);

  std::size_t max_count_, max_bytes_;
  // A circular buffer: `count_` entries from `head_` (the oldest). It grows
  // by doubling up to max_count_ slots, and to no more slots than entries
  // max_bytes_ can hold (each counts at least sizeof(RecentEntry)).
  std::vector<RecentEntry> slots_;
  std::size_t head_ = 0, count_ = 0;
  std::size_t bytes_ = 0;
  std::uint64_t next_seq_ = 1;
  RecentArena arena_;
};

}  // namespace gw::dashboard
