#include "telemetry/spool.h"

#include "fake_exporter.h"

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>

namespace gw {
namespace {

namespace fs = std::filesystem;
using testing::makeRecord;

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gw-spool-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  SpoolOptions options(std::uint64_t max_bytes = 1 << 20, std::uint64_t segment = 4096) {
    SpoolOptions o;
    o.dir = dir_;
    o.max_bytes = max_bytes;
    o.segment_bytes = segment;
    o.fsync = FsyncPolicy::kAlways;
    return o;
  }
  std::vector<RecordPtr> records(int from, int to) {
    std::vector<RecordPtr> out;
    for (int i = from; i < to; ++i) out.push_back(makeRecord("r" + std::to_string(i)));
    return out;
  }
  std::vector<std::string> drain(Spool& s, std::size_t batch = 7) {
    std::vector<std::string> ids;
    for (auto b = s.peek(batch); !b.empty(); b = s.peek(batch)) {
      for (const auto& r : b) ids.push_back(r->id);
      s.consume(b.size());
    }
    return ids;
  }
  std::vector<std::string> expected(int from, int to) {
    std::vector<std::string> out;
    for (int i = from; i < to; ++i) out.push_back("r" + std::to_string(i));
    return out;
  }
  fs::path dir_;
};

TEST(RecordFromJson, ReadsTheIdAndKeepsTheTextOnOneLine) {
  // Pretty-printed JSON (another build's spool, a hand edit) must not reach
  // an exporter that writes one record per line (fuzz_exporters finding).
  RecordPtr r = recordFromJson("{\"attributes\": {\"id\": \"r1\"},\n \"latency\": 12}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, "r1");
  EXPECT_EQ(r->serialized, R"({"attributes":{"id":"r1"},"latency":12})");
  // A text on one line (what the spool holds) is kept byte for byte.
  const std::string one_line = R"({"attributes": {"id": "r2", "latency": 1.50}, "name":"x"})";
  RecordPtr kept = recordFromJson(one_line);
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->serialized, one_line);
  EXPECT_EQ(kept->id, "r2");
  EXPECT_EQ(recordFromJson("{\"attributes\":{\"id\":\"r3\"}}\r")->serialized, R"({"attributes":{"id":"r3"}})");
  EXPECT_FALSE(recordFromJson(R"({"attributes":{}})"));
  EXPECT_FALSE(recordFromJson(R"({"attributes":{"id":7}})"));
  EXPECT_FALSE(recordFromJson("{\"attributes\":"));
}

TEST(RecordFromJson, ReadsBackRecordsWithBodiesAsDeepAsTheBuilderCaptures) {
  // The builder captures bodies nested up to 256 levels; Boost.JSON's
  // default limit (32) refused such a record when it came back from the
  // spool, and it was lost.
  std::string body = std::string(250, '[') + "1" + std::string(250, ']');
  RecordPtr r = recordFromJson(R"({"attributes":{"id":"deep","request":)" + body + R"(,"provider":"openai"}})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->fields.provider, "openai");
  EXPECT_EQ(r->json().at("attributes").at("provider"), "openai");
}

TEST(TelemetryRecord, TreeIsParsedFromTheTextOnFirstUse) {
  TelemetryRecord r("x", R"({"attributes":{"id":"x"},"n":[1,2]})", RecordFields{});
  EXPECT_EQ(r.json().at("n").as_array().size(), 2u);
  EXPECT_EQ(&r.json(), &r.json()) << "parsed once";
  TelemetryRecord broken("y", "not json", RecordFields{});
  EXPECT_TRUE(broken.json().empty());
}

TEST_F(SpoolTest, AppendPeekConsumeInOrderAcrossSegments) {
  auto spool = Spool::open(options());
  ASSERT_TRUE(spool);
  auto& s = **spool;
  EXPECT_FALSE(fs::exists(dir_));  // created lazily
  auto recs = records(0, 200);
  EXPECT_EQ(s.append(recs), 200u);
  EXPECT_EQ(s.records(), 200u);
  std::size_t segments = std::distance(fs::directory_iterator(dir_), fs::directory_iterator());
  EXPECT_GT(segments, 1u);
  // peek without consume returns the same records
  EXPECT_EQ(s.peek(3)[0]->id, "r0");
  EXPECT_EQ(s.peek(3)[0]->id, "r0");
  EXPECT_EQ(drain(s), expected(0, 200));
  EXPECT_EQ(s.records(), 0u);
  EXPECT_EQ(s.bytes(), 0u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 0);
}

TEST_F(SpoolTest, ReplayedAfterRestart) {
  {
    auto s = Spool::open(options());
    ASSERT_TRUE(s);
    (*s)->append(records(0, 50));
    // half-consumed segment: the read position is not persisted
    auto b = (*s)->peek(5);
    (*s)->consume(5);
  }
  auto s = Spool::open(options());
  ASSERT_TRUE(s);
  auto ids = drain(**s);
  // Segments already fully consumed are gone; the one being read comes back whole.
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.back(), "r49");
  for (int i = 5; i < 50; ++i) EXPECT_NE(std::find(ids.begin(), ids.end(), "r" + std::to_string(i)), ids.end());
}

TEST_F(SpoolTest, AppendingWhileReplayingKeepsEverything) {
  auto s = Spool::open(options(1 << 20, 1 << 20));  // one big segment
  ASSERT_TRUE(s);
  (*s)->append(records(0, 10));
  auto first = (*s)->peek(4);  // closes the segment being written
  (*s)->append(records(10, 20));
  (*s)->consume(first.size());
  std::vector<std::string> ids{"r0", "r1", "r2", "r3"};
  auto rest = drain(**s);
  ids.insert(ids.end(), rest.begin(), rest.end());
  EXPECT_EQ(ids, expected(0, 20));
}

TEST_F(SpoolTest, BoundedByMaxBytes) {
  const auto one = Spool::frame(makeRecord("r0")->serialized).size();
  auto s = Spool::open(options(one * 10 + one / 2));
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)->append(records(0, 25)), 10u);
  EXPECT_EQ((*s)->records(), 10u);
  EXPECT_LE((*s)->bytes(), one * 10 + one / 2);
  drain(**s);
  EXPECT_EQ((*s)->append(records(0, 3)), 3u);  // room again
}

