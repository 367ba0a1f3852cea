// The console exporter: one JSON record per line on stdout
// (CONSOLE_PRETTY=true: indented, records separated by a newline). It is
// the worked example of docs/telemetry-plugins.md and uses only the plugin
// API, include/gw/.
//
// Threading: as every exporter (gw/exporter.h), driven by its own worker
// thread. Writes go through write(2) on the file descriptor it is given,
// one call sequence per batch, so lines from one batch are never
// interleaved with anything the gateway itself writes to stdout.
#pragma once

#include "gw/exporter.h"
#include "gw/setting_table.h"

#include <boost/json/value.hpp>

#include <span>
#include <string>

namespace gw::exporters::console {

struct ConsoleOptions {
  bool pretty = false;  // CONSOLE_PRETTY
  static Result<ConsoleOptions> fromConfig(const ConfigSource& config);
  // The variables fromConfig() reads, for --help (registered with the factory).
  static std::span<const SettingDoc> settings();
};

// The serializer: the bytes written for one batch. Pure.
std::string serializeConsoleBatch(std::span<const RecordPtr> batch, bool pretty);

// Indented JSON (two spaces), the way CONSOLE_PRETTY prints a record.
std::string prettyJson(const boost::json::value& v);

class ConsoleExporter final : public Exporter {
 public:
  explicit ConsoleExporter(ConsoleOptions options, int fd = 1) : options_(options), fd_(fd) {}
  std::string_view name() const override { return "console"; }
  ExportResult exportBatch(std::span<const RecordPtr> batch) override;

 private:
  ConsoleOptions options_;
  int fd_;
};

}  // namespace gw::exporters::console
