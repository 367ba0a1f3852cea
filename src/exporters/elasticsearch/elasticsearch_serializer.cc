#include "exporters/elasticsearch/elasticsearch_serializer.h"

#include <boost/json.hpp>

namespace gw::exporters::elasticsearch {
namespace json = boost::json;

std::string indexFor(const TelemetryRecord& record, std::string_view index, bool date_suffix) {
  std::string out(index);
  if (!date_suffix) return out;
  const std::string& ts = record.fields.timestamp;
  // "YYYY-MM-DD..." -> "-YYYY.MM.DD"; a record without a usable date goes to the base index.
  if (ts.size() >= 10 && ts[4] == '-' && ts[7] == '-') {
    std::string day(ts, 0, 10);
    for (char c : day)
      if ((c < '0' || c > '9') && c != '-') return out;
    day[4] = '.';
    day[7] = '.';
    out += "-" + day;
  }
  return out;
}

std::string serializeBulk(std::span<const RecordPtr> batch, std::string_view index, bool date_suffix) {
  std::string out;
  std::size_t estimate = 0;
  for (const auto& r : batch) estimate += r->serialized.size() + r->id.size() + index.size() + 64;
  out.reserve(estimate);
  for (const auto& r : batch) {
    json::object meta{{"_index", indexFor(*r, index, date_suffix)}, {"_id", r->id}};
    out += json::serialize(json::object{{"create", std::move(meta)}});
    out += '\n';
    out += r->serialized;  // compact JSON: never contains a raw newline
    out += '\n';
  }
  return out;
}

ExportResult interpretBulkResponse(std::string_view body, std::size_t count) {
  json::error_code ec;
  json::value v = json::parse(body, ec);
  const json::object* root = ec ? nullptr : v.if_object();
  if (!root) return ExportResult::retryable("elasticsearch _bulk: unreadable response");
  const auto* errors = root->if_contains("errors");
  if (errors && errors->is_bool() && !errors->get_bool()) return ExportResult::success();
  const auto* items_v = root->if_contains("items");
  const json::array* items = items_v ? items_v->if_array() : nullptr;
  if (!items || items->size() != count)
    return ExportResult::retryable("elasticsearch _bulk: response items do not match the batch");

  ExportResult result;
  std::string first_error;
  for (std::size_t i = 0; i < items->size(); ++i) {
    const json::object* item = (*items)[i].if_object();
    const json::object* op = nullptr;
    if (item && !item->empty()) op = item->begin()->value().if_object();
    std::int64_t status = 0;
    if (op)
      if (const auto* s = op->if_contains("status"); s && s->is_int64()) status = s->get_int64();
    if ((status >= 200 && status < 300) || status == 409) continue;
    if (first_error.empty()) {
      first_error = "HTTP " + std::to_string(status);
      if (op)
        if (const auto* err = op->if_contains("error"); err && err->is_object())
          if (const auto* type = err->as_object().if_contains("type"); type && type->is_string())
            first_error += " " + std::string(type->get_string());
    }
    if (status == 429 || status >= 500 || status == 0)
      result.retry_indexes.push_back(i);
    else
      result.rejected_indexes.push_back(i);
  }
  if (result.retry_indexes.empty() && result.rejected_indexes.empty()) return ExportResult::success();
  result.kind = result.retry_indexes.empty() ? ExportResult::Kind::kPermanent : ExportResult::Kind::kRetryable;
  result.message = "elasticsearch _bulk: " + std::to_string(result.retry_indexes.size()) + " to retry, " +
                   std::to_string(result.rejected_indexes.size()) + " rejected (first: " + first_error + ")";
  return result;
}

std::string indexTemplate(std::string_view index) {
  auto kw = [] { return json::object{{"type", "keyword"}, {"ignore_above", 1024}}; };
  auto typed = [](const char* t) { return json::object{{"type", t}}; };
  json::object metadata_props{
      {"project_id", kw()},          {"project_name", kw()},
      {"latency", typed("double")},  {"ttfb", typed("double")},
      {"tokens", json::object{{"properties", json::object{{"input", typed("long")},
                                                          {"output", typed("long")},
                                                          {"total", typed("long")},
                                                          {"cached_input", typed("long")},
                                                          {"cache_creation", typed("long")},
                                                          {"reasoning", typed("long")}}}}},
      {"cost", typed("double")},     {"cost_status", kw()},
      {"status", kw()},
      {"path", kw()},                {"method", kw()},
      {"request_size", typed("long")}, {"response_size", typed("long")},
      {"provider_latency", typed("double")}, {"status_code", typed("integer")},
      {"provider_status_code", typed("integer")}, {"error_count", typed("integer")},
      {"error_type", kw()},          {"provider_error_count", typed("integer")},
      {"provider_error_type", kw()}, {"provider_request_id", kw()},
      {"route", kw()}};
  json::object attributes_props{
      {"id", kw()},       {"thread_id", kw()},   {"org_id", kw()},
      {"user_id", kw()},  {"project_id", kw()},  {"experiment_id", kw()},
      {"provider", kw()}, {"model", kw()},
      // Bodies are arbitrary client JSON: kept in _source, never mapped.
      {"request", json::object{{"type", "object"}, {"enabled", false}}},
      {"response", json::object{{"type", "object"}, {"enabled", false}}},
      {"metadata", json::object{{"properties", std::move(metadata_props)}}}};
  json::object properties{
      {"timestamp", json::object{{"type", "date"}, {"format", "strict_date_optional_time||epoch_millis"}}},
      {"name", kw()},
      {"resource",
       json::object{{"properties",
                     json::object{{"service", json::object{{"properties", json::object{{"name", kw()},
                                                                                      {"version", kw()}}}}},
                                  {"deployment",
                                   json::object{{"properties", json::object{{"environment", kw()}}}}}}}}},
      {"attributes", json::object{{"properties", std::move(attributes_props)}}}};
  json::object tmpl{
      {"index_patterns", json::array{json::string(index), json::string(std::string(index) + "-*")}},
      {"priority", 200},
      {"template", json::object{{"mappings", json::object{{"dynamic", false}, {"properties", std::move(properties)}}}}},
      {"_meta", json::object{{"managed_by", "magicapi-gateway"}}}};
  return json::serialize(tmpl);
}

}  // namespace gw::exporters::elasticsearch
