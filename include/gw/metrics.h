// The metrics registry: counters, gauges and histograms with labels.
//
// Any code or plugin declares a metric family once, by name, and keeps the
// returned handle:
//
//   auto requests = metrics.counter("my_plugin_sends_total", "Sends attempted", "1", {"backend"});
//   requests.add({"es"}, 1);
//
// Declaring the same name again with the same type and label names returns
// a handle to the same family (so two plugins can share a metric); a
// different type or label set is an error (std::invalid_argument, start-up
// only). Handles are cheap to copy and stay valid as long as the registry.
//
// Threading: every method is thread-safe. Updating a series that already
// exists takes a shared (reader) lock on its family and one atomic add; the
// first update of a new label set takes the family's exclusive lock once.
// For the hottest spots, bind() resolves a label set to a Series pointer once.
//
// Cardinality is bounded: a family keeps at most `max_series_per_family`
// label sets (METRICS_MAX_SERIES); further label sets are folded into one
// series whose label values are all "other", and each update so folded is
// counted in ai_gateway_metric_series_overflow_total{metric} (declared on the
// first overflow) and overflowedSeries(), so that a client sending random
// model names cannot grow memory without bound.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gw {

enum class MetricType { kCounter, kGauge, kHistogram };

// Label values in the order of the family's label names.
using LabelValues = std::vector<std::string>;

namespace metrics_detail {
struct Family;

// One time series (one label set).
struct Series {
  explicit Series(std::size_t bucket_count) : buckets(bucket_count) {
    // std::atomic's default constructor leaves the value uninitialised
    // before C++20's P0883 (not in libstdc++ 12).
    for (auto& b : buckets) b.store(0, std::memory_order_relaxed);
  }
  LabelValues labels;
  std::atomic<double> value{0};  // counter / gauge
  // Histogram: non-cumulative counts per finite upper bound; the +Inf bucket
  // is `count`.
  std::vector<std::atomic<std::uint64_t>> buckets;
  std::atomic<double> sum{0};
  std::atomic<std::uint64_t> count{0};
};
}  // namespace metrics_detail

// A snapshot of one series for exporters.
struct SeriesSnapshot {
  LabelValues labels;
  double value = 0;                         // counter / gauge
  std::vector<std::uint64_t> bucket_counts;  // histogram, cumulative, one per bound
  double sum = 0;
  std::uint64_t count = 0;
};

struct FamilySnapshot {
  std::string name;
  std::string help;
  std::string unit;
  MetricType type = MetricType::kCounter;
  std::vector<std::string> label_names;
  std::vector<double> bounds;  // histogram upper bounds, ascending, without +Inf
  std::vector<SeriesSnapshot> series;  // sorted by label values
};

class Counter {
 public:
  Counter() = default;
  // Adds `v` (>= 0; negative values are ignored) to the series `labels`.
  void add(const LabelValues& labels, double v = 1) const;
  void add(std::initializer_list<std::string_view> labels, double v = 1) const;
  // Resolves a label set once, for hot call sites.
  metrics_detail::Series* bind(const LabelValues& labels) const;
  // Updates a bound series (named differently so that add({}, v) can never
  // pick it with a null pointer).
  static void addTo(metrics_detail::Series* series, double v);

 private:
  friend class MetricsRegistry;
  explicit Counter(metrics_detail::Family* f) : family_(f) {}
  metrics_detail::Family* family_ = nullptr;
};

class Gauge {
 public:
  Gauge() = default;
  void set(const LabelValues& labels, double v) const;
  void add(const LabelValues& labels, double v) const;  // v may be negative
  metrics_detail::Series* bind(const LabelValues& labels) const;
  static void setTo(metrics_detail::Series* series, double v);
  static void addTo(metrics_detail::Series* series, double v);

 private:
  friend class MetricsRegistry;
  explicit Gauge(metrics_detail::Family* f) : family_(f) {}
  metrics_detail::Family* family_ = nullptr;
};

class Histogram {
 public:
  Histogram() = default;
  void observe(const LabelValues& labels, double v) const;
  void observe(std::initializer_list<std::string_view> labels, double v) const;
  metrics_detail::Series* bind(const LabelValues& labels) const;
  void observeInto(metrics_detail::Series* series, double v) const;

 private:
  friend class MetricsRegistry;
  explicit Histogram(metrics_detail::Family* f) : family_(f) {}
  metrics_detail::Family* family_ = nullptr;
};

class MetricsRegistry {
 public:
  explicit MetricsRegistry(std::size_t max_series_per_family = 10000);
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // `name` must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
  // [a-zA-Z_][a-zA-Z0-9_]* (std::invalid_argument otherwise). `unit` is
  // informational ("s", "1", "USD", "By") for exporters that carry units
  // (OTLP); by Prometheus convention the name already ends in the unit.
  Counter counter(std::string_view name, std::string_view help, std::string_view unit,
                  std::vector<std::string> label_names = {});
  Gauge gauge(std::string_view name, std::string_view help, std::string_view unit,
              std::vector<std::string> label_names = {});
  Histogram histogram(std::string_view name, std::string_view help, std::string_view unit,
                      std::vector<std::string> label_names, std::vector<double> bounds);

  // Every family in name order, every series in label order.
  std::vector<FamilySnapshot> snapshot() const;

  // Updates folded into an "other" series because their family was full.
  std::uint64_t overflowedSeries() const { return overflowed_.load(std::memory_order_relaxed); }

  // The label value of the series that takes what a full family folds.
  static constexpr std::string_view kOverflowLabel = "other";

  // Buckets for request durations in seconds (5 ms .. 5 min).
  static const std::vector<double>& durationBuckets();
  // Buckets for the gateway's own overhead in seconds (50 us .. 1 s).
  static const std::vector<double>& overheadBuckets();

 private:
  friend struct metrics_detail::Family;
  // Counts an update `family` folded (outside the family's lock).
  void noteOverflow(const std::string& family);

  metrics_detail::Family* declare(std::string_view name, std::string_view help, std::string_view unit,
                                  MetricType type, std::vector<std::string> label_names,
                                  std::vector<double> bounds);

  std::size_t max_series_;
  std::atomic<std::uint64_t> overflowed_{0};
  std::atomic<metrics_detail::Family*> overflow_family_{nullptr};
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<metrics_detail::Family>, std::less<>> families_;
};

}  // namespace gw
