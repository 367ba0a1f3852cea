#include "common/route_entries.h"

#include "common/strings.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <string>
#include <string_view>

namespace gw {

namespace {

constexpr std::string_view kRoutesKey = "routes";
constexpr std::size_t kMaxValueBytes = 1024;

// The keys a mapping may hold, its field for errors, and the keys seen (a
// key given twice is an error).
class KeyCheck {
 public:
  KeyCheck(std::string field, std::initializer_list<std::string_view> known) : field_(std::move(field)), known_(known) {}

  // The field of `key` when it is known and new, else the error.
  Result<std::string> accept(const YAML::Node& key_node) {
    if (!key_node.IsScalar()) return configError(field_, "keys must be strings");
    const std::string& key = key_node.Scalar();
    if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
      std::string list;
      for (auto k : known_) list += (list.empty() ? "" : ", ") + std::string(k);
      return configError(field_ + "." + printableExcerpt(key), "unknown key (known: " + list + ")");
    }
    std::string field = field_ + "." + key;
    if (std::find(seen_.begin(), seen_.end(), key) != seen_.end()) return configError(field, "given twice");
    seen_.push_back(key);
    return field;
  }
  bool seen(std::string_view key) const { return std::find(seen_.begin(), seen_.end(), key) != seen_.end(); }

 private:
  std::string field_;
  std::vector<std::string_view> known_;
  std::vector<std::string> seen_;
};

Result<std::string> stringValue(const YAML::Node& node, const std::string& field) {
  if (!node.IsScalar()) return configError(field, "must be a string");
  if (node.Scalar().empty()) return configError(field, "must not be empty");
  if (node.Scalar().size() > kMaxValueBytes)
    return configError(field, "longer than " + std::to_string(kMaxValueBytes) + " bytes");
  return node.Scalar();
}

Result<std::int64_t> intValue(const YAML::Node& node, const std::string& field, std::int64_t min, std::int64_t max) {
  const std::string range = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  if (!node.IsScalar()) return configError(field, "must be " + range);
  std::string_view s = node.Scalar();
  std::int64_t out = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || ptr != s.data() + s.size() || out < min || out > max)
    return configError(field, "must be " + range + ", got '" + printableExcerpt(s) + "'");
  return out;
}

Result<double> weightValue(const YAML::Node& node, const std::string& field) {
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    char* end = nullptr;
    double w = s.empty() ? 0 : std::strtod(s.c_str(), &end);
    if (end && *end == '\0' && std::isfinite(w) && w > 0 && w <= 1e6) return w;
  }
  return configError(field, "must be a number greater than 0 (at most 1000000)");
}

Result<std::vector<std::string>> stringList(const YAML::Node& node, const std::string& field, std::size_t max) {
  if (!node.IsSequence()) return configError(field, "must be a list");
  if (node.size() > max) return configError(field, "more than " + std::to_string(max) + " items");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < node.size(); ++i) {
    auto v = stringValue(node[i], field + "[" + std::to_string(i) + "]");
    if (!v) return v.error();
    out.push_back(std::move(*v));
  }
  return out;
}

Result<RouteTargetEntry> parseTarget(const YAML::Node& node, const std::string& field) {
  RouteTargetEntry t;
  t.field = field;
  if (!node.IsMap()) return configError(field, "must be a mapping (provider, model, api_key_env, weight)");
  KeyCheck keys(field, {"provider", "model", "api_key_env", "weight"});
  for (const auto& item : node) {
    auto f = keys.accept(item.first);
    if (!f) return f.error();
    const std::string& key = item.first.Scalar();
    if (key == "weight") {
      auto w = weightValue(item.second, *f);
      if (!w) return w.error();
      t.weight = *w;
      continue;
    }
    auto v = stringValue(item.second, *f);
    if (!v) return v.error();
    if (key == "provider") t.provider = toLower(*v);
    else if (key == "model") t.model = std::move(*v);
    else t.api_key_env = std::move(*v);
  }
  if (!keys.seen("provider")) return configError(field + ".provider", "missing");
  return t;
}

