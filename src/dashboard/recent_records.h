// The ring of the most recent requests for the dashboard's live tail and
// record view: each entry is the record's summary (what the list shows and
// filters on) and, when the record was built (an exporter that receives
// records is enabled), the record itself, shared with the exporters and
// immutable (bodies included when TELEMETRY_CAPTURE_BODIES captured them).
// Its text is read only when the record view asks for it.
//
// Bounded by count (DASHBOARD_RECENT_RECORDS) and by bytes
// (DASHBOARD_RECENT_MAX_BYTES, recordBytes() for a record): the oldest
// entries leave first; an entry that alone passes a quarter of the byte
// bound keeps its summary only (record_dropped). The slots are reused: once
// the ring is full, a push allocates only the copy of the summary's strings.
//
// Not thread-safe: the Dashboard holds its lock around every call. The
// records an entry points to may be read from any thread
// (gw::TelemetryRecord).
#pragma once

#include "gw/exporter.h"

#include <boost/json/object.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace gw::dashboard {

struct RecentEntry {
  std::uint64_t seq = 0;      // 1, 2, ... in arrival order (set by push())
  std::int64_t start_ms = 0;  // request received, unix ms
  // Views of the caller's strings until push(), which copies them into one
  // allocation of the entry's own and points them there.
  std::string_view id, provider, model, project, user, key, status, path, method, error_type;
  int status_code = 0;
  bool streamed = false;
  std::optional<double> latency_ms, ttfb_ms, cost_usd;
  std::optional<std::int64_t> input_tokens, output_tokens, cached_input_tokens, cache_creation_tokens,
      reasoning_tokens;
  RecordPtr record;  // null when none was built or it was too large
  bool record_dropped = false;

  // What the entry holds: itself, its strings and its record.
  std::size_t bytes() const;
  boost::json::object summaryJson() const;

 private:
  friend class RecentRecords;
  void ownStrings();
  std::unique_ptr<char[]> text_;  // the strings' storage once pushed
};

// What keeping `record` holds in memory, estimated: the record with its
// typed fields, its text's buffer, and the tree that exporters walking the
// record (OTLP, CONSOLE_PRETTY) parse from the text once and that lives as
// long as the record (counted as three times the text).
std::size_t recordBytes(const TelemetryRecord& record);

// Which entries a listing wants; an empty string matches anything.
struct RecentFilter {
  std::string status, provider, model, project;
  bool matches(const RecentEntry& e) const;
};

class RecentRecords {
 public:
  RecentRecords(std::size_t max_count, std::size_t max_bytes);

  // Copies the entry's strings; keeps its record unless the entry would
  // then pass a quarter of the byte bound.
  void push(RecentEntry entry);
  // Newest first: at most `limit` matching entries with seq < before (0:
  // no bound) and seq > after. Valid until the next push().
  std::vector<const RecentEntry*> list(const RecentFilter& filter, std::size_t limit, std::uint64_t before,
                                       std::uint64_t after) const;
  const RecentEntry* find(std::string_view id) const;  // the newest with this id

  std::size_t size() const { return count_; }
  std::size_t bytes() const { return bytes_; }
  std::uint64_t lastSeq() const { return next_seq_ - 1; }

 private:
  // The i-th entry, oldest first.
  const RecentEntry& at(std::size_t i) const { return slots_[(head_ + i) % slots_.size()]; }
  void popOldest();
  void grow();

  std::size_t max_count_, max_bytes_;
  // A circular buffer: `count_` entries from `head_` (the oldest). It grows
  // by doubling up to max_count_ slots, and to no more slots than entries
  // max_bytes_ can hold (each counts at least sizeof(RecentEntry)).
  std::vector<RecentEntry> slots_;
  std::size_t head_ = 0, count_ = 0;
  std::size_t bytes_ = 0;
  std::uint64_t next_seq_ = 1;
};

}  // namespace gw::dashboard
