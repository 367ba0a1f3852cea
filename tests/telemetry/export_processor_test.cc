// The per-exporter pipeline with a fake exporter and a manual clock: no
// sleeps; time only moves when the test says so.
#include "telemetry/export_processor.h"
#include "telemetry/spooler.h"

#include "fake_exporter.h"

#include <gtest/gtest.h>

#include <malloc.h>
#if defined(__SANITIZE_ADDRESS__)
// ASan's allocator statistics (LLVM's sanitizer/allocator_interface.h,
// which GCC does not ship).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <future>
#include <map>

namespace gw {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::FakeExporter;
using testing::makeRecord;

fs::path tempDir(const std::string& tag) { return testing::tempDir("gw-pipeline", tag); }

std::unique_ptr<Spool> openSpool(const fs::path& dir, std::uint64_t max_bytes = 1 << 20,
                                 FsyncPolicy fsync = FsyncPolicy::kBatch) {
  SpoolOptions o;
  o.dir = dir;
  o.max_bytes = max_bytes;
  o.segment_bytes = 4096;
  o.fsync = fsync;
  auto s = Spool::open(o);
  EXPECT_TRUE(s);
  return std::move(*s);
}

struct Harness {
  explicit Harness(ExportOptions o, bool with_spool = true, const std::string& tag = "h")
      : options(o), queue(o.queue_capacity), stats(metrics, "fake") {
    if (with_spool) {
      dir = tempDir(tag);
      spool = openSpool(dir);
    }
    processor =
        std::make_unique<ExportProcessor>(exporter, options, clock, queue, spool.get(), stats, [] { return 1.0; });
  }
  ~Harness() {
    processor.reset();
    spool.reset();
    if (!dir.empty()) fs::remove_all(dir);
  }
  void push(int from, int to) {
    for (int i = from; i < to; ++i) ASSERT_TRUE(queue.push(makeRecord("r" + std::to_string(i))));
  }
  std::vector<std::size_t> batchSizes() const {
    std::vector<std::size_t> out;
    for (const auto& b : exporter.batchesSnapshot()) out.push_back(b.size());
    return out;
  }

