// The otlp exporter: each batch as OTLP/HTTP traces, logs and metrics, in
// the protobuf (default) or JSON encoding.
//
// The three signals are three requests. Each signal remembers the record ids
// it has delivered (DeliveredIds), so when one signal fails and the pipeline
// retries the batch, the signals that already went through are not sent
// twice. Called only from the exporter's worker thread.
#pragma once

#include "exporters/common/delivered_ids.h"
#include "exporters/common/http_client.h"
#include "exporters/otlp/otlp_options.h"
#include "exporters/otlp/otlp_model.h"
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
  ExportResult sendSignal(const Signal& signal, std::span<const RecordPtr> pending);

  Options options_;
  http::Client client_;
  DeliveredIds traces_sent_, logs_sent_, metrics_sent_;
};

}  // namespace gw::exporters::otlp
