#include "dashboard/rollups.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gw::dashboard {

namespace {
// Floor division for possibly negative times (tests use small clocks).
std::int64_t floorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
constexpr std::int64_t kDay = 24 * 3600;
}  // namespace

int LogHistogram::bucketOf(double ms) {
  if (!(ms > 1.0)) return 0;  // also NaN and negatives
  // ceil(2 * log2(ms)): bucket i holds (2^((i-1)/2), 2^(i/2)].
  const double b = std::ceil(2.0 * std::log2(ms) - 1e-9);
  if (b >= kBuckets - 1) return kBuckets - 1;
  return std::max(1, static_cast<int>(b));
}

double LogHistogram::upperBoundMs(int bucket) {
  if (bucket >= kBuckets - 1) return std::numeric_limits<double>::infinity();
  return std::exp2(bucket / 2.0);
}

void LogHistogram::merge(const LogHistogram& other) {
  for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
}

std::uint64_t LogHistogram::total() const {
  std::uint64_t n = 0;
  for (auto c : counts) n += c;
  return n;
}

std::optional<double> LogHistogram::quantile(double q) const {
  const std::uint64_t n = total();
  if (n == 0) return std::nullopt;
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the wanted observation (1-based), then its bucket.
  const double rank = std::max(1.0, std::ceil(q * static_cast<double>(n)));
  double seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    const double c = counts[static_cast<std::size_t>(i)];
    if (c == 0) continue;
    if (seen + c >= rank) {
      const double frac = (rank - seen) / c;  // in (0, 1]
      if (i == 0) return frac;                 // [0, 1] ms, linearly
      const double lo = std::exp2((i - 1) / 2.0);
      if (i == kBuckets - 1) return lo;
      return lo * std::pow(upperBoundMs(i) / lo, frac);
    }
    seen += c;
  }
  return upperBoundMs(kBuckets - 2);
}

Increment::Increment(const Sample& s)
    : error(s.error),
      input_tokens(static_cast<std::uint64_t>(std::max<std::int64_t>(0, s.input_tokens))),
      output_tokens(static_cast<std::uint64_t>(std::max<std::int64_t>(0, s.output_tokens))),
      cached_input_tokens(static_cast<std::uint64_t>(std::max<std::int64_t>(0, s.cached_input_tokens))),
      cache_creation_tokens(static_cast<std::uint64_t>(std::max<std::int64_t>(0, s.cache_creation_tokens))),
      reasoning_tokens(static_cast<std::uint64_t>(std::max<std::int64_t>(0, s.reasoning_tokens))),
      cost_usd(s.cost_usd),
      latency_bucket(s.latency_ms ? LogHistogram::bucketOf(*s.latency_ms) : -1),
      ttfb_bucket(s.ttfb_ms ? LogHistogram::bucketOf(*s.ttfb_ms) : -1) {}

void Totals::add(const Increment& inc) {
  ++requests;
  if (inc.error) ++errors;
  input_tokens += inc.input_tokens;
  output_tokens += inc.output_tokens;
  cached_input_tokens += inc.cached_input_tokens;
  cache_creation_tokens += inc.cache_creation_tokens;
  reasoning_tokens += inc.reasoning_tokens;
  cost_usd += inc.cost_usd;
  if (inc.latency_bucket >= 0) ++latency.counts[static_cast<std::size_t>(inc.latency_bucket)];
  if (inc.ttfb_bucket >= 0) ++ttfb.counts[static_cast<std::size_t>(inc.ttfb_bucket)];
}

void Totals::merge(const Totals& o) {
  requests += o.requests;
  errors += o.errors;
  input_tokens += o.input_tokens;
  output_tokens += o.output_tokens;
  cached_input_tokens += o.cached_input_tokens;
  cache_creation_tokens += o.cache_creation_tokens;
  reasoning_tokens += o.reasoning_tokens;
  cost_usd += o.cost_usd;
  latency.merge(o.latency);
  ttfb.merge(o.ttfb);
}

std::optional<Window> parseWindow(std::string_view text) {
  if (text == "5m") return Window::k5m;
  if (text == "1h") return Window::k1h;
  if (text == "24h") return Window::k24h;
  return std::nullopt;
}

std::int64_t windowSeconds(Window w) {
  switch (w) {
    case Window::k5m: return 300;
    case Window::k1h: return 3600;
    case Window::k24h: return kDay;
  }
  return 300;
}

std::optional<Dimension> parseDimension(std::string_view text) {
  for (std::size_t i = 0; i < kDimensionCount; ++i)
    if (toString(static_cast<Dimension>(i)) == text) return static_cast<Dimension>(i);
  return std::nullopt;
}

