#include "dashboard/dashboard.h"

#include "keys/virtual_key.h"

#include "common/openai_error.h"
#include "config/core_settings.h"

#include <boost/json/serialize.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>

namespace gw::dashboard {

namespace json = boost::json;

namespace {

std::int64_t wallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Error badParam(std::string message) { return Error::badRequest("invalid_parameter", std::move(message)); }

std::optional<std::string> percentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      unsigned v = 0;
      auto [p, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16);
      if (ec != std::errc() || p != in.data() + i + 3) return std::nullopt;
      out += static_cast<char>(v);
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

// A query string's parameters, each allowed once and only those listed.
class Params {
 public:
  static Result<Params> parse(std::string_view query, std::initializer_list<std::string_view> allowed) {
    Params p;
    if (query.size() > 4096) return badParam("the query string is longer than 4096 bytes");
    while (!query.empty()) {
      const std::size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (pair.empty()) continue;
      const std::size_t eq = pair.find('=');
      auto name = percentDecode(pair.substr(0, eq));
      auto value = percentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
      if (!name || !value) return badParam("malformed percent-encoding in the query string");
      if (std::find(allowed.begin(), allowed.end(), *name) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return badParam("unknown parameter '" + *name + "'" + (list.empty() ? "" : " (allowed: " + list + ")"));
      }
      for (const auto& [n, v] : p.values_)
        if (n == *name) return badParam("parameter '" + *name + "' given twice");
      p.values_.emplace_back(std::move(*name), std::move(*value));
    }
    return p;
  }
  std::optional<std::string> get(std::string_view name) const {
    for (const auto& [n, v] : values_)
      if (n == name) return v;
    return std::nullopt;
  }
  Result<std::int64_t> integer(std::string_view name, std::int64_t fallback, std::int64_t min, std::int64_t max) const {
    auto text = get(name);
    if (!text) return fallback;
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec != std::errc() || p != text->data() + text->size() || v < min || v > max)
      return badParam("'" + std::string(name) + "' must be an integer from " + std::to_string(min) + " to " +
                      std::to_string(max));
    return v;
  }
  Result<Window> window() const {
    auto text = get("window");
    if (!text) return Window::k1h;
    auto w = parseWindow(*text);
    if (!w) return badParam("'window' must be 5m, 1h or 24h");
    return *w;
  }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

json::value msOrNull(const std::optional<double>& v) {
  if (!v) return nullptr;
  return std::round(*v * 1000.0) / 1000.0;
}

json::object totalsJson(const Totals& t, std::int64_t seconds) {
  json::object o;
  o["requests"] = t.requests;
  o["errors"] = t.errors;
  o["error_rate"] = t.requests ? static_cast<double>(t.errors) / static_cast<double>(t.requests) : 0.0;
  o["requests_per_s"] = static_cast<double>(t.requests) / static_cast<double>(seconds);
  o["tokens"] = json::object{{"input", t.input_tokens},
                             {"output", t.output_tokens},
                             {"total", t.input_tokens + t.output_tokens},
                             {"cached_input", t.cached_input_tokens},
                             {"cache_creation", t.cache_creation_tokens},
                             {"reasoning", t.reasoning_tokens}};
  o["cost_usd"] = t.cost_usd;
  o["cost_per_hour_usd"] = t.cost_usd * 3600.0 / static_cast<double>(seconds);
  o["latency_ms"] = json::object{{"p50", msOrNull(t.latency.quantile(0.5))}, {"p95", msOrNull(t.latency.quantile(0.95))}};
  o["ttfb_ms"] = json::object{{"p50", msOrNull(t.ttfb.quantile(0.5))}, {"p95", msOrNull(t.ttfb.quantile(0.95))}};
  return o;
}

json::object pointJson(const BucketRing::Point& p, std::int64_t step_s) {
  json::object o = totalsJson(p.totals, step_s);
  o.emplace("t_ms", p.start_s * 1000);
  return o;
}

std::string_view windowName(Window w) { return w == Window::k5m ? "5m" : w == Window::k1h ? "1h" : "24h"; }

ApiResponse jsonAnswer(const json::object& body) { return ApiResponse{200, "application/json", json::serialize(body)}; }

}  // namespace

extern const unsigned char kDashboardPage[];
extern const std::size_t kDashboardPageSize;

std::string_view Dashboard::page() {
  return std::string_view(reinterpret_cast<const char*>(kDashboardPage), kDashboardPageSize);
}

ApiResponse errorResponse(const Error& error) {
  return ApiResponse{error.http_status, "application/json", openAiErrorBody(error)};
}

Result<DashboardOptions> DashboardOptions::fromConfig(const ConfigSource& source) {
  const CoreSettings config(source);
  DashboardOptions o;
  auto enabled = config.getBool("DASHBOARD_ENABLED", true);
  if (!enabled) return enabled.error();
  o.enabled = *enabled;
  auto count = config.getInt("DASHBOARD_RECENT_RECORDS", 1000, 0, 1000000);
  if (!count) return count.error();
  o.recent_records = static_cast<std::size_t>(*count);
  auto bytes = config.getInt("DASHBOARD_RECENT_MAX_BYTES", 32ll << 20, 4096, 1ll << 40);
  if (!bytes) return bytes.error();
  o.recent_max_bytes = static_cast<std::size_t>(*bytes);
  auto values = config.getInt("DASHBOARD_MAX_VALUES", 200, 1, 100000);
  if (!values) return values.error();
  o.max_values = static_cast<std::size_t>(*values);
  o.admin_key = config.getString("GATEWAY_ADMIN_KEY", "");
  return o;
}

Dashboard::Dashboard(DashboardOptions options, std::function<std::int64_t()> clock_ms)
    : options_(std::move(options)),
      clock_ms_(clock_ms ? std::move(clock_ms) : std::function<std::int64_t()>(wallClockMs)),
      rollups_(options_.max_values),
      recent_(options_.recent_records, options_.recent_max_bytes) {}

void Dashboard::observe(const RequestRecord& in, const RecordSummary& s, const RecordPtr& built) {
  const auto start_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(in.wall_start.time_since_epoch()).count();
  const auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(in.finished - in.received).count();

  Sample sample;
  sample.unix_ms = start_ms + std::max<std::int64_t>(0, took_ms);
  sample.error = s.is_error;
  sample.input_tokens = s.input_tokens.value_or(0);
  sample.output_tokens = s.output_tokens.value_or(0);
  sample.cached_input_tokens = s.cached_input_tokens.value_or(0);
  sample.cache_creation_tokens = s.cache_creation_tokens.value_or(0);
  sample.reasoning_tokens = s.reasoning_tokens.value_or(0);
  sample.cost_usd = s.cost.value_or(0.0);
  if (s.latency_s) sample.latency_ms = *s.latency_s * 1000.0;
  if (s.ttfb_s) sample.ttfb_ms = *s.ttfb_s * 1000.0;
  const std::string_view project = in.project_id ? std::string_view(*in.project_id) : std::string_view();
  const std::string_view user = in.user_id ? std::string_view(*in.user_id) : std::string_view();
  const std::array<std::string_view, kDimensionCount> values{s.provider, s.model, project, user, in.virtual_key_id};

  if (options_.recent_records == 0) {
    std::lock_guard lock(mutex_);
    rollups_.add(values, sample);
    return;
  }
  // The entry's strings are views of the record's until push() copies them.
  RecentEntry e;
  e.start_ms = start_ms;
  e.id = in.id;
  e.provider = s.provider;
  e.model = s.model;
  e.project = project;
  e.user = user;
  e.key = in.virtual_key_id;
  e.status = in.outcome == RequestOutcome::kCancelled ? "cancelled" : s.is_error ? "error" : "success";
  e.path = in.path;
  e.method = in.method;
  if (s.is_error) e.error_type = s.error_type;
  e.status_code = s.status_code;
  e.streamed = in.streamed;
  e.latency_ms = sample.latency_ms;
  e.ttfb_ms = sample.ttfb_ms;
  e.cost_usd = s.cost;
  e.input_tokens = s.input_tokens;
  e.output_tokens = s.output_tokens;
  e.cached_input_tokens = s.cached_input_tokens;
  e.cache_creation_tokens = s.cache_creation_tokens;
  e.reasoning_tokens = s.reasoning_tokens;
  if (built) e.record = built->serialized;

  std::lock_guard lock(mutex_);
  rollups_.add(values, sample);
  recent_.push(std::move(e));
}

std::optional<ApiResponse> Dashboard::refuse(std::string_view authorization) const {
  if (options_.admin_key.empty()) return std::nullopt;
  std::string_view presented;
  if (authorization.size() > 7 && (authorization.substr(0, 7) == "Bearer " || authorization.substr(0, 7) == "bearer "))
    presented = authorization.substr(7);
  if (!presented.empty() && keys::adminKeyMatches(presented, options_.admin_key)) return std::nullopt;
  return errorResponse(
      Error::unauthorized("invalid_admin_key", "The dashboard API needs Authorization: Bearer GATEWAY_ADMIN_KEY"));
}

ApiResponse Dashboard::handleApi(std::string_view method, std::string_view path, std::string_view query,
                                 std::string_view authorization) const {
  constexpr std::string_view kPrefix = "/ui/api/";
  std::string_view name = path.starts_with(kPrefix) ? path.substr(kPrefix.size()) : std::string_view();
  if (name == "auth") {
    if (!query.empty()) return errorResponse(badParam("auth takes no parameters"));
    return jsonAnswer(json::object{{"admin_key_required", adminKeySet()}, {"authorized", !refuse(authorization)}});
  }
  if (auto refusal = refuse(authorization)) return *refusal;
  if (method != "GET" && method != "HEAD")
    return errorResponse(Error{405, "invalid_request_error", "method_not_allowed", "The dashboard API is read-only: GET"});
  if (name == "summary") return summary(query);
  if (name == "breakdown") return breakdown(query);
  if (name == "timeseries") return timeseries(query);
  if (name == "records") return records(query);
  if (name.starts_with("records/")) {
    if (!query.empty()) return errorResponse(badParam("a record takes no parameters"));
    auto id = percentDecode(name.substr(8));
    if (!id || id->empty() || id->size() > 512)
      return errorResponse(badParam("malformed record id"));
    return record(*id);
  }
  if (name == "exporters") return exporters();
  return errorResponse(Error{404, "invalid_request_error", "not_found",
                             "Unknown dashboard API: auth, summary, breakdown, timeseries, records, records/{id}, "
                             "exporters, keys"});
}

ApiResponse Dashboard::summary(std::string_view query) const {
  auto params = Params::parse(query, {"window"});
  if (!params) return errorResponse(params.error());
  auto window = params->window();
  if (!window) return errorResponse(window.error());
  const std::int64_t now = nowMs();
  const std::int64_t seconds = windowSeconds(*window);
  json::object body;
  {
    std::lock_guard lock(mutex_);
    const Series& total = rollups_.total();
    body["totals"] = totalsJson(total.sum(*window, now / 1000), seconds);
    body["recent"] = json::object{{"records", recent_.size()},
                                  {"bytes", recent_.bytes()},
                                  {"capacity", options_.recent_records},
                                  {"last_seq", recent_.lastSeq()}};
    body["rollups"] = json::object{{"memory_bytes", rollups_.memoryBytes()},
                                   {"folded", rollups_.folded()},
                                   {"max_values", options_.max_values}};
  }
  body["window"] = windowName(*window);
  body["window_s"] = seconds;
  body["now_ms"] = now;
  body["telemetry_on"] = options_.telemetry_on;
  body["admin_key_set"] = adminKeySet();
  return jsonAnswer(body);
}

ApiResponse Dashboard::breakdown(std::string_view query) const {
  auto params = Params::parse(query, {"window", "dimension", "sort", "limit"});
  if (!params) return errorResponse(params.error());
  auto window = params->window();
  if (!window) return errorResponse(window.error());
  auto dim_text = params->get("dimension");
  if (!dim_text) return errorResponse(badParam("'dimension' is required: provider, model, project, user or key"));
  auto dim = parseDimension(*dim_text);
  if (!dim) return errorResponse(badParam("'dimension' must be provider, model, project, user or key"));
  const std::string sort = params->get("sort").value_or("cost");
  if (sort != "cost" && sort != "errors" && sort != "requests" && sort != "tokens")
    return errorResponse(badParam("'sort' must be cost, errors, requests or tokens"));
  auto limit = params->integer("limit", 100, 1, 1000);
  if (!limit) return errorResponse(limit.error());

  const std::int64_t now = nowMs();
  const std::int64_t seconds = windowSeconds(*window);
  struct Row {
    std::string value;
    Totals totals;
  };
  std::vector<Row> rows;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [value, series] : rollups_.values(*dim)) {
      Totals t = series->sum(*window, now / 1000);
      if (t.requests > 0) rows.push_back(Row{std::string(value), t});
    }
  }
  auto key = [&](const Totals& t) -> double {
    if (sort == "errors") return static_cast<double>(t.errors);
    if (sort == "requests") return static_cast<double>(t.requests);
    if (sort == "tokens") return static_cast<double>(t.input_tokens + t.output_tokens);
    return t.cost_usd;
  };
  std::sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
    const double ka = key(a.totals), kb = key(b.totals);
    if (ka != kb) return ka > kb;
    if (a.totals.requests != b.totals.requests) return a.totals.requests > b.totals.requests;
    return a.value < b.value;
  });
  json::array data;
  for (std::size_t i = 0; i < rows.size() && i < static_cast<std::size_t>(*limit); ++i) {
    json::object o = totalsJson(rows[i].totals, seconds);
    o.emplace("value", rows[i].value);
    data.push_back(std::move(o));
  }
  json::object body{{"window", windowName(*window)},
                    {"dimension", toString(*dim)},
                    {"sort", sort},
                    {"values", rows.size()},
                    {"data", std::move(data)}};
  return jsonAnswer(body);
}