TEST_F(SpoolTest, CorruptTailIsSkippedAndCounted) {
  {
    auto s = Spool::open(options(1 << 20, 1 << 20));
    (*s)->append(records(0, 10));
  }
  auto segment = fs::directory_iterator(dir_)->path();
  // A torn write: half a frame at the end.
  {
    std::string f = Spool::frame(makeRecord("torn")->serialized);
    std::ofstream out(segment, std::ios::binary | std::ios::app);
    out.write(f.data(), static_cast<std::streamsize>(f.size() / 2));
  }
  auto s = Spool::open(options(1 << 20, 1 << 20));
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)->corruptTails(), 1u);
  EXPECT_EQ((*s)->records(), 10u);
  EXPECT_EQ(drain(**s), expected(0, 10));
}

TEST_F(SpoolTest, FlippedByteStopsTheSegmentAtTheLastGoodFrame) {
  {
    auto s = Spool::open(options(1 << 20, 1 << 20));
    (*s)->append(records(0, 10));
  }
  auto segment = fs::directory_iterator(dir_)->path();
  const auto one = Spool::frame(makeRecord("r0")->serialized).size();
  {
    std::fstream f(segment, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(one * 6 + 12));
    f.put('#');
  }
  auto s = Spool::open(options(1 << 20, 1 << 20));
  EXPECT_EQ((*s)->corruptTails(), 1u);
  EXPECT_EQ(drain(**s), expected(0, 6));
}

