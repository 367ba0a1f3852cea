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

// The usual event, one "data:" line and a blank line in LF, is handed over
// in place (its data points into the bytes fed, no copy); every neighbouring
// shape still takes the line-by-line path with the same result.
TEST(SseParser, SingleDataLineEventIsHandedOverInPlace) {
  const std::string stream =
      "data: {\"a\":1}\n\n"        // in place
      "data:{\"b\":2}\n\n"         // in place, no space after the colon
      "data:  two spaces\n\n"      // in place, one space removed
      "data: x\r\n\r\n"            // CRLF: line path
      "data: y\n\r\n"              // blank line in CRLF: line path
      "event: e\ndata: z\n\n"      // event field: line path
      "data: p\ndata: q\n\n"       // two data lines: line path
      "data\n\n"                   // no colon: empty data, line path
      "data: tail\n";              // unfinished: held
  SseParser p;
  std::vector<Collected> events;
  std::vector<bool> in_place;
  ASSERT_TRUE(p.feed(stream, [&](const SseEvent& e) {
    events.push_back({std::string(e.event), std::string(e.data)});
    in_place.push_back(e.data.data() >= stream.data() && e.data.data() < stream.data() + stream.size());
    return true;
  }));
  ASSERT_EQ(events.size(), 8u);
  EXPECT_EQ(events[0].data, "{\"a\":1}");
  EXPECT_EQ(events[1].data, "{\"b\":2}");
  EXPECT_EQ(events[2].data, " two spaces");
  EXPECT_EQ(events[3].data, "x");
  EXPECT_EQ(events[4].data, "y");
  EXPECT_EQ(events[5].event, "e");
  EXPECT_EQ(events[5].data, "z");
  EXPECT_EQ(events[6].data, "p\nq");
  EXPECT_EQ(events[7].data, "");
  EXPECT_EQ(in_place, (std::vector<bool>{true, true, true, false, false, false, false, false}));
  EXPECT_GT(p.pending(), 0u);
  // The same bytes in every split give the same events.
  for (std::size_t step = 1; step < stream.size(); ++step) {
    SseParser q;
    auto split = parseAll(q, stream, step);
    ASSERT_EQ(split.size(), events.size()) << "step " << step;
    for (std::size_t i = 0; i < split.size(); ++i) {
      EXPECT_EQ(split[i].event, events[i].event);
      EXPECT_EQ(split[i].data, events[i].data);
    }
  }
  // An in-place event larger than the limit is refused as the line path
  // refuses it.
  SseParser small(8);
  EXPECT_FALSE(small.feed("data: 0123456789\n\n", [](const SseEvent&) { return true; }));
  EXPECT_TRUE(small.overflowed());
}

TEST(SseFraming, CompleteSseEventsPrefix) {
  EXPECT_EQ(completeSseEventsPrefix(""), 0u);
  EXPECT_EQ(completeSseEventsPrefix("data: a\n\n"), 9u);
  EXPECT_EQ(completeSseEventsPrefix("data: a\n\ndata: b"), 9u);
  EXPECT_EQ(completeSseEventsPrefix("data: a\n\ndata: b\n"), 9u);
  EXPECT_EQ(completeSseEventsPrefix("data: a\r\n\r\n"), 11u);
  EXPECT_EQ(completeSseEventsPrefix("data: a\r\n\r"), 0u) << "the CR may be the start of a CRLF";
  EXPECT_EQ(completeSseEventsPrefix("data: a\r\rdata: b"), 9u);
  EXPECT_EQ(completeSseEventsPrefix("data: a\n\r\nx"), 10u);
  EXPECT_EQ(completeSseEventsPrefix("data: a\ndata: b\n"), 0u);
}

TEST(SseFraming, CompleteEventRelayForwardsWholeEventsOnly) {
  CompleteEventRelay relay;
  std::string out;
  relay.forward("event: a\ndata: 1\n\nevent: b\nda", out);
  EXPECT_EQ(out, "event: a\ndata: 1\n\n");
  EXPECT_EQ(relay.held(), 11u);  // "event: b\nda"
  relay.forward("ta: 2\n", out);
  EXPECT_EQ(out, "event: a\ndata: 1\n\n");
  relay.forward("\n", out);
  EXPECT_EQ(out, "event: a\ndata: 1\n\nevent: b\ndata: 2\n\n");
  relay.forward("data: 3", out);
  relay.drop();
  relay.flush(out);
  EXPECT_EQ(out, "event: a\ndata: 1\n\nevent: b\ndata: 2\n\n") << "a dropped partial event is never sent";
  relay.forward("data: 4", out);
  relay.flush(out);
  EXPECT_EQ(out, "event: a\ndata: 1\n\nevent: b\ndata: 2\n\ndata: 4") << "the end of the stream sends the rest";
}

}  // namespace
}  // namespace gw
