// The dashboard's ring of recent records (src/dashboard/recent_records.h):
// its bounds, filters and slot reuse, and the circular byte arena that holds
// the entries' strings and record text.
#include "dashboard/recent_records.h"

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <random>
#include <string>

namespace gw::dashboard {
namespace {

// A record's text of about `bytes` bytes, with the id in it.
std::string recordText(std::string_view id, std::size_t bytes) {
  std::string text = R"({"attributes":{"id":")" + std::string(id) + R"(","x":")";
  text.append(bytes > text.size() + 3 ? bytes - text.size() - 3 : 0, 'x').append(R"("}})");
  return text;
}

TEST(RecentRecords, BoundedByCountAndBytes) {
  RecentRecords ring(3, 100000);
  for (int i = 0; i < 5; ++i) {
    const std::string id = "r" + std::to_string(i);
    RecentEntry e;
    e.id = id;
    e.status = i % 2 ? "error" : "success";
    ring.push(e);
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

  RecentRecords small(1000, 100000);
  for (int i = 0; i < 50; ++i) {
    const std::string id = std::to_string(i);
    const std::string text = recordText(id, 2500);
    RecentEntry e;
    e.id = id;
    e.record = text;
    small.push(e);
  }
  EXPECT_LE(small.bytes(), 100000u);
  EXPECT_LE(small.arenaCapacity(), 100000u);
  EXPECT_LT(small.size(), 50u);
  EXPECT_GT(small.size(), 10u);
  EXPECT_TRUE(small.find("49")->hasRecord());
  const std::string big_text = recordText("big", 30000);  // more than a quarter of the bound
  RecentEntry big;
  big.id = "big";
  big.record = big_text;
  small.push(big);
  ASSERT_TRUE(small.find("big"));
  EXPECT_TRUE(small.find("big")->record_dropped);
  EXPECT_FALSE(small.find("big")->hasRecord());
  EXPECT_FALSE(small.find("big")->summaryJson().at("has_record").as_bool());
  EXPECT_TRUE(small.find("49")) << "a dropped record frees no room: its summary is small";
}

TEST(RecentRecords, CopiesTheStringsAndTheRecordText) {
  RecentRecords ring(10, 1 << 20);
  std::string id = "req-1", model = "gpt-4o-mini-2024-07-18", path = "/v1/chat/completions";
  std::string text = recordText(id, 2000);
  const std::string original_text = text;
  RecentEntry e;
  e.id = id;
  e.model = model;
  e.path = path;
  e.status = "success";
  e.record = text;
  ring.push(e);
  // The caller's strings change or go: the entry has its own copy.
  id.assign("changed");
  model.clear();
  path.assign(path.size(), '?');
  text.assign(text.size(), '!');
  const RecentEntry* kept = ring.find("req-1");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->model, "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(kept->path, "/v1/chat/completions");
  EXPECT_EQ(kept->record, original_text);
  EXPECT_EQ(ring.bytes(), sizeof(RecentEntry) + 5 + 22 + 20 + 7 + 2000);
  auto summary = kept->summaryJson();
  EXPECT_EQ(summary.at("id").as_string(), "req-1");
  EXPECT_TRUE(summary.at("has_record").as_bool());
  EXPECT_TRUE(summary.at("provider").is_null());
}

TEST(RecentRecords, SlotsAreReusedInOrderAcrossGrowthAndWrap) {
  // 40 entries at most; the byte bound evicts some on the way, so the
  // circular buffer grows while it has wrapped.
  RecentRecords ring(40, 64 * 1024);
  std::uint64_t pushed = 0;
  for (int round = 0; round < 300; ++round) {
    const std::string id = "r" + std::to_string(round);
    const std::string text = recordText(id, 12000);
    RecentEntry e;
    e.id = id;
    e.status = "success";
    if (round % 7 == 0) e.record = text;
    ring.push(e);
    ++pushed;
    ASSERT_LE(ring.size(), 40u);
    ASSERT_TRUE(ring.size() == 1 || ring.bytes() <= 64u * 1024);
    // Newest first, seqs consecutive, the newest the one just pushed.
    auto all = ring.list({}, 1000, 0, 0);
    ASSERT_EQ(all.size(), ring.size());
    ASSERT_EQ(all.front()->id, id);
    for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i]->seq, pushed - i) << round;
  }
  EXPECT_EQ(ring.lastSeq(), 300u);
  EXPECT_TRUE(ring.find("r299"));
  EXPECT_FALSE(ring.find("r200"));
  // The bytes are those of the entries held.
  std::size_t bytes = 0;
  for (const RecentEntry* e : ring.list({}, 1000, 0, 0)) bytes += e->bytes();
  EXPECT_EQ(ring.bytes(), bytes);
}

