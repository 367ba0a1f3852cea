#include "exporters/datadog/datadog_exporter.h"

#include "exporters/common/batch_aggregate.h"
#include "gw/setting_table.h"
#include "common/log.h"
#include "common/strings.h"
#include "gw/exporter_registry.h"

#include <boost/json.hpp>
#include <zlib.h>

#include <map>
#include <tuple>

namespace gw::exporters::datadog {
namespace json = boost::json;

namespace {
constexpr SettingDoc kSettings[] = {
    {"DD_API_KEY", "", "API key (required)"},
    {"DD_SITE", "datadoghq.com", "Datadog site, e.g. datadoghq.eu, us5.datadoghq.com"},
    {"DD_URL", "https://api.{DD_SITE}", "metrics base URL"},
    {"DD_LOGS_URL", "https://http-intake.logs.{DD_SITE}", "logs base URL"},
    {"DD_TAGS", "", "tags for metrics and logs, e.g. env:prod,team:ml (comma or space separated)"},
    {"DD_HOSTNAME", "", "hostname of the logs and distributions"},
    {"DD_TIMEOUT_MS", "10000", "per request"},
    {"DD_DISTRIBUTIONS", "true", "send per-request values to /api/v1/distribution_points"},
};
}  // namespace

std::span<const SettingDoc> Options::settings() { return kSettings; }

Result<Options> Options::fromEnv(const ConfigSource& source) {
  const DeclaredSettings<kSettings> config(source);
  Options o;
  auto key = config.get("DD_API_KEY");
  if (!key) return configError("DD_API_KEY", "required when the datadog exporter is enabled");
  if (hasHeaderUnsafeBytes(*key)) return configError("DD_API_KEY", "contains CR, LF or NUL");
  o.api_key = *key;
  o.site = config.getString("DD_SITE", o.site);
  o.url = config.getString("DD_URL", "https://api." + o.site);
  if (auto v = http::validateUrl(o.url); !v) return configError(config.get("DD_URL") ? "DD_URL" : "DD_SITE", v.error());
  o.logs_url = config.getString("DD_LOGS_URL", "https://http-intake.logs." + o.site);
  if (auto v = http::validateUrl(o.logs_url); !v)
    return configError(config.get("DD_LOGS_URL") ? "DD_LOGS_URL" : "DD_SITE", v.error());
  // Datadog's agents accept DD_TAGS comma- or space-separated.
  std::string tags = config.getString("DD_TAGS", "");
  for (auto& c : tags)
    if (c == ' ') c = ',';
  o.tags = splitList(tags, ',');
  o.hostname = config.getString("DD_HOSTNAME", "");
  auto timeout = config.getInt("DD_TIMEOUT_MS", 10000, 100, 600000);
  if (!timeout) return timeout.error();
  o.timeout = std::chrono::milliseconds(*timeout);
  auto distributions = config.getBool("DD_DISTRIBUTIONS", true);
  if (!distributions) return distributions.error();
  o.distributions = *distributions;
  return o;
}

std::string seriesJson(std::span<const RecordPtr> batch, const std::vector<std::string>& tags) {
  auto agg = aggregate(batch);
  const std::int64_t ts = agg.last_unix_ms / 1000;
  json::array series;
  auto add = [&](const char* metric, int type, double value, const json::array& t, const char* unit) {
    json::object s{{"metric", metric},
                   {"type", type},  // 1 count, 3 gauge
                   {"points", json::array{json::object{{"timestamp", ts}, {"value", value}}}},
                   {"tags", t}};
    if (unit) s["unit"] = unit;
    series.push_back(std::move(s));
  };
  for (const auto& [key, v] : agg.series) {
    json::array t;
    t.push_back(json::string("provider:" + key.provider));
    t.push_back(json::string("model:" + key.model));
    t.push_back(json::string("project:" + key.project_id));
    t.push_back(json::string("status_code:" + std::to_string(key.status_code)));
    for (const auto& extra : tags) t.push_back(json::string(extra));
    add("ai_gateway.requests", 1, static_cast<double>(v.requests), t, "request");
    if (v.errors) add("ai_gateway.errors", 1, static_cast<double>(v.errors), t, "error");
    add("ai_gateway.tokens.input", 1, static_cast<double>(v.input_tokens), t, "token");
    add("ai_gateway.tokens.output", 1, static_cast<double>(v.output_tokens), t, "token");
    add("ai_gateway.cost_usd", 1, v.cost_usd, t, "dollar");
    if (v.latency_count) {
      add("ai_gateway.request.duration.avg", 3, v.latency_sum_ms / static_cast<double>(v.latency_count), t,
          "millisecond");
      add("ai_gateway.request.duration.max", 3, v.latency_max_ms, t, "millisecond");
    }
  }
  return json::serialize(json::object{{"series", std::move(series)}});
}

std::string distributionsJson(std::span<const RecordPtr> batch, const std::vector<std::string>& tags,
                              const std::string& hostname) {
  // Per (provider, model, project): the values of each distribution, in batch order.
  using Key = std::tuple<std::string, std::string, std::string>;
  struct Values {
    json::array duration, ttfb, provider_latency, input_tokens, output_tokens;
  };
  std::map<Key, Values> groups;
  std::int64_t last_unix_ms = 0;
  bool any_time = false;
  for (const auto& r : batch) {
    const auto& f = r->fields;
    if (!f.unix_nanos) continue;  // as in the series: a record without a time has no point
    const std::int64_t ms = *f.unix_nanos / 1000000;
    last_unix_ms = any_time ? std::max(last_unix_ms, ms) : ms;
    any_time = true;
    auto& v = groups[Key{f.provider.value_or("unknown"), f.model.value_or("unknown"), f.project_id.value_or("none")}];
    if (f.latency_ms) v.duration.push_back(*f.latency_ms);
    if (f.ttfb_ms) v.ttfb.push_back(*f.ttfb_ms);
    if (f.provider_latency_ms) v.provider_latency.push_back(*f.provider_latency_ms);
    if (f.input_tokens) v.input_tokens.push_back(static_cast<double>(*f.input_tokens));
    if (f.output_tokens) v.output_tokens.push_back(static_cast<double>(*f.output_tokens));
  }
  const std::int64_t ts = last_unix_ms / 1000;
  json::array series;
  for (auto& [key, v] : groups) {
    json::array t;
    t.push_back(json::string("provider:" + std::get<0>(key)));
    t.push_back(json::string("model:" + std::get<1>(key)));
    t.push_back(json::string("project:" + std::get<2>(key)));
    for (const auto& extra : tags) t.push_back(json::string(extra));
    auto add = [&](const char* metric, json::array& values) {
      if (values.empty()) return;
      json::object s{{"metric", metric},
                     {"type", "distribution"},
                     {"points", json::array{json::array{ts, std::move(values)}}},
                     {"tags", t}};
      if (!hostname.empty()) s["host"] = hostname;
      series.push_back(std::move(s));
    };
    add("ai_gateway.request.duration", v.duration);            // ms
    add("ai_gateway.request.ttfb", v.ttfb);                    // ms
    add("ai_gateway.provider.latency", v.provider_latency);    // ms
    add("ai_gateway.request.tokens.input", v.input_tokens);    // tokens per request
    add("ai_gateway.request.tokens.output", v.output_tokens);  // tokens per request
  }
  if (series.empty()) return {};
  return json::serialize(json::object{{"series", std::move(series)}});
}

std::string deflateCompress(std::string_view data) {
  uLongf size = compressBound(static_cast<uLong>(data.size()));
  std::string out(size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(data.data()),
                static_cast<uLong>(data.size()), Z_DEFAULT_COMPRESSION) != Z_OK)
    return {};
  out.resize(size);
  return out;
}

