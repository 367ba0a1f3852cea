#include "dashboard/recent_records.h"

namespace gw::dashboard {

namespace json = boost::json;

std::size_t RecentEntry::bytes() const {
  return sizeof(RecentEntry) + id.size() + provider.size() + model.size() + project.size() + user.size() + key.size() +
         status.size() + path.size() + method.size() + error_type.size() + record_json.size();
}

json::object RecentEntry::summaryJson() const {
  auto opt = [](const auto& v) -> json::value { return v ? json::value(*v) : json::value(nullptr); };
  auto str = [](const std::string& s) -> json::value { return s.empty() ? json::value(nullptr) : json::value(s); };
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
  o["has_record"] = !record_json.empty();
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
  if (entry.bytes() > max_bytes_ / 4 && !entry.record_json.empty()) {
    entry.record_json.clear();
    entry.record_json.shrink_to_fit();
    entry.record_dropped = true;
  }
  entry.seq = next_seq_++;
  bytes_ += entry.bytes();
  entries_.push_back(std::move(entry));
  while (!entries_.empty() && (entries_.size() > max_count_ || (bytes_ > max_bytes_ && entries_.size() > 1))) {
    bytes_ -= entries_.front().bytes();
    entries_.pop_front();
  }
}

std::vector<const RecentEntry*> RecentRecords::list(const RecentFilter& filter, std::size_t limit, std::uint64_t before,
                                                    std::uint64_t after) const {
  std::vector<const RecentEntry*> out;
  for (auto it = entries_.rbegin(); it != entries_.rend() && out.size() < limit; ++it) {
    if (before != 0 && it->seq >= before) continue;
    if (it->seq <= after) break;
    if (filter.matches(*it)) out.push_back(&*it);
  }
  return out;
}

const RecentEntry* RecentRecords::find(std::string_view id) const {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it)
    if (it->id == id) return &*it;
  return nullptr;
}

}  // namespace gw::dashboard
