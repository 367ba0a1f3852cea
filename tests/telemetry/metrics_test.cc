#include "gw/metrics.h"

#include <gtest/gtest.h>

#include <thread>

namespace gw {
namespace {

const FamilySnapshot& family(const std::vector<FamilySnapshot>& all, std::string_view name) {
  for (const auto& f : all)
    if (f.name == name) return f;
  throw std::runtime_error("no family " + std::string(name));
}

TEST(Metrics, CounterWithLabels) {
  MetricsRegistry m;
  auto c = m.counter("x_total", "help", "1", {"a", "b"});
  c.add({"1", "2"});
  c.add({"1", "2"}, 2.5);
  c.add({"1", "3"});
  c.add({"1", "3"}, -4);  // counters never go down
  auto snap = m.snapshot();
  const auto& f = family(snap, "x_total");
  EXPECT_EQ(f.type, MetricType::kCounter);
  EXPECT_EQ(f.help, "help");
  EXPECT_EQ(f.unit, "1");
  ASSERT_EQ(f.series.size(), 2u);
  EXPECT_EQ(f.series[0].labels, (LabelValues{"1", "2"}));
  EXPECT_DOUBLE_EQ(f.series[0].value, 3.5);
  EXPECT_DOUBLE_EQ(f.series[1].value, 1);
}

TEST(Metrics, DeclaringTwiceReturnsTheSameFamilyButNotADifferentOne) {
  MetricsRegistry m;
  auto a = m.counter("shared_total", "h", "1", {"l"});
  auto b = m.counter("shared_total", "h", "1", {"l"});
  a.add({"v"});
  b.add({"v"});
  EXPECT_DOUBLE_EQ(m.snapshot()[0].series[0].value, 2);
  EXPECT_THROW(m.gauge("shared_total", "h", "1", {"l"}), std::invalid_argument);
  EXPECT_THROW(m.counter("shared_total", "h", "1", {"other"}), std::invalid_argument);
  EXPECT_THROW(m.counter("bad name", "h", "1"), std::invalid_argument);
  EXPECT_THROW(m.counter("ok_total", "h", "1", {"le"}), std::invalid_argument);
  EXPECT_THROW(m.histogram("h_seconds", "h", "s", {}, {1, 0.5}), std::invalid_argument);
  EXPECT_THROW(a.add({"too", "many"}), std::invalid_argument);
}

TEST(Metrics, GaugeSetAndAdd) {
  MetricsRegistry m;
  auto g = m.gauge("g", "h", "1");
  g.set({}, 5);
  g.add({}, -2);
  auto* s = g.bind({});
  Gauge::addTo(s, 1);
  EXPECT_DOUBLE_EQ(m.snapshot()[0].series[0].value, 4);
}

TEST(Metrics, HistogramBucketsAreCumulativeAndInclusive) {
  MetricsRegistry m;
  auto h = m.histogram("h_seconds", "h", "s", {"r"}, {0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.2, 1.0, 50.0}) h.observe({"x"}, v);
  const auto snap = m.snapshot();
  const auto& s = snap[0].series[0];
  EXPECT_EQ(s.bucket_counts, (std::vector<std::uint64_t>{2, 4, 4}));
  EXPECT_EQ(s.count, 5u);
  EXPECT_DOUBLE_EQ(s.sum, 51.35);
}

TEST(Metrics, SeriesPerFamilyAreBoundedAndWhatIsFoldedIsCounted) {
  MetricsRegistry m(3);
  auto c = m.counter("c_total", "h", "1", {"model"});
  auto other = m.counter("d_total", "h", "1", {"a", "b"});
  EXPECT_EQ(m.snapshot().size(), 2u);  // no overflow counter before an overflow
  for (int i = 0; i < 10; ++i) c.add({"m" + std::to_string(i)});
  for (int i = 0; i < 3; ++i) c.add({"m" + std::to_string(i)});  // known label sets still count as themselves
  for (int i = 0; i < 5; ++i) other.add({"x" + std::to_string(i), "y"});
  const auto snap = m.snapshot();
  ASSERT_EQ(snap.size(), 3u);
  const FamilySnapshot& overflow = snap[0];  // sorts first
  EXPECT_EQ(overflow.name, "ai_gateway_metric_series_overflow_total");
  EXPECT_EQ(overflow.label_names, (std::vector<std::string>{"metric"}));
  ASSERT_EQ(overflow.series.size(), 2u);
  EXPECT_EQ(overflow.series[0].labels, (LabelValues{"c_total"}));
  EXPECT_DOUBLE_EQ(overflow.series[0].value, 7);
  EXPECT_EQ(overflow.series[1].labels, (LabelValues{"d_total"}));
  EXPECT_DOUBLE_EQ(overflow.series[1].value, 2);
  const FamilySnapshot& f = snap[1];
  ASSERT_EQ(f.series.size(), 4u);  // 3 real + "other"
  for (int i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(f.series[static_cast<std::size_t>(i)].value, 2);
  EXPECT_EQ(f.series.back().labels, (LabelValues{"other"}));
  EXPECT_DOUBLE_EQ(f.series.back().value, 7);
  EXPECT_EQ(snap[2].series.front().labels, (LabelValues{"other", "other"}));  // "o" < "x"
  EXPECT_DOUBLE_EQ(snap[2].series.front().value, 2);
  EXPECT_EQ(m.overflowedSeries(), 9u);
}

TEST(Metrics, ManyDistinctLabelSetsStayBounded) {
  MetricsRegistry m(100);
  auto h = m.histogram("h_seconds", "h", "s", {"provider", "model"}, {0.1, 1});
  for (int i = 0; i < 100000; ++i) h.observe({"p", "model-" + std::to_string(i)}, 0.5);
  const auto snap = m.snapshot();
  const FamilySnapshot& f = snap[1];
  EXPECT_EQ(f.series.size(), 101u);
  std::uint64_t total = 0;
  for (const auto& s : f.series) total += s.count;
  EXPECT_EQ(total, 100000u);  // nothing lost, only folded
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry m;
  auto c = m.counter("c_total", "h", "1", {"t"});
  auto h = m.histogram("h_seconds", "h", "s", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        c.add({std::to_string(i % 3)});
        h.observe({}, 0.5);
      }
      (void)t;
    });
  for (auto& t : threads) t.join();
  double total = 0;
  auto snap = m.snapshot();
  for (const auto& s : family(snap, "c_total").series) total += s.value;
  EXPECT_DOUBLE_EQ(total, 40000);
  EXPECT_EQ(family(snap, "h_seconds").series[0].count, 40000u);
  EXPECT_EQ(family(snap, "h_seconds").series[0].bucket_counts[0], 40000u);
}

}  // namespace
}  // namespace gw