  ExportOptions options;
  ManualClock clock;
  MetricsRegistry metrics;
  FakeExporter exporter;
  RecordQueue queue;
  fs::path dir;
  std::unique_ptr<Spool> spool;
  ExporterStats stats;
  std::unique_ptr<ExportProcessor> processor;
};

ExportOptions opts(std::size_t batch = 3) {
  ExportOptions o;
  o.batch_size = batch;
  o.flush_interval = 1000ms;
  o.queue_capacity = 100;
  o.retry.initial_backoff = 100ms;
  o.retry.max_backoff = 1000ms;
  o.retry.max_retries = 5;
  o.breaker_failures = 100;
  o.breaker_open = 5000ms;
  return o;
}

std::vector<std::string> ids(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back("r" + std::to_string(i));
  return out;
}

TEST(ExportProcessor, BatchesBySize) {
  Harness h(opts(3));
  h.push(0, 7);
  auto next = h.processor->step();
  EXPECT_EQ(h.batchSizes(), (std::vector<std::size_t>{3, 3}));
  EXPECT_EQ(h.queue.size(), 1u);
  EXPECT_EQ(next, h.clock.now() + 1000ms);  // the leftover waits for the interval
  EXPECT_EQ(h.stats.exportedTotal(), 6u);
  EXPECT_EQ(h.exporter.init_calls, 1);
}

TEST(ExportProcessor, BatchesByInterval) {
  Harness h(opts(10));
  h.push(0, 2);
  auto t0 = h.clock.now();
  EXPECT_EQ(h.processor->step(), t0 + 1000ms);
  h.clock.advance(999ms);
  h.processor->step();
  EXPECT_TRUE(h.exporter.batchesSnapshot().empty());
  h.clock.advance(1ms);
  EXPECT_EQ(h.processor->step(), Clock::time_point::max());  // idle
  EXPECT_EQ(h.exporter.batchesSnapshot(), (std::vector<std::vector<std::string>>{ids(0, 2)}));
}

TEST(ExportProcessor, RetryScheduleIsExponential) {
  Harness h(opts(2));
  int calls = 0;
  std::vector<Clock::time_point> attempts;
  h.exporter.behaviour = [&](std::span<const RecordPtr>) {
    attempts.push_back(h.clock.now());
    return ++calls <= 3 ? ExportResult::retryable("503") : ExportResult::success();
  };
  h.push(0, 2);
  const auto t0 = h.clock.now();
  EXPECT_EQ(h.processor->step(), t0 + 100ms);
  h.clock.advance(99ms);
  h.processor->step();
  EXPECT_EQ(calls, 1);  // not before its time
  h.clock.advance(1ms);
  EXPECT_EQ(h.processor->step(), t0 + 300ms);
  h.clock.advance(200ms);
  EXPECT_EQ(h.processor->step(), t0 + 700ms);
  h.clock.advance(400ms);
  h.processor->step();
  EXPECT_EQ(attempts, (std::vector<Clock::time_point>{t0, t0 + 100ms, t0 + 300ms, t0 + 700ms}));
  EXPECT_EQ(h.stats.exportedTotal(), 2u);
  EXPECT_EQ(h.stats.retriedTotal(), 6u);  // 2 records x 3 retries
  EXPECT_EQ(h.stats.droppedTotal(), 0u);
  EXPECT_EQ(h.stats.healthNow(), ExporterStats::Health::kHealthy);
}

TEST(ExportProcessor, RetryAfterIsHonoured) {
  Harness h(opts(1));
  int calls = 0;
  h.exporter.behaviour = [&](std::span<const RecordPtr>) {
    return ++calls == 1 ? ExportResult::retryable("429", 7s) : ExportResult::success();
  };
  h.push(0, 1);
  const auto t0 = h.clock.now();
  EXPECT_EQ(h.processor->step(), t0 + 7s);
  EXPECT_EQ(h.stats.healthNow(), ExporterStats::Health::kDegraded);
  h.clock.advance(7s);
  h.processor->step();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(h.stats.exportedTotal(), 1u);
}

TEST(ExportProcessor, PermanentFailureIsDroppedAndCountedNotRetried) {
  Harness h(opts(3));
  h.exporter.behaviour = [](std::span<const RecordPtr>) { return ExportResult::permanent("400 mapping error"); };
  h.push(0, 3);
  EXPECT_EQ(h.processor->step(), Clock::time_point::max());
  EXPECT_EQ(h.exporter.batchesSnapshot().size(), 1u);
  EXPECT_EQ(h.stats.droppedTotal(), 3u);
  EXPECT_EQ(h.stats.retriedTotal(), 0u);
  EXPECT_EQ(h.spool->records(), 0u);
  EXPECT_EQ(h.processor->breakerState(), CircuitBreaker::State::kClosed);
}

TEST(ExportProcessor, PartialFailureRetriesOnlyTheRetryableRecords) {
  Harness h(opts(4));
  int calls = 0;
  h.exporter.behaviour = [&](std::span<const RecordPtr>) {
    if (++calls > 1) return ExportResult::success();
    ExportResult r = ExportResult::retryable("bulk: 1 rejected, 1 throttled");
    r.rejected_indexes = {1};
    r.retry_indexes = {2};
    return r;
  };
  h.push(0, 4);
  h.processor->step();
  h.clock.advance(100ms);
  h.processor->step();
  auto batches = h.exporter.batchesSnapshot();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[1], std::vector<std::string>{"r2"});
  EXPECT_EQ(h.stats.exportedTotal(), 3u);
  EXPECT_EQ(h.stats.droppedTotal(), 1u);
  EXPECT_EQ(h.stats.retriedTotal(), 1u);
}

TEST(ExportProcessor, RetriesExhaustedGoToTheSpool) {
  auto o = opts(2);
  o.retry.max_retries = 2;
  Harness h(o);
  h.exporter.behaviour = [](std::span<const RecordPtr>) { return ExportResult::retryable("down"); };
  h.push(0, 2);
  h.processor->step();
  h.clock.advance(100ms);
  h.processor->step();
  h.clock.advance(200ms);
  h.processor->step();  // third failure: given up
  EXPECT_EQ(h.exporter.batchesSnapshot().size(), 3u);
  EXPECT_EQ(h.spool->records(), 2u);
  EXPECT_EQ(h.stats.spooledTotal(), 2u);
  EXPECT_EQ(h.stats.droppedTotal(), 0u);
  EXPECT_EQ(h.processor->breakerState(), CircuitBreaker::State::kOpen);
  EXPECT_EQ(h.stats.healthNow(), ExporterStats::Health::kDown);
}

