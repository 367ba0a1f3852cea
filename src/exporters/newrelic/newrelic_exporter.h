// The newrelic exporter: per batch, aggregated metrics to the Metric API
// (POST /metric/v1: counts and a latency summary, with a common block) and
// every record to the Log API (POST /log/v1: common block + logs), gzip,
// header Api-Key. Payloads stay under New Relic's 1 MB (compressed) limit by
// splitting logs. Each signal remembers what it delivered, so a retried
// batch is not counted twice.
//
// Called only from the exporter's worker thread.
#pragma once

#include "exporters/common/delivered_ids.h"
#include "exporters/common/http_client.h"
#include "gw/setting_table.h"
#include "gw/exporter.h"

#include <span>
#include <string>

namespace gw::exporters::newrelic {

struct Options {
  std::string license_key;  // NEW_RELIC_LICENSE_KEY (required)
  std::string region = "US";  // NEW_RELIC_REGION: US | EU
  std::string log_url = "https://log-api.newrelic.com/log/v1";           // NEW_RELIC_LOG_URL
  std::string metric_url = "https://metric-api.newrelic.com/metric/v1";  // NEW_RELIC_METRIC_URL
  std::chrono::milliseconds timeout{10000};                              // NEW_RELIC_TIMEOUT_MS

  static Result<Options> fromEnv(const ConfigSource& config);
  // The variables fromEnv() reads, for --help (registered with the factory).
  static std::span<const SettingDoc> settings();
};

// Uncompressed bytes per Log API request: well under the 1 MB compressed
// limit even for incompressible bodies.
inline constexpr std::size_t kMaxLogsPayloadBytes = 900 * 1000;

// Pure serializers.
std::string metricsJson(std::span<const RecordPtr> batch);
std::string logEntryJson(const TelemetryRecord& record);  // one element of "logs"
std::string logsPayload(const std::vector<std::string>& entries, const TelemetryRecord& first);

class NewRelicExporter final : public Exporter {
 public:
  explicit NewRelicExporter(Options options);
  std::string_view name() const override { return "newrelic"; }
  ExportResult exportBatch(std::span<const RecordPtr> batch) override;
  void shutdown() override { client_.close(); }

 private:
  ExportResult post(const std::string& url, const char* what, std::string body);

  Options options_;
  http::Client client_;
  DeliveredIds metrics_sent_, logs_sent_;
};

}  // namespace gw::exporters::newrelic
