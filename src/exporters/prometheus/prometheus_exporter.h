// The prometheus exporter: serves every metric of the MetricsRegistry (those
// docs/exporters.md lists, plus custom metrics) as the Prometheus text exposition format
// 0.0.4 on GET /metrics (the server calls Telemetry::metricsText()).
//
// It wants no records (wantsRecords() is false): the telemetry thread
// updates the metrics for every record, and a scrape renders them.
// render() is thread-safe (MetricsEndpoint).
#pragma once

#include "gw/exporter.h"
#include "gw/metrics.h"
#include "gw/metrics_endpoint.h"
#include "gw/setting_table.h"

#include <span>
#include <string>
#include <vector>

namespace gw::exporters::prometheus {

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// The Prometheus text exposition format, version 0.0.4.
std::string renderPrometheusText(const std::vector<FamilySnapshot>& families);
std::string escapePrometheusLabelValue(std::string_view value);  // \\ \" \n
std::string escapePrometheusHelp(std::string_view help);         // \\ \n
std::string formatPrometheusValue(double v);                      // Go ParseFloat syntax, +Inf/-Inf/NaN

// No settings: /metrics is served on the gateway's own port.
struct PrometheusOptions {
  static Result<PrometheusOptions> fromConfig(const ConfigSource&) { return PrometheusOptions{}; }
  static std::span<const SettingDoc> settings() { return {}; }
};

class PrometheusExporter final : public Exporter, public MetricsEndpoint {
 public:
  // Renders `metrics`, which must outlive the exporter.
  explicit PrometheusExporter(const MetricsRegistry& metrics) : metrics_(metrics) {}
  PrometheusExporter(PrometheusOptions, const ExporterContext& context) : metrics_(context.metrics) {}
  std::string_view name() const override { return "prometheus"; }
  bool wantsRecords() const override { return false; }
  ExportResult exportBatch(std::span<const RecordPtr>) override { return ExportResult::success(); }
  std::string render() const override { return renderPrometheusText(metrics_.snapshot()); }

 private:
  const MetricsRegistry& metrics_;
};

}  // namespace gw::exporters::prometheus
