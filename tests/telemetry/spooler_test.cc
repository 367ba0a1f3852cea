// Spooling off the telemetry thread (telemetry/spooler.h) and the
// process-wide memory bound of the exporter queues (QueueBudget).
#include "telemetry/spooler.h"

#include "fake_exporter.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <future>
#include <thread>

namespace gw {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::FakeExporter;
using testing::makeRecord;

fs::path tempDir(const std::string& tag) { return testing::tempDir("gw-spooler", tag); }

std::unique_ptr<Spool> openSpool(const fs::path& dir, FsyncPolicy fsync = FsyncPolicy::kBatch,
                                 std::uint64_t max_bytes = 64 << 20) {
  SpoolOptions o;
  o.dir = dir;
  o.max_bytes = max_bytes;
  o.segment_bytes = 8 << 20;
  o.fsync = fsync;
  auto s = Spool::open(o);
  EXPECT_TRUE(s);
  return std::move(*s);
}

ExportOptions opts(std::size_t batch, std::size_t capacity) {
  ExportOptions o;
  o.batch_size = batch;
  o.flush_interval = 20ms;
  o.queue_capacity = capacity;
  o.retry.initial_backoff = 60s;
  o.retry.max_backoff = 60s;
  o.breaker_failures = 100;
  return o;
}

std::vector<std::string> idsOf(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back("r" + std::to_string(i));
  return out;
}

std::vector<std::string> replayAll(Spool& spool) {
  std::vector<std::string> ids;
  for (auto b = spool.peek(64); !b.empty(); b = spool.peek(64)) {
    for (const auto& r : b) ids.push_back(r->id);
    spool.consume(b.size());
  }
  return ids;
}

// Records of one size (ids of four digits).
RecordPtr bigRecord(int i, std::size_t body = 1000) {
  char id[16];
  std::snprintf(id, sizeof id, "b%04d", i);
  return recordFromJson(R"({"name":"ai_gateway_request_log","attributes":{"id":")" + std::string(id) +
                        R"(","request":")" + std::string(body, 'x') + R"("}})");
}

// offer() only moves pointers: the overflow waits in the lane until the
// spooler writes it, all of it with one writev, in the order offered.
TEST(Spooler, TheTelemetryThreadOnlyMovesPointersTheSpoolerWritesInBatches) {
  const auto dir = tempDir("lane");
  MetricsRegistry metrics;
  auto spool = openSpool(dir);
  Spool* disk = spool.get();
  QueueBudget budget(64 << 20);
  Spooler spooler;  // not started: nothing writes until it is
  ExporterWorker worker(std::make_unique<FakeExporter>(), opts(100, 10), std::move(spool), metrics, Clock::steady(),
                        &budget, &spooler);
  for (int i = 0; i < 210; ++i) worker.offer(makeRecord("r" + std::to_string(i)));
  EXPECT_EQ(worker.stats().queueDepthNow(), 10u);
  EXPECT_EQ(disk->records(), 0u) << "offer() wrote to the spool";
  EXPECT_EQ(disk->writeCalls(), 0u);
  spooler.start();
  spooler.flush();
  EXPECT_EQ(worker.stats().spooledTotal(), 200u);
  EXPECT_EQ(disk->writeCalls(), 1u) << "200 records, one writev";
  EXPECT_EQ(replayAll(*disk), idsOf(10, 210));
  spooler.stop();
  worker.stop(Clock::steady().now() + 5s);
  fs::remove_all(dir);
}