ApiResponse Dashboard::timeseries(std::string_view query) const {
  auto params = Params::parse(query, {"window", "dimension", "value", "limit"});
  if (!params) return errorResponse(params.error());
  auto window = params->window();
  if (!window) return errorResponse(window.error());
  const std::string dim_text = params->get("dimension").value_or("total");
  std::optional<Dimension> dim;
  if (dim_text != "total") {
    dim = parseDimension(dim_text);
    if (!dim) return errorResponse(badParam("'dimension' must be total, provider, model, project, user or key"));
  }
  auto value = params->get("value");
  if (value && !dim) return errorResponse(badParam("'value' needs a 'dimension' other than total"));
  auto limit = params->integer("limit", 5, 1, 50);
  if (!limit) return errorResponse(limit.error());

  const std::int64_t now_s = nowMs() / 1000;
  json::array series;
  std::int64_t step = 0;
  auto add = [&](std::string_view name, const Series& s) {
    step = s.stepFor(*window);
    json::array points;
    for (const auto& p : s.points(*window, now_s)) points.push_back(pointJson(p, step));
    series.push_back(json::object{{"value", name}, {"points", std::move(points)}});
  };
  {
    std::lock_guard lock(mutex_);
    if (!dim) {
      add("total", rollups_.total());
    } else if (value) {
      const Series* s = rollups_.find(*dim, *value);
      if (!s) return errorResponse(Error{404, "invalid_request_error", "not_found", "No such value in the rollups"});
      add(*value, *s);
    } else {
      // The values with the most requests in the window.
      std::vector<std::pair<std::uint64_t, std::pair<std::string_view, const Series*>>> ranked;
      for (const auto& v : rollups_.values(*dim)) {
        const std::uint64_t n = v.second->sum(*window, now_s).requests;
        if (n > 0) ranked.emplace_back(n, v);
      }
      std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second.first < b.second.first;
      });
      for (std::size_t i = 0; i < ranked.size() && i < static_cast<std::size_t>(*limit); ++i)
        add(ranked[i].second.first, *ranked[i].second.second);
    }
  }
  if (step == 0) step = *window == Window::k5m ? 10 : *window == Window::k1h ? 60 : dim ? 3600 : 300;
  json::object body{{"window", windowName(*window)},
                    {"dimension", dim_text},
                    {"step_s", step},
                    {"now_ms", nowMs()},
                    {"series", std::move(series)}};
  return jsonAnswer(body);
}