TEST(ExportProcessor, CircuitBreakerOpensSpoolsAndProbesHalfOpen) {
  auto o = opts(2);
  o.breaker_failures = 2;
  o.retry.max_retries = 10;
  Harness h(o);
  bool backend_up = false;
  h.exporter.behaviour = [&](std::span<const RecordPtr>) {
    return backend_up ? ExportResult::success() : ExportResult::retryable("connection refused");
  };
  h.push(0, 2);
  h.processor->step();  // failure 1
  h.clock.advance(100ms);
  auto wake = h.processor->step();  // failure 2: open, batch spooled
  EXPECT_EQ(h.processor->breakerState(), CircuitBreaker::State::kOpen);
  // It wakes for the spool's fsync tick ("batch" policy) before the reopen.
  EXPECT_LE(wake, h.clock.now() + 5000ms);
  EXPECT_EQ(h.spool->records(), 2u);
  // While open: nothing is attempted, new records go straight to the spool.
  h.push(2, 7);
  h.clock.advance(4999ms);
  h.processor->step();
  EXPECT_EQ(h.exporter.batchesSnapshot().size(), 2u);
  EXPECT_EQ(h.queue.size(), 0u);
  EXPECT_EQ(h.spool->records(), 7u);
  EXPECT_EQ(h.stats.healthNow(), ExporterStats::Health::kDown);
  // Half-open: one probe; it fails: open again (for twice as long).
  h.clock.advance(1ms);
  h.processor->step();
  EXPECT_EQ(h.exporter.batchesSnapshot().size(), 3u);
  EXPECT_EQ(h.processor->breakerState(), CircuitBreaker::State::kOpen);
  EXPECT_EQ(h.spool->records(), 7u);
  // The backend recovers; the next probe succeeds and the spool is replayed.
  backend_up = true;
  h.clock.advance(10000ms);
  h.processor->step();
  EXPECT_EQ(h.processor->breakerState(), CircuitBreaker::State::kClosed);
  EXPECT_EQ(h.spool->records(), 0u);
  std::multiset<std::string> delivered;
  auto batches = h.exporter.batchesSnapshot();
  for (std::size_t i = 3; i < batches.size(); ++i) delivered.insert(batches[i].begin(), batches[i].end());
  auto want = ids(0, 7);
  EXPECT_EQ(delivered, std::multiset<std::string>(want.begin(), want.end()));
  EXPECT_EQ(h.stats.exportedTotal(), 7u);
  EXPECT_EQ(h.stats.healthNow(), ExporterStats::Health::kHealthy);
}

TEST(ExportProcessor, InitFailureIsRetriedLater) {
  Harness h(opts(1));
  h.exporter.init_fails = true;
  h.push(0, 1);
  h.processor->step();
  EXPECT_TRUE(h.exporter.batchesSnapshot().empty());
  EXPECT_EQ(h.stats.retriedTotal(), 1u);
  h.exporter.init_fails = false;
  h.clock.advance(100ms);
  h.processor->step();
  EXPECT_EQ(h.exporter.init_calls, 2);
  EXPECT_EQ(h.stats.exportedTotal(), 1u);
}

TEST(ExportProcessor, AThrowingExporterIsRetriedNotFatal) {
  Harness h(opts(1));
  int calls = 0;
  h.exporter.behaviour = [&](std::span<const RecordPtr>) -> ExportResult {
    if (++calls == 1) throw std::runtime_error("boom");
    return ExportResult::success();
  };
  h.push(0, 1);
  h.processor->step();
  EXPECT_EQ(h.stats.retriedTotal(), 1u);
  h.clock.advance(100ms);
  h.processor->step();
  EXPECT_EQ(h.stats.exportedTotal(), 1u);
}

TEST(ExportProcessor, NoSpoolMeansCountedDrops) {
  auto o = opts(1);
  o.retry.max_retries = 0;
  Harness h(o, /*with_spool=*/false);
  h.exporter.behaviour = [](std::span<const RecordPtr>) { return ExportResult::retryable("down"); };
  h.push(0, 1);
  h.processor->step();
  EXPECT_EQ(h.stats.droppedTotal(), 1u);
  EXPECT_EQ(h.stats.spooledTotal(), 0u);
}