TEST_F(SpoolTest, GarbageFilesAndHugeLengthsAreHandled) {
  fs::create_directories(dir_);
  {
    std::ofstream(dir_ / "segment-00000000000000000001.spool", std::ios::binary)
        << std::string("\xff\xff\xff\x7f", 4) << "junkjunk";
  }
  { std::ofstream(dir_ / "not-a-segment.txt") << "ignored"; }
  {
    std::ofstream(dir_ / "segment-00000000000000000002.spool", std::ios::binary)
        << Spool::frame("not a record") << Spool::frame(makeRecord("ok")->serialized);
  }
  auto s = Spool::open(options());
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)->corruptTails(), 1u);
  EXPECT_EQ(drain(**s), std::vector<std::string>{"ok"});
  EXPECT_EQ((*s)->unreadableRecords(), 1u);
  EXPECT_TRUE(fs::exists(dir_ / "not-a-segment.txt"));
}

// A child process standing in for another gateway: it runs `body` (true:
// it got what it wanted), tells the test on a pipe, then either waits to be
// killed (kill -9, as a crash) or _exit()s at once, skipping every
// destructor. Bounded: a child that does not report within 10 s fails the
// test and is killed.
class OtherProcess {
 public:
  enum class Then { kWaitForKill, kExit };
  OtherProcess(const std::function<bool()>& body, Then then) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[0]);
      const char c = body() ? 'y' : 'n';
      if (::write(fds[1], &c, 1) != 1) ::_exit(3);
      if (then == Then::kExit) ::_exit(0);
      for (;;) ::pause();
    }
    ::close(fds[1]);
    ready_fd_ = fds[0];
  }
  ~OtherProcess() {
    kill();
    if (ready_fd_ >= 0) ::close(ready_fd_);
  }
  // What body() returned; false on a timeout or a crash.
  bool succeeded() {
    pollfd p{ready_fd_, POLLIN, 0};
    char c = 0;
    return pid_ > 0 && ::poll(&p, 1, 10000) == 1 && ::read(ready_fd_, &c, 1) == 1 && c == 'y';
  }
  // SIGKILL (if still running) and reap: afterwards the process is gone
  // and the kernel has released whatever it held.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int ready_fd_ = -1;
};

TEST_F(SpoolTest, TheDirectoryLockIsExclusiveUntilReleased) {
  auto first = SpoolDirLock::acquire(dir_);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(first->held());
  EXPECT_TRUE(fs::is_regular_file(dir_ / SpoolDirLock::kFileName)) << "the directory is created for the lock";

  // flock belongs to the open file description: a second lock in the same
  // process conflicts too.
  auto second = SpoolDirLock::acquire(dir_);
  ASSERT_FALSE(second);
  const std::string& message = second.error().message;
  EXPECT_TRUE(message.starts_with("TELEMETRY_SPOOL_DIR: ")) << message;
  EXPECT_NE(message.find(dir_.string()), std::string::npos) << message;
  EXPECT_NE(message.find("in use by another running gateway"), std::string::npos) << message;
  EXPECT_NE(message.find("(pid " + std::to_string(::getpid()) + ", lock file "), std::string::npos) << message;

  *first = SpoolDirLock{};  // released
  auto third = SpoolDirLock::acquire(dir_);
  ASSERT_TRUE(third) << third.error().message;
  EXPECT_TRUE(third->held());
}

TEST_F(SpoolTest, ALockHeldByAnotherProcessBlocksUntilItIsKilled) {
  OtherProcess other(
      [&] {
        auto lock = SpoolDirLock::acquire(dir_);
        if (!lock || !lock->held()) return false;
        new SpoolDirLock(std::move(*lock));  // held until the process dies
        return true;
      },
      OtherProcess::Then::kWaitForKill);
  ASSERT_TRUE(other.succeeded());

  auto mine = SpoolDirLock::acquire(dir_);
  ASSERT_FALSE(mine) << "two gateways on one spool directory";
  EXPECT_TRUE(mine.error().message.starts_with("TELEMETRY_SPOOL_DIR")) << mine.error().message;
  EXPECT_NE(mine.error().message.find("(pid " + std::to_string(other.pid()) + ", lock file "), std::string::npos)
      << mine.error().message;

  other.kill();  // kill -9: the kernel drops the lock
  auto after = SpoolDirLock::acquire(dir_);
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_TRUE(after->held());
}

