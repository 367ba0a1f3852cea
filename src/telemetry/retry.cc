#include "telemetry/retry.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <iomanip>
#include <locale>
#include <mutex>
#include <sstream>

namespace gw {

Backoff::Backoff(RetryPolicy policy, std::function<double()> uniform01)
    : policy_(policy), uniform01_(std::move(uniform01)) {
  if (!uniform01_) {
    auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
    uniform01_ = [rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(*rng); };
  }
}

std::chrono::milliseconds Backoff::ceiling(int retry) const {
  using std::chrono::milliseconds;
  const int shift = std::clamp(retry - 1, 0, 40);
  const double cap = static_cast<double>(policy_.initial_backoff.count()) * static_cast<double>(1ull << shift);
  return milliseconds(static_cast<std::int64_t>(std::min(cap, static_cast<double>(policy_.max_backoff.count()))));
}

std::chrono::milliseconds Backoff::delay(int retry, std::optional<std::chrono::milliseconds> retry_after) const {
  if (retry_after)
    return std::clamp(*retry_after, std::chrono::milliseconds(0), policy_.max_retry_after);
  const double r = std::clamp(uniform01_(), 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(ceiling(retry).count()) * r));
}

CircuitBreaker::CircuitBreaker(int failure_threshold, std::chrono::milliseconds open_for,
                               std::chrono::milliseconds max_open_for)
    : threshold_(std::max(1, failure_threshold)), open_for_(open_for), max_open_for_(std::max(open_for, max_open_for)) {}

bool CircuitBreaker::allow(Clock::time_point now) {
  switch (state_) {
    case State::kClosed: return true;
    case State::kHalfOpen: return true;  // the probe (the owner runs one attempt at a time)
    case State::kOpen:
      if (now < reopen_at_) return false;
      state_ = State::kHalfOpen;
      return true;
  }
  return true;
}

void CircuitBreaker::onSuccess() {
  state_ = State::kClosed;
  consecutive_failures_ = 0;
  consecutive_opens_ = 0;
}

void CircuitBreaker::onFailure(Clock::time_point now) {
  ++consecutive_failures_;
  if (state_ == State::kHalfOpen || consecutive_failures_ >= threshold_) open(now);
}

void CircuitBreaker::trip(Clock::time_point now) { open(now); }

void CircuitBreaker::open(Clock::time_point now) {
  const int shift = std::min(consecutive_opens_, 20);
  auto wait = std::min<std::chrono::milliseconds::rep>(open_for_.count() << shift, max_open_for_.count());
  state_ = State::kOpen;
  reopen_at_ = now + std::chrono::milliseconds(wait);
  ++consecutive_opens_;
  consecutive_failures_ = 0;
}

std::optional<std::chrono::milliseconds> parseRetryAfter(std::string_view value,
                                                         std::chrono::system_clock::time_point now) {
  constexpr std::chrono::milliseconds kMax = std::chrono::hours(1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty() || value.size() > 64) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    std::int64_t seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    // Digits only: the one possible failure is a number too large, which
    // asks for the longest wait.
    if (ec != std::errc() || end != value.data() + value.size()) return kMax;
    return std::min<std::chrono::milliseconds>(std::chrono::seconds(std::min<std::int64_t>(seconds, 3600)), kMax);
  }
  std::tm tm{};
  std::istringstream in{std::string(value)};
  in.imbue(std::locale::classic());
  in >> std::get_time(&tm, "%a, %d %b %Y %H:%M:%S GMT");
  if (in.fail()) return std::nullopt;
  auto when = std::chrono::system_clock::from_time_t(timegm(&tm));
  if (when <= now) return std::chrono::milliseconds(0);
  return std::min(std::chrono::duration_cast<std::chrono::milliseconds>(when - now), kMax);
}

ExportResult classifyHttpStatus(int status, std::string message, std::optional<std::chrono::milliseconds> retry_after) {
  if (status >= 200 && status < 300) return ExportResult::success();
  if (status == 408 || status == 429 || (status >= 500 && status < 600))
    return ExportResult::retryable(std::move(message), retry_after);
  return ExportResult::permanent(std::move(message));
}

}  // namespace gw
