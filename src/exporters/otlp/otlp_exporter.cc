#include "exporters/otlp/otlp_exporter.h"

#include "gw/config_source.h"
#include "common/log.h"
#include "exporters/otlp/otlp_protobuf.h"
#include "exporters/otlp/otlp_serializer.h"
#include "gw/exporter_registry.h"

#include <boost/json.hpp>

#include <optional>

namespace gw::exporters::otlp {

OtlpExporter::OtlpExporter(Options options)
    : options_(std::move(options)), client_(http::ClientOptions::withTimeout(options_.timeout, options_.ca_file)) {}

namespace {

using Encode = std::string (*)(const BatchModel&, Protocol);

std::string encodeTraces(const BatchModel& m, Protocol p) {
  return p == Protocol::kHttpProtobuf ? tracesProtobuf(m.traces) : tracesJson(m.traces);
}
std::string encodeLogs(const BatchModel& m, Protocol p) {
  return p == Protocol::kHttpProtobuf ? logsProtobuf(m.logs) : logsJson(m.logs);
}
std::string encodeMetrics(const BatchModel& m, Protocol p) {
  return p == Protocol::kHttpProtobuf ? metricsProtobuf(m.metrics) : metricsJson(m.metrics);
}

// The partial-success message of a 2xx answer, in the encoding we sent.
std::optional<std::string> partialSuccessMessage(Protocol protocol, std::string_view signal,
                                                 const http::Response& response) {
  if (protocol == Protocol::kHttpProtobuf) return protobufPartialSuccessMessage(signal, response.body);
  boost::json::error_code ec;
  auto body = boost::json::parse(response.body, ec);
  if (ec || !body.is_object()) return std::nullopt;
  const auto* partial = body.as_object().if_contains("partialSuccess");
  if (!partial || !partial->is_object()) return std::nullopt;
  const auto* msg = partial->as_object().if_contains("errorMessage");
  if (!msg || !msg->is_string() || msg->as_string().empty()) return std::nullopt;
  return std::string(msg->as_string());
}

}  // namespace

struct OtlpExporter::Signal {
  const char* name;  // "traces", "logs", "metrics"
  const char* what;  // for messages
  const std::string& url;
  Encode encode;
  DeliveredIds& delivered;
};

ExportResult OtlpExporter::sendSignal(const Signal& signal, std::string body) {
  const bool protobuf = options_.protocol == Protocol::kHttpProtobuf;
  http::Request req;
  req.url = signal.url;
  req.headers = options_.headers;
  req.headers.emplace_back("Content-Type", protobuf ? "application/x-protobuf" : "application/json");
  req.body = std::move(body);
  req.gzip_body = options_.gzip;
  auto res = client_.send(req);
  if (!res) return http::resultForTransportError(res.error(), signal.what);
  if (protobuf && (res->status < 200 || res->status >= 300)) {
    // The receiver's google.rpc.Status is binary: keep only its message.
    if (res->header("Content-Type").value_or("").starts_with("application/x-protobuf"))
      res->body = protobufStatusMessage(res->body).value_or("");
  }
  auto result = http::resultForStatus(*res, signal.what);
  if (result.kind != ExportResult::Kind::kSuccess) return result;
  // A partial success names counts, not records: nothing to retry, but said.
  if (auto message = partialSuccessMessage(options_.protocol, signal.name, *res))
    log::get("otlp")->warn("{}: receiver rejected part of the batch: {}", signal.what, *message);
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
    // One model for the three signals: a record's resource, attributes and
    // ids are derived once.
    const BatchModel model = buildModel(good, options_.resource_attributes);
    const Signal signals[] = {
        {"traces", "otlp traces", options_.traces_url, &encodeTraces, traces_sent_},
        {"logs", "otlp logs", options_.logs_url, &encodeLogs, logs_sent_},
        {"metrics", "otlp metrics", options_.metrics_url, &encodeMetrics, metrics_sent_},
    };
    for (std::size_t i = 0; i < std::size(signals); ++i) {
      const Signal& signal = signals[i];
      std::vector<RecordPtr> pending;
      if (signal.delivered.size() > 0)
        for (const auto& r : good)
          if (!signal.delivered.contains(r->id)) pending.push_back(r);
      if (signal.delivered.size() > 0 && pending.empty()) continue;
      // Only a retried batch has records some signal delivered already.
      const bool whole = signal.delivered.size() == 0 || pending.size() == good.size();
      std::optional<BatchModel> pending_model;
      if (!whole) pending_model = buildModel(pending, options_.resource_attributes);
      auto sent = sendSignal(signal, signal.encode(whole ? model : *pending_model, options_.protocol));
      if (sent.kind != ExportResult::Kind::kSuccess) {
        // The pipeline retries the whole batch: the signals before this one
        // delivered every record of it, and must not send them again.
        for (std::size_t j = 0; j < i; ++j)
          for (const auto& r : good) signals[j].delivered.add(r->id);
        return sent;
      }
    }
  }
  if (result.rejected_indexes.empty()) return ExportResult::success();
  result.kind = ExportResult::Kind::kPermanent;
  result.message = "otlp: " + std::to_string(result.rejected_indexes.size()) + " record(s) without id or timestamp";
  return result;
}

}  // namespace gw::exporters::otlp

GW_REGISTER_EXPORTER_CLASS(otlp, gw::exporters::otlp::Options, gw::exporters::otlp::OtlpExporter)
