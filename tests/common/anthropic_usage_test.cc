#include "common/anthropic_usage.h"
#include "common/anthropic_error.h"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace gw {
namespace {

TEST(MessagesUsage, InputIncludesCacheReadsAndWrites) {
  Usage u;
  readMessagesUsage(boost::json::parse(R"({"input_tokens":2,"cache_creation_input_tokens":3068,
      "cache_read_input_tokens":10,"output_tokens":69,"output_tokens_details":{"thinking_tokens":40}})").as_object(),
                    u);
  EXPECT_EQ(u.input, 3080);
  EXPECT_EQ(u.cached_input, 10);
  EXPECT_EQ(u.cache_creation, 3068);
  EXPECT_EQ(u.output, 69);
  EXPECT_EQ(u.total, 3149);
  EXPECT_EQ(u.reasoning, 40);
}

TEST(MessagesUsage, LaterEventReplacesEachCountItGivesNeverAdds) {
  Usage u;
  // message_start, then message_delta events repeating counts cumulatively.
  ASSERT_TRUE(scanMessagesUsage(R"({"type":"message_start","message":{"id":"m","usage":{"input_tokens":2,
      "cache_creation_input_tokens":3068,"cache_read_input_tokens":0,"output_tokens":1}}})", u));
  EXPECT_EQ(u.input, 3070);
  ASSERT_TRUE(scanMessagesUsage(R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},
      "usage":{"output_tokens":50}})", u));
  EXPECT_EQ(u.input, 3070) << "a delta without input counts keeps them";
  EXPECT_EQ(u.output, 50);
  ASSERT_TRUE(scanMessagesUsage(R"({"type":"message_delta","usage":{"input_tokens":2,
      "cache_creation_input_tokens":3068,"output_tokens":69}})", u));
  EXPECT_EQ(u.input, 3070) << "repeated cumulative counts are not summed";
  EXPECT_EQ(u.cache_creation, 3068);
  EXPECT_EQ(u.cached_input, 0);
  EXPECT_EQ(u.output, 69);
  EXPECT_EQ(u.total, 3139);
  // Only a cache count: the uncached part stays, the cache part is replaced.
  ASSERT_TRUE(scanMessagesUsage(R"({"usage":{"cache_read_input_tokens":100}})", u));
  EXPECT_EQ(u.input, 3170);
  EXPECT_EQ(u.cached_input, 100);
}

TEST(MessagesUsage, ScanFindsTheTopLevelUsageOfABodyOrItsTail) {
  const std::string body =
      R"({"id":"msg_1","type":"message","content":[{"type":"tool_use","input":{"usage":{"input_tokens":999}}}],)"
      R"("stop_reason":"end_turn","usage":{"input_tokens":13,"output_tokens":4}})";
  Usage u;
  ASSERT_TRUE(scanMessagesUsage(body, u));
  EXPECT_EQ(u.input, 13);
  EXPECT_EQ(u.output, 4);
  Usage tail;
  ASSERT_TRUE(scanMessagesUsage(std::string_view(body).substr(body.size() - 50), tail));
  EXPECT_EQ(tail.input, 13);
}

TEST(MessagesUsage, MalformedOrMissingUsageLeavesCountsUnset) {
  for (const char* text : {"", "{}", R"({"usage":null})", R"({"usage":{"input_tokens":)", R"({"usage":[1,2]})",
                           R"({"usage":{"input_tokens":"12","output_tokens":true}})", "\"usage\":{"}) {
    Usage u;
    scanMessagesUsage(text, u);
    EXPECT_FALSE(u.input) << text;
    EXPECT_FALSE(u.output) << text;
  }
  Usage negative;
  ASSERT_TRUE(scanMessagesUsage(R"({"usage":{"input_tokens":-5,"output_tokens":18446744073709551615}})", negative));
  EXPECT_EQ(negative.input, 0);
  EXPECT_EQ(negative.output, INT64_MAX);
}

TEST(AnthropicError, ShapeAndTypeByStatus) {
  EXPECT_EQ(anthropicErrorBody(Error::badRequest("invalid_json", "bad body")),
            R"({"type":"error","error":{"type":"invalid_request_error","message":"bad body"}})");
  EXPECT_EQ(anthropicErrorType(401), "authentication_error");
  EXPECT_EQ(anthropicErrorType(403), "permission_error");
  EXPECT_EQ(anthropicErrorType(404), "not_found_error");
  EXPECT_EQ(anthropicErrorType(413), "request_too_large");
  EXPECT_EQ(anthropicErrorType(429), "rate_limit_error");
  EXPECT_EQ(anthropicErrorType(502), "api_error");
  EXPECT_EQ(anthropicErrorType(503), "overloaded_error");
  EXPECT_EQ(anthropicErrorType(504), "timeout_error");
  EXPECT_EQ(anthropicErrorType(422), "invalid_request_error");
  EXPECT_EQ(anthropicErrorEvent(Error::gatewayTimeout("late")),
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"timeout_error\",\"message\":\"late\"}}\n\n");
}

}  // namespace
}  // namespace gw
