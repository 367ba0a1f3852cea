#include "exporters/common/testing/test_records.h"
#include "gw/config_source.h"
#include "exporters/file/file_exporter.h"
#include "telemetry/export_processor.h"
#include "gw/exporter_registry.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <optional>

namespace gw::exporters::file {
namespace {
using namespace gw::exporters::testing;
namespace fs = std::filesystem;
using Kind = ExportResult::Kind;
using namespace std::chrono_literals;

// A record whose line (with its '\n') is exactly `line_bytes` long.
RecordPtr sizedRecord(const std::string& id, std::size_t line_bytes) {
  const std::string head = R"({"attributes":{"id":")" + id + R"("},"pad":")";
  const std::string tail = R"("})";
  std::string text = head + std::string(line_bytes - 1 - head.size() - tail.size(), 'x') + tail;
  return std::make_shared<TelemetryRecord>(id, std::move(text), RecordFields{});
}

std::vector<RecordPtr> sizedRecords(std::size_t count, std::size_t line_bytes, std::size_t first = 0) {
  std::vector<RecordPtr> out;
  for (std::size_t i = first; i < first + count; ++i) out.push_back(sizedRecord("r" + std::to_string(i), line_bytes));
  return out;
}

std::vector<std::string> idRange(std::size_t from, std::size_t to) {
  std::vector<std::string> out;
  for (std::size_t i = from; i < to; ++i) out.push_back("r" + std::to_string(i));
  return out;
}

// A file lives within RLIMIT_FSIZE while this is held (a disk that fills up
// part-way): a write past it fails with EFBIG instead of raising SIGXFSZ.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    previous_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    ok_ = ::setrlimit(RLIMIT_FSIZE, &limit) == 0;
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previous_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  void (*previous_handler_)(int) = SIG_DFL;
  bool ok_ = false;
};

class FileExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gw-file-exporter-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name = "records.jsonl") const { return (dir_ / name).string(); }
  static std::vector<std::string> lines(const std::string& file) {
    std::vector<std::string> out;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  // Every file of the rotation, oldest first: PATH.N .. PATH.1, PATH.
  std::vector<std::string> rotation() const {
    std::vector<std::string> out;
    for (int i = 1000; i >= 1; --i)
      if (fs::exists(path() + "." + std::to_string(i))) out.push_back(path() + "." + std::to_string(i));
    if (fs::exists(path())) out.push_back(path());
    return out;
  }
  static std::vector<std::string> ids(const std::string& file) {
    std::vector<std::string> out;
    for (const auto& line : lines(file))
      out.push_back(std::string(boost::json::parse(line).at("attributes").at("id").as_string()));
    return out;
  }
  // The ids across the whole rotation, oldest first.
  std::vector<std::string> allIds() const {
    std::vector<std::string> out;
    for (const auto& file : rotation())
      for (auto& id : ids(file)) out.push_back(std::move(id));
    return out;
  }
  fs::path dir_;
};

TEST_F(FileExporterTest, RegisteredAndOptions) {
  ExporterRegistry registry;
  registerBuiltinExporters(registry);
  EXPECT_NE(registry.find("file"), nullptr);
  ConfigSource env({{"FILE_EXPORTER_PATH", path()}, {"FILE_EXPORTER_MAX_BYTES", "4096"},
                    {"FILE_EXPORTER_MAX_FILES", "3"}, {"FILE_EXPORTER_FSYNC", "false"}}, {});
  auto o = Options::fromConfig(env);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->path, path());
  EXPECT_EQ(o->max_bytes, 4096u);
  EXPECT_EQ(o->max_files, 3);
  EXPECT_EQ(o->fsync, FsyncPolicy::kNever);
  const auto policy = [&](const char* value) {
    auto parsed = Options::fromConfig(ConfigSource({{"FILE_EXPORTER_FSYNC", value}}, {}));
    return parsed ? std::optional(parsed->fsync) : std::nullopt;
  };
  EXPECT_EQ(Options::fromConfig(ConfigSource({}, {}))->fsync, FsyncPolicy::kBatch);
  EXPECT_EQ(policy("batch"), FsyncPolicy::kBatch);
  EXPECT_EQ(policy("always"), FsyncPolicy::kAlways);
  EXPECT_EQ(policy("true"), FsyncPolicy::kAlways);
  EXPECT_EQ(policy("never"), FsyncPolicy::kNever);
  EXPECT_EQ(policy("sometimes"), std::nullopt);
  auto bad_sync = Options::fromConfig(ConfigSource({{"FILE_EXPORTER_FSYNC", "sometimes"}}, {}));
  ASSERT_FALSE(bad_sync);
  EXPECT_EQ(bad_sync.error().message.rfind("FILE_EXPORTER_FSYNC: ", 0), 0u) << bad_sync.error().message;
  auto bad_dir = Options::fromConfig(ConfigSource({{"FILE_EXPORTER_PATH", "/nonexistent-dir/x.jsonl"}}, {}));
  ASSERT_FALSE(bad_dir);
  EXPECT_EQ(bad_dir.error().message.rfind("FILE_EXPORTER_PATH: ", 0), 0u);
  auto bad_size = Options::fromConfig(ConfigSource({{"FILE_EXPORTER_MAX_BYTES", "-5"}}, {}));
  ASSERT_FALSE(bad_size);
  EXPECT_EQ(bad_size.error().message.rfind("FILE_EXPORTER_MAX_BYTES", 0), 0u);
}