TEST_F(SpoolTest, ALockFileLeftByADeadHolderDoesNotBlock) {
  OtherProcess other(
      [&] {
        auto lock = SpoolDirLock::acquire(dir_);
        return lock && lock->held();  // then _exit(): no destructor, the file stays
      },
      OtherProcess::Then::kExit);
  ASSERT_TRUE(other.succeeded());
  other.kill();  // reaped
  ASSERT_TRUE(fs::exists(dir_ / SpoolDirLock::kFileName));

  auto lock = SpoolDirLock::acquire(dir_);
  ASSERT_TRUE(lock) << lock.error().message;
  EXPECT_TRUE(lock->held());
  // The file now names its new holder.
  std::ifstream in(dir_ / SpoolDirLock::kFileName);
  std::string pid;
  in >> pid;
  EXPECT_EQ(pid, std::to_string(::getpid()));
}

TEST_F(SpoolTest, ADirectoryThatCannotBeCreatedIsNotLockedAndNotAnError) {
  // Spooling then fails at each append and counts the drops, as it always
  // did: the gateway still starts.
  fs::create_directories(dir_);
  { std::ofstream(dir_ / "a-file") << "x"; }
  auto lock = SpoolDirLock::acquire(dir_ / "a-file" / "spool");
  ASSERT_TRUE(lock) << lock.error().message;
  EXPECT_FALSE(lock->held());
}

TEST_F(SpoolTest, SegmentsWrittenByAProcessKilledMidRunAreReplayed) {
  auto spool_options = [&] {
    auto o = options(1 << 20, 4096);
    o.dir = dir_ / "elasticsearch";
    return o;
  };
  OtherProcess other(
      [&] {
        auto s = Spool::open(spool_options());
        if (!s || (*s)->append(records(0, 200)) != 200) return false;
        s->release();  // never closed: the process is killed with the segment open
        return true;
      },
      OtherProcess::Then::kWaitForKill);
  ASSERT_TRUE(other.succeeded());
  other.kill();

  auto s = Spool::open(spool_options());
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)->records(), 200u);
  // New records go to new segments, numbered after the dead process's.
  EXPECT_EQ((*s)->append(records(200, 210)), 10u);
  EXPECT_EQ(drain(**s), expected(0, 210));
}

TEST_F(SpoolTest, ASegmentNameAlreadyTakenIsSkippedNotDropped) {
  auto s = Spool::open(options(1 << 20, 1 << 20));  // no directory yet: the next segment would be number 1
  ASSERT_TRUE(s);
  // Written after the scan by something else: a segment file, and a
  // directory with a segment's name.
  fs::create_directories(dir_);
  {
    std::ofstream(dir_ / "segment-00000000000000000001.spool", std::ios::binary)
        << Spool::frame(makeRecord("foreign")->serialized);
  }
  fs::create_directories(dir_ / "segment-00000000000000000002.spool");
  EXPECT_EQ((*s)->append(records(0, 5)), 5u) << "a taken name must not drop the records";
  EXPECT_EQ(drain(**s), expected(0, 5));
  EXPECT_TRUE(fs::exists(dir_ / "segment-00000000000000000001.spool")) << "someone else's file is left alone";
  s->reset();

  // It is replayed by the next start; new segments are numbered past every name.
  auto next = Spool::open(options(1 << 20, 1 << 20));
  ASSERT_TRUE(next);
  EXPECT_EQ((*next)->append(records(5, 6)), 1u);
  EXPECT_EQ(drain(**next), (std::vector<std::string>{"foreign", "r5"}));
}

}  // namespace
}  // namespace gw

