// The datadog exporter: per batch, metrics to POST {DD_URL}/api/v2/series
// (counts per series, latency as avg/max gauges), the per-request values as
// distributions to POST {DD_URL}/api/v1/distribution_points (request
// duration, ttfb, provider latency, input/output tokens; deflate), and every
// record as a log to POST {DD_LOGS_URL}/api/v2/logs (gzip, split to
// Datadog's documented limits: 1000 entries and 5 MB uncompressed per
// request, 1 MB per entry). Header DD-API-KEY. Series, distributions and
// logs each remember the records they delivered, so a retried batch never
// counts a request twice. The order and bookkeeping of the requests are
// LogsAndMetricsExporter's (exporters/common/logs_and_metrics.h); this
// folder holds Datadog's wire format, endpoints and header.
//
// A Datadog-compatible endpoint that does not know the distributions API
// (404 or 405) gets one warning and no more distributions for the lifetime
// of the exporter; the records are not dropped (logs and series carry them).
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
#include <vector>

namespace gw::exporters::datadog {

struct Options {
  std::string api_key;                                        // DD_API_KEY (required)
  std::string site = "datadoghq.com";                         // DD_SITE
  std::string url = "https://api.datadoghq.com";              // DD_URL
  std::string logs_url = "https://http-intake.logs.datadoghq.com";  // DD_LOGS_URL
  std::vector<std::string> tags;                              // DD_TAGS: "env:prod,team:ml" (or space-separated)
  std::string hostname;                                       // DD_HOSTNAME (optional)
  std::chrono::milliseconds timeout{10000};                   // DD_TIMEOUT_MS
  bool distributions = true;                                  // DD_DISTRIBUTIONS

  static Result<Options> fromConfig(const ConfigSource& config);
  // The variables fromConfig() reads, for --help (registered with the factory).
  static std::span<const SettingDoc> settings();
};

inline constexpr std::size_t kMaxLogsPerRequest = 1000;
inline constexpr std::size_t kMaxLogsPayloadBytes = 5 * 1000 * 1000;
inline constexpr std::size_t kMaxLogEntryBytes = 1000 * 1000;

// Pure serializers. `series` covers the whole batch; `logEntry` is one
// element of the /api/v2/logs array.
std::string seriesJson(std::span<const RecordPtr> batch, const std::vector<std::string>& tags);
// The body of POST /api/v1/distribution_points: one series per (metric,
// provider, model, project), one point [unix seconds, [values...]] per
// batch. Empty string when no record has a value to report.
std::string distributionsJson(std::span<const RecordPtr> batch, const std::vector<std::string>& tags,
                              const std::string& hostname);
// zlib-wrapped deflate (RFC 1950), HTTP's "Content-Encoding: deflate".
std::string deflateCompress(std::string_view data);
std::string logEntryJson(const TelemetryRecord& record, const std::vector<std::string>& tags,
                         const std::string& hostname);

class DatadogExporter final : public LogsAndMetricsExporter {
 public:
  explicit DatadogExporter(Options options);
  std::string_view name() const override { return "datadog"; }

  // False once the endpoint answered 404/405 to distribution_points (or DD_DISTRIBUTIONS=false).
  bool distributionsEnabled() const { return distributions_enabled_; }

 private:
  ExportResult sendMetrics(std::span<const RecordPtr> batch) override;
  std::string logEntry(const TelemetryRecord& record) const override;
  std::string logsBody(std::span<const std::string> entries, const TelemetryRecord& first) const override;
  ExportResult postDistributions(std::span<const RecordPtr> records);

  Options options_;
  DeliveredIds series_sent_, distributions_sent_;
  bool distributions_enabled_ = true;
  std::chrono::steady_clock::time_point last_distribution_warning_{};
  std::size_t skipped_distribution_records_ = 0;
};

}  // namespace gw::exporters::datadog