TEST_F(FileExporterTest, SerializerMatchesGolden) {
  std::vector<RecordPtr> batch{makeRecord(), makeRecordWith([](RecordSpec& s) { s.id = "req-2"; })};
  expectGolden(serializeLines(batch, nullptr), "file/records.jsonl");
}

TEST_F(FileExporterTest, AppendsOneParsableLinePerRecord) {
  Options o;
  o.path = path();
  FileExporter exporter(o);
  ASSERT_TRUE(exporter.init());
  auto batch = makeRecords(7);
  EXPECT_EQ(exporter.exportBatch(batch).kind, Kind::kSuccess);
  EXPECT_EQ(exporter.exportBatch(makeRecords(3, "more")).kind, Kind::kSuccess);
  auto got = lines(path());
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(boost::json::parse(got[4]).at("attributes").at("id").as_string(), "req-4");
}

TEST_F(FileExporterTest, RotatesBySizeKeepingMaxFiles) {
  Options o;
  o.path = path();
  const auto one = makeRecords(1)[0]->serialized.size() + 1;
  o.max_bytes = one * 3;  // three records per file
  o.max_files = 2;
  FileExporter exporter(o);
  auto batch = makeRecords(11);
  for (const auto& r : batch) ASSERT_EQ(exporter.exportBatch(std::span(&r, 1)).kind, Kind::kSuccess);
  EXPECT_EQ(lines(path()).size(), 2u);        // records 9, 10
  EXPECT_EQ(lines(path() + ".1").size(), 3u);  // 6..8
  EXPECT_EQ(lines(path() + ".2").size(), 3u);  // 3..5
  EXPECT_FALSE(fs::exists(path() + ".3"));
  EXPECT_LE(fs::file_size(path() + ".1"), o.max_bytes);
  EXPECT_NE(lines(path() + ".1")[0].find("\"req-6\""), std::string::npos);
}

TEST_F(FileExporterTest, ReopensExistingFileAndCountsItsSize) {
  Options o;
  o.path = path();
  o.max_bytes = (makeRecords(1)[0]->serialized.size() + 1) * 2;
  {
    FileExporter first(o);
    ASSERT_EQ(first.exportBatch(makeRecords(2)).kind, Kind::kSuccess);
  }
  FileExporter second(o);
  ASSERT_EQ(second.exportBatch(makeRecords(1, "next")).kind, Kind::kSuccess);
  EXPECT_EQ(lines(path()).size(), 1u);
  EXPECT_EQ(lines(path() + ".1").size(), 2u);
}

// A write torn by kill -9 leaves half a line: the next start cuts it off
// instead of gluing the next record to it.
TEST_F(FileExporterTest, TornLastLineIsCutAtStart) {
  Options o;
  o.path = path();
  {
    FileExporter first(o);
    ASSERT_EQ(first.exportBatch(makeRecords(2)).kind, Kind::kSuccess);
  }
  { std::ofstream(path(), std::ios::app) << R"({"timestamp":"2026-11-27T00:00:00.000Z","resou)"; }
  FileExporter second(o);
  ASSERT_EQ(second.exportBatch(makeRecords(1, "next")).kind, Kind::kSuccess);
  auto got = lines(path());
  ASSERT_EQ(got.size(), 3u);
  for (const auto& line : got) EXPECT_NO_THROW(boost::json::parse(line)) << line;
}

