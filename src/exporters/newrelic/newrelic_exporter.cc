#include "exporters/newrelic/newrelic_exporter.h"

#include "exporters/common/batch_aggregate.h"
#include "gw/setting_table.h"
#include "common/strings.h"
#include "gw/exporter_registry.h"

#include <boost/json.hpp>

namespace gw::exporters::newrelic {
namespace json = boost::json;

namespace {
constexpr SettingDoc kSettings[] = {
    {"NEW_RELIC_LICENSE_KEY", "", "license (ingest) key (required)"},
    {"NEW_RELIC_REGION", "US", "US or EU (selects the default endpoints)"},
    {"NEW_RELIC_LOG_URL", "https://log-api.newrelic.com/log/v1; EU: log-api.eu.newrelic.com", "Log API endpoint"},
    {"NEW_RELIC_METRIC_URL", "https://metric-api.newrelic.com/metric/v1; EU: metric-api.eu.newrelic.com",
     "Metric API endpoint"},
    {"NEW_RELIC_TIMEOUT_MS", "10000", "per request"},
};
}  // namespace

std::span<const SettingDoc> Options::settings() { return kSettings; }

Result<Options> Options::fromConfig(const ConfigSource& source) {
  const DeclaredSettings<kSettings> config(source);
  Options o;
  auto key = readApiKey(config, "NEW_RELIC_LICENSE_KEY", "newrelic");
  if (!key) return key.error();
  o.license_key = std::move(*key);
  o.region = toUpper(config.getString("NEW_RELIC_REGION", "US"));
  if (o.region != "US" && o.region != "EU") return configError("NEW_RELIC_REGION", "must be US or EU");
  const bool eu = o.region == "EU";
  o.log_url = config.getString("NEW_RELIC_LOG_URL",
                               eu ? "https://log-api.eu.newrelic.com/log/v1" : "https://log-api.newrelic.com/log/v1");
  if (auto v = http::validateUrl(o.log_url); !v) return configError("NEW_RELIC_LOG_URL", v.error());
  o.metric_url = config.getString(
      "NEW_RELIC_METRIC_URL", eu ? "https://metric-api.eu.newrelic.com/metric/v1" : "https://metric-api.newrelic.com/metric/v1");
  if (auto v = http::validateUrl(o.metric_url); !v) return configError("NEW_RELIC_METRIC_URL", v.error());
  auto timeout = config.getInt("NEW_RELIC_TIMEOUT_MS", 10000, 100, 600000);
  if (!timeout) return timeout.error();
  o.timeout = std::chrono::milliseconds(*timeout);
  return o;
}

namespace {
json::object commonAttributes(const RecordFields& f) {
  json::object a{{"service.name", f.service_name.value_or("noveum_ai_gateway")}, {"instrumentation.provider", "magicapi-gateway"}};
  if (f.service_version) a["service.version"] = *f.service_version;
  if (f.environment) a["deployment.environment"] = *f.environment;
  return a;
}
}  // namespace

std::string metricsJson(std::span<const RecordPtr> batch) {
  auto agg = aggregate(batch);
  // The interval the batch covers; New Relic requires a positive interval for counts.
  const std::int64_t interval = std::max<std::int64_t>(1, agg.last_unix_ms - agg.first_unix_ms);
  json::array metrics;
  for (const auto& [key, v] : agg.series) {
    json::object attrs{{"provider", key.provider}, {"model", key.model}, {"project_id", key.project_id},
                       {"status_code", key.status_code}};
    auto count = [&](const char* name, double value) {
      metrics.push_back(json::object{{"name", name}, {"type", "count"}, {"value", value}, {"attributes", attrs}});
    };
    count("ai_gateway.requests", static_cast<double>(v.requests));
    if (v.errors) count("ai_gateway.errors", static_cast<double>(v.errors));
    count("ai_gateway.tokens.input", static_cast<double>(v.input_tokens));
    count("ai_gateway.tokens.output", static_cast<double>(v.output_tokens));
    // Parts of input and output, when the series' provider reports them.
    for (const auto& [name, part] : {std::pair{"ai_gateway.tokens.cached_input", &v.cached_input_tokens},
                                     std::pair{"ai_gateway.tokens.cache_creation", &v.cache_creation_tokens},
                                     std::pair{"ai_gateway.tokens.reasoning", &v.reasoning_tokens}})
      if (part->reported) count(name, static_cast<double>(part->sum));
    count("ai_gateway.cost_usd", v.cost_usd);
    if (v.latency_count)
      metrics.push_back(json::object{{"name", "ai_gateway.request.duration_ms"},
                                     {"type", "summary"},
                                     {"value", json::object{{"count", v.latency_count},
                                                            {"sum", v.latency_sum_ms},
                                                            {"min", v.latency_min_ms},
                                                            {"max", v.latency_max_ms}}},
                                     {"attributes", attrs}});
  }
  json::object common{{"timestamp", agg.first_unix_ms}, {"interval.ms", interval}};
  if (!batch.empty()) common["attributes"] = commonAttributes(batch.front()->fields);
  return json::serialize(json::array{json::object{{"common", std::move(common)}, {"metrics", std::move(metrics)}}});
}

std::string logEntryJson(const TelemetryRecord& record) {
  const auto& f = record.fields;
  json::object attrs{{"request.id", f.id}, {"logtype", f.name}};
  auto set = [&](const char* k, const std::optional<std::string>& v) {
    if (v) attrs[k] = *v;
  };
  set("provider", f.provider);
  set("model", f.model);
  set("project_id", f.project_id);
  set("org_id", f.org_id);
  set("user_id", f.user_id);
  set("status", f.status);
  set("error_type", f.error_type);
  if (f.status_code) attrs["status_code"] = *f.status_code;
  if (f.input_tokens) attrs["tokens.input"] = *f.input_tokens;
  if (f.output_tokens) attrs["tokens.output"] = *f.output_tokens;
  if (f.cached_input_tokens) attrs["tokens.cached_input"] = *f.cached_input_tokens;
  if (f.cache_creation_tokens) attrs["tokens.cache_creation"] = *f.cache_creation_tokens;
  if (f.reasoning_tokens) attrs["tokens.reasoning"] = *f.reasoning_tokens;
  if (f.cost) attrs["cost_usd"] = *f.cost;
  set("cost_status", f.cost_status);
  if (f.latency_ms) attrs["latency_ms"] = *f.latency_ms;
  if (f.ttfb_ms) attrs["ttfb_ms"] = *f.ttfb_ms;
  json::object entry{{"message", record.serialized}, {"attributes", std::move(attrs)}};
  if (f.unix_nanos) entry["timestamp"] = *f.unix_nanos / 1000000;
  return json::serialize(entry);
}

std::string logsPayload(std::span<const std::string> entries, const TelemetryRecord& first) {
  json::object common{{"attributes", commonAttributes(first.fields)}};
  return R"([{"common":)" + json::serialize(common) + R"(,"logs":[)" + joinEntries(entries) + "]}]";
}

NewRelicExporter::NewRelicExporter(Options options)
    : LogsAndMetricsExporter(Setup{.credential = {"Api-Key", options.license_key},
                                   .timeout = options.timeout,
                                   .logs_url = options.log_url,
                                   .logs_what = "newrelic logs",
                                   // The common block fits in the margin below the compressed limit.
                                   .logs_limits = {.max_bytes = kMaxLogsPayloadBytes,
                                                   .max_entry_bytes = kMaxLogsPayloadBytes,
                                                   .max_entry_text = "the payload limit"}}),
      options_(std::move(options)) {}

ExportResult NewRelicExporter::sendMetrics(std::span<const RecordPtr> batch) {
  return sendUndelivered(batch, metrics_sent_, [&](std::span<const RecordPtr> records) {
    return postJson(options_.metric_url, "newrelic metrics", metricsJson(records));
  });
}

}  // namespace gw::exporters::newrelic

GW_REGISTER_EXPORTER_CLASS(newrelic, gw::exporters::newrelic::Options, gw::exporters::newrelic::NewRelicExporter)
