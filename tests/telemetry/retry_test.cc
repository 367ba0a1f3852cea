#include "telemetry/retry.h"

#include <gtest/gtest.h>

namespace gw {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

TEST(Backoff, ExponentialWithFullJitterAndCap) {
  RetryPolicy p;
  p.initial_backoff = 100ms;
  p.max_backoff = 1000ms;
  Backoff upper(p, [] { return 1.0; });
  EXPECT_EQ(upper.delay(1, std::nullopt), 100ms);
  EXPECT_EQ(upper.delay(2, std::nullopt), 200ms);
  EXPECT_EQ(upper.delay(3, std::nullopt), 400ms);
  EXPECT_EQ(upper.delay(4, std::nullopt), 800ms);
  EXPECT_EQ(upper.delay(5, std::nullopt), 1000ms);
  EXPECT_EQ(upper.delay(60, std::nullopt), 1000ms);
  Backoff half(p, [] { return 0.5; });
  EXPECT_EQ(half.delay(3, std::nullopt), 200ms);
  Backoff real(p);
  for (int i = 0; i < 100; ++i) {
    auto d = real.delay(3, std::nullopt);
    EXPECT_GE(d, 0ms);
    EXPECT_LE(d, 400ms);
  }
}

TEST(Backoff, RetryAfterWinsAndIsCapped) {
  RetryPolicy p;
  p.max_retry_after = 60s;
  Backoff b(p, [] { return 1.0; });
  EXPECT_EQ(b.delay(1, 7s), 7s);
  EXPECT_EQ(b.delay(1, 3600s), 60s);
}

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresThenProbes) {
  CircuitBreaker cb(3, 1000ms, 10s);
  Clock::time_point t{};
  EXPECT_TRUE(cb.allow(t));
  cb.onFailure(t);
  cb.onFailure(t);
  cb.onSuccess();  // resets the count
  cb.onFailure(t);
  cb.onFailure(t);
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kClosed);
  cb.onFailure(t);
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kOpen);
  EXPECT_FALSE(cb.allow(t + 999ms));
  EXPECT_TRUE(cb.allow(t + 1000ms));
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kHalfOpen);
  cb.onFailure(t + 1000ms);  // the probe failed: open again, twice as long
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kOpen);
  EXPECT_EQ(cb.reopenAt(), t + 3000ms);
  EXPECT_TRUE(cb.allow(t + 3000ms));
  cb.onSuccess();
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kClosed);
  cb.trip(t + 5s);
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kOpen);
  EXPECT_EQ(cb.reopenAt(), t + 6s);
}

TEST(RetryAfter, SecondsAndHttpDate) {
  auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(parseRetryAfter("120", now), milliseconds(120000));
  EXPECT_EQ(parseRetryAfter(" 0 ", now), milliseconds(0));
  EXPECT_EQ(parseRetryAfter("Sun, 06 Nov 1994 08:50:07 GMT", now), milliseconds(30000));
  EXPECT_EQ(parseRetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", now), milliseconds(0));
  EXPECT_FALSE(parseRetryAfter("", now));
  EXPECT_FALSE(parseRetryAfter("-5", now));
  EXPECT_FALSE(parseRetryAfter("soon", now));
  EXPECT_EQ(parseRetryAfter("7200", now), milliseconds(3600000));  // capped at one hour
  EXPECT_EQ(parseRetryAfter("99999999999999999999999", now), milliseconds(3600000));
  EXPECT_EQ(parseRetryAfter("Sun, 06 Nov 2094 08:00:00 GMT", now), milliseconds(3600000));
  EXPECT_FALSE(parseRetryAfter("1.5", now));
  EXPECT_FALSE(parseRetryAfter(std::string(65, '1'), now));
}

TEST(ClassifyHttpStatus, OnlyTransientStatusesRetry) {
  EXPECT_EQ(classifyHttpStatus(200, "").kind, ExportResult::Kind::kSuccess);
  EXPECT_EQ(classifyHttpStatus(204, "").kind, ExportResult::Kind::kSuccess);
  for (int s : {408, 429, 500, 502, 503, 504, 599})
    EXPECT_EQ(classifyHttpStatus(s, "").kind, ExportResult::Kind::kRetryable) << s;
  for (int s : {100, 301, 400, 401, 403, 404, 409, 413, 422, 600})
    EXPECT_EQ(classifyHttpStatus(s, "").kind, ExportResult::Kind::kPermanent) << s;
  EXPECT_EQ(classifyHttpStatus(429, "", 5s).retry_after, milliseconds(5000));
}

}  // namespace
}  // namespace gw