ApiResponse Dashboard::records(std::string_view query) const {
  auto params = Params::parse(query, {"limit", "before", "after", "status", "provider", "model", "project"});
  if (!params) return errorResponse(params.error());
  auto limit = params->integer("limit", 50, 1, 500);
  if (!limit) return errorResponse(limit.error());
  auto before = params->integer("before", 0, 0, INT64_MAX);
  if (!before) return errorResponse(before.error());
  auto after = params->integer("after", 0, 0, INT64_MAX);
  if (!after) return errorResponse(after.error());
  RecentFilter filter;
  filter.status = params->get("status").value_or("");
  if (!filter.status.empty() && filter.status != "success" && filter.status != "error" && filter.status != "cancelled")
    return errorResponse(badParam("'status' must be success, error or cancelled"));
  filter.provider = params->get("provider").value_or("");
  filter.model = params->get("model").value_or("");
  filter.project = params->get("project").value_or("");

  json::array data;
  json::value next_before = nullptr;
  std::uint64_t last_seq = 0;
  {
    std::lock_guard lock(mutex_);
    auto list = recent_.list(filter, static_cast<std::size_t>(*limit), static_cast<std::uint64_t>(*before),
                             static_cast<std::uint64_t>(*after));
    for (const RecentEntry* e : list) data.push_back(e->summaryJson());
    if (list.size() == static_cast<std::size_t>(*limit) && !list.empty()) next_before = list.back()->seq;
    last_seq = recent_.lastSeq();
  }
  json::object body{{"data", std::move(data)},
                    {"next_before", next_before},
                    {"last_seq", last_seq},
                    {"capacity", options_.recent_records},
                    {"telemetry_on", options_.telemetry_on}};
  return jsonAnswer(body);
}

ApiResponse Dashboard::record(std::string_view id) const {
  std::lock_guard lock(mutex_);
  const RecentEntry* e = recent_.find(id);
  if (!e)
    return errorResponse(Error{404, "invalid_request_error", "record_not_found",
                               "No recent record has this id (the dashboard keeps the last " +
                                   std::to_string(options_.recent_records) + ")"});
  // The record is spliced in as the text the record builder made.
  const std::string summary = json::serialize(e->summaryJson());
  const std::string_view text = e->hasRecord() ? e->record : std::string_view("null");
  std::string body;
  body.reserve(summary.size() + text.size() + 32);
  body.append("{\"summary\":").append(summary).append(",\"record\":").append(text).append("}");
  return ApiResponse{200, "application/json", std::move(body)};
}

ApiResponse Dashboard::exporters() const {
  json::object health = options_.exporter_health ? options_.exporter_health() : json::object();
  return jsonAnswer(json::object{{"telemetry_on", options_.telemetry_on}, {"exporters", std::move(health)}});
}

std::size_t Dashboard::rollupBytes() const {
  std::lock_guard lock(mutex_);
  return rollups_.memoryBytes();
}

}  // namespace gw::dashboard