TEST(RecentArena, WrapsToTheStartWhenAChunkDoesNotFitBeforeTheEnd) {
  RecentArena arena(64 * 1024);
  EXPECT_FALSE(arena.fit(1)) << "no buffer before the first grow()";
  ASSERT_TRUE(arena.grow(1, false));
  ASSERT_EQ(arena.capacity(), 64u * 1024);
  std::vector<std::uint64_t> starts;
  for (int i = 0; i < 6; ++i) {  // 60,000 of 65,536 bytes
    auto start = arena.fit(10000);
    ASSERT_TRUE(start);
    EXPECT_EQ(*start, 10000u * i);
    std::memset(arena.put(*start, 10000), 'a' + i, 10000);
    starts.push_back(*start);
  }
  // 5,536 bytes left before the end, none at the start: a chunk of 10,000
  // does not fit until the oldest leaves, and then goes to the start.
  EXPECT_FALSE(arena.fit(10000));
  EXPECT_EQ(*arena.fit(5536), 60000u) << "a chunk that fits before the end goes there";
  arena.release(starts[1]);
  auto wrapped = arena.fit(10000);
  ASSERT_TRUE(wrapped);
  EXPECT_EQ(*wrapped, 64u * 1024);
  char* at = arena.put(*wrapped, 10000);
  EXPECT_EQ(at, arena.at(0));
  std::memset(at, 'z', 10000);
  EXPECT_EQ(arena.liveBytes(), 64u * 1024) << "the 5,536 skipped bytes count until the chunk before them leaves";
  // The chunks that did not leave are intact.
  for (int i = 1; i < 6; ++i) EXPECT_EQ(*arena.at(starts[i]), 'a' + i);
  // The next chunk must fit between the wrapped one and the oldest live one (at 10,000).
  EXPECT_FALSE(arena.fit(1)) << "the wrapped chunk ends where the oldest begins";
  arena.release(starts[2]);
  EXPECT_EQ(*arena.fit(10000), 64u * 1024 + 10000);
}

TEST(RecentArena, GrowingMovesTheLiveChunksInOrderToTheStart) {
  RecentArena arena(1 << 20);
  ASSERT_TRUE(arena.grow(1, false));
  // Live chunks that wrap: 15,000 bytes at 50,000, then 10,000 at the start.
  arena.put(*arena.fit(50000), 50000);
  arena.release(arena.writePosition());
  const std::uint64_t first = *arena.fit(15000);
  std::memset(arena.put(first, 15000), 'f', 15000);
  const std::uint64_t second = *arena.fit(10000);
  EXPECT_EQ(second, 64u * 1024) << "wrapped";
  std::memset(arena.put(second, 10000), 's', 10000);
  EXPECT_FALSE(arena.fit(50000));
  ASSERT_TRUE(arena.grow(arena.liveBytes() + 50000, false));
  EXPECT_EQ(arena.capacity(), 96u * 1024);
  EXPECT_EQ(arena.relocated(first), 0u);
  EXPECT_EQ(arena.relocated(second), 64u * 1024 - 50000);
  EXPECT_EQ(std::string(arena.at(arena.relocated(first)), 15000), std::string(15000, 'f'));
  EXPECT_EQ(std::string(arena.at(arena.relocated(second)), 10000), std::string(10000, 's'));
  EXPECT_TRUE(arena.fit(50000));
  // Never past the maximum, unless asked to for a chunk alone.
  RecentArena capped(100000);
  ASSERT_TRUE(capped.grow(1, false));
  EXPECT_EQ(capped.capacity(), 64u * 1024);
  EXPECT_TRUE(capped.grow(1, false));
  EXPECT_EQ(capped.capacity(), 96u * 1024);
  EXPECT_TRUE(capped.grow(1, false));
  EXPECT_EQ(capped.capacity(), 100000u);
  EXPECT_FALSE(capped.grow(1, false));
  EXPECT_FALSE(capped.grow(150000, false));
  EXPECT_TRUE(capped.grow(150000, true));
  EXPECT_EQ(capped.capacity(), 150000u);
}

