// Remembers which record ids one signal (metrics, logs, traces) has already
// delivered, for exporters that send one batch as several requests.
//
// When the second request of a batch fails, the pipeline retries the whole
// batch; without this, the first signal would be sent again and a backend
// without idempotency keys (Datadog metrics, New Relic, OTLP) would count
// those records twice. Bounded: the oldest ids are forgotten first, which is
// safe because a retry follows its failure closely.
//
// Used by one exporter worker thread; not thread-safe.
#pragma once

#include "gw/exporter.h"

#include <cstddef>
#include <deque>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

namespace gw::exporters {

class DeliveredIds {
 public:
  explicit DeliveredIds(std::size_t capacity = 100000) : capacity_(capacity) {}

  bool contains(const std::string& id) const { return set_.contains(id); }

  void add(const std::string& id) {
    if (capacity_ == 0 || !set_.insert(id).second) return;
    order_.push_back(id);
    while (order_.size() > capacity_) {
      set_.erase(order_.front());
      order_.pop_front();
    }
  }

  std::size_t size() const { return set_.size(); }

 private:
  std::size_t capacity_;
  std::unordered_set<std::string> set_;
  std::deque<std::string> order_;
};

// Sends the records of `batch` that `delivered` does not hold with one call
// of `send` (ExportResult(std::span<const RecordPtr>)) and, when that
// succeeds, adds them to `delivered`. Success without a call when every
// record was delivered already.
template <class Send>
ExportResult sendUndelivered(std::span<const RecordPtr> batch, DeliveredIds& delivered, Send&& send) {
  std::vector<RecordPtr> pending;
  for (const auto& r : batch)
    if (!delivered.contains(r->id)) pending.push_back(r);
  if (pending.empty()) return ExportResult::success();
  ExportResult result = send(std::span<const RecordPtr>(pending));
  if (result.kind == ExportResult::Kind::kSuccess)
    for (const auto& r : pending) delivered.add(r->id);
  return result;
}

}  // namespace gw::exporters
