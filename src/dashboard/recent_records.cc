#include "dashboard/recent_records.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <new>

namespace gw::dashboard {

namespace json = boost::json;

namespace {
// Calls f on each of the entry's strings and its record text, in the order
// they are laid out in its chunk.
template <typename Entry, typename F>
void forEachText(Entry& e, F f) {
  for (auto* s : {&e.id, &e.provider, &e.model, &e.project, &e.user, &e.key, &e.status, &e.path, &e.method,
                  &e.error_type, &e.record})
    f(*s);
}

// The arena's first buffer: a few records' worth, so that a ring that holds
// a handful of entries stays small.
constexpr std::size_t kInitialArenaBytes = 64 * 1024;
}  // namespace

std::size_t RecentEntry::textBytes() const {
  std::size_t n = 0;
  forEachText(*this, [&](std::string_view s) { n += s.size(); });
  return n;
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
  o["has_record"] = hasRecord();
  o["record_dropped"] = record_dropped;
  return o;
}

std::optional<std::uint64_t> RecentArena::fit(std::size_t size) const {
  if (capacity_ == 0) return std::nullopt;
  std::uint64_t start = write_;
  const std::size_t offset = write_ % capacity_;
  if (offset + size > capacity_) start += capacity_ - offset;  // to the start of the buffer
  // An empty arena's next chunk may start anywhere: nothing is live before it.
  const std::uint64_t live_from = read_ == write_ ? start : read_;
  if (start + size - live_from > capacity_) return std::nullopt;
  return start;
}

char* RecentArena::put(std::uint64_t start, std::size_t size) {
  if (read_ == write_) read_ = start;
  write_ = start + size;
  return at(start);
}

void RecentArena::Unmap::operator()(char* buffer) const { ::munmap(buffer, size); }

char* RecentArena::at(std::uint64_t position) {
  return capacity_ == 0 ? buffer_.get() : buffer_.get() + position % capacity_;
}

bool RecentArena::grow(std::size_t min_capacity, bool past_max) {
  std::size_t capacity = std::max(min_capacity, capacity_ == 0 ? kInitialArenaBytes : capacity_ + capacity_ / 2);
  capacity = std::min(capacity, std::max(max_capacity_, past_max ? min_capacity : 0));
  if (capacity <= capacity_ || capacity < min_capacity) return false;
  void* mapped = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) throw std::bad_alloc();
  std::unique_ptr<char[], Unmap> buffer(static_cast<char*>(mapped), Unmap{capacity});
  const std::size_t live = write_ - read_;
  if (live > 0) {
    const std::size_t from = read_ % capacity_;
    const std::size_t first = std::min(live, capacity_ - from);
    std::memcpy(buffer.get(), buffer_.get() + from, first);
    std::memcpy(buffer.get() + first, buffer_.get(), live - first);
  }
  buffer_ = std::move(buffer);
  capacity_ = capacity;
  moved_by_ = read_;
  read_ = 0;
  write_ = live;
  return true;
}

bool RecentFilter::matches(const RecentEntry& e) const {
  return (status.empty() || status == e.status) && (provider.empty() || provider == e.provider) &&
         (model.empty() || model == e.model) && (project.empty() || project == e.project);
}

RecentRecords::RecentRecords(std::size_t max_count, std::size_t max_bytes)
    : max_count_(max_count), max_bytes_(max_bytes), arena_(max_bytes) {}

void RecentRecords::push(RecentEntry entry) {
  if (max_count_ == 0) return;
  if (entry.hasRecord() && entry.bytes() > max_bytes_ / 4) {
    entry.record = {};
    entry.record_dropped = true;
  }
  entry.seq = next_seq_++;
  if (count_ == max_count_) popOldest();
  const std::size_t entry_bytes = entry.bytes();
  while (count_ > 0 && bytes_ + entry_bytes > max_bytes_) popOldest();
  // At least one byte: every entry's chunk is then live in the arena, and
  // an empty arena holds no entry.
  const std::size_t size = std::max<std::size_t>(1, entry.textBytes());
  entry.arena_start_ = placeChunk(size);
  pointInto(entry, arena_.put(entry.arena_start_, size), true);
  if (count_ == slots_.size()) growSlots();
  bytes_ += entry_bytes;
  slots_[(head_ + count_) % slots_.size()] = entry;
  ++count_;
}

std::uint64_t RecentRecords::placeChunk(std::size_t size) {
  for (;;) {
    if (auto start = arena_.fit(size)) return *start;
    // Growing is allowed up to the byte bound, and past it for an entry
    // alone (as the byte bound allows one entry of any size).
    if (arena_.grow(arena_.liveBytes() + size, count_ == 0)) {
      for (std::size_t i = 0; i < count_; ++i) {
        RecentEntry& e = at(i);
        e.arena_start_ = arena_.relocated(e.arena_start_);
        pointInto(e, arena_.at(e.arena_start_), false);
      }
      continue;
    }
    popOldest();  // count_ > 0: with no entry, grow() succeeds or the chunk fits
  }
}

void RecentRecords::pointInto(RecentEntry& e, char* chunk, bool copy) {
  forEachText(e, [&](std::string_view& s) {
    if (copy && !s.empty()) std::memcpy(chunk, s.data(), s.size());
    s = std::string_view(chunk, s.size());
    chunk += s.size();
  });
}

void RecentRecords::popOldest() {
  RecentEntry& oldest = slots_[head_];
  bytes_ -= oldest.bytes();
  oldest = RecentEntry{};
  head_ = (head_ + 1) % slots_.size();
  --count_;
  arena_.release(count_ > 0 ? at(0).arena_start_ : arena_.writePosition());
}

void RecentRecords::growSlots() {
  // At least one more slot: the bounds allow it (count_ < max_count_ here,
  // and count_ entries of at least sizeof(RecentEntry) bytes fit in
  // max_bytes_ unless count_ is 1).
  const std::size_t size = std::max(count_ + 1, std::min({max_count_, std::max<std::size_t>(16, 2 * slots_.size()),
                                                          max_bytes_ / sizeof(RecentEntry) + 1}));
  std::vector<RecentEntry> slots;
  slots.reserve(size);
  for (std::size_t i = 0; i < count_; ++i) slots.push_back(at(i));
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