TEST_F(FileExporterTest, RecordWithoutJsonIsRejectedOthersWritten) {
  Options o;
  o.path = path();
  FileExporter exporter(o);
  auto batch = makeRecords(3);
  auto broken = std::make_shared<TelemetryRecord>("broken", "", RecordFields{});
  batch.insert(batch.begin() + 1, broken);
  auto r = exporter.exportBatch(batch);
  EXPECT_EQ(r.kind, Kind::kPermanent);
  EXPECT_EQ(r.rejected_indexes, (std::vector<std::size_t>{1}));
  EXPECT_EQ(lines(path()).size(), 3u);
}

TEST_F(FileExporterTest, UnwritableLocationIsRetryable) {
  Options o;
  o.path = (dir_ / "missing-subdir" / "x.jsonl").string();
  FileExporter exporter(o);
  EXPECT_FALSE(exporter.init());
  EXPECT_EQ(exporter.exportBatch(makeRecords(1)).kind, Kind::kRetryable);
  fs::create_directories(dir_ / "missing-subdir");
  EXPECT_EQ(exporter.exportBatch(makeRecords(1)).kind, Kind::kSuccess);
}

TEST_F(FileExporterTest, DiskFullRollsBackPartialBatch) {
  ASSERT_TRUE(fs::exists("/dev/full")) << "/dev/full (a full disk) is needed for this test";
  Options o;
  o.path = "/dev/full";
  o.max_bytes = 0;
  o.fsync = FsyncPolicy::kNever;
  FileExporter exporter(o);
  auto r = exporter.exportBatch(makeRecords(2));
  EXPECT_EQ(r.kind, Kind::kRetryable);
  EXPECT_NE(r.message.find("No space left"), std::string::npos) << r.message;
}

// Twelve 3.5 kB records with a 20000-byte limit: five fit a file, the sixth
// starts the next one.
TEST_F(FileExporterTest, SplitsABatchAcrossFilesAtRecordBoundaries) {
  Options o;
  o.path = path();
  o.max_bytes = 20000;
  FileExporter exporter(o);
  ASSERT_EQ(exporter.exportBatch(sizedRecords(12, 3500)).kind, Kind::kSuccess);
  const auto files = rotation();
  ASSERT_EQ(files, (std::vector<std::string>{path() + ".2", path() + ".1", path()}));
  for (const auto& f : files) EXPECT_LE(fs::file_size(f), 20000u) << f;
  EXPECT_EQ(ids(path() + ".2"), idRange(0, 5));
  EXPECT_EQ(ids(path() + ".1"), idRange(5, 10));
  EXPECT_EQ(ids(path()), idRange(10, 12));
  EXPECT_EQ(allIds(), idRange(0, 12));
}

TEST_F(FileExporterTest, RecordLargerThanTheLimitGetsAFileOfItsOwn) {
  Options o;
  o.path = path();
  o.max_bytes = 20000;
  FileExporter exporter(o);
  std::vector<RecordPtr> batch{sizedRecord("r0", 3500), sizedRecord("r1", 30000), sizedRecord("r2", 25000),
                               sizedRecord("r3", 3500), sizedRecord("r4", 3500)};
  ASSERT_EQ(exporter.exportBatch(batch).kind, Kind::kSuccess);
  const auto files = rotation();
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(ids(files[0]), idRange(0, 1));
  EXPECT_EQ(ids(files[1]), idRange(1, 2));
  EXPECT_EQ(fs::file_size(files[1]), 30000u);
  EXPECT_EQ(ids(files[2]), idRange(2, 3));
  EXPECT_EQ(fs::file_size(files[2]), 25000u);
  EXPECT_EQ(ids(files[3]), idRange(3, 5));
  // Alone, in a batch of its own, it still does not join the file before it.
  ASSERT_EQ(exporter.exportBatch(std::vector<RecordPtr>{sizedRecord("r5", 30000)}).kind, Kind::kSuccess);
  EXPECT_EQ(ids(path()), idRange(5, 6));
  EXPECT_EQ(ids(path() + ".1"), idRange(3, 5));
  EXPECT_EQ(allIds(), idRange(0, 6));
}

