#include "dashboard/recent_records.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>

namespace gw::dashboard {

namespace json = boost::json;

namespace {
// Calls f on each of the entry's strings, in one order.
template <typename Entry, typename F>
void forEachString(Entry& e, F f) {
  for (auto* s :
       {&e.id, &e.provider, &e.model, &e.project, &e.user, &e.key, &e.status, &e.path, &e.method, &e.error_type})
    f(*s);
}
}  // namespace

std::size_t recordBytes(const TelemetryRecord& record) {
  return sizeof(TelemetryRecord) + record.id.size() + record.serialized.capacity() + 3 * record.serialized.size();
}

std::size_t RecentEntry::bytes() const {
  std::size_t n = sizeof(RecentEntry);
  forEachString(*this, [&](std::string_view s) { n += s.size(); });
  if (record) n += recordBytes(*record);
  return n;
}

void RecentEntry::ownStrings() {
  std::size_t size = 0;
  forEachString(*this, [&](std::string_view s) { size += s.size(); });
  auto text = std::make_unique_for_overwrite<char[]>(size);
  char* at = text.get();
  forEachString(*this, [&](std::string_view& s) {
    if (!s.empty()) std::memcpy(at, s.data(), s.size());
    s = std::string_view(at, s.size());
    at += s.size();
  });
  text_ = std::move(text);
}

json::object RecentEntry::summaryJson() const {
  auto opt = [](const auto& v) -> json::value { return v ? json::value(*v) : json::value(nullptr); };
  auto str = [](std::string_view s) -> json::value { return s.empty() ? json::value(nullptr) : json::value(s); };
  json::object o;
  o["seq"] = seq;
  o["id"] = id;
  o["time_ms"] = start_ms;
  o["provider"] = str(provider);
  o["model"] = str(model);
  o["project_id"] = str(project);
  o["user_id"] = str(user);
  o["virtual_key_id"] = str(key);
  o["status"] = status;
  o["status_code"] = status_code > 0 ? json::value(status_code) : json::value(nullptr);
  o["error_type"] = str(error_type);
  o["method"] = method;
  o["path"] = path;
  o["streamed"] = streamed;
  o["latency_ms"] = opt(latency_ms);
  o["ttfb_ms"] = opt(ttfb_ms);
  o["cost_usd"] = opt(cost_usd);
  o["tokens"] = json::object{{"input", opt(input_tokens)},
                             {"output", opt(output_tokens)},
                             {"cached_input", opt(cached_input_tokens)},
                             {"cache_creation", opt(cache_creation_tokens)},
                             {"reasoning", opt(reasoning_tokens)}};
  o["has_record"] = record != nullptr;
  o["record_dropped"] = record_dropped;
  return o;
}

bool RecentFilter::matches(const RecentEntry& e) const {
  return (status.empty() || status == e.status) && (provider.empty() || provider == e.provider) &&
         (model.empty() || model == e.model) && (project.empty() || project == e.project);
}

RecentRecords::RecentRecords(std::size_t max_count, std::size_t max_bytes) : max_count_(max_count), max_bytes_(max_bytes) {}

void RecentRecords::push(RecentEntry entry) {
  if (max_count_ == 0) return;
  entry.ownStrings();
  if (entry.record && entry.bytes() > max_bytes_ / 4) {
    entry.record.reset();
    entry.record_dropped = true;
  }
  entry.seq = next_seq_++;
  if (count_ == max_count_) popOldest();
  if (count_ == slots_.size()) grow();
  bytes_ += entry.bytes();
  slots_[(head_ + count_) % slots_.size()] = std::move(entry);
  ++count_;
  while (count_ > 1 && bytes_ > max_bytes_) popOldest();
}

void RecentRecords::popOldest() {
  RecentEntry& oldest = slots_[head_];
  bytes_ -= oldest.bytes();
  oldest = RecentEntry{};
  head_ = (head_ + 1) % slots_.size();
  --count_;
}

void RecentRecords::grow() {
  // At least one more slot: the bounds allow it (count_ < max_count_ here,
  // and count_ entries of at least sizeof(RecentEntry) bytes fit in
  // max_bytes_ unless count_ is 1).
  const std::size_t size = std::max(count_ + 1, std::min({max_count_, std::max<std::size_t>(16, 2 * slots_.size()),
                                                          max_bytes_ / sizeof(RecentEntry) + 1}));
  std::vector<RecentEntry> slots;
  slots.reserve(size);
  for (std::size_t i = 0; i < count_; ++i) slots.push_back(std::move(slots_[(head_ + i) % slots_.size()]));
  slots.resize(size);
  slots_ = std::move(slots);
  head_ = 0;
}

std::vector<const RecentEntry*> RecentRecords::list(const RecentFilter& filter, std::size_t limit, std::uint64_t before,
                                                    std::uint64_t after) const {
  std::vector<const RecentEntry*> out;
  for (std::size_t i = count_; i-- > 0 && out.size() < limit;) {
    const RecentEntry& e = at(i);
    if (before != 0 && e.seq >= before) continue;
    if (e.seq <= after) break;
    if (filter.matches(e)) out.push_back(&e);
  }
  return out;
}

const RecentEntry* RecentRecords::find(std::string_view id) const {
  for (std::size_t i = count_; i-- > 0;)
    if (at(i).id == id) return &at(i);
  return nullptr;
}

}  // namespace gw::dashboard
