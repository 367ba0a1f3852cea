// The ring of the most recent requests for the dashboard's live tail and
// record view: each entry is the record's summary (what the list shows and
// filters on) and, when the record was built (an exporter that receives
// records is enabled), its whole JSON text, bodies included when
// TELEMETRY_CAPTURE_BODIES captured them.
//
// Bounded by count (DASHBOARD_RECENT_RECORDS) and by bytes
// (DASHBOARD_RECENT_MAX_BYTES): the oldest entries leave first; an entry
// that alone passes a quarter of the byte bound keeps its summary only
// (record_dropped).
//
// Not thread-safe: the Dashboard holds its lock around every call.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::dashboard {

struct RecentEntry {
  std::uint64_t seq = 0;      // 1, 2, ... in arrival order
  std::int64_t start_ms = 0;  // request received, unix ms
  std::string id, provider, model, project, user, key, status, path, method, error_type;
  int status_code = 0;
  bool streamed = false;
  std::optional<double> latency_ms, ttfb_ms, cost_usd;
  std::optional<std::int64_t> input_tokens, output_tokens, cached_input_tokens, cache_creation_tokens,
      reasoning_tokens;
  std::string record_json;  // "" when none was built or it was too large
  bool record_dropped = false;

  std::size_t bytes() const;
  boost::json::object summaryJson() const;
};

// Which entries a listing wants; an empty string matches anything.
struct RecentFilter {
  std::string status, provider, model, project;
  bool matches(const RecentEntry& e) const;
};

class RecentRecords {
 public:
  RecentRecords(std::size_t max_count, std::size_t max_bytes);

  void push(RecentEntry entry);
  // Newest first: at most `limit` matching entries with seq < before (0:
  // no bound) and seq > after.
  std::vector<const RecentEntry*> list(const RecentFilter& filter, std::size_t limit, std::uint64_t before,
                                       std::uint64_t after) const;
  const RecentEntry* find(std::string_view id) const;  // the newest with this id

  std::size_t size() const { return entries_.size(); }
  std::size_t bytes() const { return bytes_; }
  std::uint64_t lastSeq() const { return next_seq_ - 1; }

 private:
  std::size_t max_count_, max_bytes_;
  std::deque<RecentEntry> entries_;  // oldest first
  std::size_t bytes_ = 0;
  std::uint64_t next_seq_ = 1;
};

}  // namespace gw::dashboard
