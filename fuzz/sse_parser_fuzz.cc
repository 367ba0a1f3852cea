// Fuzzes gw::SseParser (src/common/sse_parser.h), the parser every
// upstream SSE stream goes through, differentially: the same bytes parsed in
// one piece and in input-chosen pieces must yield the same events, because
// TCP may split a stream anywhere. A third parser with a small event limit
// exercises the overflow path, whose memory must stay bounded.
#include "common/sse_parser.h"
#include "fuzz_support.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace {

using Event = std::tuple<std::string, std::string, std::string>;

// Parses `pieces` in order; stops early after `stop_after` events (the
// callback's "stop" answer). Returns the events and whether the parser
// reported overflow.
std::vector<Event> parse(const std::vector<std::string_view>& pieces, std::size_t limit, std::size_t stop_after,
                         bool& overflowed, std::size_t& max_pending) {
  gw::SseParser parser(limit);
  std::vector<Event> events;
  for (std::string_view p : pieces) {
    bool go_on = parser.feed(p, [&](const gw::SseEvent& e) {
      events.emplace_back(e.event, e.data, e.id);
      return events.size() < stop_after;
    });
    max_pending = std::max(max_pending, parser.pending());
    if (!go_on) break;
  }
  overflowed = parser.overflowed();
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gw::fuzz::FuzzInput in(data, size);
  std::size_t stop_after = 1 + in.byte();  // 1..256 events before the consumer stops
  std::string_view sizes = in.bytes(32);
  std::string_view bytes = in.rest();
  constexpr std::size_t kLarge = 1 << 24;  // never reached with fuzz-sized inputs

  bool whole_overflow = false, split_overflow = false;
  std::size_t pending = 0;
  auto whole = parse({bytes}, kLarge, stop_after, whole_overflow, pending);
  auto split = parse(gw::fuzz::pieces(bytes, sizes, 64), kLarge, stop_after, split_overflow, pending);
  if (whole_overflow || split_overflow) std::abort();
  if (whole != split) std::abort();

  // Small limit: the parser may refuse the stream, but what it buffers
  // never exceeds the limit by more than the piece it is given.
  constexpr std::size_t kSmall = 48;
  bool small_overflow = false;
  std::size_t small_pending = 0;
  auto small = parse(gw::fuzz::pieces(bytes, sizes, 64), kSmall, stop_after, small_overflow, small_pending);
  if (small_pending > kSmall + 64) std::abort();
  // Events delivered before an overflow are the same events, in order.
  if (small.size() > split.size() || !std::equal(small.begin(), small.end(), split.begin())) std::abort();
  return 0;
}