Status parseRetry(const YAML::Node& node, const std::string& field, RouteEntry& r) {
  if (!node.IsMap()) return configError(field, "must be a mapping (attempts, on, backoff_ms, max_retry_after_ms)");
  KeyCheck keys(field, {"attempts", "on", "backoff_ms", "max_retry_after_ms"});
  for (const auto& item : node) {
    auto f = keys.accept(item.first);
    if (!f) return f.error();
    const std::string& key = item.first.Scalar();
    if (key == "on") {
      if (!item.second.IsSequence()) return configError(*f, "must be a list of HTTP statuses, connect_error and timeout");
      if (item.second.size() > 64) return configError(*f, "more than 64 conditions");
      r.retry_statuses.clear();
      r.retry_connect_error = r.retry_timeout = false;
      for (std::size_t i = 0; i < item.second.size(); ++i) {
        const std::string cf = *f + "[" + std::to_string(i) + "]";
        const YAML::Node& c = item.second[i];
        if (!c.IsScalar()) return configError(cf, "must be an HTTP status, connect_error or timeout");
        const std::string& s = c.Scalar();
        if (s == "connect_error") {
          r.retry_connect_error = true;
        } else if (s == "timeout") {
          r.retry_timeout = true;
        } else {
          auto status = intValue(c, cf, 400, 599);
          if (!status) return configError(cf, "must be an HTTP error status (400 to 599), connect_error or timeout, got '" +
                                                  printableExcerpt(s) + "'");
          r.retry_statuses.push_back(static_cast<int>(*status));
        }
      }
      continue;
    }
    if (key == "attempts") {
      auto v = intValue(item.second, *f, 1, 10);
      if (!v) return v.error();
      r.attempts = *v;
    } else if (key == "backoff_ms") {
      auto v = intValue(item.second, *f, 0, 60000);
      if (!v) return v.error();
      r.backoff_ms = *v;
    } else {
      auto v = intValue(item.second, *f, 0, 600000);
      if (!v) return v.error();
      r.max_retry_after_ms = *v;
    }
  }
  return ok();
}

Status parseCooldown(const YAML::Node& node, const std::string& field, RouteEntry& r) {
  if (!node.IsMap()) return configError(field, "must be a mapping (failures, window_ms, for_ms)");
  KeyCheck keys(field, {"failures", "window_ms", "for_ms"});
  for (const auto& item : node) {
    auto f = keys.accept(item.first);
    if (!f) return f.error();
    const std::string& key = item.first.Scalar();
    if (key == "failures") {
      auto v = intValue(item.second, *f, 1, 1000000);
      if (!v) return v.error();
      r.cooldown_failures = *v;
    } else if (key == "window_ms") {
      auto v = intValue(item.second, *f, 1, 86400000);
      if (!v) return v.error();
      r.cooldown_window_ms = *v;
    } else {
      auto v = intValue(item.second, *f, 0, 86400000);
      if (!v) return v.error();
      r.cooldown_for_ms = *v;
    }
  }
  return ok();
}

Result<RouteEntry> parseRoute(const YAML::Node& node, std::size_t index) {
  RouteEntry r;
  r.field = "routes[" + std::to_string(index) + "]";
  if (!node.IsMap()) return configError(r.field, "must be a mapping (model, strategy, targets, retry, fallbacks, cooldown)");
  KeyCheck keys(r.field, {"model", "strategy", "targets", "retry", "fallbacks", "cooldown"});
  for (const auto& item : node) {
    auto f = keys.accept(item.first);
    if (!f) return f.error();
    const std::string& key = item.first.Scalar();
    const YAML::Node& v = item.second;
    if (key == "model") {
      auto m = stringValue(v, *f);
      if (!m) return m.error();
      r.model = std::move(*m);
    } else if (key == "strategy") {
      auto s = stringValue(v, *f);
      if (!s) return s.error();
      if (*s != "weighted" && *s != "ordered" && *s != "least_busy" && *s != "lowest_latency")
        return configError(*f, "unknown strategy '" + printableExcerpt(*s) +
                                   "' (known: weighted, ordered, least_busy, lowest_latency)");
      r.strategy = std::move(*s);
    } else if (key == "targets") {
      if (!v.IsSequence() || v.size() == 0) return configError(*f, "must be a non-empty list of targets");
      if (v.size() > kMaxRouteTargets)
        return configError(*f, "more than " + std::to_string(kMaxRouteTargets) + " targets");
      for (std::size_t i = 0; i < v.size(); ++i) {
        auto t = parseTarget(v[i], *f + "[" + std::to_string(i) + "]");
        if (!t) return t.error();
        r.targets.push_back(std::move(*t));
      }
    } else if (key == "retry") {
      if (auto st = parseRetry(v, *f, r); !st) return st.error();
    } else if (key == "fallbacks") {
      auto list = stringList(v, *f, kMaxRouteFallbacks);
      if (!list) return list.error();
      r.fallbacks = std::move(*list);
    } else {
      if (auto st = parseCooldown(v, *f, r); !st) return st.error();
    }
  }
  if (!keys.seen("model")) return configError(r.field + ".model", "missing");
  if (!keys.seen("targets")) return configError(r.field + ".targets", "missing");
  return r;
}

}  // namespace

Status parseRoutes(const YAML::Node& node, std::vector<RouteEntry>& out) {
  if (node.IsNull()) return ok();
  if (!node.IsSequence()) return configError(kRoutesKey, "must be a list of routes");
  if (node.size() > kMaxRouteEntries)
    return configError(kRoutesKey, "more than " + std::to_string(kMaxRouteEntries) + " routes");
  for (std::size_t i = 0; i < node.size(); ++i) {
    auto entry = parseRoute(node[i], i);
    if (!entry) return entry.error();
    out.push_back(std::move(*entry));
  }
  return ok();
}

}  // namespace gw
