// The elasticsearch exporter: request records as documents through `_bulk`.
//
// init() checks `GET /_cluster/health` and installs the index template;
// exportBatch() sends one `_bulk` request and maps per-item answers to a
// partial ExportResult. Called only from the exporter's worker thread.
#pragma once

#include "exporters/common/http_client.h"
#include "exporters/elasticsearch/elasticsearch_options.h"
#include "gw/exporter.h"

namespace gw::exporters::elasticsearch {

class ElasticsearchExporter final : public Exporter {
 public:
  explicit ElasticsearchExporter(Options options);

  std::string_view name() const override { return "elasticsearch"; }
  Status init() override;
  ExportResult exportBatch(std::span<const RecordPtr> batch) override;
  void shutdown() override { client_.close(); }

 private:
  http::Request makeRequest(std::string method, std::string_view path, std::string body,
                            std::string content_type) const;
  // Installs the template once; Retryable while the cluster cannot be reached.
  ExportResult ensureTemplate();

  Options options_;
  http::Client client_;
  bool template_ready_ = false;
};

}  // namespace gw::exporters::elasticsearch
