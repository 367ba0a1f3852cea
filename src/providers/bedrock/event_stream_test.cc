#include "providers/bedrock/event_stream.h"

#include "providers/bedrock/testing/event_stream_encoder.h"
#include "providers/common/testing/golden.h"

#include <gtest/gtest.h>

namespace gw::providers::bedrock::eventstream {
namespace {

struct Seen {
  std::vector<std::string> event_types;
  std::vector<std::string> payloads;
};

Status feedAll(Decoder& d, const std::vector<std::string_view>& pieces, Seen& seen) {
  for (auto p : pieces) {
    Status st = d.feed(p, [&](const Message& m) -> Status {
      seen.event_types.emplace_back(m.stringHeader(":event-type"));
      seen.payloads.emplace_back(m.payload);
      return ok();
    });
    if (!st) return st;
  }
  return ok();
}

std::string recordedStream() {
  return testing::encodeTranscript(
      testing::readFile(std::string(GW_TESTDATA_DIR) + "/providers/transcripts/bedrock-text.chunks.jsonl"));
}

TEST(EventStreamDecoder, DecodesARecordedStream) {
  std::string bytes = recordedStream();
  Decoder d;
  Seen seen;
  ASSERT_TRUE(feedAll(d, {bytes}, seen));
  EXPECT_TRUE(d.idle());
  ASSERT_EQ(seen.event_types.size(), 16u);
  EXPECT_EQ(seen.event_types.front(), "messageStart");
  EXPECT_EQ(seen.event_types[1], "contentBlockDelta");
  EXPECT_EQ(seen.payloads[1], R"({"contentBlockIndex":0,"delta":{"text":"Let"}})");
  EXPECT_EQ(seen.event_types.back(), "metadata");
}

TEST(EventStreamDecoder, EverySplitPointGivesTheSameMessages) {
  std::string bytes = recordedStream();
  Decoder whole;
  Seen expected;
  ASSERT_TRUE(feedAll(whole, {bytes}, expected));
  std::string_view all = bytes;
  for (std::size_t at = 0; at <= bytes.size(); ++at) {
    Decoder d;
    Seen seen;
    ASSERT_TRUE(feedAll(d, {all.substr(0, at), all.substr(at)}, seen)) << at;
    ASSERT_EQ(seen.payloads, expected.payloads) << "split at " << at;
    ASSERT_EQ(seen.event_types, expected.event_types) << "split at " << at;
    ASSERT_TRUE(d.idle());
  }
  // And three pieces around every message boundary region, one byte at a time.
  Decoder d;
  Seen seen;
  std::vector<std::string_view> bytewise;
  for (std::size_t i = 0; i < all.size(); ++i) bytewise.push_back(all.substr(i, 1));
  ASSERT_TRUE(feedAll(d, bytewise, seen));
  EXPECT_EQ(seen.payloads, expected.payloads);
}

TEST(EventStreamDecoder, PartialMessageIsBufferedNotDelivered) {
  std::string bytes = recordedStream();
  Decoder d;
  Seen seen;
  ASSERT_TRUE(feedAll(d, {std::string_view(bytes).substr(0, 20)}, seen));
  EXPECT_TRUE(seen.payloads.empty());
  EXPECT_FALSE(d.idle());
}

TEST(EventStreamDecoder, CorruptedPreludeCrcIsRejected) {
  std::string bytes = testing::encodeEventStreamMessage({{":message-type", "event"}}, "{}");
  bytes[9] ^= 0x01;
  Decoder d;
  Seen seen;
  auto st = feedAll(d, {bytes}, seen);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("prelude CRC"), std::string::npos);
  EXPECT_EQ(st.error().http_status, 502);
}

TEST(EventStreamDecoder, CorruptedPayloadFailsTheMessageCrc) {
  std::string bytes = testing::encodeEventStreamMessage({{":message-type", "event"}}, "{\"a\":1}");
  bytes[bytes.size() - 6] ^= 0x20;  // inside the payload
  Decoder d;
  Seen seen;
  auto st = feedAll(d, {bytes}, seen);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("message CRC"), std::string::npos);
  EXPECT_TRUE(seen.payloads.empty());
  // The decoder stays failed.
  std::string good = testing::encodeEventStreamMessage({{":message-type", "event"}}, "{}");
  EXPECT_FALSE(feedAll(d, {good}, seen));
}

