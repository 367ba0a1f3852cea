#include "telemetry/spool.h"

#include "fake_exporter.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace gw {
namespace {

namespace fs = std::filesystem;
using testing::makeRecord;

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gw-spool-" + std::to_string(getpid()) + "-" +
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

TEST(RecordFromJson, ReadsTheIdAndPutsTheTextOnOneLine) {
  // Pretty-printed JSON (another build's spool, a hand edit) must not reach
  // an exporter that writes one record per line (fuzz_exporters finding).
  RecordPtr r = recordFromJson("{\"attributes\": {\"id\": \"r1\"},\n \"latency\": 12}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, "r1");
  EXPECT_EQ(r->serialized, R"({"attributes":{"id":"r1"},"latency":12})");
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
  { std::ofstream(dir_ / "segment-00000000000000000001.spool", std::ios::binary) << std::string("\xff\xff\xff\x7f", 4) << "junkjunk"; }
  { std::ofstream(dir_ / "not-a-segment.txt") << "ignored"; }
  { std::ofstream(dir_ / "segment-00000000000000000002.spool", std::ios::binary) << Spool::frame("not a record") << Spool::frame(makeRecord("ok")->serialized); }
  auto s = Spool::open(options());
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)->corruptTails(), 1u);
  EXPECT_EQ(drain(**s), std::vector<std::string>{"ok"});
  EXPECT_EQ((*s)->unreadableRecords(), 1u);
  EXPECT_TRUE(fs::exists(dir_ / "not-a-segment.txt"));
}

}  // namespace
}  // namespace gw