std::string_view toString(Dimension d) {
  switch (d) {
    case Dimension::kProvider: return "provider";
    case Dimension::kModel: return "model";
    case Dimension::kProject: return "project";
    case Dimension::kUser: return "user";
    case Dimension::kKey: return "key";
  }
  return "provider";
}

BucketRing::BucketRing(std::int64_t width_s, std::size_t count) : width_s_(width_s), cells_(count) {}

std::size_t BucketRing::slotOf(std::int64_t n) const {
  const auto count = static_cast<std::int64_t>(cells_.size());
  return static_cast<std::size_t>(((n % count) + count) % count);
}

Totals* BucketRing::bucket(std::int64_t unix_s) {
  const std::int64_t n = floorDiv(unix_s, width_s_);
  if (newest_ >= 0 && n <= newest_ - static_cast<std::int64_t>(cells_.size())) return nullptr;  // older than the ring
  newest_ = std::max(newest_, n);
  Cell& c = cells_[slotOf(n)];
  if (c.stamp != n) {
    c.totals = Totals{};
    c.stamp = n;
  }
  return &c.totals;
}

const Totals* BucketRing::find(std::int64_t n) const {
  const Cell& c = cells_[slotOf(n)];
  return c.stamp == n ? &c.totals : nullptr;
}

Totals BucketRing::sum(std::int64_t now_s, std::int64_t seconds, std::optional<Pending> pending) const {
  const std::int64_t last = floorDiv(now_s, width_s_);
  const std::int64_t first = floorDiv(now_s - seconds, width_s_) + 1;
  Totals out;
  for (const auto& c : cells_)
    if (c.stamp >= first && c.stamp <= last) out.merge(c.totals);
  if (pending) {
    const std::int64_t n = floorDiv(pending->unix_s, width_s_);
    if (n >= first && n <= last) out.merge(*pending->totals);
  }
  return out;
}

std::vector<BucketRing::Point> BucketRing::points(std::int64_t now_s, std::int64_t seconds, std::int64_t step_s,
                                                  std::optional<Pending> pending) const {
  step_s = std::max(step_s, width_s_);
  const std::int64_t last = floorDiv(now_s, step_s);
  const std::int64_t first = floorDiv(now_s - seconds, step_s) + 1;
  std::vector<Point> out;
  out.reserve(static_cast<std::size_t>(last - first + 1));
  for (std::int64_t p = first; p <= last; ++p) out.push_back(Point{p * step_s, Totals{}});
  if (out.empty()) return out;
  auto addTo = [&](std::int64_t n, const Totals& totals) {
    const std::int64_t p = floorDiv(n * width_s_, step_s);
    if (p >= first && p <= last) out[static_cast<std::size_t>(p - first)].totals.merge(totals);
  };
  for (const auto& c : cells_)
    if (c.stamp >= 0) addTo(c.stamp, c.totals);
  if (pending) addTo(floorDiv(pending->unix_s, width_s_), *pending->totals);
  return out;
}

Series::Series(BucketRing s10, BucketRing m1, std::optional<BucketRing> h1)
    : s10_(std::move(s10)), m1_(std::move(m1)), h1_(std::move(h1)) {}

std::unique_ptr<Series> Series::total() {
  return std::unique_ptr<Series>(new Series(BucketRing(10, 30), BucketRing(60, 24 * 60), std::nullopt));
}

std::unique_ptr<Series> Series::value() {
  // 25 hours of hourly buckets: the 24-hour window's oldest one is partial.
  return std::unique_ptr<Series>(new Series(BucketRing(10, 30), BucketRing(60, 60), BucketRing(3600, 25)));
}

void Series::add(std::int64_t unix_s, const Increment& inc) {
  last_unix_s_ = std::max(last_unix_s_, unix_s);
  const std::int64_t open_n = s10_.newest();
  const std::int64_t n = floorDiv(unix_s, s10_.width());
  if (n > open_n) {
    // A later bucket opens: the coarser rings receive the one it closes,
    // and the new one's coarser buckets are made current (clearing their
    // slots as a write there would).
    if (const Totals* closed = open_n >= 0 ? s10_.find(open_n) : nullptr) {
      if (Totals* t = m1_.bucket(open_n * s10_.width())) t->merge(*closed);
      if (h1_)
        if (Totals* t = h1_->bucket(open_n * s10_.width())) t->merge(*closed);
    }
    m1_.bucket(unix_s);
    if (h1_) h1_->bucket(unix_s);
  } else if (n < open_n) {
    // A record for a bucket before the open one, arriving late: that
    // bucket was closed, so the coarser rings take the record directly.
    m1_.add(unix_s, inc);
    if (h1_) h1_->add(unix_s, inc);
  }
  s10_.add(unix_s, inc);
}

