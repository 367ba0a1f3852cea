// The newrelic exporter: per batch, aggregated metrics to the Metric API
// (POST /metric/v1: counts and a latency summary, with a common block) and
// every record to the Log API (POST /log/v1: common block + logs), gzip,
// header Api-Key. Payloads stay under New Relic's 1 MB (compressed) limit by
// splitting logs. Each signal remembers what it delivered, so a retried
// batch is not counted twice. The order and bookkeeping of the requests are
// LogsAndMetricsExporter's (exporters/common/logs_and_metrics.h); this
// folder holds New Relic's wire format, endpoints and header.
//
// Called only from the exporter's worker thread.
#pragma once

#include "exporters/common/delivered_ids.h"
#include "exporters/common/logs_and_metrics.h"
#include "gw/setting_table.h"
#include "gw/exporter.h"

#include <chrono>
#include <span>
#include <string>

namespace gw::exporters::newrelic {

struct Options {
  std::string license_key;  // NEW_RELIC_LICENSE_KEY (required)
  std::string region = "US";  // NEW_RELIC_REGION: US | EU
  std::string log_url = "https://log-api.newrelic.com/log/v1";           // NEW_RELIC_LOG_URL
  std::string metric_url = "https://metric-api.newrelic.com/metric/v1";  // NEW_RELIC_METRIC_URL
  std::chrono::milliseconds timeout{10000};                              // NEW_RELIC_TIMEOUT_MS

  static Result<Options> fromConfig(const ConfigSource& config);
  // The variables fromConfig() reads, for --help (registered with the factory).
  static std::span<const SettingDoc> settings();
};

// Uncompressed bytes per Log API request: well under the 1 MB compressed
// limit even for incompressible bodies.
inline constexpr std::size_t kMaxLogsPayloadBytes = 900 * 1000;

// Pure serializers.
std::string metricsJson(std::span<const RecordPtr> batch);
std::string logEntryJson(const TelemetryRecord& record);  // one element of "logs"
std::string logsPayload(std::span<const std::string> entries, const TelemetryRecord& first);

class NewRelicExporter final : public LogsAndMetricsExporter {
 public:
  explicit NewRelicExporter(Options options);
  std::string_view name() const override { return "newrelic"; }

 private:
  ExportResult sendMetrics(std::span<const RecordPtr> batch) override;
  std::string logEntry(const TelemetryRecord& record) const override { return logEntryJson(record); }
  std::string logsBody(std::span<const std::string> entries, const TelemetryRecord& first) const override {
    return logsPayload(entries, first);
  }

  Options options_;
  DeliveredIds metrics_sent_;
};

}  // namespace gw::exporters::newrelic
