#include "exporters/console/console_exporter.h"

#include "gw/exporter_registry.h"
#include "gw/setting_table.h"

#include <boost/json/serialize.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gw::exporters::console {

namespace {
constexpr SettingDoc kSettings[] = {
    {"CONSOLE_PRETTY", "false", "indented JSON, records separated by a newline"},
};
}  // namespace

std::span<const SettingDoc> ConsoleOptions::settings() { return kSettings; }

Result<ConsoleOptions> ConsoleOptions::fromConfig(const ConfigSource& source) {
  const DeclaredSettings<kSettings> config(source);  // reads only what kSettings declares
  ConsoleOptions o;
  auto pretty = config.getBool("CONSOLE_PRETTY", false);  // the error's message starts with CONSOLE_PRETTY
  if (!pretty) return pretty.error();
  o.pretty = *pretty;
  return o;
}

namespace {
void appendPretty(std::string& out, const boost::json::value& v, int level) {
  const auto* object = v.if_object();
  const auto* array = v.if_array();
  if ((!object || object->empty()) && (!array || array->empty())) {
    out += boost::json::serialize(v);  // a scalar, {} or []
    return;
  }
  const auto indent = [&](int l) { out.append(static_cast<std::size_t>(l) * 2, ' '); };
  const char* separator = "\n";
  const auto nextItem = [&] {
    out += separator;
    separator = ",\n";
    indent(level + 1);
  };
  out += object ? '{' : '[';
  if (object) {
    for (const auto& member : *object) {
      nextItem();
      out += boost::json::serialize(member.key());
      out += ": ";
      appendPretty(out, member.value(), level + 1);
    }
  } else {
    for (const auto& item : *array) {
      nextItem();
      appendPretty(out, item, level + 1);
    }
  }
  out += '\n';
  indent(level);
  out += object ? '}' : ']';
}
}  // namespace

std::string prettyJson(const boost::json::value& v) {
  std::string out;
  appendPretty(out, v, 0);
  return out;
}

std::string serializeConsoleBatch(std::span<const RecordPtr> batch, bool pretty) {
  std::string out;
  for (const auto& r : batch) {
    if (pretty) out += prettyJson(r->json());
    else out += r->serialized;  // the record's own compact JSON, as it is
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

}  // namespace gw::exporters::console

// At global scope: the registration function is gw::gw_register_exporter_console.
GW_REGISTER_EXPORTER_CLASS(console, gw::exporters::console::ConsoleOptions, gw::exporters::console::ConsoleExporter)
