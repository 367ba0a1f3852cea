#include "exporters/prometheus/prometheus_exporter.h"

#include "gw/exporter_registry.h"

#include <fmt/format.h>

#include <cmath>

namespace gw::exporters::prometheus {

namespace {

// Backslash and newline escaped, and the double quote too when `quote`.
std::string escape(std::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quote) out += "\\\"";
    else out += c;
  }
  return out;
}

}  // namespace

std::string escapePrometheusLabelValue(std::string_view value) { return escape(value, true); }
std::string escapePrometheusHelp(std::string_view help) { return escape(help, false); }

std::string formatPrometheusValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

namespace {

std::string_view typeName(MetricType t) {
  switch (t) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

// {a="x",b="y"[,le="..."]} or "" when there is no label at all.
void appendLabels(std::string& out, const std::vector<std::string>& names, const LabelValues& values,
                  std::string_view le = {}) {
  if (names.empty() && le.empty()) return;
  out += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += names[i];
    out += "=\"";
    out += escapePrometheusLabelValue(values[i]);
    out += '"';
  }
  if (!le.empty()) {
    if (!names.empty()) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

}  // namespace

std::string renderPrometheusText(const std::vector<FamilySnapshot>& families) {
  std::string out;
  for (const auto& f : families) {
    out += "# HELP " + f.name + ' ' + escapePrometheusHelp(f.help) + '\n';
    out += "# TYPE " + f.name + ' ' + std::string(typeName(f.type)) + '\n';
    for (const auto& s : f.series) {
      if (f.type != MetricType::kHistogram) {
        out += f.name;
        appendLabels(out, f.label_names, s.labels);
        out += ' ' + formatPrometheusValue(s.value) + '\n';
        continue;
      }
      for (std::size_t b = 0; b < f.bounds.size(); ++b) {
        out += f.name + "_bucket";
        appendLabels(out, f.label_names, s.labels, formatPrometheusValue(f.bounds[b]));
        out += ' ' + std::to_string(s.bucket_counts[b]) + '\n';
      }
      out += f.name + "_bucket";
      appendLabels(out, f.label_names, s.labels, "+Inf");
      out += ' ' + std::to_string(s.count) + '\n';
      out += f.name + "_sum";
      appendLabels(out, f.label_names, s.labels);
      out += ' ' + formatPrometheusValue(s.sum) + '\n';
      out += f.name + "_count";
      appendLabels(out, f.label_names, s.labels);
      out += ' ' + std::to_string(s.count) + '\n';
    }
  }
  return out;
}

}  // namespace gw::exporters::prometheus

GW_REGISTER_EXPORTER_CLASS(prometheus, gw::exporters::prometheus::PrometheusOptions,
                           gw::exporters::prometheus::PrometheusExporter)
