#include "exporters/datadog/datadog_exporter.h"

#include "backend_http/batch_aggregate.h"
#include "common/config_source.h"
#include "common/strings.h"
#include "telemetry/exporter_registry.h"

#include <boost/json.hpp>

namespace gw::exporters::datadog {
namespace json = boost::json;

Result<Options> Options::fromEnv(const ConfigSource& config) {
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

std::string logEntryJson(const TelemetryRecord& record, const std::vector<std::string>& tags,
                         const std::string& hostname) {
  auto f = readFields(record);
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
      }()) {}

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

ExportResult DatadogExporter::exportBatch(std::span<const RecordPtr> batch) {
  ExportResult result;
  std::vector<RecordPtr> metrics_pending;
  std::vector<std::pair<std::size_t, std::string>> logs_pending;  // batch index, entry
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& r = batch[i];
    if (!metrics_sent_.contains(r->id)) metrics_pending.push_back(r);
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

GW_REGISTER_EXPORTER(datadog, makeDatadogExporter)
