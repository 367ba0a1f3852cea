#include "exporters/otlp/otlp_options.h"

#include "gw/setting_table.h"
#include "common/strings.h"

#include <boost/url/pct_string_view.hpp>

#include <fstream>

namespace gw::exporters::otlp {

boost::system::result<std::vector<std::pair<std::string, std::string>>, std::string> parseKeyValueList(
    std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& item : splitList(text, ',')) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return std::string("expected key=value items separated by commas");
    std::string key(trim(std::string_view(item).substr(0, eq)));
    std::string raw(trim(std::string_view(item).substr(eq + 1)));
    auto pct = boost::urls::make_pct_string_view(raw);
    if (!pct) return "value of '" + key + "' is not valid percent-encoding";
    out.emplace_back(std::move(key), pct->decode());
  }
  return out;
}

namespace {
constexpr SettingDoc kSettings[] = {
    {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318", "base URL; /v1/{signal} is appended"},
    {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "", "logs URL, used as is"},
    {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "", "metrics URL, used as is"},
    {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", "traces URL, used as is"},
    {"OTEL_EXPORTER_OTLP_HEADERS", "", "key=value,key2=value2 (values percent-encoded)"},
    {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "http/protobuf or http/json (grpc is refused)"},
    {"OTEL_EXPORTER_OTLP_COMPRESSION", "none", "gzip or none"},
    {"OTEL_EXPORTER_OTLP_TIMEOUT", "10000", "ms per request"},
    {"OTEL_EXPORTER_OTLP_CERTIFICATE", "system store", "PEM CA bundle"},
    {"OTEL_RESOURCE_ATTRIBUTES", "", "extra resource attributes, key=value,... (the record's own win)"},
};
}  // namespace

std::span<const SettingDoc> Options::settings() { return kSettings; }

Result<Options> Options::fromConfig(const ConfigSource& source) {
  const DeclaredSettings<kSettings> config(source);
  Options o;
  const std::string base = config.getString("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318");
  if (auto v = http::validateUrl(base); !v) return configError("OTEL_EXPORTER_OTLP_ENDPOINT", v.error());
  struct Signal {
    DeclaredSettings<kSettings>::Name variable;
    const char* path;
    std::string* url;
  } signals[] = {{"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "v1/logs", &o.logs_url},
                 {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "v1/metrics", &o.metrics_url},
                 {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "v1/traces", &o.traces_url}};
  for (auto& s : signals) {
    if (auto specific = config.get(s.variable)) {
      if (auto v = http::validateUrl(*specific); !v) return configError(s.variable, v.error());
      *s.url = *specific;  // used as is, per the OTLP exporter specification
    } else {
      *s.url = http::joinUrl(base, s.path);
    }
  }
  const std::string protocol = config.getString("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
  if (protocol == "http/protobuf") {
    o.protocol = Protocol::kHttpProtobuf;
  } else if (protocol == "http/json") {
    o.protocol = Protocol::kHttpJson;
  } else if (protocol == "grpc") {
    return configError("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc is not supported; use http/protobuf or http/json");
  } else {
    return configError("OTEL_EXPORTER_OTLP_PROTOCOL",
                       "'" + protocol.substr(0, 100) + "' is not one of http/protobuf, http/json");
  }
  if (auto headers = config.get("OTEL_EXPORTER_OTLP_HEADERS")) {
    auto parsed = parseKeyValueList(*headers);
    if (!parsed) return configError("OTEL_EXPORTER_OTLP_HEADERS", parsed.error());
    for (auto& [k, v] : *parsed) {
      if (hasHeaderUnsafeBytes(k) || hasHeaderUnsafeBytes(v))
        return configError("OTEL_EXPORTER_OTLP_HEADERS", "header '" + k + "' contains CR, LF or NUL");
      o.headers.emplace_back(std::move(k), std::move(v));
    }
  }
  const std::string compression = toLower(config.getString("OTEL_EXPORTER_OTLP_COMPRESSION", "none"));
  if (compression != "gzip" && compression != "none")
    return configError("OTEL_EXPORTER_OTLP_COMPRESSION", "must be gzip or none");
  o.gzip = compression == "gzip";
  auto timeout = config.getInt("OTEL_EXPORTER_OTLP_TIMEOUT", 10000, 100, 600000);
  if (!timeout) return timeout.error();
  o.timeout = std::chrono::milliseconds(*timeout);
  o.ca_file = config.getString("OTEL_EXPORTER_OTLP_CERTIFICATE", "");
  if (!o.ca_file.empty() && !std::ifstream(o.ca_file).good())
    return configError("OTEL_EXPORTER_OTLP_CERTIFICATE", "cannot read " + o.ca_file);
  if (auto attrs = config.get("OTEL_RESOURCE_ATTRIBUTES")) {
    auto parsed = parseKeyValueList(*attrs);
    if (!parsed) return configError("OTEL_RESOURCE_ATTRIBUTES", parsed.error());
    o.resource_attributes = std::move(*parsed);
  }
  return o;
}

}  // namespace gw::exporters::otlp
