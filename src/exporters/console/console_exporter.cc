#include "exporters/console/console_exporter.h"

#include "gw/setting_table.h"
#include "gw/exporter_registry.h"

#include <boost/json/serialize.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gw {

namespace {
constexpr SettingDoc kSettings[] = {
    {"CONSOLE_PRETTY", "false", "indented JSON, records separated by a newline"},
};
}  // namespace

std::span<const SettingDoc> ConsoleOptions::settings() { return kSettings; }

Result<ConsoleOptions> ConsoleOptions::fromConfig(const ConfigSource& source) {
  const DeclaredSettings<kSettings> config(source);
  ConsoleOptions o;
  auto pretty = config.getBool("CONSOLE_PRETTY", false);
  if (!pretty) return pretty.error();
  o.pretty = *pretty;
  return o;
}

namespace {
void pretty(const boost::json::value& v, std::string& out, int indent) {
  auto newline = [&](int level) {
    out += '\n';
    out.append(static_cast<std::size_t>(level) * 2, ' ');
  };
  if (v.is_object()) {
    const auto& o = v.as_object();
    if (o.empty()) {
      out += "{}";
      return;
    }
    out += '{';
    bool first = true;
    for (const auto& kv : o) {
      if (!first) out += ',';
      first = false;
      newline(indent + 1);
      out += boost::json::serialize(boost::json::value(kv.key()));
      out += ": ";
      pretty(kv.value(), out, indent + 1);
    }
    newline(indent);
    out += '}';
  } else if (v.is_array()) {
    const auto& a = v.as_array();
    if (a.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    bool first = true;
    for (const auto& item : a) {
      if (!first) out += ',';
      first = false;
      newline(indent + 1);
      pretty(item, out, indent + 1);
    }
    newline(indent);
    out += ']';
  } else {
    out += boost::json::serialize(v);
  }
}
}  // namespace

std::string prettyJson(const boost::json::value& v) {
  std::string out;
  pretty(v, out, 0);
  return out;
}

std::string serializeConsoleBatch(std::span<const RecordPtr> batch, bool pretty_print) {
  std::string out;
  for (const auto& r : batch) {
    if (pretty_print) out += prettyJson(r->json());
    else out += r->serialized;
    out += '\n';
  }
  return out;
}

ExportResult ConsoleExporter::exportBatch(std::span<const RecordPtr> batch) {
  const std::string bytes = serializeConsoleBatch(batch, options_.pretty);
  std::string_view rest = bytes;
  while (!rest.empty()) {
    ssize_t n = ::write(fd_, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      // A closed pipe cannot recover by retrying; a full disk may.
      if (errno == EPIPE || errno == EBADF) return ExportResult::permanent(std::string("stdout: ") + std::strerror(errno));
      return ExportResult::retryable(std::string("stdout: ") + std::strerror(errno));
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  return ExportResult::success();
}

}  // namespace gw

GW_REGISTER_EXPORTER(console, gw::ConsoleOptions::settings(),
                     [](const gw::ExporterContext& context) -> gw::Result<std::unique_ptr<gw::Exporter>> {
  auto options = gw::ConsoleOptions::fromConfig(context.config);
  if (!options) return options.error();
  return std::unique_ptr<gw::Exporter>(std::make_unique<gw::ConsoleExporter>(*options));
})