TEST(RecentRecords, AnEntryLargerThanTheArenasFreeSpaceEvictsTheOldestFirst) {
  // The arena cannot grow past the 64 KiB bound. A, B, C and D fill it to
  // 60,004 bytes; E evicts A (the byte bound) and wraps to the start,
  // leaving the 5,532 bytes after D unused until D leaves, so 5,000 bytes
  // are free. F is within the byte bound but larger than that: B, the
  // oldest, leaves for it.
  constexpr std::size_t kBound = 64 * 1024;
  RecentRecords ring(1000, kBound);
  std::vector<std::string> texts;
  for (std::size_t size : {15000, 15000, 15000, 15000, 10000, 8000})
    texts.push_back(recordText(std::string(1, static_cast<char>('a' + texts.size())), size));
  auto entry = [&](std::size_t i) {
    RecentEntry e;
    e.id = std::string_view("abcdef").substr(i, 1);
    e.record = texts[i];
    return e;
  };
  for (std::size_t i = 0; i < 4; ++i) ring.push(entry(i));
  ASSERT_EQ(ring.size(), 4u);
  ring.push(entry(4));
  EXPECT_FALSE(ring.find("a"));
  ASSERT_EQ(ring.size(), 4u);
  ASSERT_LE(ring.bytes() + entry(5).bytes(), kBound) << "F alone would not evict by the byte bound";
  ring.push(entry(5));
  EXPECT_EQ(ring.arenaCapacity(), kBound);
  EXPECT_FALSE(ring.find("b")) << "the oldest left to make room in the arena";
  ASSERT_EQ(ring.size(), 4u);
  std::size_t bytes = 0;
  for (std::size_t i = 2; i < 6; ++i) {
    const RecentEntry* e = ring.find(std::string_view("abcdef").substr(i, 1));
    ASSERT_TRUE(e) << i;
    EXPECT_EQ(e->record, texts[i]) << i;
    bytes += e->bytes();
  }
  EXPECT_EQ(ring.bytes(), bytes);
}

TEST(RecentRecords, EntriesStayIntactThroughWrapsGrowthAndEviction) {
  // Random sizes (some records dropped, some entries without one) through a
  // ring bounded by bytes more than by count: every push checks every
  // entry's strings and text against what was pushed, after the arena has
  // grown, wrapped and evicted.
  constexpr std::size_t kMaxBytes = 256 * 1024;
  RecentRecords ring(200, kMaxBytes);
  std::mt19937 random(7);
  struct Pushed {
    std::string id, model, text;
    bool dropped;
  };
  std::deque<Pushed> expected;  // what the ring should hold, oldest first
  std::size_t max_capacity_seen = 0;
  for (int i = 0; i < 3000; ++i) {
    Pushed p;
    p.id = "req-" + std::to_string(i);
    p.model = std::string(std::uniform_int_distribution<std::size_t>(0, 40)(random), 'm');
    const std::size_t size = std::uniform_int_distribution<int>(0, 9)(random) == 0
                                 ? std::uniform_int_distribution<std::size_t>(20000, 80000)(random)
                                 : std::uniform_int_distribution<std::size_t>(0, 6000)(random);
    if (size > 0) p.text = recordText(p.id, size);
    RecentEntry e;
    e.id = p.id;
    e.model = p.model;
    e.status = "success";
    e.record = p.text;
    p.dropped = e.bytes() > kMaxBytes / 4;
    if (p.dropped) p.text.clear();
    expected.push_back(p);
    ring.push(e);
    while (expected.size() > ring.size()) expected.pop_front();
    ASSERT_LE(ring.bytes(), kMaxBytes);
    ASSERT_LE(ring.arenaCapacity(), kMaxBytes);
    ASSERT_LE(ring.size(), 200u);
    max_capacity_seen = std::max(max_capacity_seen, ring.arenaCapacity());
    auto all = ring.list({}, 1000, 0, 0);
    ASSERT_EQ(all.size(), expected.size());
    for (std::size_t k = 0; k < all.size(); ++k) {
      const Pushed& want = expected[expected.size() - 1 - k];
      ASSERT_EQ(all[k]->id, want.id) << i;
      ASSERT_EQ(all[k]->model, want.model) << i;
      ASSERT_EQ(all[k]->status, "success") << i;
      ASSERT_EQ(all[k]->record, want.text) << i;
      ASSERT_EQ(all[k]->record_dropped, want.dropped) << i;
    }
    // find() answers for what is held and nothing else.
    ASSERT_TRUE(ring.find(expected.front().id));
    ASSERT_EQ(ring.find(expected.back().id)->record, expected.back().text);
    if (i >= 200) {
      ASSERT_FALSE(ring.find("req-" + std::to_string(i - 200)));
    }
  }
  EXPECT_EQ(max_capacity_seen, kMaxBytes) << "the arena grew to the bound";
  EXPECT_LT(ring.size(), 200u) << "the byte bound evicted before the count bound";
}

TEST(RecentRecords, OneEntryAloneMayPassTheByteBound) {
  // A summary whose strings alone pass the bound (records are dropped
  // before that) is still kept, alone.
  RecentRecords ring(10, 4096);
  const std::string model(10000, 'm');
  RecentEntry e;
  e.id = "long";
  e.model = model;
  ring.push(e);
  ASSERT_TRUE(ring.find("long"));
  EXPECT_EQ(ring.find("long")->model, model);
  RecentEntry next;
  next.id = "next";
  ring.push(next);
  EXPECT_FALSE(ring.find("long"));
  EXPECT_TRUE(ring.find("next"));
  EXPECT_EQ(ring.size(), 1u);
}

}  // namespace
}  // namespace gw::dashboard