// A worker inside a slow export does not hold the overflow back: the
// spooler writes it meanwhile.
TEST(Spooler, OverflowReachesTheDiskWhileAnExportIsStuck) {
  const auto dir = tempDir("stuck");
  MetricsRegistry metrics;
  auto owned = std::make_unique<FakeExporter>();
  FakeExporter* exporter = owned.get();
  std::promise<void> entered, release;
  auto released = release.get_future().share();
  std::atomic<bool> first{true};
  exporter->behaviour = [&](std::span<const RecordPtr>) {
    if (first.exchange(false)) {
      entered.set_value();
      released.wait();
    }
    return ExportResult::success();
  };
  auto spool = openSpool(dir);
  Spool* disk = spool.get();
  QueueBudget budget(64 << 20);
  Spooler spooler;
  ExporterWorker worker(std::move(owned), opts(5, 5), std::move(spool), metrics, Clock::steady(), &budget, &spooler);
  spooler.start();
  worker.start();
  for (int i = 0; i < 5; ++i) worker.offer(makeRecord("r" + std::to_string(i)));
  entered.get_future().wait();  // the worker is inside exportBatch, the queue is empty
  for (int i = 5; i < 300; ++i) worker.offer(makeRecord("r" + std::to_string(i)));
  spooler.flush();
  EXPECT_EQ(disk->records(), 290u);  // 5 in the queue, 290 on disk
  EXPECT_EQ(worker.stats().spooledTotal(), 290u);
  release.set_value();
  spooler.stop();
  worker.stop(Clock::steady().now() + 10s);
  EXPECT_EQ(worker.stats().droppedTotal(), 0u);
  EXPECT_EQ(worker.stats().exportedTotal() + disk->records(), 300u);
  fs::remove_all(dir);
}

// Shutdown: what the lane holds is written by stop(), what the queue holds
// is delivered or spooled by the worker's drain; nothing is lost.
TEST(Spooler, ShutdownSpoolsEverything) {
  const auto dir = tempDir("shutdown");
  MetricsRegistry metrics;
  auto owned = std::make_unique<FakeExporter>();
  owned->behaviour = [](std::span<const RecordPtr>) { return ExportResult::retryable("down"); };
  auto spool = openSpool(dir);
  Spool* disk = spool.get();
  QueueBudget budget(64 << 20);
  Spooler spooler;  // never started: stop() writes the lanes
  ExporterWorker worker(std::move(owned), opts(10, 20), std::move(spool), metrics, Clock::steady(), &budget, &spooler);
  for (int i = 0; i < 100; ++i) worker.offer(makeRecord("r" + std::to_string(i)));
  spooler.stop();
  EXPECT_EQ(disk->records(), 80u);
  // After stop(), an overflow is written at once on the offering thread.
  for (int i = 100; i < 130; ++i) worker.offer(makeRecord("r" + std::to_string(i)));
  EXPECT_EQ(disk->records(), 110u);
  worker.stop(Clock::steady().now() + 1s);
  EXPECT_EQ(worker.stats().droppedTotal(), 0u);
  EXPECT_EQ(disk->records(), 130u);
  EXPECT_EQ(budget.used(), 0u);
  auto ids = replayAll(*disk);
  std::sort(ids.begin(), ids.end());
  auto want = idsOf(0, 130);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ids, want);
  fs::remove_all(dir);
}

