// The dashboard's in-memory rollups: requests, errors, tokens, cost and
// latency/TTFB histograms in time buckets, for the total and for each value
// of five dimensions (provider, model, project, user, virtual key).
//
// Layout (docs/dashboard.md):
//   total        10-second buckets for 5 minutes, 1-minute buckets for 24 hours
//   each value   10-second buckets for 5 minutes, 1-minute buckets for 1 hour,
//                1-hour buckets for 24 hours
// A bucket is a slot of a fixed ring, stamped with its absolute number
// (unix seconds / width): a write to a slot holding an older stamp clears it
// first, and a read takes only slots whose stamp lies in the window. Nothing
// sweeps, nothing allocates per record once a value is known.
//
// Bounds: at most `max_values` values per dimension; a further value is
// folded into the value "other" (values idle for 24 hours are dropped to
// make room first). Memory is then at most
// 5 * (max_values + 1) * valueSeriesBytes() + totalSeriesBytes().
//
// Not thread-safe: the Dashboard holds its lock around every call.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gw::dashboard {

// Latency histogram: fixed log buckets, two per power of two of
// milliseconds. Bucket 0 holds [0, 1] ms, bucket i (1..kBuckets-2) holds
// (2^((i-1)/2), 2^(i/2)] ms, the last one everything above 2^19 ms.
struct LogHistogram {
  static constexpr int kBuckets = 40;
  std::array<std::uint32_t, kBuckets> counts{};

  static int bucketOf(double ms);
  static double upperBoundMs(int bucket);  // +inf for the last bucket
  void add(double ms) { ++counts[static_cast<std::size_t>(bucketOf(ms))]; }
  void merge(const LogHistogram& other);
  std::uint64_t total() const;
  // The q-quantile (0 < q <= 1) in ms, interpolated geometrically inside
  // its bucket (linearly in bucket 0; the last bucket answers its lower
  // bound); nullopt when empty. Its error is at most one bucket's width
  // (a factor of 1.41).
  std::optional<double> quantile(double q) const;
};

// What one record adds.
struct Sample {
  std::int64_t unix_ms = 0;  // when the request finished
  bool error = false;
  std::int64_t input_tokens = 0, output_tokens = 0, cached_input_tokens = 0, cache_creation_tokens = 0,
               reasoning_tokens = 0;
  double cost_usd = 0;
  std::optional<double> latency_ms, ttfb_ms;
};

// The sums of a set of buckets.
struct Totals {
  std::uint64_t requests = 0, errors = 0;
  std::uint64_t input_tokens = 0, output_tokens = 0, cached_input_tokens = 0, cache_creation_tokens = 0,
                reasoning_tokens = 0;
  double cost_usd = 0;
  LogHistogram latency, ttfb;

  void add(const Sample& s);
  void merge(const Totals& other);
};

enum class Window { k5m, k1h, k24h };
std::optional<Window> parseWindow(std::string_view text);  // "5m", "1h", "24h"
std::int64_t windowSeconds(Window w);

enum class Dimension { kProvider, kModel, kProject, kUser, kKey };
inline constexpr std::size_t kDimensionCount = 5;
std::optional<Dimension> parseDimension(std::string_view text);  // "provider", ... "key"
std::string_view toString(Dimension d);

// Buckets of one width in a ring of `count` slots.
class BucketRing {
 public:
  BucketRing(std::int64_t width_s, std::size_t count);
  std::int64_t width() const { return width_s_; }
  std::size_t size() const { return cells_.size(); }
  // Adds to the bucket of `unix_s`; ignored when that bucket is older than
  // the ring holds relative to the newest bucket written.
  void add(std::int64_t unix_s, const Sample& s);
  // Buckets whose start lies in (now - seconds, now], summed.
  Totals sum(std::int64_t now_s, std::int64_t seconds) const;
  // The same range as points of `step_s` (a multiple of the width), oldest
  // first; each point starts at a multiple of step_s.
  struct Point {
    std::int64_t start_s;
    Totals totals;
  };
  std::vector<Point> points(std::int64_t now_s, std::int64_t seconds, std::int64_t step_s) const;

 private:
  struct Cell {
    std::int64_t stamp = -1;  // absolute bucket number (unix_s / width); -1: never written
    Totals totals;
  };
  std::int64_t width_s_;
  std::int64_t newest_ = -1;
  std::vector<Cell> cells_;
};

// A value's (or the total's) rings.
struct Series {
  BucketRing s10, m1;
  std::optional<BucketRing> h1;  // values only: the 24-hour window
  std::int64_t last_unix_s = 0;

  static std::unique_ptr<Series> total();
  static std::unique_ptr<Series> value();
  void add(const Sample& s);
  // The ring answering `w`, and the step of its points.
  const BucketRing& ringFor(Window w) const;
  std::int64_t stepFor(Window w) const;  // 10 s, 60 s, 300 s (total) or 3600 s (values)
};

class Rollups {
 public:
  explicit Rollups(std::size_t max_values);

  // The record's values, one per Dimension ("" when it has none). From the
  // telemetry thread: one hash lookup per dimension, then increments.
  void add(const std::array<std::string_view, kDimensionCount>& values, const Sample& sample);

  const Series& total() const { return *total_; }
  // The values of `d` with their series ("other" included once used).
  std::vector<std::pair<std::string_view, const Series*>> values(Dimension d) const;
  const Series* find(Dimension d, std::string_view value) const;
  // Updates folded into "other" since start.
  std::uint64_t folded() const { return folded_; }

  static constexpr std::string_view kOther = "other";
  // Bytes held by the rollups (series cells and map entries, estimated).
  std::size_t memoryBytes() const;
  static std::size_t valueSeriesBytes();
  static std::size_t totalSeriesBytes();

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using ValueMap = std::unordered_map<std::string, std::unique_ptr<Series>, Hash, std::equal_to<>>;
  Series& seriesOf(std::size_t dim, std::string_view value, std::int64_t unix_s);

  std::size_t max_values_;
  std::unique_ptr<Series> total_;
  std::array<ValueMap, kDimensionCount> values_;
  std::array<std::unique_ptr<Series>, kDimensionCount> other_;
  std::uint64_t folded_ = 0;
  std::size_t key_bytes_ = 0;
};

}  // namespace gw::dashboard
