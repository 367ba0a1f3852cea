#include "exporters/otlp/otlp_serializer.h"

#include <boost/json.hpp>

namespace gw::exporters::otlp {
namespace json = boost::json;
namespace {

json::value str(std::string_view s) { return json::object{{"stringValue", s}}; }
json::value i64(std::int64_t v) { return json::object{{"intValue", std::to_string(v)}}; }
json::object kv(std::string_view key, json::value any) { return json::object{{"key", key}, {"value", std::move(any)}}; }
std::string nanos(std::int64_t v) { return std::to_string(v); }

json::array attributes(const KeyValues& attrs) {
  json::array out;
  for (const auto& a : attrs) out.push_back(kv(a.key, toAnyValue(a.value)));
  return out;
}

json::object scope() { return json::object{{"name", kScopeName}, {"version", GW_VERSION}}; }

// {resourceX: [{resource, scopeX: [{scope, items}]}]}
template <class Item, class Encode>
std::string encode(const std::vector<ResourceGroup<Item>>& groups, const char* resource_key, const char* scope_key,
                   const char* items_key, Encode item) {
  json::array out;
  for (const auto& g : groups) {
    json::array items;
    for (const auto& i : g.items) items.push_back(item(i));
    json::object scoped{{"scope", scope()}, {items_key, std::move(items)}};
    out.push_back(json::object{{"resource", json::object{{"attributes", attributes(g.resource)}}},
                               {scope_key, json::array{std::move(scoped)}}});
  }
  return json::serialize(json::object{{resource_key, std::move(out)}});
}

}  // namespace

json::value toAnyValue(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return json::object{};
    case json::kind::bool_:
      return json::object{{"boolValue", v.get_bool()}};
    case json::kind::int64:
      return i64(v.get_int64());
    case json::kind::uint64:
      // Boost.JSON uses uint64 only past INT64_MAX, which an OTLP intValue
      // (int64) cannot hold: a receiver would reject the whole batch.
      return json::object{{"doubleValue", static_cast<double>(v.get_uint64())}};
    case json::kind::double_:
      return json::object{{"doubleValue", v.get_double()}};
    case json::kind::string:
      return str(v.get_string());
    case json::kind::array: {
      json::array values;
      for (const auto& item : v.get_array()) values.push_back(toAnyValue(item));
      return json::object{{"arrayValue", json::object{{"values", std::move(values)}}}};
    }
    case json::kind::object: {
      json::array values;
      for (const auto& [k, item] : v.get_object()) values.push_back(kv(k, toAnyValue(item)));
      return json::object{{"kvlistValue", json::object{{"values", std::move(values)}}}};
    }
  }
  return json::object{};
}

std::string logsJson(const LogsModel& logs) {
  return encode(logs, "resourceLogs", "scopeLogs", "logRecords", [](const LogRecordData& l) {
    return json::object{{"timeUnixNano", nanos(l.time_unix_nano)},
                        {"observedTimeUnixNano", nanos(l.time_unix_nano)},
                        {"severityNumber", l.severity_number},
                        {"severityText", l.severity_text},
                        {"eventName", l.event_name},
                        {"body", toAnyValue(l.record->json())},
                        {"attributes", attributes(l.attributes->values)},
                        {"traceId", l.trace_id},
                        {"spanId", l.span_id}};
  });
}

std::string tracesJson(const TracesModel& traces) {
  return encode(traces, "resourceSpans", "scopeSpans", "spans", [](const SpanData& s) {
    json::array events;
    for (const auto& e : s.events)
      events.push_back(json::object{{"timeUnixNano", nanos(e.time_unix_nano)}, {"name", e.name}});
    json::object status;
    if (s.error) status = json::object{{"code", 2}, {"message", s.status_message}};  // STATUS_CODE_ERROR
    return json::object{{"traceId", s.trace_id},
                        {"spanId", s.span_id},
                        {"name", s.name},
                        {"kind", s.kind},
                        {"startTimeUnixNano", nanos(s.start_time_unix_nano)},
                        {"endTimeUnixNano", nanos(s.end_time_unix_nano)},
                        {"attributes", attributes(s.attributes->values)},
                        {"events", std::move(events)},
                        {"status", std::move(status)}};
  });
}

std::string metricsJson(const MetricsModel& metrics) {
  return encode(metrics, "resourceMetrics", "scopeMetrics", "metrics", [](const HistogramData& h) {
    json::array points;
    for (const auto& p : h.points) {
      json::array buckets, bounds;
      for (auto b : p.bucket_counts) buckets.push_back(json::string(std::to_string(b)));
      for (auto b : h.bounds) bounds.push_back(b);
      points.push_back(json::object{{"attributes", attributes(p.attributes)},
                                    {"startTimeUnixNano", nanos(p.start_time_unix_nano)},
                                    {"timeUnixNano", nanos(p.time_unix_nano)},
                                    {"count", std::to_string(p.count)},
                                    {"sum", p.sum},
                                    {"bucketCounts", std::move(buckets)},
                                    {"explicitBounds", std::move(bounds)},
                                    {"min", p.min},
                                    {"max", p.max}});
    }
    return json::object{{"name", h.name},
                        {"description", h.description},
                        {"unit", h.unit},
                        {"histogram", json::object{{"dataPoints", std::move(points)},
                                                   {"aggregationTemporality", HistogramData::kTemporality}}}};
  });
}

std::string logsJson(std::span<const RecordPtr> batch, const Attributes& extra) {
  return logsJson(buildLogs(batch, extra));
}
std::string tracesJson(std::span<const RecordPtr> batch, const Attributes& extra) {
  return tracesJson(buildTraces(batch, extra));
}
std::string metricsJson(std::span<const RecordPtr> batch, const Attributes& extra) {
  return metricsJson(buildMetrics(batch, extra));
}

}  // namespace gw::exporters::otlp