namespace gw {
namespace {

// The bytes of a segment file.
std::string fileBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<fs::path> segmentFiles(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".spool") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// A batch is one writev(2) of up to kMaxFramesPerWrite frames, and the
// frames are the ones a frame-per-write spool wrote: segments written
// before read the same.
TEST_F(SpoolTest, AppendWritesABatchWithOneWriteAndUnchangedFrames) {
  auto s = Spool::open(options(64 << 20, 8 << 20));
  ASSERT_TRUE(s);
  auto batch = records(0, 100);
  EXPECT_EQ((*s)->append(batch), 100u);
  EXPECT_EQ((*s)->writeCalls(), 1u);
  auto more = records(100, 100 + 2 * Spool::kMaxFramesPerWrite + 1);
  EXPECT_EQ((*s)->append(more), more.size());
  EXPECT_EQ((*s)->writeCalls(), 4u) << "256 frames per writev";
  s->reset();
  auto files = segmentFiles(dir_);
  ASSERT_EQ(files.size(), 1u);
  std::string expected_bytes;
  for (const auto& r : batch) expected_bytes += Spool::frame(r->serialized);
  for (const auto& r : more) expected_bytes += Spool::frame(r->serialized);
  EXPECT_EQ(fileBytes(files[0]), expected_bytes);
  auto reopened = Spool::open(options(64 << 20, 8 << 20));
  ASSERT_TRUE(reopened);
  EXPECT_EQ(drain(**reopened, 50), expected(0, 100 + 2 * Spool::kMaxFramesPerWrite + 1));
}

// A batch that crosses a segment's size is split there: each segment still
// starts a new file at the size bound, and nothing is lost or reordered.
TEST_F(SpoolTest, ABatchIsSplitAtSegmentBoundaries) {
  auto s = Spool::open(options(1 << 20, 4096));
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)->append(records(0, 300)), 300u);
  const auto files = segmentFiles(dir_);
  EXPECT_GT(files.size(), 3u);
  const std::size_t one = Spool::frame(makeRecord("r100")->serialized).size();
  for (std::size_t i = 0; i + 1 < files.size(); ++i) {
    EXPECT_GE(fs::file_size(files[i]), 4096u);
    EXPECT_LT(fs::file_size(files[i]), 4096u + 2 * one);
  }
  EXPECT_EQ(drain(**s), expected(0, 300));
}

// Replay parses only what peek() asks for: a segment of thousands of
// records is never held in memory as records.
TEST_F(SpoolTest, ReplayReadsASegmentIncrementally) {
  {
    auto s = Spool::open(options(64 << 20, 8 << 20));
    ASSERT_TRUE(s);
    ASSERT_EQ((*s)->append(records(0, 5000)), 5000u);
  }
  auto s = Spool::open(options(64 << 20, 8 << 20));
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)->records(), 5000u);
  EXPECT_EQ((*s)->replayBuffered(), 0u) << "opening counts the frames, it keeps none";
  auto b = (*s)->peek(10);
  ASSERT_EQ(b.size(), 10u);
  EXPECT_EQ((*s)->replayBuffered(), 10u);
  EXPECT_EQ((*s)->peek(10).front()->id, "r0") << "peek without consume returns the same records";
  (*s)->consume(4);
  EXPECT_EQ((*s)->replayBuffered(), 6u);
  EXPECT_EQ((*s)->records(), 4996u);
  b = (*s)->peek(10);
  EXPECT_EQ(b.front()->id, "r4");
  EXPECT_EQ(b.back()->id, "r13");
  EXPECT_EQ((*s)->replayBuffered(), 10u);
  (*s)->consume(10);
  std::vector<std::string> ids{"r0", "r1", "r2", "r3"};
  for (int i = 4; i < 14; ++i) ids.push_back("r" + std::to_string(i));
  for (const auto& id : drain(**s, 100)) ids.push_back(id);
  EXPECT_EQ(ids, expected(0, 5000));
  EXPECT_LE((*s)->replayBuffered(), 100u);
  EXPECT_EQ((*s)->records(), 0u);
}