TEST(ExportProcessor, SpoolIsReplayedAfterRestart) {
  const auto dir = tempDir("restart");
  {
    ManualClock clock;
    MetricsRegistry metrics;
    FakeExporter dead;
    dead.behaviour = [](std::span<const RecordPtr>) { return ExportResult::retryable("down"); };
    auto o = opts(5);
    o.breaker_failures = 1;
    RecordQueue queue(100);
    auto spool = openSpool(dir);
    ExporterStats stats(metrics, "fake");
    ExportProcessor p(dead, o, clock, queue, spool.get(), stats);
    for (int i = 0; i < 23; ++i) queue.push(makeRecord("r" + std::to_string(i)));
    p.step();
    EXPECT_EQ(spool->records(), 23u);
  }
  ManualClock clock;
  MetricsRegistry metrics;
  FakeExporter alive;
  RecordQueue queue(100);
  auto spool = openSpool(dir);
  EXPECT_EQ(spool->records(), 23u);
  ExporterStats stats(metrics, "fake");
  ExportProcessor p(alive, opts(5), clock, queue, spool.get(), stats);
  p.step();
  auto got = alive.allIds();
  std::sort(got.begin(), got.end());
  auto want = ids(0, 23);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(spool->records(), 0u);
  fs::remove_all(dir);
}

TEST(ExportProcessor, SpoolBacklogDrainsUnderSustainedLoad) {
  auto o = opts(2);
  o.queue_capacity = 1000;
  Harness h(o);
  std::vector<RecordPtr> old;
  for (int i = 0; i < 4; ++i) old.push_back(makeRecord("old" + std::to_string(i)));
  ASSERT_EQ(h.spool->append(old), 4u);
  // More full batches than one step() handles: the queue stays due, yet the
  // spool's batches get their turn in between.
  h.push(0, 400);
  EXPECT_EQ(h.processor->step(), h.clock.now());  // more to do
  EXPECT_GT(h.queue.size(), 0u);
  EXPECT_EQ(h.spool->records(), 0u);
  auto batches = h.exporter.batchesSnapshot();
  ASSERT_GE(batches.size(), 4u);
  EXPECT_EQ(batches[0], ids(0, 2));
  EXPECT_EQ(batches[1], (std::vector<std::string>{"old0", "old1"}));
}

TEST(ExporterWorker, QueueOverflowIsSpooledThenDroppedAndCounted) {
  const auto dir = tempDir("overflow");
  MetricsRegistry metrics;
  auto exporter = std::make_unique<FakeExporter>();
  auto o = opts(100);
  o.queue_capacity = 5;
  const auto one = Spool::frame(makeRecord("r0")->serialized).size();
  // Room for 4 records in the spool.
  ExporterWorker worker(std::move(exporter), o, openSpool(dir, one * 4 + 1), metrics);
  for (int i = 0; i < 12; ++i) worker.offer(makeRecord("r" + std::to_string(i)));
  // The overflow waits for the spooler (never started here) until flushed.
  EXPECT_EQ(worker.stats().spooledTotal(), 0u);
  worker.spooler().flush();
  EXPECT_EQ(worker.stats().queueDepthNow(), 5u);
  EXPECT_EQ(worker.stats().spooledTotal(), 4u);
  EXPECT_EQ(worker.stats().droppedTotal(), 3u);
  EXPECT_EQ(worker.spoolRecords(), 4u);
  // The metric is what /metrics shows.
  bool seen = false;
  for (const auto& f : metrics.snapshot())
    if (f.name == "ai_gateway_exporter_records_total")
      for (const auto& s : f.series)
        if (s.labels == LabelValues{"fake", "dropped"}) seen = s.value == 3;
  EXPECT_TRUE(seen);
  worker.stop(Clock::steady().now());  // never started: drains inline
  fs::remove_all(dir);
}

