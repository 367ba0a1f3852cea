// WorkerTimers: entries expire in order, once, at their lane's delay;
// removed entries never fire; an entry may move to another lane when due.
#include "server/worker_timers.h"

#include <gtest/gtest.h>

#include <vector>

namespace gw::server {
namespace {

using Clock = WorkerTimers::Clock;
using namespace std::chrono_literals;

struct Recorded : WorkerTimers::Entry {
  int id = 0;
  Clock::time_point fired{};
  std::vector<int>* log = nullptr;
};

void record(WorkerTimers::Entry& e) {
  auto& r = static_cast<Recorded&>(e);
  r.fired = Clock::now();
  r.log->push_back(r.id);
}

TEST(WorkerTimers, EntriesExpireInOrderAtTheirDelayAndRemovedOnesNever) {
  boost::asio::io_context io;
  WorkerTimers timers(io);
  WorkerTimers::Lane short_lane(timers, 20ms), long_lane(timers, 60ms);
  timers.registerLane(short_lane);
  timers.registerLane(long_lane);
  std::vector<int> log;
  Recorded a, b, c, d;
  int next_id = 1;
  for (Recorded* r : {&a, &b, &c, &d}) {
    r->id = next_id++;
    r->log = &log;
    r->on_due = &record;
  }
  const auto t0 = Clock::now();
  long_lane.add(a, t0);        // due t0 + 60
  short_lane.add(b, t0);       // due t0 + 20
  short_lane.add(c, t0 + 5ms);  // due t0 + 25
  short_lane.add(d, t0 + 5ms);
  WorkerTimers::Lane::remove(d, short_lane);  // ended before its time
  io.run_for(200ms);
  EXPECT_EQ(log, (std::vector<int>{2, 3, 1}));
  EXPECT_GE(b.fired - t0, 20ms);
  EXPECT_GE(c.fired - t0, 25ms);
  EXPECT_GE(a.fired - t0, 60ms);
  EXPECT_LT(a.fired - t0, 150ms);
  EXPECT_FALSE(a.linked || b.linked || c.linked || d.linked);
  WorkerTimers::Lane::remove(b, short_lane);  // already expired: no effect
}

// What ExchangeGuards does: due in the first lane, then moved to the second.
struct TwoStage : WorkerTimers::Entry {
  WorkerTimers::Lane* next = nullptr;
  Clock::time_point start{};
  int stages = 0;
};

void advance(WorkerTimers::Entry& e) {
  auto& t = static_cast<TwoStage&>(e);
  ++t.stages;
  if (t.next) {
    auto* lane = t.next;
    t.next = nullptr;
    lane->add(t, t.start);
  }
}

TEST(WorkerTimers, AnEntryDueInOneLaneMayJoinAnother) {
  boost::asio::io_context io;
  WorkerTimers timers(io);
  WorkerTimers::Lane watch(timers, 10ms), deadline(timers, 50ms);
  timers.registerLane(watch);
  timers.registerLane(deadline);
  TwoStage t;
  t.on_due = &advance;
  t.next = &deadline;
  t.start = Clock::now();
  watch.add(t, t.start);
  io.run_for(30ms);
  EXPECT_EQ(t.stages, 1);
  EXPECT_TRUE(t.linked);
  io.restart();
  io.run_for(100ms);
  EXPECT_EQ(t.stages, 2);
  EXPECT_GE(Clock::now() - t.start, 50ms);
}

TEST(WorkerTimers, TheTimerIsSetAgainAfterItWentIdle) {
  boost::asio::io_context io;
  WorkerTimers timers(io);
  WorkerTimers::Lane lane(timers, 5ms);
  timers.registerLane(lane);
  std::vector<int> log;
  Recorded r;
  r.log = &log;
  r.on_due = &record;
  for (int round = 1; round <= 3; ++round) {
    r.id = round;
    lane.add(r, Clock::now());
    io.restart();
    io.run_for(50ms);
  }
  EXPECT_EQ(log, (std::vector<int>{1, 2, 3}));
}

TEST(WorkerTimers, StoppedTimersLetTheEventLoopEnd) {
  // An entry removed before its (long) delay leaves the timer's wait
  // pending; stop() ends it at once, so io.run() returns at once.
  boost::asio::io_context io;
  WorkerTimers timers(io);
  WorkerTimers::Lane lane(timers, 10s);
  timers.registerLane(lane);
  std::vector<int> log;
  Recorded r;
  r.log = &log;
  r.on_due = &record;
  lane.add(r, Clock::now());
  WorkerTimers::Lane::remove(r, lane);
  timers.stop();
  lane.add(r, Clock::now());  // after stop(): never due
  const auto started = Clock::now();
  io.run();
  EXPECT_LT(Clock::now() - started, 1s);
  EXPECT_TRUE(log.empty());
  WorkerTimers::Lane::remove(r, lane);
}

}  // namespace
}  // namespace gw::server