// A batch that ends exactly at the limit leaves the file full, not rotated:
// the next record rotates it.
TEST_F(FileExporterTest, BatchThatExactlyFillsAFile) {
  Options o;
  o.path = path();
  o.max_bytes = 5 * 3500;
  FileExporter exporter(o);
  ASSERT_EQ(exporter.exportBatch(sizedRecords(5, 3500)).kind, Kind::kSuccess);
  EXPECT_EQ(rotation(), std::vector<std::string>{path()});
  EXPECT_EQ(fs::file_size(path()), o.max_bytes);
  ASSERT_EQ(exporter.exportBatch(sizedRecords(10, 3500, 5)).kind, Kind::kSuccess);
  const auto files = rotation();
  ASSERT_EQ(files.size(), 3u);
  for (const auto& f : files) EXPECT_EQ(fs::file_size(f), o.max_bytes) << f;
  EXPECT_EQ(allIds(), idRange(0, 15));
}

// The file a previous run left is appended to until the next record would
// pass the limit.
TEST_F(FileExporterTest, ExistingFileNearTheLimitIsFilledThenRotated) {
  Options o;
  o.path = path();
  o.max_bytes = 20000;
  {
    FileExporter first(o);
    ASSERT_EQ(first.exportBatch(sizedRecords(4, 3500)).kind, Kind::kSuccess);  // 14000 bytes
  }
  FileExporter second(o);
  ASSERT_TRUE(second.init());
  ASSERT_EQ(second.exportBatch(sizedRecords(3, 3500, 4)).kind, Kind::kSuccess);
  EXPECT_EQ(ids(path() + ".1"), idRange(0, 5));
  EXPECT_EQ(fs::file_size(path() + ".1"), 17500u);
  EXPECT_EQ(ids(path()), idRange(5, 7));
}

TEST_F(FileExporterTest, ExistingFileOverTheLimitIsRotatedBeforeTheFirstRecord) {
  Options o;
  o.path = path();
  o.max_bytes = 0;
  {
    FileExporter unlimited(o);
    ASSERT_EQ(unlimited.exportBatch(sizedRecords(8, 3500)).kind, Kind::kSuccess);  // 28000 bytes
  }
  o.max_bytes = 20000;
  FileExporter limited(o);
  ASSERT_EQ(limited.exportBatch(sizedRecords(2, 3500, 8)).kind, Kind::kSuccess);
  EXPECT_EQ(ids(path() + ".1"), idRange(0, 8));
  EXPECT_EQ(ids(path()), idRange(8, 10));
}

// Many small batches of records of varied sizes: every file is within the
// limit, and full (its next record would not have fitted).
TEST_F(FileExporterTest, ManySmallBatchesFillEachFileUpToTheLimit) {
  Options o;
  o.path = path();
  o.max_bytes = 20000;
  o.max_files = 1000;
  o.fsync = FsyncPolicy::kNever;
  FileExporter exporter(o);
  std::size_t next = 0;
  for (int b = 0; b < 120; ++b) {
    std::vector<RecordPtr> batch;
    for (int k = 0; k <= b % 4; ++k, ++next)
      batch.push_back(sizedRecord("r" + std::to_string(next), 600 + (next * 397) % 2900));
    ASSERT_EQ(exporter.exportBatch(batch).kind, Kind::kSuccess) << "batch " << b;
  }
  const auto files = rotation();
  ASSERT_GT(files.size(), 5u);
  for (std::size_t i = 0; i < files.size(); ++i) {
    EXPECT_LE(fs::file_size(files[i]), o.max_bytes) << files[i];
    if (i + 1 < files.size()) {
      EXPECT_GT(fs::file_size(files[i]) + lines(files[i + 1]).front().size() + 1, o.max_bytes) << files[i];
    }
  }
  EXPECT_EQ(allIds(), idRange(0, next));
}

