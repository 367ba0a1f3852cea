// Settings of the otlp exporter: the standard OpenTelemetry exporter
// variables (OTEL_EXPORTER_OTLP_*), read once at start-up.
#pragma once

#include "exporters/common/http_client.h"
#include "gw/setting_table.h"
#include "gw/error.h"

#include <chrono>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace gw::exporters::otlp {

// OTEL_EXPORTER_OTLP_PROTOCOL. grpc is not built in (refused at start-up).
enum class Protocol {
  kHttpProtobuf,  // "http/protobuf": Content-Type application/x-protobuf (the OTLP default)
  kHttpJson,      // "http/json": Content-Type application/json
};

struct Options {
  // OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318) + /v1/{signal},
  // or the per-signal OTEL_EXPORTER_OTLP_{LOGS,METRICS,TRACES}_ENDPOINT as is.
  std::string logs_url = "http://localhost:4318/v1/logs";
  std::string metrics_url = "http://localhost:4318/v1/metrics";
  std::string traces_url = "http://localhost:4318/v1/traces";
  Protocol protocol = Protocol::kHttpProtobuf;
  http::Headers headers;  // OTEL_EXPORTER_OTLP_HEADERS: k=v,k2=v2 (values percent-decoded)
  bool gzip = false;      // OTEL_EXPORTER_OTLP_COMPRESSION: gzip | none
  std::chrono::milliseconds timeout{10000};  // OTEL_EXPORTER_OTLP_TIMEOUT (ms)
  std::string ca_file;                       // OTEL_EXPORTER_OTLP_CERTIFICATE
  // OTEL_RESOURCE_ATTRIBUTES: added to every record's resource.
  std::vector<std::pair<std::string, std::string>> resource_attributes;

  static Result<Options> fromConfig(const ConfigSource& config);
  // The variables fromConfig() reads, for --help (registered with the factory).
  static std::span<const SettingDoc> settings();
};

// "k=v,k2=v2" as in OTEL_EXPORTER_OTLP_HEADERS / OTEL_RESOURCE_ATTRIBUTES
// (W3C Baggage-like, values percent-encoded). Fails on an item without '='.
boost::system::result<std::vector<std::pair<std::string, std::string>>, std::string> parseKeyValueList(
    std::string_view text);

}  // namespace gw::exporters::otlp
