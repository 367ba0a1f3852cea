#include "gw/metrics.h"

#include <algorithm>
#include <stdexcept>

namespace gw {

namespace metrics_detail {

struct Family {
  std::string name, help, unit;
  MetricType type = MetricType::kCounter;
  std::vector<std::string> label_names;
  std::vector<double> bounds;
  std::size_t max_series = 0;
  MetricsRegistry* registry = nullptr;

  mutable std::shared_mutex mutex;
  // Key: label values joined with '\xff' (a byte that cannot occur in UTF-8).
  std::unordered_map<std::string, std::unique_ptr<Series>> series;

  static std::string key(const LabelValues& labels) {
    std::string k;
    for (const auto& l : labels) {
      k += l;
      k += '\xff';
    }
    return k;
  }

  Series* get(const LabelValues& labels) {
    if (labels.size() != label_names.size())
      throw std::invalid_argument("metric " + name + ": expected " + std::to_string(label_names.size()) +
                                  " label values, got " + std::to_string(labels.size()));
    std::string k = key(labels);
    {
      std::shared_lock lock(mutex);
      if (auto it = series.find(k); it != series.end()) return it->second.get();
    }
    bool folded = false;
    Series* found = nullptr;
    {
      std::unique_lock lock(mutex);
      if (auto it = series.find(k); it != series.end()) return it->second.get();
      LabelValues values = labels;
      // The "other" series is one more than max_series: the bound holds
      // whatever order label sets come in.
      if (series.size() >= max_series) {
        folded = true;
        std::fill(values.begin(), values.end(), std::string(MetricsRegistry::kOverflowLabel));
        k = key(values);
      }
      if (auto it = series.find(k); it != series.end()) {
        found = it->second.get();
      } else {
        auto s = std::make_unique<Series>(bounds.size());
        s->labels = std::move(values);
        found = s.get();
        series.emplace(std::move(k), std::move(s));
      }
    }
    // Counted outside this family's lock: the overflow counter is a family
    // of the same registry (declared on first use, under the registry's
    // lock, which snapshot() takes before a family's).
    if (folded) registry->noteOverflow(name);
    return found;
  }
};

namespace {
void atomicAdd(std::atomic<double>& a, double v) { a.fetch_add(v, std::memory_order_relaxed); }
LabelValues toValues(std::initializer_list<std::string_view> labels) {
  LabelValues out;
  out.reserve(labels.size());
  for (auto l : labels) out.emplace_back(l);
  return out;
}
}  // namespace

}  // namespace metrics_detail

using metrics_detail::Family;
using metrics_detail::Series;

void Counter::add(const LabelValues& labels, double v) const { addTo(bind(labels), v); }
void Counter::add(std::initializer_list<std::string_view> labels, double v) const {
  add(metrics_detail::toValues(labels), v);
}
Series* Counter::bind(const LabelValues& labels) const { return family_->get(labels); }
void Counter::addTo(Series* series, double v) {
  if (v > 0) metrics_detail::atomicAdd(series->value, v);
}

void Gauge::set(const LabelValues& labels, double v) const { setTo(bind(labels), v); }
void Gauge::add(const LabelValues& labels, double v) const { addTo(bind(labels), v); }
Series* Gauge::bind(const LabelValues& labels) const { return family_->get(labels); }
void Gauge::setTo(Series* series, double v) { series->value.store(v, std::memory_order_relaxed); }
void Gauge::addTo(Series* series, double v) { metrics_detail::atomicAdd(series->value, v); }

void Histogram::observe(const LabelValues& labels, double v) const { observeInto(bind(labels), v); }
void Histogram::observe(std::initializer_list<std::string_view> labels, double v) const {
  observe(metrics_detail::toValues(labels), v);
}
Series* Histogram::bind(const LabelValues& labels) const { return family_->get(labels); }
void Histogram::observeInto(Series* series, double v) const {
  const auto& bounds = family_->bounds;
  auto it = std::lower_bound(bounds.begin(), bounds.end(), v);  // first bound >= v: le is inclusive
  if (it != bounds.end()) series->buckets[static_cast<std::size_t>(it - bounds.begin())].fetch_add(1, std::memory_order_relaxed);
  metrics_detail::atomicAdd(series->sum, v);
  series->count.fetch_add(1, std::memory_order_relaxed);
}

MetricsRegistry::MetricsRegistry(std::size_t max_series_per_family) : max_series_(max_series_per_family) {}
MetricsRegistry::~MetricsRegistry() = default;

namespace {
bool validName(std::string_view n, bool allow_colon) {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    bool digit = c >= '0' && c <= '9';
    if (!(alpha || (digit && i > 0))) return false;
  }
  return true;
}
}  // namespace

