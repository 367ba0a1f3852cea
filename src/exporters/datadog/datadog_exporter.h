// The datadog exporter: per batch, metrics to POST {DD_URL}/api/v2/series
// (counts per series, latency as avg/max gauges) and every record as a log
// to POST {DD_LOGS_URL}/api/v2/logs (gzip, split to Datadog's documented
// limits: 1000 entries and 5 MB uncompressed per request, 1 MB per entry).
// Header DD-API-KEY. Metrics and logs remember the records they delivered,
// so a retried batch never counts a request twice.
//
// Called only from the exporter's worker thread.
#pragma once

#include "backend_http/delivered_ids.h"
#include "backend_http/http_client.h"
#include "gw/exporter.h"

#include <string>
#include <vector>

namespace gw {
class ConfigSource;
}

namespace gw::exporters::datadog {

struct Options {
  std::string api_key;                                        // DD_API_KEY (required)
  std::string site = "datadoghq.com";                         // DD_SITE
  std::string url = "https://api.datadoghq.com";              // DD_URL
  std::string logs_url = "https://http-intake.logs.datadoghq.com";  // DD_LOGS_URL
  std::vector<std::string> tags;                              // DD_TAGS: "env:prod,team:ml" (or space-separated)
  std::string hostname;                                       // DD_HOSTNAME (optional)
  std::chrono::milliseconds timeout{10000};                   // DD_TIMEOUT_MS

  static Result<Options> fromEnv(const ConfigSource& config);
};

inline constexpr std::size_t kMaxLogsPerRequest = 1000;
inline constexpr std::size_t kMaxLogsPayloadBytes = 5 * 1000 * 1000;
inline constexpr std::size_t kMaxLogEntryBytes = 1000 * 1000;

// Pure serializers. `series` covers the whole batch; `logEntry` is one
// element of the /api/v2/logs array.
std::string seriesJson(std::span<const RecordPtr> batch, const std::vector<std::string>& tags);
std::string logEntryJson(const TelemetryRecord& record, const std::vector<std::string>& tags,
                         const std::string& hostname);

class DatadogExporter final : public Exporter {
 public:
  explicit DatadogExporter(Options options);
  std::string_view name() const override { return "datadog"; }
  ExportResult exportBatch(std::span<const RecordPtr> batch) override;
  void shutdown() override { client_.close(); }

 private:
  ExportResult post(const std::string& url, const char* what, std::string body);

  Options options_;
  http::Client client_;
  DeliveredIds metrics_sent_, logs_sent_;
};

}  // namespace gw::exporters::datadog
