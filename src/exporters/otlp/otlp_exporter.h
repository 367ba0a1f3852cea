// The otlp exporter: each batch as OTLP/HTTP traces, logs and metrics, in
// the protobuf (default) or JSON encoding.
//
// The three signals are three requests, encoded from one model of the batch
// (buildModel). When one signal fails, the signals sent before it remember
// the batch's record ids (DeliveredIds), so that when the pipeline retries
// the batch they are not sent twice; a batch whose three signals go through
// leaves nothing to remember. Called only from the exporter's worker thread.
#pragma once

#include "exporters/common/delivered_ids.h"
#include "exporters/common/http_client.h"
#include "exporters/otlp/otlp_model.h"
#include "exporters/otlp/otlp_options.h"
#include "gw/exporter.h"

namespace gw::exporters::otlp {

class OtlpExporter final : public Exporter {
 public:
  explicit OtlpExporter(Options options);

  std::string_view name() const override { return "otlp"; }
  ExportResult exportBatch(std::span<const RecordPtr> batch) override;
  void shutdown() override { client_.close(); }

 private:
  struct Signal;
  ExportResult sendSignal(const Signal& signal, std::string body);

  Options options_;
  http::Client client_;
  DeliveredIds traces_sent_, logs_sent_, metrics_sent_;
};

}  // namespace gw::exporters::otlp
