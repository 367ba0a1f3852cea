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
// A record is written to one bucket per series, its 10-second one. The
// coarser rings (1 minute, 1 hour) receive a 10-second bucket whole when the
// next one opens, and their reads add the bucket still open; a record for a
// bucket before the open one (records reach the telemetry thread in nearly,
// not strictly, time order) is written to the coarser rings directly. Reads
// answer what writing every record to every ring would.
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

// What a sample adds to a bucket, worked out once per record rather than
// once per bucket written: tokens clamped at 0, histogram buckets found.
struct Increment {
  Increment(const Sample& s);  // implicit: where an Increment is taken, a Sample will do
  bool error;
  std::uint64_t input_tokens, output_tokens, cached_input_tokens, cache_creation_tokens, reasoning_tokens;
  double cost_usd;
  int latency_bucket, ttfb_bucket;  // -1: no latency / no TTFB
};

// The sums of a set of buckets.
struct Totals {
  std::uint64_t requests = 0, errors = 0;
  std::uint64_t input_tokens = 0, output_tokens = 0, cached_input_tokens = 0, cache_creation_tokens = 0,
                reasoning_tokens = 0;
  double cost_usd = 0;
  LogHistogram latency, ttfb;

  void add(const Increment& inc);
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
  // The bucket of `unix_s`, made the current one of its slot (cleared if
  // the slot held an older bucket); null when that bucket is older than the
  // ring holds relative to the newest bucket written.
  Totals* bucket(std::int64_t unix_s);
  // The bucket numbered `n` (unix_s / width) if the ring holds it, else null.
  const Totals* find(std::int64_t n) const;
  void add(std::int64_t unix_s, const Increment& inc) {
    if (Totals* t = bucket(unix_s)) t->add(inc);
  }
  // The number of the newest bucket written; -1 before any.
  std::int64_t newest() const { return newest_; }

  // A bucket of a finer ring not (yet) added to this one, which reads count
  // as if it were: `unix_s` is a time inside it.
  struct Pending {
    std::int64_t unix_s;
    const Totals* totals;
  };
  // Buckets whose start lies in (now - seconds, now], summed.
  Totals sum(std::int64_t now_s, std::int64_t seconds, std::optional<Pending> pending = std::nullopt) const;
  // The same range as points of `step_s` (a multiple of the width), oldest
  // first; each point starts at a multiple of step_s.
  struct Point {
    std::int64_t start_s;
    Totals totals;
  };
  std::vector<Point> points(std::int64_t now_s, std::int64_t seconds, std::int64_t step_s,
                            std::optional<Pending> pending = std::nullopt) const;

 private:
  struct Cell {
    std::int64_t stamp = -1;  // absolute bucket number (unix_s / width); -1: never written
    Totals totals;
  };
  std::size_t slotOf(std::int64_t n) const;
  std::int64_t width_s_;
  std::int64_t newest_ = -1;
  std::vector<Cell> cells_;
};

// A value's (or the total's) rings: 10-second buckets written per record,
// 1-minute and (values only) 1-hour buckets fed from them.
class Series {
 public:
  static std::unique_ptr<Series> total();
  static std::unique_ptr<Series> value();

  // One record, at `unix_s`.
  void add(std::int64_t unix_s, const Increment& inc);
  // Window `w` ending at `now_s`, summed, and as points of stepFor(w).
  Totals sum(Window w, std::int64_t now_s) const;
  std::vector<BucketRing::Point> points(Window w, std::int64_t now_s) const;
  std::int64_t stepFor(Window w) const;  // 10 s, 60 s, 300 s (total) or 3600 s (values)
  // The latest record's time (unix seconds); 0 before any.
  std::int64_t lastUnixS() const { return last_unix_s_; }

 private:
  Series(BucketRing s10, BucketRing m1, std::optional<BucketRing> h1);
  const BucketRing& ringFor(Window w) const;
  // The open 10-second bucket, which the coarser rings do not hold yet.
  std::optional<BucketRing::Pending> open() const;

  BucketRing s10_, m1_;
  std::optional<BucketRing> h1_;  // values only: the 24-hour window
  std::int64_t last_unix_s_ = 0;
};

class Rollups {
 public:
  explicit Rollups(std::size_t max_values);

  // The record's values, one per Dimension ("" when it has none). From the
  // telemetry thread: a hash lookup per dimension (none for the value it
  // found last), then one bucket written per series.
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
  // Per dimension, the value found last (a view of its key in the map) and
  // its series: consecutive records mostly share a provider, a model, ...
  // Cleared when values are dropped.
  struct LastFound {
    std::string_view value;
    Series* series = nullptr;
  };

  std::size_t max_values_;
  std::unique_ptr<Series> total_;
  std::array<ValueMap, kDimensionCount> values_;
  std::array<LastFound, kDimensionCount> last_found_{};
  std::array<std::unique_ptr<Series>, kDimensionCount> other_;
  std::uint64_t folded_ = 0;
  std::size_t key_bytes_ = 0;
};

}  // namespace gw::dashboard