// FILE_EXPORTER_MAX_FILES applies within one batch too: files it rotates
// past the last kept one are deleted like any other.
TEST_F(FileExporterTest, RetentionAppliesWithinABatch) {
  Options o;
  o.path = path();
  o.max_bytes = 2 * 3500;
  o.max_files = 2;
  FileExporter exporter(o);
  ASSERT_EQ(exporter.exportBatch(sizedRecords(10, 3500)).kind, Kind::kSuccess);
  EXPECT_EQ(rotation(), (std::vector<std::string>{path() + ".2", path() + ".1", path()}));
  EXPECT_EQ(allIds(), idRange(4, 10));
}

// A rotation that fails part-way through a batch: the records already
// written stay written and count as exported; only the rest is retried,
// and written once when the retry succeeds.
TEST_F(FileExporterTest, FailedRotationMidBatchRetriesOnlyTheUnwrittenRecords) {
  Options o;
  o.path = path();
  o.max_bytes = 20000;
  o.max_files = 1;
  FileExporter exporter(o);
  fs::create_directory(path() + ".1");  // rename(PATH, PATH.1) fails: EISDIR
  auto batch = sizedRecords(9, 3500);
  const auto broken = std::make_shared<TelemetryRecord>("broken", "", RecordFields{});
  batch[2] = broken;
  batch[7] = broken;
  auto r = exporter.exportBatch(batch);
  ASSERT_EQ(r.kind, Kind::kRetryable);
  EXPECT_NE(r.message.find("rotate"), std::string::npos) << r.message;
  EXPECT_EQ(r.rejected_indexes, (std::vector<std::size_t>{2, 7}));
  EXPECT_EQ(r.retry_indexes, (std::vector<std::size_t>{6, 8}));
  EXPECT_EQ(ids(path()), (std::vector<std::string>{"r0", "r1", "r3", "r4", "r5"}));

  const std::vector<RecordPtr> rest{batch[6], batch[8]};
  auto again = exporter.exportBatch(rest);  // still failing, nothing written: the whole batch again
  ASSERT_EQ(again.kind, Kind::kRetryable);
  EXPECT_TRUE(again.retry_indexes.empty());
  EXPECT_TRUE(again.rejected_indexes.empty());

  fs::remove(path() + ".1");
  ASSERT_EQ(exporter.exportBatch(rest).kind, Kind::kSuccess);
  EXPECT_EQ(ids(path() + ".1"), (std::vector<std::string>{"r0", "r1", "r3", "r4", "r5"}));
  EXPECT_EQ(ids(path()), (std::vector<std::string>{"r6", "r8"}));
}

// The disk fills up while the second file of a batch is written, through
// the real pipeline: the first part is reported exported once, the failed
// part is rolled back and retried, and every record ends up on disk once,
// in order.
TEST_F(FileExporterTest, DiskFullInTheSecondFileOfABatchThroughThePipeline) {
  Options o;
  o.path = path();
  o.max_bytes = 20000;
  FileExporter exporter(o);
  { std::ofstream(path()) << sizedRecord("filler", 3000)->serialized << '\n'; }

  ExportOptions eo;
  eo.batch_size = 12;
  eo.retry.initial_backoff = 100ms;
  eo.retry.max_backoff = 1000ms;
  ManualClock clock;
  MetricsRegistry metrics;
  RecordQueue queue(100);
  ExporterStats stats(metrics, "file");
  ExportProcessor processor(exporter, eo, clock, queue, nullptr, stats, [] { return 1.0; });
  for (auto& r : sizedRecords(12, 3500)) ASSERT_TRUE(queue.push(std::move(r)));

  {
    // The first file ends at 3000 + 4 * 3500 = 17000; the second would
    // reach 5 * 3500 = 17500.
    FileSizeLimit limit(17200);
    ASSERT_TRUE(limit.ok());
    processor.step();
  }
  EXPECT_EQ(stats.exportedTotal(), 4u);
  EXPECT_EQ(stats.retriedTotal(), 8u);
  ASSERT_TRUE(processor.retryPending());
  EXPECT_EQ(ids(path() + ".1"), (std::vector<std::string>{"filler", "r0", "r1", "r2", "r3"}));
  EXPECT_EQ(fs::file_size(path()), 0u) << "the failed part is rolled back";

  clock.advance(2s);
  processor.step();
  EXPECT_FALSE(processor.retryPending());
  EXPECT_EQ(stats.exportedTotal(), 12u);
  EXPECT_EQ(stats.droppedTotal(), 0u);
  auto expected = idRange(0, 12);
  expected.insert(expected.begin(), "filler");
  EXPECT_EQ(allIds(), expected);
  for (const auto& f : rotation()) EXPECT_LE(fs::file_size(f), o.max_bytes) << f;
  EXPECT_EQ(ids(path()), idRange(9, 12));
}

