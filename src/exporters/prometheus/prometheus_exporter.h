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

#include <string>
#include <vector>

namespace gw {

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// The text format of https://prometheus.io/docs/instrumenting/exposition_formats/
std::string renderPrometheusText(const std::vector<FamilySnapshot>& families);
std::string escapePrometheusLabelValue(std::string_view value);  // \\ \" \n
std::string escapePrometheusHelp(std::string_view help);         // \\ \n
std::string formatPrometheusValue(double v);                      // Go ParseFloat syntax, +Inf/-Inf/NaN

class PrometheusExporter final : public Exporter, public MetricsEndpoint {
 public:
  explicit PrometheusExporter(const MetricsRegistry& metrics) : metrics_(metrics) {}
  std::string_view name() const override { return "prometheus"; }
  bool wantsRecords() const override { return false; }
  ExportResult exportBatch(std::span<const RecordPtr>) override { return ExportResult::success(); }
  std::string render() const override { return renderPrometheusText(metrics_.snapshot()); }

 private:
  const MetricsRegistry& metrics_;
};

}  // namespace gw