// The segment is deleted when its last record is consumed, not at the next
// peek(): a restart right after does not replay delivered records.
TEST_F(SpoolTest, TheLastConsumeDeletesTheSegment) {
  auto s = Spool::open(options(1 << 20, 1 << 20));
  ASSERT_TRUE(s);
  ASSERT_EQ((*s)->append(records(0, 5)), 5u);
  auto b = (*s)->peek(5);
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(segmentFiles(dir_).size(), 1u);
  (*s)->consume(5);
  EXPECT_TRUE(segmentFiles(dir_).empty());
  EXPECT_EQ((*s)->records(), 0u);
  EXPECT_EQ((*s)->bytes(), 0u);
}

// A segment damaged after the spool was opened (its scan counted every
// record): replay stops at the last good frame, counts the corrupt tail and
// forgets the records it cannot read, and goes on with the next segment.
TEST_F(SpoolTest, ASegmentDamagedAfterTheScanIsCutAtReplay) {
  {
    auto s = Spool::open(options(1 << 20, 4096));
    ASSERT_TRUE(s);
    ASSERT_EQ((*s)->append(records(0, 200)), 200u);
  }
  auto s = Spool::open(options(1 << 20, 4096));
  ASSERT_TRUE(s);
  ASSERT_EQ((*s)->records(), 200u);
  const auto files = segmentFiles(dir_);
  ASSERT_GT(files.size(), 1u);
  const std::size_t one = Spool::frame(makeRecord("r100")->serialized).size();
  {
    // Flip a byte of the first segment's third frame.
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(2 * one + 12));
    f.put('#');
  }
  const auto ids = drain(**s);
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids[0], "r0");
  EXPECT_EQ(ids[1], "r1");
  EXPECT_EQ(ids.back(), "r199");
  EXPECT_LT(ids.size(), 200u);
  EXPECT_EQ((*s)->corruptTails(), 1u);
  EXPECT_EQ((*s)->records(), 0u);
  EXPECT_TRUE(segmentFiles(dir_).empty());
}

}  // namespace
}  // namespace gw

namespace gw {
namespace {

// Replay reads the segment being written without closing it: under
// sustained overflow a replayed batch costs no segment switch (fdatasync and
// directory fsync). Once replay has caught up, the segment is closed and
// deleted.
TEST_F(SpoolTest, ReplayReadsTheSegmentBeingWrittenWithoutClosingIt) {
  auto s = Spool::open(options(1 << 20, 1 << 20));
  ASSERT_TRUE(s);
  ASSERT_EQ((*s)->append(records(0, 10)), 10u);
  auto b = (*s)->peek(4);
  ASSERT_EQ(b.size(), 4u);
  (*s)->consume(4);
  ASSERT_EQ((*s)->append(records(10, 20)), 10u);
  EXPECT_EQ(segmentFiles(dir_).size(), 1u) << "the replay closed the segment being written";
  std::vector<std::string> ids{"r0", "r1", "r2", "r3"};
  b = (*s)->peek(100);
  ASSERT_EQ(b.size(), 16u);
  for (const auto& r : b) ids.push_back(r->id);
  EXPECT_EQ((*s)->peek(100).size(), 16u) << "the same records until consumed";
  ASSERT_EQ((*s)->append(records(20, 25)), 5u);
  (*s)->consume(16);
  EXPECT_EQ(segmentFiles(dir_).size(), 1u);
  for (const auto& id : drain(**s)) ids.push_back(id);
  EXPECT_EQ(ids, expected(0, 25));
  EXPECT_TRUE(segmentFiles(dir_).empty()) << "caught up: the segment is closed and deleted";
  EXPECT_EQ((*s)->records(), 0u);
  EXPECT_EQ((*s)->bytes(), 0u);
  ASSERT_EQ((*s)->append(records(25, 27)), 2u);
  EXPECT_EQ(drain(**s), expected(25, 27));
}

}  // namespace
}  // namespace gw