TEST(ExporterWorker, ShutdownWithABatchInFlight) {
  const auto dir = tempDir("inflight");
  MetricsRegistry metrics;
  auto owned = std::make_unique<FakeExporter>();
  FakeExporter* exporter = owned.get();
  std::promise<void> entered, release;
  auto released = release.get_future().share();
  std::atomic<int> calls{0};
  exporter->behaviour = [&](std::span<const RecordPtr>) {
    if (calls.fetch_add(1) == 0) {
      entered.set_value();
      released.wait();
      return ExportResult::retryable("timed out");  // the in-flight batch fails
    }
    return ExportResult::success();
  };
  // A retry far beyond the stop deadline: whether release or stop() comes
  // first (they race, and under sanitizers either order happens), the failed
  // batch is never due again before shutdown. With the default 100 ms full
  // jitter a retry could fall due at once and be delivered instead.
  auto o = opts(3);
  o.retry.initial_backoff = 60s;
  o.retry.max_backoff = 60s;
  ExporterWorker worker(std::move(owned), o, openSpool(dir), metrics);
  worker.start();
  for (int i = 0; i < 3; ++i) worker.offer(makeRecord("r" + std::to_string(i)));
  entered.get_future().wait();  // the worker is inside exportBatch
  for (int i = 3; i < 5; ++i) worker.offer(makeRecord("r" + std::to_string(i)));
  auto stopping = std::async(std::launch::async, [&] { worker.stop(Clock::steady().now() + 10s); });
  release.set_value();
  stopping.get();
  // The failed in-flight batch is on disk (its retry was not due before
  // shutdown); the queued records were delivered by the final drain.
  EXPECT_EQ(worker.stats().spooledTotal(), 3u);
  EXPECT_EQ(worker.spoolRecords(), 3u);
  EXPECT_EQ(worker.stats().exportedTotal(), 2u);
  auto batches = exporter->batchesSnapshot();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[1], ids(3, 5));
  EXPECT_EQ(exporter->flush_calls.load(), 1);
  EXPECT_EQ(exporter->shutdown_calls.load(), 1);
  worker.stop(Clock::steady().now());  // idempotent
  EXPECT_EQ(exporter->shutdown_calls.load(), 1);
  fs::remove_all(dir);
}

// kill -9 during an export: a child process spools records (the backend is
// down), then is SIGKILLed in the middle of a replay attempt. The parent
// restarts the pipeline on the same spool directory and must deliver every
// record exactly once.
TEST(ExportProcessor, KillDashNineDuringExportLosesNothing) {
  const auto dir = tempDir("kill9");
  constexpr int kRecords = 250;
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ManualClock clock;
    MetricsRegistry metrics;
    FakeExporter exporter;
    int calls = 0;
    exporter.behaviour = [&](std::span<const RecordPtr>) {
      if (++calls == 1) return ExportResult::retryable("down");
      ::kill(::getpid(), SIGKILL);  // dies inside the second export attempt
      return ExportResult::success();
    };
    auto o = opts(10);
    o.breaker_failures = 1;
    o.queue_capacity = 1000;
    RecordQueue queue(o.queue_capacity);
    SpoolOptions so;
    so.dir = dir;
    so.segment_bytes = 4096;
    so.fsync = FsyncPolicy::kNever;  // a process crash needs no fsync
    auto spool = Spool::open(so);
    if (!spool) _exit(2);
    ExporterStats stats(metrics, "fake");
    ExportProcessor p(exporter, o, clock, queue, spool->get(), stats);
    for (int i = 0; i < kRecords; ++i) queue.push(makeRecord("r" + std::to_string(i)));
    p.step();  // first batch fails: breaker opens, everything is spooled
    if ((*spool)->records() != kRecords) _exit(3);
    clock.advance(o.breaker_open);
    p.step();  // the half-open probe replays from the spool... and is killed
    _exit(4);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  ManualClock clock;
  MetricsRegistry metrics;
  FakeExporter exporter;
  RecordQueue queue(10);
  auto spool = openSpool(dir);
  ExporterStats stats(metrics, "fake");
  ExportProcessor p(exporter, opts(10), clock, queue, spool.get(), stats);
  for (int i = 0; i < 100 && spool->records() > 0; ++i) p.step();
  std::map<std::string, int> seen;
  for (const auto& id : exporter.allIds()) ++seen[id];
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kRecords));
  for (const auto& [id, count] : seen) EXPECT_EQ(count, 1) << id;
  EXPECT_EQ(spool->records(), 0u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gw

namespace gw {
namespace {

// The queue is bounded in bytes as well as in records: a few large records
// must not hold gigabytes while a backend is slow.
TEST(RecordQueue, IsBoundedInBytes) {
  auto big = [](int i) {
    return recordFromJson(R"({"name":"ai_gateway_request_log","attributes":{"id":"b)" + std::to_string(i) +
                          R"(","request":")" + std::string(1000, 'x') + R"("}})");
  };
  const std::size_t one = recordFootprint(*big(0));
  RecordQueue queue(100, 3 * one + one / 2);
  EXPECT_TRUE(queue.push(big(1)));
  EXPECT_TRUE(queue.push(big(2)));
  EXPECT_TRUE(queue.push(big(3)));
  EXPECT_FALSE(queue.full());
  EXPECT_FALSE(queue.push(big(4))) << "a fourth record would pass the byte bound";
  EXPECT_EQ(queue.size(), 3u);
  EXPECT_EQ(queue.bytes(), 3 * one);
  std::vector<RecordPtr> out;
  EXPECT_EQ(queue.pop(2, out), 2u);
  EXPECT_EQ(queue.bytes(), one);
  EXPECT_TRUE(queue.push(big(4)));
  // An empty queue always takes one record, however large.
  RecordQueue tiny(100, 1);
  EXPECT_TRUE(tiny.push(big(5)));
  EXPECT_TRUE(tiny.full());
  EXPECT_FALSE(tiny.push(big(6)));
}

