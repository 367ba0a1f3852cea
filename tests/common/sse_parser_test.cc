#include "common/sse_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gw {
namespace {

struct Collected {
  std::string event, data;
};

std::vector<Collected> parseAll(SseParser& p, std::string_view in, std::size_t step) {
  std::vector<Collected> out;
  for (std::size_t i = 0; i < in.size(); i += step)
    EXPECT_TRUE(p.feed(in.substr(i, step), [&](const SseEvent& e) {
      out.push_back({std::string(e.event), std::string(e.data)});
      return true;
    }));
  return out;
}

TEST(SseParser, EveryLineEndingAndEverySplitPoint) {
  const std::string stream =
      "event: message_start\ndata: {\"a\":1}\n\n"
      ": comment\r\n"
      "data: line1\r\ndata: line2\r\n\r\n"
      "data:nospace\r\r"
      "event: ping\ndata: {}\n\n";
  for (std::size_t step = 1; step <= stream.size(); ++step) {
    SseParser p;
    auto events = parseAll(p, stream, step);
    ASSERT_EQ(events.size(), 4u) << "step " << step;
    EXPECT_EQ(events[0].event, "message_start");
    EXPECT_EQ(events[0].data, "{\"a\":1}");
    EXPECT_EQ(events[1].data, "line1\nline2");
    EXPECT_EQ(events[1].event, "");
    EXPECT_EQ(events[2].data, "nospace");
    EXPECT_EQ(events[3].event, "ping");
    EXPECT_EQ(p.pending(), 0u);
  }
}

TEST(SseParser, IncompleteEventIsHeldNotEmitted) {
  SseParser p;
  auto events = parseAll(p, "data: partial", 100);
  EXPECT_TRUE(events.empty());
  EXPECT_GT(p.pending(), 0u);
}

TEST(SseParser, OversizedEventIsRejected) {
  SseParser p(64);
  std::string big = "data: " + std::string(100, 'x');
  EXPECT_FALSE(p.feed(big, [](const SseEvent&) { return true; }));
  EXPECT_TRUE(p.overflowed());
  SseParser q(64);
  std::string many;
  for (int i = 0; i < 20; ++i) many += "data: xxxxxxxx\n";
  EXPECT_FALSE(q.feed(many, [](const SseEvent&) { return true; }));
}

TEST(SseParser, CallbackCanStop) {
  SseParser p;
  int n = 0;
  EXPECT_FALSE(p.feed("data: 1\n\ndata: 2\n\n", [&](const SseEvent&) { return ++n < 1; }));
  EXPECT_EQ(n, 1);
}

}  // namespace
}  // namespace gw