std::optional<BucketRing::Pending> Series::open() const {
  const std::int64_t n = s10_.newest();
  const Totals* totals = n >= 0 ? s10_.find(n) : nullptr;
  if (!totals) return std::nullopt;
  return BucketRing::Pending{n * s10_.width(), totals};
}

const BucketRing& Series::ringFor(Window w) const {
  switch (w) {
    case Window::k5m: return s10_;
    case Window::k1h: return m1_;
    case Window::k24h: return h1_ ? *h1_ : m1_;
  }
  return s10_;
}

Totals Series::sum(Window w, std::int64_t now_s) const {
  if (w == Window::k5m) return s10_.sum(now_s, windowSeconds(w));
  return ringFor(w).sum(now_s, windowSeconds(w), open());
}

std::vector<BucketRing::Point> Series::points(Window w, std::int64_t now_s) const {
  if (w == Window::k5m) return s10_.points(now_s, windowSeconds(w), stepFor(w));
  return ringFor(w).points(now_s, windowSeconds(w), stepFor(w), open());
}

std::int64_t Series::stepFor(Window w) const {
  switch (w) {
    case Window::k5m: return 10;
    case Window::k1h: return 60;
    case Window::k24h: return h1_ ? 3600 : 300;
  }
  return 10;
}

Rollups::Rollups(std::size_t max_values) : max_values_(std::max<std::size_t>(1, max_values)), total_(Series::total()) {}

Series& Rollups::seriesOf(std::size_t dim, std::string_view value, std::int64_t unix_s) {
  LastFound& last = last_found_[dim];
  if (last.series && last.value == value) return *last.series;
  ValueMap& map = values_[dim];
  if (auto it = map.find(value); it != map.end()) {
    last = LastFound{it->first, it->second.get()};
    return *it->second;
  }
  if (map.size() >= max_values_) {
    // Make room from values idle for a whole day (their buckets are all
    // outside every window), else fold.
    last = LastFound{};
    for (auto it = map.begin(); it != map.end();) {
      if (it->second->lastUnixS() <= unix_s - kDay - 3600) {
        key_bytes_ -= it->first.size();
        it = map.erase(it);
      } else {
        ++it;
      }
    }
    if (map.size() >= max_values_) {
      ++folded_;
      if (!other_[dim]) other_[dim] = Series::value();
      return *other_[dim];
    }
  }
  key_bytes_ += value.size();
  auto it = map.emplace(std::string(value), Series::value()).first;
  last = LastFound{it->first, it->second.get()};
  return *it->second;
}

void Rollups::add(const std::array<std::string_view, kDimensionCount>& values, const Sample& sample) {
  const Increment inc(sample);
  const std::int64_t t = floorDiv(sample.unix_ms, 1000);
  total_->add(t, inc);
  for (std::size_t d = 0; d < kDimensionCount; ++d) seriesOf(d, values[d], t).add(t, inc);
}

std::vector<std::pair<std::string_view, const Series*>> Rollups::values(Dimension d) const {
  const auto dim = static_cast<std::size_t>(d);
  std::vector<std::pair<std::string_view, const Series*>> out;
  out.reserve(values_[dim].size() + 1);
  for (const auto& [name, series] : values_[dim]) out.emplace_back(name, series.get());
  if (other_[dim]) out.emplace_back(kOther, other_[dim].get());
  return out;
}

const Series* Rollups::find(Dimension d, std::string_view value) const {
  const auto dim = static_cast<std::size_t>(d);
  if (auto it = values_[dim].find(value); it != values_[dim].end()) return it->second.get();
  if (value == kOther && other_[dim]) return other_[dim].get();
  return nullptr;
}

std::size_t Rollups::valueSeriesBytes() { return sizeof(Series) + (30 + 60 + 25) * (sizeof(Totals) + 8); }
std::size_t Rollups::totalSeriesBytes() { return sizeof(Series) + (30 + 24 * 60) * (sizeof(Totals) + 8); }

std::size_t Rollups::memoryBytes() const {
  std::size_t n = totalSeriesBytes() + key_bytes_;
  for (std::size_t d = 0; d < kDimensionCount; ++d) {
    // A map node: the key string object, the pointer, the hash and links.
    n += values_[d].size() * (valueSeriesBytes() + sizeof(std::string) + 4 * sizeof(void*));
    if (other_[d]) n += valueSeriesBytes();
  }
  return n;
}

}  // namespace gw::dashboard
