// The memory side of the exporter queues (export_processor.h): a record's
// footprint, the process-wide QueueBudget and the RecordQueue.
#include "telemetry/export_processor.h"

#include <algorithm>

namespace gw {

// --- recordFootprint

namespace {
// What one heap block of `n` bytes costs: allocators round a request up to
// a size class (at most 1/8 more in tcmalloc and in glibc's bins) and keep
// a header or a slot of 16 bytes per block.
constexpr std::size_t heapBlock(std::size_t n) { return n + n / 8 + 16; }
// A string's own block, if its characters are not stored inside it (the
// short-string buffer).
std::size_t heapBytes(const std::string& s) {
  const auto* self = reinterpret_cast<const char*>(&s);
  const bool inside = s.data() >= self && s.data() < self + sizeof s;
  return inside ? 0 : heapBlock(s.capacity() + 1);
}
std::size_t heapBytes(const std::optional<std::string>& s) { return s ? heapBytes(*s) : 0; }

std::size_t fieldsHeapBytes(const RecordFields& f) {
  std::size_t n = heapBytes(f.id) + heapBytes(f.timestamp) + heapBytes(f.name);
  for (const auto* s : {&f.service_name,
                        &f.service_version,
                        &f.environment,
                        &f.provider,
                        &f.model,
                        &f.project_id,
                        &f.project_name,
                        &f.org_id,
                        &f.user_id,
                        &f.thread_id,
                        &f.experiment_id,
                        &f.status,
                        &f.path,
                        &f.method,
                        &f.error_type,
                        &f.provider_error_type,
                        &f.provider_request_id,
                        &f.route,
                        &f.response_model,
                        &f.response_id,
                        &f.cost_status,
                        &f.provider_address})
    n += heapBytes(*s);
  if (f.finish_reasons.capacity() > 0) n += heapBlock(f.finish_reasons.capacity() * sizeof(std::string));
  for (const auto& reason : f.finish_reasons) n += heapBytes(reason);
  return n;
}
// The record object and the shared_ptr control block it is allocated with
// (std::make_shared) or next to.
constexpr std::size_t kRecordObjectBytes = heapBlock(sizeof(TelemetryRecord) + 32);
}  // namespace

std::size_t recordFootprint(const TelemetryRecord& r) {
  return kRecordObjectBytes + heapBytes(r.id) + heapBytes(r.serialized) + fieldsHeapBytes(r.fields);
}

// --- QueueBudget

QueueBudget::Charge::~Charge() {
  budget_.used_.fetch_sub(bytes_, std::memory_order_relaxed);
  if (budget_.used_gauge_) Gauge::addTo(budget_.used_gauge_, -static_cast<double>(bytes_));
}

QueueBudget::ChargePtr QueueBudget::charge(std::size_t bytes, std::size_t limit, bool force) {
  std::size_t used = used_.load(std::memory_order_relaxed);
  do {
    if (!force && used + bytes > limit) return nullptr;
  } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
  if (used_gauge_) Gauge::addTo(used_gauge_, static_cast<double>(bytes));
  return std::make_shared<const Charge>(*this, bytes);
}

// --- RecordQueue

bool RecordQueue::push(RecordOffer& offer, std::size_t* size_after) {
  std::lock_guard lock(mutex_);
  if (items_.size() >= capacity_) return false;
  // Within its reserve a queue takes records whatever the others hold: a
  // stalled exporter filling the budget does not send a healthy one's
  // records through the disk.
  const std::size_t bytes = bytes_.load(std::memory_order_relaxed);
  const bool reserved = items_.empty() || bytes + offer.footprint <= budget_.queueReserveBytes();
  if (!offer.charge) {
    offer.charge = budget_.charge(offer.footprint, budget_.maxBytes(), reserved);
    if (!offer.charge) return false;
  } else if (!reserved && budget_.used() > budget_.maxBytes()) {
    // Charged by a spill lane, past the queues' bound: a queue would keep it
    // in memory after the lane has written it.
    return false;
  }
  items_.push_back({offer.record, offer.charge, offer.footprint});
  size_.store(items_.size(), std::memory_order_relaxed);
  bytes_.store(bytes + offer.footprint, std::memory_order_relaxed);
  publishLocked();
  if (size_after) *size_after = items_.size();
  return true;
}

std::size_t RecordQueue::pop(std::size_t n, std::vector<RecordPtr>& out) {
  std::lock_guard lock(mutex_);
  std::size_t taken = 0;
  while (taken < n && !items_.empty()) {
    bytes_.store(bytes_.load(std::memory_order_relaxed) - items_.front().footprint, std::memory_order_relaxed);
    out.push_back(std::move(items_.front().record));
    items_.pop_front();  // releases the queue's share of the charge
    ++taken;
  }
  size_.store(items_.size(), std::memory_order_relaxed);
  publishLocked();
  return taken;
}

void RecordQueue::publishTo(metrics_detail::Series* depth, metrics_detail::Series* bytes) {
  std::lock_guard lock(mutex_);
  depth_gauge_ = depth;
  bytes_gauge_ = bytes;
  publishLocked();
}

void RecordQueue::publishLocked() {
  if (depth_gauge_) Gauge::setTo(depth_gauge_, static_cast<double>(items_.size()));
  if (bytes_gauge_) Gauge::setTo(bytes_gauge_, static_cast<double>(bytes_.load(std::memory_order_relaxed)));
}

}  // namespace gw