// Under the "batch" policy the worker syncs what the spooler wrote within
// a flush interval; under "always" the spooler's append already did.
TEST(Spooler, FsyncPoliciesHoldForSpooledOverflow) {
  for (auto policy : {FsyncPolicy::kAlways, FsyncPolicy::kBatch}) {
    const auto dir = tempDir(policy == FsyncPolicy::kAlways ? "always" : "batch");
    MetricsRegistry metrics;
    auto owned = std::make_unique<FakeExporter>();
    std::promise<void> release;
    auto released = release.get_future().share();
    owned->behaviour = [&](std::span<const RecordPtr>) {
      released.wait();
      return ExportResult::success();
    };
    auto spool = openSpool(dir, policy);
    Spool* disk = spool.get();
    QueueBudget budget(64 << 20);
    Spooler spooler;
    ExporterWorker worker(std::move(owned), opts(1, 1), std::move(spool), metrics, Clock::steady(), &budget, &spooler);
    spooler.start();
    worker.start();
    for (int i = 0; i < 50; ++i) worker.offer(makeRecord("r" + std::to_string(i)));
    spooler.flush();
    EXPECT_GT(disk->records(), 0u);
    if (policy == FsyncPolicy::kAlways) {
      EXPECT_FALSE(disk->dirty());
    } else {
      // The worker is stuck in an export: the sync waits for it, but comes
      // within an interval of the export's end.
      release.set_value();
      const auto until = std::chrono::steady_clock::now() + 5s;
      while (disk->dirty() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
      EXPECT_FALSE(disk->dirty());
    }
    if (policy == FsyncPolicy::kAlways) release.set_value();
    spooler.stop();
    worker.stop(Clock::steady().now() + 5s);
    fs::remove_all(dir);
  }
}

// A record shared by several queues is charged once, and released when the
// last queue lets it go.
TEST(QueueBudget, ASharedRecordIsCountedOnce) {
  QueueBudget budget(1 << 20);
  RecordQueue a(100, budget), b(100, budget), c(100, budget);
  RecordOffer offer(bigRecord(1));
  ASSERT_TRUE(a.push(offer));
  ASSERT_TRUE(b.push(offer));
  ASSERT_TRUE(c.push(offer));
  EXPECT_EQ(budget.used(), offer.footprint);
  EXPECT_EQ(a.bytes(), offer.footprint) << "each queue's own gauge counts it";
  offer.charge.reset();  // the fan-out is over
  std::vector<RecordPtr> out;
  a.pop(1, out);
  b.pop(1, out);
  EXPECT_EQ(budget.used(), offer.footprint);
  c.pop(1, out);
  EXPECT_EQ(budget.used(), 0u);
}

// One bound for every queue of the process: what one queue holds leaves
// less room for the others; an empty queue still takes one record.
TEST(QueueBudget, BoundsAllQueuesTogether) {
  const std::size_t one = recordFootprint(*bigRecord(0));
  QueueBudget budget(3 * one + one / 2);
  RecordQueue a(100, budget), b(100, budget);
  EXPECT_TRUE(a.push(bigRecord(1)));
  EXPECT_TRUE(a.push(bigRecord(2)));
  EXPECT_TRUE(b.push(bigRecord(3)));
  EXPECT_FALSE(b.push(bigRecord(4))) << "a fourth record would pass the process-wide bound";
  EXPECT_FALSE(a.push(bigRecord(5)));
  EXPECT_EQ(budget.used(), 3 * one);
  std::vector<RecordPtr> out;
  a.pop(2, out);
  EXPECT_FALSE(b.full());
  EXPECT_TRUE(b.push(bigRecord(6)));
  // An empty queue takes one record even when the budget is spent.
  RecordQueue c(100, budget);
  EXPECT_TRUE(b.push(bigRecord(7)));
  EXPECT_FALSE(b.push(bigRecord(8)));
  EXPECT_TRUE(c.push(bigRecord(9)));
  EXPECT_FALSE(c.push(bigRecord(10)));
  // Past the bound: every queue is full, and spools what arrives.
  EXPECT_TRUE(a.full());
  EXPECT_TRUE(b.full());
}

// A stalled exporter whose queue holds the whole budget does not send a
// healthy exporter's records to the disk: each queue has a reserve (a
// sixteenth of the bound) of its own.
TEST(QueueBudget, AStalledQueueDoesNotStarveTheOthers) {
  const std::size_t one = recordFootprint(*bigRecord(0));
  QueueBudget budget(32 * one);
  ASSERT_EQ(budget.queueReserveBytes(), 2 * one);
  RecordQueue stalled(1000, budget), healthy(1000, budget);
  int n = 0;
  while (stalled.push(bigRecord(n))) ++n;
  EXPECT_EQ(n, 32);
  EXPECT_TRUE(healthy.push(bigRecord(100)));
  EXPECT_TRUE(healthy.push(bigRecord(101)));
  EXPECT_FALSE(healthy.push(bigRecord(102))) << "past its reserve, the bound holds";
  std::vector<RecordPtr> out;
  healthy.pop(1, out);
  EXPECT_TRUE(healthy.push(bigRecord(103)));
  EXPECT_EQ(budget.used(), 34 * one);
}

// Past the queues' bound, records wait for the spooler within a quarter
// more; past that the telemetry thread writes them itself, after what the
// lane holds, rather than hold or drop them.
TEST(QueueBudget, PastTheSpillRoomTheTelemetryThreadWritesThrough) {
  const auto dir = tempDir("spill");
  MetricsRegistry metrics;
  const std::size_t one = recordFootprint(*bigRecord(0));
  QueueBudget budget(8 * one);  // spill room: up to 10 records
  Spooler spooler;              // not started: the lane only fills
  ExporterWorker worker(std::make_unique<FakeExporter>(), opts(100, 1000), openSpool(dir), metrics, Clock::steady(),
                        &budget, &spooler);
  for (int i = 0; i < 20; ++i) {
    worker.offer(bigRecord(i));
    EXPECT_LE(budget.used(), budget.spillMaxBytes());
  }
  EXPECT_EQ(worker.stats().queueDepthNow(), 8u);
  EXPECT_EQ(worker.stats().droppedTotal(), 0u);
  // The lane's first two were written with the third, then each one as it came.
  EXPECT_EQ(worker.stats().spooledTotal(), 12u);
  EXPECT_EQ(budget.used(), 8 * one) << "written records give their memory back";
  spooler.flush();
  EXPECT_EQ(worker.stats().spooledTotal(), 12u);
  spooler.stop();
  worker.stop(Clock::steady().now() + 5s);
  // In arrival order: the spool holds records 8..19.
  std::vector<std::string> expected;
  for (int i = 8; i < 20; ++i) expected.push_back(bigRecord(i)->id);
  EXPECT_EQ(replayAll(*openSpool(dir)), expected);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gw

namespace gw {
namespace {

// A record charged by a spill lane (past the queues' bound) is not taken
// for free by the next exporter's queue: the lane lets it go once written,
// a queue would keep it.
TEST(QueueBudget, ARecordWaitingForTheSpoolDoesNotEnterAnotherQueuePastTheBound) {
  const auto dir = tempDir("two");
  MetricsRegistry metrics;
  const std::size_t one = recordFootprint(*bigRecord(0));
  QueueBudget budget(4 * one);
  Spooler spooler;
  ExporterWorker a(std::make_unique<FakeExporter>("a"), opts(100, 1000), openSpool(dir / "a"), metrics, Clock::steady(),
                   &budget, &spooler);
  ExporterWorker b(std::make_unique<FakeExporter>("b"), opts(100, 1000), openSpool(dir / "b"), metrics, Clock::steady(),
                   &budget, &spooler);
  spooler.start();
  for (int i = 0; i < 40; ++i) {
    {
      RecordOffer offer(bigRecord(i));  // the fan-out's share of the charge ends with it
      a.offer(offer);
      b.offer(offer);
    }
    spooler.flush();
    EXPECT_LE(budget.used(), budget.maxBytes()) << "after record " << i;
  }
  EXPECT_EQ(a.stats().queueDepthNow(), 4u);
  EXPECT_EQ(b.stats().queueDepthNow(), 4u) << "both queues hold the same records, counted once";
  EXPECT_EQ(a.stats().spooledTotal(), 36u);
  EXPECT_EQ(b.stats().spooledTotal(), 36u);
  EXPECT_EQ(a.stats().droppedTotal() + b.stats().droppedTotal(), 0u);
  spooler.stop();
  a.stop(Clock::steady().now() + 5s);
  b.stop(Clock::steady().now() + 5s);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gw
