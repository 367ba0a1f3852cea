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

Result<Options> Options::fromConfig(const ConfigSource& source) {
  const DeclaredSettings<kSettings> config(source);
  Options o;
  auto key = readApiKey(config, "DD_API_KEY", "datadog");
  if (!key) return key.error();
  o.api_key = std::move(*key);
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
    // Parts of input and output, when the series' provider reports them.
    for (const auto& [metric, part] : {std::pair{"ai_gateway.tokens.cached_input", &v.cached_input_tokens},
                                       std::pair{"ai_gateway.tokens.cache_creation", &v.cache_creation_tokens},
                                       std::pair{"ai_gateway.tokens.reasoning", &v.reasoning_tokens}})
      if (part->reported) add(metric, 1, static_cast<double>(part->sum), t, "token");
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
    : LogsAndMetricsExporter(Setup{.credential = {"DD-API-KEY", options.api_key},
                                   .timeout = options.timeout,
                                   .logs_url = http::joinUrl(options.logs_url, "/api/v2/logs"),
                                   .logs_what = "datadog logs",
                                   // The body is a JSON array: '[' and ']' around the entries.
                                   .logs_limits = {.max_entries = kMaxLogsPerRequest,
                                                   .max_bytes = kMaxLogsPayloadBytes,
                                                   .framing_bytes = 1,
                                                   .max_entry_bytes = kMaxLogEntryBytes,
                                                   .max_entry_text = "the 1 MB log limit"}}),
      options_(std::move(options)),
      distributions_enabled_(options_.distributions) {}

std::string DatadogExporter::logEntry(const TelemetryRecord& record) const {
  return logEntryJson(record, options_.tags, options_.hostname);
}

std::string DatadogExporter::logsBody(std::span<const std::string> entries, const TelemetryRecord&) const {
  return "[" + joinEntries(entries) + "]";
}

ExportResult DatadogExporter::sendMetrics(std::span<const RecordPtr> batch) {
  auto series = sendUndelivered(batch, series_sent_, [&](std::span<const RecordPtr> records) {
    return postJson(http::joinUrl(options_.url, "/api/v2/series"), "datadog series", seriesJson(records, options_.tags));
  });
  if (series.kind != ExportResult::Kind::kSuccess || !distributions_enabled_) return series;
  return sendUndelivered(batch, distributions_sent_,
                         [&](std::span<const RecordPtr> records) { return postDistributions(records); });
}

ExportResult DatadogExporter::postDistributions(std::span<const RecordPtr> records) {
  std::string body = distributionsJson(records, options_.tags, options_.hostname);
  if (body.empty()) return ExportResult::success();
  std::string compressed = deflateCompress(body);
  http::Request req = jsonRequest(http::joinUrl(options_.url, "/api/v1/distribution_points"));
  if (!compressed.empty()) {
    // Datadog documents deflate (not gzip) for this v1 endpoint.
    req.headers.emplace_back("Content-Encoding", "deflate");
    req.body = std::move(compressed);
  } else {
    req.body = std::move(body);
  }
  auto res = client().send(req);
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

}  // namespace gw::exporters::datadog

GW_REGISTER_EXPORTER_CLASS(datadog, gw::exporters::datadog::Options, gw::exporters::datadog::DatadogExporter)
