#include "exporters/otlp/otlp_exporter.h"

#include "common/config_source.h"
#include "common/log.h"
#include "telemetry/exporter_registry.h"

#include <boost/json.hpp>

namespace gw::exporters::otlp {

OtlpExporter::OtlpExporter(Options options)
    : options_(std::move(options)), client_([&] {
        http::ClientOptions c;
        c.total_timeout = options_.timeout;
        c.connect_timeout = std::min(options_.timeout, std::chrono::milliseconds(5000));
        c.ca_file = options_.ca_file;
        return c;
      }()) {}

ExportResult OtlpExporter::sendSignal(const char* what, const std::string& url, Serialize serialize,
                                      std::span<const RecordPtr> records, DeliveredIds& delivered) {
  std::vector<RecordPtr> pending;
  for (const auto& r : records)
    if (!delivered.contains(r->id)) pending.push_back(r);
  if (pending.empty()) return ExportResult::success();
  http::Request req;
  req.url = url;
  req.headers = options_.headers;
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = serialize(pending, options_.resource_attributes);
  req.gzip_body = options_.gzip;
  auto res = client_.send(req);
  if (!res) return http::resultForTransportError(res.error(), what);
  auto result = http::resultForStatus(*res, what);
  if (result.kind != ExportResult::Kind::kSuccess) return result;
  // A partial success names counts, not records: nothing to retry, but said.
  boost::json::error_code ec;
  auto body = boost::json::parse(res->body, ec);
  if (!ec && body.is_object())
    if (const auto* partial = body.as_object().if_contains("partialSuccess"); partial && partial->is_object())
      if (const auto* msg = partial->as_object().if_contains("errorMessage"); msg && msg->is_string() &&
                                                                              !msg->as_string().empty())
        log::get("otlp")->warn("{}: receiver rejected part of the batch: {}", what, std::string(msg->as_string()));
  for (const auto& r : pending) delivered.add(r->id);
  return ExportResult::success();
}

ExportResult OtlpExporter::exportBatch(std::span<const RecordPtr> batch) {
  std::vector<RecordPtr> good;
  ExportResult result;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (exportable(*batch[i])) {
      good.push_back(batch[i]);
    } else {
      result.rejected_indexes.push_back(i);
    }
  }
  if (!good.empty()) {
    auto traces = sendSignal("otlp traces", options_.traces_url, &tracesJson, good, traces_sent_);
    if (traces.kind != ExportResult::Kind::kSuccess) return traces;
    auto logs = sendSignal("otlp logs", options_.logs_url, &logsJson, good, logs_sent_);
    if (logs.kind != ExportResult::Kind::kSuccess) return logs;
    auto metrics = sendSignal("otlp metrics", options_.metrics_url, &metricsJson, good, metrics_sent_);
    if (metrics.kind != ExportResult::Kind::kSuccess) return metrics;
  }
  if (result.rejected_indexes.empty()) return ExportResult::success();
  result.kind = ExportResult::Kind::kPermanent;
  result.message = "otlp: " + std::to_string(result.rejected_indexes.size()) + " record(s) without id or timestamp";
  return result;
}

}  // namespace gw::exporters::otlp

namespace {
gw::Result<std::unique_ptr<gw::Exporter>> makeOtlpExporter(const gw::ExporterContext& context) {
  auto options = gw::exporters::otlp::Options::fromEnv(context.config);
  if (!options) return options.error();
  return std::unique_ptr<gw::Exporter>(std::make_unique<gw::exporters::otlp::OtlpExporter>(std::move(*options)));
}
}  // namespace

GW_REGISTER_EXPORTER(otlp, makeOtlpExporter)