Family* MetricsRegistry::declare(std::string_view name, std::string_view help, std::string_view unit,
                                 MetricType type, std::vector<std::string> label_names,
                                 std::vector<double> bounds) {
  if (!validName(name, true)) throw std::invalid_argument("invalid metric name '" + std::string(name) + "'");
  for (const auto& l : label_names)
    if (!validName(l, false) || l == "le" || l.starts_with("__"))
      throw std::invalid_argument("metric " + std::string(name) + ": invalid label name '" + l + "'");
  if (!std::is_sorted(bounds.begin(), bounds.end()) ||
      std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end())
    throw std::invalid_argument("metric " + std::string(name) + ": bucket bounds must be strictly ascending");
  std::lock_guard lock(mutex_);
  if (auto it = families_.find(name); it != families_.end()) {
    Family* f = it->second.get();
    if (f->type != type || f->label_names != label_names || f->bounds != bounds)
      throw std::invalid_argument("metric " + std::string(name) + " declared twice with different type or labels");
    return f;
  }
  auto f = std::make_unique<Family>();
  f->name = std::string(name);
  f->help = std::string(help);
  f->unit = std::string(unit);
  f->type = type;
  f->label_names = std::move(label_names);
  f->bounds = std::move(bounds);
  f->max_series = std::max<std::size_t>(1, max_series_);
  f->registry = this;
  Family* raw = f.get();
  families_.emplace(raw->name, std::move(f));
  return raw;
}

void MetricsRegistry::noteOverflow(const std::string& family) {
  overflowed_.fetch_add(1, std::memory_order_relaxed);
  static constexpr std::string_view kOverflowMetric = "ai_gateway_metric_series_overflow_total";
  if (family == kOverflowMetric) return;  // its own label set is one per family: never folds in practice
  Family* overflow = overflow_family_.load(std::memory_order_acquire);
  if (!overflow) {
    overflow = declare(kOverflowMetric,
                       "Updates folded into the label set 'other' because their metric held METRICS_MAX_SERIES "
                       "label sets",
                       "1", MetricType::kCounter, {"metric"}, {});
    overflow_family_.store(overflow, std::memory_order_release);
  }
  Counter::addTo(overflow->get({family}), 1);
}

Counter MetricsRegistry::counter(std::string_view name, std::string_view help, std::string_view unit,
                                 std::vector<std::string> label_names) {
  return Counter(declare(name, help, unit, MetricType::kCounter, std::move(label_names), {}));
}

Gauge MetricsRegistry::gauge(std::string_view name, std::string_view help, std::string_view unit,
                             std::vector<std::string> label_names) {
  return Gauge(declare(name, help, unit, MetricType::kGauge, std::move(label_names), {}));
}

Histogram MetricsRegistry::histogram(std::string_view name, std::string_view help, std::string_view unit,
                                     std::vector<std::string> label_names, std::vector<double> bounds) {
  return Histogram(declare(name, help, unit, MetricType::kHistogram, std::move(label_names), std::move(bounds)));
}

std::vector<FamilySnapshot> MetricsRegistry::snapshot() const {
  std::vector<FamilySnapshot> out;
  std::lock_guard lock(mutex_);
  out.reserve(families_.size());
  for (const auto& [name, f] : families_) {
    FamilySnapshot fs;
    fs.name = f->name;
    fs.help = f->help;
    fs.unit = f->unit;
    fs.type = f->type;
    fs.label_names = f->label_names;
    fs.bounds = f->bounds;
    {
      std::shared_lock series_lock(f->mutex);
      for (const auto& [key, s] : f->series) {
        SeriesSnapshot ss;
        ss.labels = s->labels;
        ss.value = s->value.load(std::memory_order_relaxed);
        if (f->type == MetricType::kHistogram) {
          // Read count first: concurrent observations may make the buckets
          // run ahead of it, never behind, so clamp to keep +Inf the largest.
          ss.count = s->count.load(std::memory_order_relaxed);
          ss.sum = s->sum.load(std::memory_order_relaxed);
          std::uint64_t running = 0;
          for (const auto& b : s->buckets) {
            running += b.load(std::memory_order_relaxed);
            ss.bucket_counts.push_back(std::min(running, ss.count));
          }
        }
        fs.series.push_back(std::move(ss));
      }
    }
    std::sort(fs.series.begin(), fs.series.end(),
              [](const SeriesSnapshot& a, const SeriesSnapshot& b) { return a.labels < b.labels; });
    out.push_back(std::move(fs));
  }
  return out;
}

const std::vector<double>& MetricsRegistry::durationBuckets() {
  static const std::vector<double> b{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  return b;
}

const std::vector<double>& MetricsRegistry::overheadBuckets() {
  static const std::vector<double> b{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                     0.005,   0.01,   0.025,   0.05,   0.1,   0.25, 0.5, 1};
  return b;
}

}  // namespace gw
