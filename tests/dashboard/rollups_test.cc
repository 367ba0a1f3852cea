// The dashboard's rollups (src/dashboard/rollups.h) and recent-records ring.
#include "dashboard/recent_records.h"
#include "dashboard/rollups.h"

#include <gtest/gtest.h>

#include <cmath>
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

TEST(Rollups, TotalsAndValuesPerDimension) {
  Rollups r(10);
  const std::int64_t now = 1'700'000'000;
  r.add({"openai", "gpt-4o", "p1", "u1", ""}, at(now, 100));
  r.add({"openai", "gpt-4o-mini", "p1", "", ""}, at(now, 200, true));
  r.add({"anthropic", "claude", "", "", "vk_1"}, at(now - 3000, 300));
  EXPECT_EQ(r.total().ringFor(Window::k5m).sum(now, 300).requests, 2u);
  EXPECT_EQ(r.total().ringFor(Window::k1h).sum(now, 3600).requests, 3u);
  EXPECT_EQ(r.total().ringFor(Window::k24h).sum(now, 86400).errors, 1u);
  const Series* openai = r.find(Dimension::kProvider, "openai");
  ASSERT_TRUE(openai);
  EXPECT_EQ(openai->ringFor(Window::k1h).sum(now, 3600).requests, 2u);
  EXPECT_NEAR(openai->ringFor(Window::k24h).sum(now, 86400).cost_usd, 0.002, 1e-12);
  EXPECT_EQ(r.values(Dimension::kProject).size(), 2u);  // "p1" and "" (none)
  EXPECT_EQ(r.find(Dimension::kKey, "vk_1")->ringFor(Window::k5m).sum(now, 300).requests, 0u);
  EXPECT_EQ(r.find(Dimension::kKey, "vk_1")->ringFor(Window::k1h).sum(now, 3600).requests, 1u);
}

TEST(Rollups, FoldsValuesBeyondTheBoundIntoOther) {
  Rollups r(3);
  const std::int64_t now = 1'700'000'000;
  for (int i = 0; i < 100; ++i) r.add({"p", "model-" + std::to_string(i), "", "", ""}, at(now));
  auto models = r.values(Dimension::kModel);
  EXPECT_EQ(models.size(), 4u);  // three values and "other"
  const Series* other = r.find(Dimension::kModel, Rollups::kOther);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->ringFor(Window::k5m).sum(now, 300).requests, 97u);
  EXPECT_EQ(r.folded(), 97u);
  EXPECT_EQ(r.total().ringFor(Window::k5m).sum(now, 300).requests, 100u) << "the total counts every record";
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

TEST(RecentRecords, BoundedByCountAndBytes) {
  RecentRecords ring(3, 100000);
  for (int i = 0; i < 5; ++i) {
    RecentEntry e;
    e.id = "r" + std::to_string(i);
    e.status = i % 2 ? "error" : "success";
    ring.push(std::move(e));
  }
  EXPECT_EQ(ring.size(), 3u);
  EXPECT_FALSE(ring.find("r1"));
  EXPECT_TRUE(ring.find("r4"));
  EXPECT_EQ(ring.lastSeq(), 5u);
  RecentFilter errors;
  errors.status = "error";
  auto list = ring.list(errors, 10, 0, 0);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]->id, "r3");
  EXPECT_EQ(ring.list({}, 10, 5, 0).size(), 2u);  // before seq 5
  EXPECT_EQ(ring.list({}, 10, 0, 4).size(), 1u);  // after seq 4
  EXPECT_EQ(ring.list({}, 1, 0, 0)[0]->id, "r4");

  RecentRecords small(1000, 20000);
  for (int i = 0; i < 50; ++i) {
    RecentEntry e;
    e.id = std::to_string(i);
    e.record_json = std::string(1000, 'x');
    small.push(std::move(e));
  }
  EXPECT_LE(small.bytes(), 20000u);
  EXPECT_LT(small.size(), 50u);
  RecentEntry big;
  big.id = "big";
  big.record_json = std::string(100000, 'x');
  small.push(std::move(big));
  ASSERT_TRUE(small.find("big"));
  EXPECT_TRUE(small.find("big")->record_dropped);
  EXPECT_TRUE(small.find("big")->record_json.empty());
}

}  // namespace
}  // namespace gw::dashboard