std::string logEntryJson(const TelemetryRecord& record, const std::vector<std::string>& tags,
                         const std::string& hostname) {
  const auto& f = record.fields;
  std::string ddtags = "provider:" + f.provider.value_or("unknown") + ",model:" + f.model.value_or("unknown");
  if (f.project_id) ddtags += ",project:" + *f.project_id;
  if (f.environment) ddtags += ",env:" + *f.environment;
  for (const auto& t : tags) ddtags += "," + t;
  json::object entry{{"ddsource", "magicapi-gateway"},
                     {"ddtags", ddtags},
                     {"service", f.service_name.value_or("noveum_ai_gateway")},
                     {"status", f.status && *f.status != "success" ? "error" : "info"},
                     // Datadog parses a JSON message into attributes.
                     {"message", record.serialized}};
  if (!hostname.empty()) entry["hostname"] = hostname;
  return json::serialize(entry);
}

DatadogExporter::DatadogExporter(Options options)
    : options_(std::move(options)), client_([&] {
        http::ClientOptions c;
        c.total_timeout = options_.timeout;
        c.connect_timeout = std::min(options_.timeout, std::chrono::milliseconds(5000));
        return c;
      }()),
      distributions_enabled_(options_.distributions) {}

ExportResult DatadogExporter::post(const std::string& url, const char* what, std::string body) {
  http::Request req;
  req.url = url;
  req.headers = {{"DD-API-KEY", options_.api_key}, {"Content-Type", "application/json"}};
  req.body = std::move(body);
  req.gzip_body = true;
  auto res = client_.send(req);
  if (!res) return http::resultForTransportError(res.error(), what);
  return http::resultForStatus(*res, what);
}

