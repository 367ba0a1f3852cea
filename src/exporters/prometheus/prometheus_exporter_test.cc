// prometheus exporter: registry, text format against golden output, and the
// output checked by promtool (the Prometheus project's own linter/parser).
#include "exporters/prometheus/prometheus_exporter.h"

#include "gw/config_source.h"
#include "gw/exporter_registry.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace gw::exporters::prometheus {
namespace {

TEST(PrometheusExporter, IsRegisteredAndWantsNoRecords) {
  ExporterRegistry registry;
  registerBuiltinExporters(registry);
  ASSERT_NE(registry.find("prometheus"), nullptr);
  MetricsRegistry metrics;
  ConfigSource config;
  auto exporter = (*registry.find("prometheus"))(ExporterContext{config, metrics});
  ASSERT_TRUE(exporter);
  EXPECT_EQ((*exporter)->name(), "prometheus");
  EXPECT_FALSE((*exporter)->wantsRecords());
  EXPECT_NE(dynamic_cast<MetricsEndpoint*>(exporter->get()), nullptr);
}

TEST(PrometheusExporter, Escaping) {
  EXPECT_EQ(escapePrometheusLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(escapePrometheusHelp("a\\b\"c\nd"), "a\\\\b\"c\\nd");
  EXPECT_EQ(formatPrometheusValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(formatPrometheusValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(formatPrometheusValue(0.0 / 0.0), "NaN");
  EXPECT_EQ(formatPrometheusValue(3), "3");
  EXPECT_EQ(formatPrometheusValue(0.25), "0.25");
}

void fill(MetricsRegistry& m) {
  m.counter("app_sends_total", "Sends \\ attempted\nper backend", "1", {"backend"}).add({"es \"main\"\nx"}, 2);
  m.gauge("app_in_flight", "In flight", "1").set({}, 3);
  auto h = m.histogram("app_latency_seconds", "Latency", "s", {"route"}, {0.1, 1});
  h.observe({"/a"}, 0.05);
  h.observe({"/a"}, 0.1);  // le is inclusive
  h.observe({"/a"}, 0.5);
  h.observe({"/a"}, 7);
  m.counter("app_unused_total", "Declared, never updated", "1", {"x"});
}

constexpr std::string_view kGolden =
    "# HELP app_in_flight In flight\n"
    "# TYPE app_in_flight gauge\n"
    "app_in_flight 3\n"
    "# HELP app_latency_seconds Latency\n"
    "# TYPE app_latency_seconds histogram\n"
    "app_latency_seconds_bucket{route=\"/a\",le=\"0.1\"} 2\n"
    "app_latency_seconds_bucket{route=\"/a\",le=\"1\"} 3\n"
    "app_latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 4\n"
    "app_latency_seconds_sum{route=\"/a\"} 7.65\n"
    "app_latency_seconds_count{route=\"/a\"} 4\n"
    "# HELP app_sends_total Sends \\\\ attempted\\nper backend\n"
    "# TYPE app_sends_total counter\n"
    "app_sends_total{backend=\"es \\\"main\\\"\\nx\"} 2\n"
    "# HELP app_unused_total Declared, never updated\n"
    "# TYPE app_unused_total counter\n";

TEST(PrometheusExporter, TextFormatGolden) {
  MetricsRegistry m;
  fill(m);
  PrometheusExporter exporter(m);
  EXPECT_EQ(exporter.render(), kGolden);
}

// Runs `promtool check metrics` on `text`; returns its exit status.
int promtoolCheck(const std::string& text, std::string& output) {
  auto dir = std::filesystem::temp_directory_path() / ("gw-promtool-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  { std::ofstream(dir / "metrics.prom") << text; }
  std::string cmd = "/usr/bin/promtool check metrics < '" + (dir / "metrics.prom").string() + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) output += buf;
  int status = pclose(p);
  std::filesystem::remove_all(dir);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(PrometheusExporter, PromtoolAcceptsTheOutput) {
  ASSERT_TRUE(std::filesystem::exists("/usr/bin/promtool")) << "promtool missing: scripts/install-deps.sh installs prometheus";
  MetricsRegistry m;
  fill(m);
  std::string out;
  EXPECT_EQ(promtoolCheck(PrometheusExporter(m).render(), out), 0) << out;
  // The check can fail: a counter without _total is a lint error.
  MetricsRegistry bad;
  bad.counter("app_sends", "no suffix", "1").add({}, 1);
  out.clear();
  EXPECT_NE(promtoolCheck(PrometheusExporter(bad).render(), out), 0);
}

}  // namespace
}  // namespace gw::exporters::prometheus