TEST(EventStreamDecoder, OversizedMessageIsRejectedBeforeBuffering) {
  std::string bytes = testing::encodeEventStreamMessage({{":message-type", "event"}}, std::string(5000, 'x'));
  Decoder d(4096);
  Seen seen;
  // Only the prelude is needed to refuse it.
  auto st = feedAll(d, {std::string_view(bytes).substr(0, 12)}, seen);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("larger than the limit"), std::string::npos);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(EventStreamDecoder, ImpossibleLengthsAreRejected) {
  auto withPrelude = [](std::uint32_t total, std::uint32_t headers) {
    std::string m;
    testing::putU32(m, total);
    testing::putU32(m, headers);
    testing::putU32(m, testing::crcOf(m));
    return m;
  };
  for (auto [total, headers] : std::vector<std::pair<std::uint32_t, std::uint32_t>>{{15, 0}, {20, 8}, {0xFFFFFFFF, 0}}) {
    Decoder d;
    Seen seen;
    EXPECT_FALSE(feedAll(d, {withPrelude(total, headers)}, seen)) << total << "/" << headers;
  }
}

TEST(EventStreamDecoder, TruncatedHeadersAreRejected) {
  // A string header claiming 200 bytes of value inside 10 bytes of headers.
  std::string h = {3, 'a', 'b', 'c', 7, 0, static_cast<char>(200), 'x', 'y', 'z'};
  std::string m;
  testing::putU32(m, static_cast<std::uint32_t>(16 + h.size()));
  testing::putU32(m, static_cast<std::uint32_t>(h.size()));
  testing::putU32(m, testing::crcOf(m));
  m += h;
  testing::putU32(m, testing::crcOf(m));
  Decoder d;
  Seen seen;
  auto st = feedAll(d, {m}, seen);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("header"), std::string::npos);
}

TEST(EventStreamDecoder, ParsesEveryHeaderType) {
  std::string h;
  auto name = [&](std::string_view n, char type) {
    h.push_back(static_cast<char>(n.size()));
    h.append(n);
    h.push_back(type);
  };
  name("t", 0);
  name("f", 1);
  name("b", 2);
  h.push_back(static_cast<char>(0xFF));  // -1
  name("s", 3);
  h += std::string{static_cast<char>(0x01), static_cast<char>(0x02)};
  name("i", 4);
  h += std::string{static_cast<char>(0xFF), static_cast<char>(0xFF), static_cast<char>(0xFF), static_cast<char>(0xFE)};
  name("l", 5);
  h += std::string(7, '\0') + std::string(1, 42);
  name("y", 6);
  h += std::string{0, 2, 'h', 'i'};
  name("str", 7);
  h += std::string{0, 3, 'a', 'b', 'c'};
  name("ts", 8);
  h += std::string(6, '\0') + std::string{0x03, static_cast<char>(0xE8)};
  name("u", 9);
  h += std::string(16, 'U');
  std::string m;
  testing::putU32(m, static_cast<std::uint32_t>(16 + h.size() + 2));
  testing::putU32(m, static_cast<std::uint32_t>(h.size()));
  testing::putU32(m, testing::crcOf(m));
  m += h + "{}";
  testing::putU32(m, testing::crcOf(m));

  Decoder d;
  std::vector<Header> got;
  std::string payload;
  ASSERT_TRUE(d.feed(m, [&](const Message& msg) -> Status {
    got = msg.headers;
    payload = msg.payload;
    return ok();
  }));
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(got[0].integer, 1);
  EXPECT_EQ(got[1].integer, 0);
  EXPECT_EQ(got[2].integer, -1);
  EXPECT_EQ(got[3].integer, 0x0102);
  EXPECT_EQ(got[4].integer, -2);
  EXPECT_EQ(got[5].integer, 42);
  EXPECT_EQ(got[6].bytes, "hi");
  EXPECT_EQ(got[7].bytes, "abc");
  EXPECT_EQ(got[8].integer, 1000);
  EXPECT_EQ(got[9].bytes.size(), 16u);
  EXPECT_EQ(payload, "{}");
}

TEST(EventStreamDecoder, UnknownHeaderTypeIsRejected) {
  std::string h = {1, 'x', 10};
  std::string m;
  testing::putU32(m, static_cast<std::uint32_t>(16 + h.size()));
  testing::putU32(m, static_cast<std::uint32_t>(h.size()));
  testing::putU32(m, testing::crcOf(m));
  m += h;
  testing::putU32(m, testing::crcOf(m));
  Decoder d;
  Seen seen;
  EXPECT_FALSE(feedAll(d, {m}, seen));
}

TEST(EventStreamDecoder, CallbackErrorStopsDecoding) {
  std::string bytes = recordedStream();
  Decoder d;
  int calls = 0;
  auto st = d.feed(bytes, [&](const Message&) -> Status {
    ++calls;
    return Error::badGateway("stop", "stop");
  });
  EXPECT_FALSE(st);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace gw::providers::bedrock::eventstream