// Bytes the program asked the heap for and holds, by the allocator's own
// count: glibc's, or ASan's allocator that replaces it in that build.
std::size_t heapBytesInUse() {
#if defined(__SANITIZE_ADDRESS__)
  return __sanitizer_get_current_allocated_bytes();
#else
  // In use: from the heap's arenas, and in blocks of their own (mmap).
  const auto info = mallinfo2();
  return info.uordblks + info.hblkhd;
#endif
}

// A queue's byte bound is only a memory bound if a record's footprint is
// what the record really holds on the heap: measured with the allocator's
// own count of allocated bytes, for a small record with many fields and
// for a large one. Not in the ThreadSanitizer build: its allocator counts
// each block as its own size classes round it, which is what that
// allocator costs, not what the gateway's allocators (glibc, tcmalloc) do.
TEST(RecordQueue, FootprintIsTheMemoryARecordHolds) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer's allocator rounds blocks to its own size classes";
#endif
  const auto text = [](std::size_t body) {
    return R"({"timestamp":"2026-12-07T06:00:00.000Z","name":"ai_gateway_request_log","resource":{"service.name":)"
           R"("magicapi-gateway-service","service.version":"0.1.0"},"attributes":{"id":"0b6f2a52-4a1e-4c2f-9d0e-)"
           R"(5b1c8d7e6f50","provider":"openai","model":"gpt-4o-mini-2024-07-18","project_name":"a project with )"
           R"(a long name","request":")" +
           std::string(body, 'x') +
           R"(","response":{"id":"chatcmpl-0123456789abcdefghijklmnop","model":"gpt-4o-mini-2024-07-18",)"
           R"("choices":[{"finish_reason":"stop"}]},"metadata":{"status":"success","path":"/v1/chat/completions",)"
           R"("method":"POST","provider_request_id":"req_0123456789abcdef0123456789"}}})";
  };
  for (const std::size_t body : {std::size_t{500}, std::size_t{1500}, std::size_t{9000}, std::size_t{100000}}) {
    const std::string serialized = text(body);
    constexpr int kRecords = 200;
    std::vector<RecordPtr> records;
    records.reserve(kRecords);
    const std::size_t before = heapBytesInUse();
    for (int i = 0; i < kRecords; ++i) records.push_back(recordFromJson(serialized));
    const std::size_t held = (heapBytesInUse() - before) / kRecords;
    ASSERT_NE(records.back(), nullptr);
    const std::size_t footprint = recordFootprint(*records.back());
    EXPECT_GE(footprint, held) << "body " << body << ": the estimate must not be below what a record holds";
    EXPECT_LE(footprint, held + held / 4 + 256) << "body " << body << ": nor far above it";
  }
}

}  // namespace
}  // namespace gw
