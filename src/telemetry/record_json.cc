#include "telemetry/record_json.h"

#include <boost/json/object.hpp>

#include <charconv>
#include <cmath>
#include <ctime>

namespace gw {
namespace {

bool readDigits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::optional<std::int64_t> parseRfc3339(std::string_view s) {
  int year, month, day, hour, minute, second;
  if (s.size() < 20 || !readDigits(s, 0, 4, year) || s[4] != '-' || !readDigits(s, 5, 2, month) || s[7] != '-' ||
      !readDigits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !readDigits(s, 11, 2, hour) ||
      s[13] != ':' || !readDigits(s, 14, 2, minute) || s[16] != ':' || !readDigits(s, 17, 2, second))
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  std::size_t pos = 19;
  std::int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::int64_t scale = 100000000;
    std::size_t digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 9) nanos += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
      ++digits;
    }
    if (digits == 0) return std::nullopt;
  }
  std::int64_t offset_seconds = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!readDigits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !readDigits(s, pos + 4, 2, om))
      return std::nullopt;
    offset_seconds = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  std::int64_t epoch = timegm(&tm) - offset_seconds;
  // Nanoseconds since 1970 in an int64 span the years 1677-2262; a
  // timestamp outside them is not one this gateway wrote (fuzz_exporters).
  constexpr std::int64_t kMaxSeconds = 9'223'372'035;
  if (epoch > kMaxSeconds || epoch < -kMaxSeconds) return std::nullopt;
  return epoch * 1000000000 + nanos;
}

const boost::json::value* findPath(const boost::json::object& root, std::initializer_list<std::string_view> path) {
  const boost::json::object* obj = &root;
  const boost::json::value* v = nullptr;
  for (auto key : path) {
    if (!obj) return nullptr;
    v = obj->if_contains(key);
    if (!v) return nullptr;
    obj = v->if_object();
  }
  return v;
}

std::optional<std::string> stringAt(const boost::json::object& root, std::initializer_list<std::string_view> path) {
  const auto* v = findPath(root, path);
  if (!v) return std::nullopt;
  if (const auto* s = v->if_string()) return std::string(*s);
  if (v->is_int64()) return std::to_string(v->get_int64());
  if (v->is_uint64()) return std::to_string(v->get_uint64());
  return std::nullopt;
}

std::optional<std::int64_t> intAt(const boost::json::object& root, std::initializer_list<std::string_view> path) {
  const auto* v = findPath(root, path);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_double() && std::isfinite(v->get_double()) && std::fabs(v->get_double()) < 9e18)
    return static_cast<std::int64_t>(std::llround(v->get_double()));
  return std::nullopt;
}

std::optional<double> numberAt(const boost::json::object& root, std::initializer_list<std::string_view> path) {
  const auto* v = findPath(root, path);
  if (!v) return std::nullopt;
  if (v->is_double()) return std::isfinite(v->get_double()) ? std::optional<double>(v->get_double()) : std::nullopt;
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  return std::nullopt;
}

std::vector<std::string> finishReasonsOf(const boost::json::object& response) {
  std::vector<std::string> out;
  auto text = [](const boost::json::value* v) -> const boost::json::string* {
    const auto* s = v ? v->if_string() : nullptr;
    return s && !s->empty() ? s : nullptr;
  };
  if (const auto* choices = response.if_contains("choices"); choices && choices->is_array()) {
    for (const auto& choice : choices->get_array())
      if (const auto* c = choice.if_object())
        if (const auto* reason = text(c->if_contains("finish_reason"))) out.emplace_back(*reason);
    return out;
  }
  if (const auto* reason = text(response.if_contains("stop_reason"))) {
    out.emplace_back(*reason);
    return out;
  }
  if (const auto* object = text(response.if_contains("object")); object && *object == "response") {
    const boost::json::string* reason = nullptr;
    if (const auto* details = response.if_contains("incomplete_details"); details && details->is_object())
      reason = text(details->get_object().if_contains("reason"));
    if (!reason) reason = text(response.if_contains("status"));
    if (reason) out.emplace_back(*reason);
  }
  return out;
}

RecordFields fieldsFromJson(const boost::json::object& j) {
  RecordFields f;
  f.id = stringAt(j, {"attributes", "id"}).value_or("");
  f.timestamp = stringAt(j, {"timestamp"}).value_or("");
  f.unix_nanos = parseRfc3339(f.timestamp);
  f.name = stringAt(j, {"name"}).value_or("ai_gateway_request_log");
  f.service_name = stringAt(j, {"resource", "service.name"});
  f.service_version = stringAt(j, {"resource", "service.version"});
  f.environment = stringAt(j, {"resource", "deployment.environment"});
  f.provider = stringAt(j, {"attributes", "provider"});
  f.model = stringAt(j, {"attributes", "model"});
  f.project_id = stringAt(j, {"attributes", "project_id"});
  if (!f.project_id) f.project_id = stringAt(j, {"attributes", "metadata", "project_id"});
  f.project_name = stringAt(j, {"attributes", "metadata", "project_name"});
  f.org_id = stringAt(j, {"attributes", "org_id"});
  f.user_id = stringAt(j, {"attributes", "user_id"});
  f.thread_id = stringAt(j, {"attributes", "thread_id"});
  f.experiment_id = stringAt(j, {"attributes", "experiment_id"});
  f.status = stringAt(j, {"attributes", "metadata", "status"});
  f.path = stringAt(j, {"attributes", "metadata", "path"});
  f.method = stringAt(j, {"attributes", "metadata", "method"});
  f.error_type = stringAt(j, {"attributes", "metadata", "error_type"});
  f.provider_error_type = stringAt(j, {"attributes", "metadata", "provider_error_type"});
  f.provider_request_id = stringAt(j, {"attributes", "metadata", "provider_request_id"});
  f.route = stringAt(j, {"attributes", "metadata", "route"});
  f.response_model = stringAt(j, {"attributes", "response", "model"});
  f.response_id = stringAt(j, {"attributes", "response", "id"});
  if (const auto* response = findPath(j, {"attributes", "response"}); response && response->is_object())
    f.finish_reasons = finishReasonsOf(response->get_object());
  f.cost_status = stringAt(j, {"attributes", "metadata", "cost_status"});
  f.input_tokens = intAt(j, {"attributes", "metadata", "tokens", "input"});
  f.output_tokens = intAt(j, {"attributes", "metadata", "tokens", "output"});
  f.total_tokens = intAt(j, {"attributes", "metadata", "tokens", "total"});
  f.cached_input_tokens = intAt(j, {"attributes", "metadata", "tokens", "cached_input"});
  f.cache_creation_tokens = intAt(j, {"attributes", "metadata", "tokens", "cache_creation"});
  f.reasoning_tokens = intAt(j, {"attributes", "metadata", "tokens", "reasoning"});
  f.status_code = intAt(j, {"attributes", "metadata", "status_code"});
  f.provider_status_code = intAt(j, {"attributes", "metadata", "provider_status_code"});
  f.request_size = intAt(j, {"attributes", "metadata", "request_size"});
  f.response_size = intAt(j, {"attributes", "metadata", "response_size"});
  f.cost = numberAt(j, {"attributes", "metadata", "cost"});
  f.latency_ms = numberAt(j, {"attributes", "metadata", "latency"});
  f.ttfb_ms = numberAt(j, {"attributes", "metadata", "ttfb"});
  f.provider_latency_ms = numberAt(j, {"attributes", "metadata", "provider_latency"});
  if (const auto* s = findPath(j, {"attributes", "request", "stream"}); s && s->is_bool()) f.streamed = s->get_bool();
  return f;
}

}  // namespace gw
