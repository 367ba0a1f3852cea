// The dashboard's rollups (src/dashboard/rollups.h).
#include "dashboard/rollups.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>

namespace gw::dashboard {
namespace {

Sample at(std::int64_t unix_s, double latency_ms = 100, bool error = false) {
  Sample s;
  s.unix_ms = unix_s * 1000;
  s.latency_ms = latency_ms;
  s.error = error;
  s.input_tokens = 10;
  s.output_tokens = 5;
  s.cost_usd = 0.001;
  return s;
}

TEST(LogHistogram, BucketBoundariesAreHalfPowersOfTwo) {
  EXPECT_EQ(LogHistogram::bucketOf(0), 0);
  EXPECT_EQ(LogHistogram::bucketOf(-5), 0);
  EXPECT_EQ(LogHistogram::bucketOf(std::nan("")), 0);
  EXPECT_EQ(LogHistogram::bucketOf(1.0), 0);
  EXPECT_EQ(LogHistogram::bucketOf(1.0001), 1);
  EXPECT_EQ(LogHistogram::bucketOf(std::sqrt(2.0)), 1);  // upper bounds are inclusive
  EXPECT_EQ(LogHistogram::bucketOf(1.5), 2);
  EXPECT_EQ(LogHistogram::bucketOf(2.0), 2);
  EXPECT_EQ(LogHistogram::bucketOf(1024.0), 20);
  EXPECT_EQ(LogHistogram::bucketOf(1025.0), 21);
  EXPECT_EQ(LogHistogram::bucketOf(1e12), LogHistogram::kBuckets - 1);
  for (int b = 1; b < LogHistogram::kBuckets - 1; ++b) {
    EXPECT_EQ(LogHistogram::bucketOf(LogHistogram::upperBoundMs(b)), b) << b;
    EXPECT_EQ(LogHistogram::bucketOf(LogHistogram::upperBoundMs(b) * 1.001), b + 1) << b;
  }
}

TEST(LogHistogram, QuantilesWithinOneBucket) {
  LogHistogram h;
  EXPECT_FALSE(h.quantile(0.5));
  for (int i = 1; i <= 100; ++i) h.add(i * 10.0);  // 10 .. 1000 ms
  const double p50 = *h.quantile(0.5), p95 = *h.quantile(0.95);
  EXPECT_GT(p50, 500 / std::sqrt(2.0));
  EXPECT_LT(p50, 500 * std::sqrt(2.0));
  EXPECT_GT(p95, 950 / std::sqrt(2.0));
  EXPECT_LT(p95, 950 * std::sqrt(2.0));
  EXPECT_LE(p50, p95);
  LogHistogram one;
  one.add(0.5);
  EXPECT_LE(*one.quantile(0.5), 1.0);
  LogHistogram huge;
  huge.add(1e9);
  EXPECT_EQ(*huge.quantile(0.99), std::exp2(19));  // the last bucket answers its lower bound
}

TEST(BucketRing, WindowTakesOnlyBucketsInside) {
  BucketRing ring(10, 30);
  const std::int64_t now = 100000;  // a bucket boundary
  ring.add(now, at(now));              // the current bucket
  ring.add(now - 1, at(now - 1));      // the previous one
  ring.add(now - 290, at(now - 290));  // the oldest bucket of a 5-minute window
  ring.add(now - 300, at(now - 300));  // just outside: starts at now - 300
  EXPECT_EQ(ring.sum(now, 300).requests, 3u);
  EXPECT_EQ(ring.sum(now, 10).requests, 1u);
  EXPECT_EQ(ring.sum(now + 9, 10).requests, 1u);
  EXPECT_EQ(ring.sum(now + 10, 10).requests, 0u);
  EXPECT_EQ(ring.sum(now, 300).input_tokens, 30u);
}

TEST(BucketRing, OldSlotsAreReusedNotAdded) {
  BucketRing ring(60, 60);
  ring.add(0, at(0));
  ring.add(3600, at(3600));  // the same slot, an hour later
  EXPECT_EQ(ring.sum(3600, 3600).requests, 1u);
  EXPECT_EQ(ring.sum(0, 60).requests, 0u) << "the older bucket was cleared";
  // A record older than the ring holds is ignored, not written over a newer bucket.
  ring.add(3600 - 3600, at(0));
  EXPECT_EQ(ring.sum(3600, 60).requests, 1u);
}

TEST(BucketRing, PointsCoverTheWindowOldestFirst) {
  BucketRing ring(60, 24 * 60);
  const std::int64_t now = 86400 * 10 + 30;
  ring.add(now, at(now, 10));
  ring.add(now - 600, at(now - 600, 10, true));
  auto points = ring.points(now, 86400, 300);
  ASSERT_EQ(points.size(), 288u);
  EXPECT_EQ(points.back().start_s, (now / 300) * 300);
  EXPECT_EQ(points.back().totals.requests, 1u);
  EXPECT_EQ(points[points.size() - 3].totals.errors, 1u);
  for (std::size_t i = 1; i < points.size(); ++i) EXPECT_EQ(points[i].start_s - points[i - 1].start_s, 300);
}

TEST(Series, CoarseWindowsReadTheOpenTenSecondBucket) {
  auto s = Series::value();
  const std::int64_t t0 = 1'700'000'000 - 1'700'000'000 % 3600;  // an hour's start
  s->add(t0 + 5, at(t0 + 5));
  // Only the open 10-second bucket holds it; every window reads it.
  EXPECT_EQ(s->sum(Window::k5m, t0 + 5).requests, 1u);
  EXPECT_EQ(s->sum(Window::k1h, t0 + 5).requests, 1u);
  EXPECT_EQ(s->sum(Window::k24h, t0 + 5).requests, 1u);
  EXPECT_EQ(s->points(Window::k1h, t0 + 5).back().totals.requests, 1u);
  // The next bucket opens: the first moves to the coarser rings, and is
  // read once.
  s->add(t0 + 15, at(t0 + 15, 100, true));
  EXPECT_EQ(s->sum(Window::k1h, t0 + 15).requests, 2u);
  EXPECT_EQ(s->sum(Window::k24h, t0 + 15).errors, 1u);
  auto minute = s->points(Window::k1h, t0 + 15).back();
  EXPECT_EQ(minute.start_s, t0);
  EXPECT_EQ(minute.totals.requests, 2u);
  EXPECT_EQ(minute.totals.latency.total(), 2u);
  // A record for the closed bucket goes to the coarser rings directly.
  s->add(t0 + 7, at(t0 + 7));
  EXPECT_EQ(s->sum(Window::k5m, t0 + 15).requests, 3u);
  EXPECT_EQ(s->sum(Window::k1h, t0 + 15).requests, 3u);
  EXPECT_EQ(s->points(Window::k24h, t0 + 15).back().totals.requests, 3u);
  // An hour later the first minute has left the 1-hour window, not the 24-hour one.
  s->add(t0 + 3600, at(t0 + 3600));
  EXPECT_EQ(s->sum(Window::k5m, t0 + 3600).requests, 1u);
  EXPECT_EQ(s->sum(Window::k1h, t0 + 3600).requests, 1u);
  EXPECT_EQ(s->sum(Window::k24h, t0 + 3600).requests, 4u);
  EXPECT_EQ(s->lastUnixS(), t0 + 3600);
}

// Every record written to every ring, as the layout describes: what the
// series' reads must answer.
struct EagerSeries {
  bool total;
  BucketRing s10{10, 30}, m1, h1{3600, 25};
  explicit EagerSeries(bool is_total) : total(is_total), m1(60, is_total ? 24 * 60 : 60) {}
  void add(std::int64_t unix_s, const Sample& s) {
    s10.add(unix_s, s);
    m1.add(unix_s, s);
    if (!total) h1.add(unix_s, s);
  }
  const BucketRing& ring(Window w) const { return w == Window::k5m ? s10 : w == Window::k1h || total ? m1 : h1; }
};

void expectSameTotals(const Totals& a, const Totals& b, const std::string& where) {
  EXPECT_EQ(a.requests, b.requests) << where;
  EXPECT_EQ(a.errors, b.errors) << where;
  EXPECT_EQ(a.input_tokens, b.input_tokens) << where;
  EXPECT_EQ(a.output_tokens, b.output_tokens) << where;
  EXPECT_EQ(a.cost_usd, b.cost_usd) << where;  // multiples of 1/8: exact in any order
  EXPECT_EQ(a.latency.counts, b.latency.counts) << where;
  EXPECT_EQ(a.ttfb.counts, b.ttfb.counts) << where;
}

TEST(Series, ReadsMatchWritingEveryRecordToEveryRing) {
  std::mt19937_64 random(20);
  auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(random);
  };
  for (bool is_total : {false, true}) {
    auto series = is_total ? Series::total() : Series::value();
    EagerSeries eager(is_total);
    std::int64_t clock = 1'700'000'000;
    for (int i = 0; i < 1500; ++i) {
      // Mostly a few seconds apart, sometimes minutes or hours; some
      // records late by seconds, minutes or more than an hour.
      const std::int64_t gap = pick(0, 99);
      clock += gap < 80 ? pick(0, 4) : gap < 95 ? pick(20, 400) : pick(2000, 8000);
      const std::int64_t late = pick(0, 99);
      const std::int64_t t = clock - (late < 85 ? 0 : late < 97 ? pick(1, 90) : pick(100, 5000));
      Sample sample;
      sample.unix_ms = t * 1000 + pick(0, 999);
      sample.error = i % 5 == 0;
      sample.input_tokens = i;
      sample.output_tokens = 2 * i;
      sample.cost_usd = static_cast<double>(i % 16) * 0.125;
      sample.latency_ms = static_cast<double>(pick(1, 100000)) / 10.0;
      if (i % 3) sample.ttfb_ms = static_cast<double>(pick(1, 10000)) / 10.0;
      series->add(t, sample);
      eager.add(t, sample);
      if (is_total && i % 10) continue;
      // Readers at the latest time, behind it and ahead of it.
      for (std::int64_t now : {clock, clock - 7, clock - 65, clock + 5, clock + 65, clock + 3700}) {
        for (Window w : {Window::k5m, Window::k1h, Window::k24h}) {
          const std::string where = "record " + std::to_string(i) + ", now " + std::to_string(now - clock) +
                                    ", window " + std::to_string(windowSeconds(w)) + (is_total ? ", total" : "");
          expectSameTotals(series->sum(w, now), eager.ring(w).sum(now, windowSeconds(w)), where);
          if (i % 25) continue;
          auto points = series->points(w, now);
          auto want = eager.ring(w).points(now, windowSeconds(w), series->stepFor(w));
          ASSERT_EQ(points.size(), want.size()) << where;
          for (std::size_t p = 0; p < points.size(); ++p) {
            EXPECT_EQ(points[p].start_s, want[p].start_s) << where;
            expectSameTotals(points[p].totals, want[p].totals, where + ", point " + std::to_string(p));
          }
        }
      }
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(Rollups, TotalsAndValuesPerDimension) {
  Rollups r(10);
  const std::int64_t now = 1'700'000'000;
  r.add({"openai", "gpt-4o", "p1", "u1", ""}, at(now, 100));
  r.add({"openai", "gpt-4o-mini", "p1", "", ""}, at(now, 200, true));
  r.add({"anthropic", "claude", "", "", "vk_1"}, at(now - 3000, 300));
  EXPECT_EQ(r.total().sum(Window::k5m, now).requests, 2u);
  EXPECT_EQ(r.total().sum(Window::k1h, now).requests, 3u);
  EXPECT_EQ(r.total().sum(Window::k24h, now).errors, 1u);
  const Series* openai = r.find(Dimension::kProvider, "openai");
  ASSERT_TRUE(openai);
  EXPECT_EQ(openai->sum(Window::k1h, now).requests, 2u);
  EXPECT_NEAR(openai->sum(Window::k24h, now).cost_usd, 0.002, 1e-12);
  EXPECT_EQ(r.values(Dimension::kProject).size(), 2u);  // "p1" and "" (none)
  EXPECT_EQ(r.find(Dimension::kKey, "vk_1")->sum(Window::k5m, now).requests, 0u);
  EXPECT_EQ(r.find(Dimension::kKey, "vk_1")->sum(Window::k1h, now).requests, 1u);
}

TEST(Rollups, FoldsValuesBeyondTheBoundIntoOther) {
  Rollups r(3);
  const std::int64_t now = 1'700'000'000;
  for (int i = 0; i < 100; ++i) r.add({"p", "model-" + std::to_string(i), "", "", ""}, at(now));
  auto models = r.values(Dimension::kModel);
  EXPECT_EQ(models.size(), 4u);  // three values and "other"
  const Series* other = r.find(Dimension::kModel, Rollups::kOther);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->sum(Window::k5m, now).requests, 97u);
  EXPECT_EQ(r.folded(), 97u);
  EXPECT_EQ(r.total().sum(Window::k5m, now).requests, 100u) << "the total counts every record";
}

TEST(Rollups, ValuesIdleForADayMakeRoom) {
  Rollups r(2);
  const std::int64_t now = 1'700'000'000;
  r.add({"p", "old-a", "", "", ""}, at(now - 2 * 86400));
  r.add({"p", "old-b", "", "", ""}, at(now - 2 * 86400));
  r.add({"p", "new", "", "", ""}, at(now));
  EXPECT_TRUE(r.find(Dimension::kModel, "new"));
  EXPECT_FALSE(r.find(Dimension::kModel, "old-a"));
  EXPECT_EQ(r.folded(), 0u);
}

TEST(Rollups, AValueLookedUpLastAndThenDroppedIsMadeAgain) {
  Rollups r(2);
  const std::int64_t now = 1'700'000'000;
  r.add({"p", "a", "", "", ""}, at(now - 2 * 86400));
  r.add({"p", "b", "", "", ""}, at(now - 2 * 86400));  // "b" is the model looked up last
  r.add({"p", "c", "", "", ""}, at(now));              // drops "a" and "b", idle for a day
  EXPECT_FALSE(r.find(Dimension::kModel, "b"));
  r.add({"p", "b", "", "", ""}, at(now));
  r.add({"p", "b", "", "", ""}, at(now));
  ASSERT_TRUE(r.find(Dimension::kModel, "b"));
  EXPECT_EQ(r.find(Dimension::kModel, "b")->sum(Window::k24h, now).requests, 2u);
  EXPECT_EQ(r.find(Dimension::kProvider, "p")->sum(Window::k24h, now).requests, 3u);
  EXPECT_EQ(r.folded(), 0u);
  // Alternating values each find their own series.
  for (int i = 0; i < 10; ++i) r.add({"p", i % 2 ? "b" : "c", "", "", ""}, at(now));
  EXPECT_EQ(r.find(Dimension::kModel, "b")->sum(Window::k5m, now).requests, 7u);
  EXPECT_EQ(r.find(Dimension::kModel, "c")->sum(Window::k5m, now).requests, 6u);
}

TEST(Rollups, MemoryIsBoundedWith10000LabelSets) {
  Rollups r(200);
  const std::int64_t now = 1'700'000'000;
  for (int i = 0; i < 10000; ++i) {
    const std::string n = std::to_string(i);
    r.add({"provider-" + n, "model-" + n, "project-" + n, "user-" + n, "vk_" + n}, at(now + i % 300));
  }
  EXPECT_LT(r.memoryBytes(), 64u << 20);
  EXPECT_LE(r.memoryBytes(), Rollups::totalSeriesBytes() + 5 * 201 * (Rollups::valueSeriesBytes() + 200));
  EXPECT_EQ(r.values(Dimension::kUser).size(), 201u);
}

}  // namespace
}  // namespace gw::dashboard