ExportResult DatadogExporter::postDistributions(std::span<const RecordPtr> records) {
  std::string body = distributionsJson(records, options_.tags, options_.hostname);
  if (body.empty()) return ExportResult::success();
  std::string compressed = deflateCompress(body);
  http::Request req;
  req.url = http::joinUrl(options_.url, "/api/v1/distribution_points");
  req.headers = {{"DD-API-KEY", options_.api_key}, {"Content-Type", "application/json"}};
  if (!compressed.empty()) {
    // Datadog documents deflate (not gzip) for this v1 endpoint.
    req.headers.emplace_back("Content-Encoding", "deflate");
    req.body = std::move(compressed);
  } else {
    req.body = std::move(body);
  }
  auto res = client_.send(req);
  if (!res) return http::resultForTransportError(res.error(), "datadog distribution_points");
  if (res->status == 404 || res->status == 405) {
    // A Datadog-compatible intake without the distributions API: the
    // records still go out as series and logs. Said once.
    distributions_enabled_ = false;
    log::get("datadog")->warn("datadog distribution_points: HTTP {} from {}; distributions are not sent any more "
                              "(counts and logs still are). Set DD_DISTRIBUTIONS=false to silence this.",
                              res->status, options_.url);
    return ExportResult::success();
  }
  auto result = http::resultForStatus(*res, "datadog distribution_points");
  if (result.kind == ExportResult::Kind::kPermanent) {
    // The points of this batch are refused; the records themselves are
    // delivered by the logs, so they are not dropped for it. Said at most
    // once a minute.
    skipped_distribution_records_ += records.size();
    const auto now = std::chrono::steady_clock::now();
    if (last_distribution_warning_ == std::chrono::steady_clock::time_point{} ||
        now - last_distribution_warning_ >= std::chrono::minutes(1)) {
      log::get("datadog")->warn("{}; the distribution points of {} records were skipped since the last warning",
                                result.message, skipped_distribution_records_);
      last_distribution_warning_ = now;
      skipped_distribution_records_ = 0;
    }
    return ExportResult::success();
  }
  return result;
}

ExportResult DatadogExporter::exportBatch(std::span<const RecordPtr> batch) {
  ExportResult result;
  std::vector<RecordPtr> metrics_pending, distributions_pending;
  std::vector<std::pair<std::size_t, std::string>> logs_pending;  // batch index, entry
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& r = batch[i];
    if (!metrics_sent_.contains(r->id)) metrics_pending.push_back(r);
    if (distributions_enabled_ && !distributions_sent_.contains(r->id)) distributions_pending.push_back(r);
    if (logs_sent_.contains(r->id)) continue;
    auto entry = logEntryJson(*r, options_.tags, options_.hostname);
    if (entry.size() > kMaxLogEntryBytes) {
      result.rejected_indexes.push_back(i);  // Datadog would truncate it: say so instead
      continue;
    }
    logs_pending.emplace_back(i, std::move(entry));
  }
  if (!metrics_pending.empty()) {
    auto r = post(http::joinUrl(options_.url, "/api/v2/series"), "datadog series",
                  seriesJson(metrics_pending, options_.tags));
    if (r.kind != ExportResult::Kind::kSuccess) return r;
    for (const auto& rec : metrics_pending) metrics_sent_.add(rec->id);
  }
  if (distributions_enabled_ && !distributions_pending.empty()) {
    auto r = postDistributions(distributions_pending);
    if (r.kind != ExportResult::Kind::kSuccess) return r;
    for (const auto& rec : distributions_pending) distributions_sent_.add(rec->id);
  }
  std::size_t next = 0;
  while (next < logs_pending.size()) {
    std::string body = "[";
    std::size_t end = next;
    while (end < logs_pending.size() && end - next < kMaxLogsPerRequest &&
           body.size() + logs_pending[end].second.size() + 2 <= kMaxLogsPayloadBytes) {
      if (end > next) body += ',';
      body += logs_pending[end].second;
      ++end;
    }
    body += ']';
    auto r = post(http::joinUrl(options_.logs_url, "/api/v2/logs"), "datadog logs", std::move(body));
    if (r.kind != ExportResult::Kind::kSuccess) return r;
    for (std::size_t k = next; k < end; ++k) logs_sent_.add(batch[logs_pending[k].first]->id);
    next = end;
  }
  if (result.rejected_indexes.empty()) return ExportResult::success();
  result.kind = ExportResult::Kind::kPermanent;
  result.message = "datadog logs: " + std::to_string(result.rejected_indexes.size()) + " record(s) over the 1 MB log limit";
  return result;
}

}  // namespace gw::exporters::datadog

namespace {
gw::Result<std::unique_ptr<gw::Exporter>> makeDatadogExporter(const gw::ExporterContext& context) {
  auto options = gw::exporters::datadog::Options::fromEnv(context.config);
  if (!options) return options.error();
  return std::unique_ptr<gw::Exporter>(std::make_unique<gw::exporters::datadog::DatadogExporter>(std::move(*options)));
}
}  // namespace

GW_REGISTER_EXPORTER(datadog, gw::exporters::datadog::Options::settings(), makeDatadogExporter)
