#include "exporters/elasticsearch/elasticsearch_exporter.h"

#include "gw/config_source.h"
#include "common/log.h"
#include "exporters/elasticsearch/elasticsearch_serializer.h"
#include "gw/exporter_registry.h"

namespace gw::exporters::elasticsearch {

ElasticsearchExporter::ElasticsearchExporter(Options options)
    : options_(std::move(options)),
      client_(http::ClientOptions::withTimeout(options_.timeout, options_.ca_file)),
      template_ready_(!options_.install_template) {}

http::Request ElasticsearchExporter::makeRequest(std::string method, std::string_view path, std::string body,
                                                 std::string content_type) const {
  http::Request r;
  r.method = std::move(method);
  r.url = http::joinUrl(options_.url, path);
  r.body = std::move(body);
  if (!content_type.empty()) r.headers.emplace_back("Content-Type", std::move(content_type));
  r.headers.emplace_back("Accept", "application/json");
  if (!options_.api_key.empty()) {
    r.headers.emplace_back("Authorization", "ApiKey " + options_.api_key);
  } else if (!options_.username.empty()) {
    r.headers.emplace_back("Authorization", http::basicAuth(options_.username, options_.password));
  }
  return r;
}

ExportResult ElasticsearchExporter::ensureTemplate() {
  if (template_ready_) return ExportResult::success();
  auto res = client_.send(makeRequest("PUT", "/_index_template/" + options_.index + "-template",
                                      indexTemplate(options_.index), "application/json"));
  if (!res) return http::resultForTransportError(res.error(), "elasticsearch index template");
  auto result = http::resultForStatus(*res, "elasticsearch index template");
  if (result.kind == ExportResult::Kind::kPermanent) {
    // Typically a user without manage_index_templates: documents still go
    // in, with whatever mapping the cluster has. Said once, loudly.
    log::get("elasticsearch")->warn("cannot install the index template ({}); set ELASTICSEARCH_INSTALL_TEMPLATE=false "
                                    "if the mapping is managed elsewhere",
                                    result.message);
    template_ready_ = true;
    return ExportResult::success();
  }
  if (result.kind == ExportResult::Kind::kSuccess) template_ready_ = true;
  return result;
}

Status ElasticsearchExporter::init() {
  auto health = client_.send(makeRequest("GET", "/_cluster/health", "", ""));
  if (!health) return Error::badGateway("elasticsearch_unreachable", "elasticsearch: " + health.error().message);
  if (health->status != 200)
    return Error::badGateway("elasticsearch_unhealthy",
                             "elasticsearch /_cluster/health: HTTP " + std::to_string(health->status));
  auto tmpl = ensureTemplate();
  if (tmpl.kind != ExportResult::Kind::kSuccess) return Error::badGateway("elasticsearch_template", tmpl.message);
  return ok();
}

ExportResult ElasticsearchExporter::exportBatch(std::span<const RecordPtr> batch) {
  if (batch.empty()) return ExportResult::success();
  // Without the template, the first document would fix the mapping by
  // guesswork: wait for it rather than write.
  if (auto tmpl = ensureTemplate(); tmpl.kind != ExportResult::Kind::kSuccess) return tmpl;
  auto res = client_.send(makeRequest("POST", "/_bulk", serializeBulk(batch, options_.index, options_.index_date_suffix),
                                      "application/x-ndjson"));
  if (!res) return http::resultForTransportError(res.error(), "elasticsearch _bulk");
  if (res->status != 200) return http::resultForStatus(*res, "elasticsearch _bulk");
  return interpretBulkResponse(res->body, batch.size());
}

}  // namespace gw::exporters::elasticsearch

GW_REGISTER_EXPORTER_CLASS(elasticsearch, gw::exporters::elasticsearch::Options, gw::exporters::elasticsearch::ElasticsearchExporter)