// The three fsync policies through the pipeline: "batch" syncs once per
// flush interval whatever the batch rate, and at shutdown; "always" after
// every batch; "never" not at all. Every policy writes each batch before it
// counts as exported.
TEST_F(FileExporterTest, SyncPoliciesThroughThePipeline) {
  struct Case {
    FsyncPolicy policy;
    std::uint64_t after_batches, after_interval, after_shutdown;
  };
  for (const auto& c :
       {Case{FsyncPolicy::kBatch, 0, 1, 2}, Case{FsyncPolicy::kAlways, 5, 5, 6}, Case{FsyncPolicy::kNever, 0, 0, 0}}) {
    SCOPED_TRACE(static_cast<int>(c.policy));
    fs::remove(path());
    Options o;
    o.path = path();
    o.fsync = c.policy;
    FileExporter exporter(o);
    ExportOptions eo;
    eo.batch_size = 2;
    eo.flush_interval = 1000ms;
    ManualClock clock;
    MetricsRegistry metrics;
    RecordQueue queue(100);
    ExporterStats stats(metrics, "file");
    ExportProcessor processor(exporter, eo, clock, queue, nullptr, stats, [] { return 1.0; });
    const auto start = clock.now();

    // Five full batches within one interval.
    for (std::size_t i = 0; i < 5; ++i) {
      for (auto& r : sizedRecords(2, 100, 2 * i)) ASSERT_TRUE(queue.push(std::move(r)));
      const auto next = processor.step();
      EXPECT_EQ(next, c.policy == FsyncPolicy::kBatch ? start + 1000ms : Clock::time_point::max());
      clock.advance(100ms);
    }
    EXPECT_EQ(ids(path()), idRange(0, 10)) << "written before they count as exported";
    EXPECT_EQ(stats.exportedTotal(), 10u);
    EXPECT_EQ(exporter.syncs(), c.after_batches);

    clock.advance(500ms);  // one interval after the first batch
    EXPECT_EQ(processor.step(), Clock::time_point::max()) << "nothing left to sync";
    EXPECT_EQ(exporter.syncs(), c.after_interval);
    EXPECT_FALSE(exporter.flushPending());

    // One more batch, then shutdown before its interval is over.
    for (auto& r : sizedRecords(2, 100, 10)) ASSERT_TRUE(queue.push(std::move(r)));
    processor.step();
    EXPECT_EQ(exporter.flushPending(), c.policy == FsyncPolicy::kBatch);
    processor.drain(clock.now() + 1s);
    EXPECT_EQ(exporter.syncs(), c.after_shutdown);
    EXPECT_EQ(ids(path()), idRange(0, 12));
  }
}

// Under "batch", a file is synced before rotation renames it: flush() only
// syncs the file that is open.
TEST_F(FileExporterTest, BatchPolicySyncsAFileBeforeRotatingIt) {
  Options o;
  o.path = path();
  o.max_bytes = 300;  // three lines of 100 bytes
  FileExporter exporter(o);
  ASSERT_EQ(exporter.exportBatch(sizedRecords(2, 100)).kind, Kind::kSuccess);
  EXPECT_EQ(exporter.syncs(), 0u);
  EXPECT_TRUE(exporter.flushPending());
  ASSERT_EQ(exporter.exportBatch(sizedRecords(2, 100, 2)).kind, Kind::kSuccess);
  EXPECT_EQ(exporter.syncs(), 1u) << "the first file is synced as it is rotated";
  EXPECT_TRUE(exporter.flushPending()) << "the new file's line is not synced yet";
  exporter.flush();
  EXPECT_EQ(exporter.syncs(), 2u);
  EXPECT_FALSE(exporter.flushPending());
  exporter.flush();
  EXPECT_EQ(exporter.syncs(), 2u) << "nothing to sync";
  EXPECT_EQ(ids(path() + ".1"), idRange(0, 3));
  EXPECT_EQ(ids(path()), idRange(3, 4));
}

}  // namespace
}  // namespace gw::exporters::file
