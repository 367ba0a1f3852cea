#include "exporters/otlp/otlp_serializer.h"

#include "backend_http/record_fields.h"

#include <boost/json.hpp>
#include <openssl/sha.h>

#include <algorithm>
#include <map>

namespace gw::exporters::otlp {
namespace json = boost::json;
namespace {

constexpr const char* kScopeName = "magicapi-gateway";

std::string hex(const unsigned char* data, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

std::string sha256Hex(const std::string& text, std::size_t bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return hex(digest, bytes);
}

json::object kv(std::string key, json::value any) { return json::object{{"key", std::move(key)}, {"value", std::move(any)}}; }
json::value str(std::string_view s) { return json::object{{"stringValue", s}}; }
json::value i64(std::int64_t v) { return json::object{{"intValue", std::to_string(v)}}; }
json::value dbl(double v) { return json::object{{"doubleValue", v}}; }

void addString(json::array& attrs, const char* key, const std::optional<std::string>& v) {
  if (v) attrs.push_back(kv(key, str(*v)));
}
void addInt(json::array& attrs, const char* key, const std::optional<std::int64_t>& v) {
  if (v) attrs.push_back(kv(key, i64(*v)));
}

std::int64_t msToNanos(double ms) { return static_cast<std::int64_t>(ms * 1e6); }

// The semantic-convention and gateway attributes of one request.
json::array requestAttributes(const RecordFields& f) {
  json::array a;
  a.push_back(kv("gen_ai.operation.name", str(genAiOperationName(f.path))));
  a.push_back(kv("gen_ai.provider.name", str(genAiProviderName(f.provider))));
  addString(a, "gen_ai.request.model", f.model);
  addString(a, "gen_ai.response.model", f.response_model);
  addInt(a, "gen_ai.usage.input_tokens", f.input_tokens);
  addInt(a, "gen_ai.usage.output_tokens", f.output_tokens);
  addString(a, "http.request.method", f.method);
  addString(a, "url.path", f.path);
  addInt(a, "http.response.status_code", f.status_code);
  if (f.status && *f.status != "success") a.push_back(kv("error.type", str(f.error_type.value_or(*f.status))));
  a.push_back(kv("ai_gateway.request.id", str(f.id)));
  addString(a, "ai_gateway.status", f.status);
  addString(a, "ai_gateway.project_id", f.project_id);
  addString(a, "ai_gateway.org_id", f.org_id);
  addString(a, "ai_gateway.user_id", f.user_id);
  addString(a, "ai_gateway.thread_id", f.thread_id);
  addString(a, "ai_gateway.experiment_id", f.experiment_id);
  addString(a, "ai_gateway.provider_request_id", f.provider_request_id);
  if (f.cost) a.push_back(kv("ai_gateway.cost_usd", dbl(*f.cost)));
  if (f.ttfb_ms) a.push_back(kv("ai_gateway.ttfb_ms", dbl(*f.ttfb_ms)));
  if (f.provider_latency_ms) a.push_back(kv("ai_gateway.provider_latency_ms", dbl(*f.provider_latency_ms)));
  return a;
}

json::object resourceFor(const TelemetryRecord& r, const Attributes& extra) {
  json::array attrs;
  if (const auto* res = r.json.if_contains("resource"); res && res->is_object())
    for (const auto& [k, v] : res->as_object())
      if (!v.is_null()) attrs.push_back(kv(std::string(k), toAnyValue(v)));
  for (const auto& [k, v] : extra) {
    bool present = std::any_of(attrs.begin(), attrs.end(),
                               [&](const json::value& a) { return a.at("key").as_string() == k; });
    if (!present) attrs.push_back(kv(k, str(v)));  // the record's own resource wins
  }
  return json::object{{"attributes", std::move(attrs)}};
}

json::object scope() {
  return json::object{{"name", kScopeName}, {"version", GW_VERSION}};
}

// Records grouped by resource, in first-seen order, so each resource appears once.
template <class Emit>
json::array groupByResource(std::span<const RecordPtr> batch, const Attributes& extra, const char* scope_key,
                            const char* items_key, Emit emit) {
  std::vector<std::pair<std::string, json::object>> groups;  // serialized resource -> {resource, items}
  for (const auto& r : batch) {
    if (!exportable(*r)) continue;
    auto resource = resourceFor(*r, extra);
    auto key = json::serialize(resource);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == key; });
    if (it == groups.end()) {
      groups.emplace_back(key, json::object{{"resource", std::move(resource)}, {"items", json::array{}}});
      it = std::prev(groups.end());
    }
    it->second["items"].as_array().push_back(emit(*r));
  }
  json::array out;
  for (auto& [key, g] : groups) {
    json::object scoped{{"scope", scope()}, {items_key, std::move(g["items"])}};
    out.push_back(json::object{{"resource", std::move(g["resource"])}, {scope_key, json::array{std::move(scoped)}}});
  }
  return out;
}

// One histogram: attributes -> accumulated point.
struct Point {
  json::array attributes;
  std::uint64_t count = 0;
  double sum = 0, min = 0, max = 0;
  std::vector<std::uint64_t> buckets;
};

class Histogram {
 public:
  Histogram(std::string name, std::string description, std::string unit, std::span<const double> bounds)
      : name_(std::move(name)), description_(std::move(description)), unit_(std::move(unit)), bounds_(bounds) {}

  void record(const json::array& attributes, double value) {
    auto key = json::serialize(attributes);
    auto [it, inserted] = points_.try_emplace(key);
    Point& p = it->second;
    if (inserted) {
      p.attributes = attributes;
      p.buckets.assign(bounds_.size() + 1, 0);
      p.min = p.max = value;
    }
    ++p.count;
    p.sum += value;
    p.min = std::min(p.min, value);
    p.max = std::max(p.max, value);
    // Bucket i holds values in (bounds[i-1], bounds[i]]: upper bounds inclusive.
    auto idx = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
    ++p.buckets[idx];
  }

  bool empty() const { return points_.empty(); }

  json::object toJson(std::int64_t start_nanos, std::int64_t end_nanos) const {
    json::array points;
    for (const auto& [key, p] : points_) {
      json::array buckets, bounds;
      for (auto b : p.buckets) buckets.push_back(json::string(std::to_string(b)));
      for (auto b : bounds_) bounds.push_back(b);
      points.push_back(json::object{{"attributes", p.attributes},
                                    {"startTimeUnixNano", std::to_string(start_nanos)},
                                    {"timeUnixNano", std::to_string(end_nanos)},
                                    {"count", std::to_string(p.count)},
                                    {"sum", p.sum},
                                    {"bucketCounts", std::move(buckets)},
                                    {"explicitBounds", std::move(bounds)},
                                    {"min", p.min},
                                    {"max", p.max}});
    }
    return json::object{{"name", name_},
                         {"description", description_},
                         {"unit", unit_},
                         {"histogram", json::object{{"dataPoints", std::move(points)},
                                                    {"aggregationTemporality", 1}}}};  // DELTA
  }

 private:
  std::string name_, description_, unit_;
  std::span<const double> bounds_;
  std::map<std::string, Point> points_;  // ordered: deterministic output
};

}  // namespace

std::string traceIdFor(const std::string& id) {
  std::string compact;
  for (char c : id)
    if (c != '-') compact += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  bool uuid = id.size() == 36 && compact.size() == 32 &&
              std::all_of(compact.begin(), compact.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }) &&
              compact != std::string(32, '0');
  return uuid ? compact : sha256Hex(id, 16);
}

std::string spanIdFor(const std::string& id) { return sha256Hex("span:" + id, 8); }

json::value toAnyValue(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return json::object{};
    case json::kind::bool_:
      return json::object{{"boolValue", v.get_bool()}};
    case json::kind::int64:
      return i64(v.get_int64());
    case json::kind::uint64:
      return json::object{{"intValue", std::to_string(v.get_uint64())}};
    case json::kind::double_:
      return dbl(v.get_double());
    case json::kind::string:
      return str(v.get_string());
    case json::kind::array: {
      json::array values;
      for (const auto& item : v.get_array()) values.push_back(toAnyValue(item));
      return json::object{{"arrayValue", json::object{{"values", std::move(values)}}}};
    }
    case json::kind::object: {
      json::array values;
      for (const auto& [k, item] : v.get_object()) values.push_back(kv(std::string(k), toAnyValue(item)));
      return json::object{{"kvlistValue", json::object{{"values", std::move(values)}}}};
    }
  }
  return json::object{};
}

bool exportable(const TelemetryRecord& record) {
  if (record.id.empty()) return false;
  const auto* ts = record.json.if_contains("timestamp");
  return ts && ts->is_string() && parseRfc3339(ts->get_string()).has_value();
}

std::string logsJson(std::span<const RecordPtr> batch, const Attributes& extra) {
  auto resource_logs = groupByResource(batch, extra, "scopeLogs", "logRecords", [](const TelemetryRecord& r) {
    auto f = readFields(r);
    const std::int64_t start = *f.unix_nanos;
    const std::int64_t end = start + msToNanos(f.latency_ms.value_or(0));
    const bool error = f.status && *f.status != "success";
    return json::object{{"timeUnixNano", std::to_string(end)},
                        {"observedTimeUnixNano", std::to_string(end)},
                        {"severityNumber", error ? 17 : 9},  // ERROR : INFO
                        {"severityText", error ? "ERROR" : "INFO"},
                        {"eventName", f.name},
                        {"body", toAnyValue(r.json)},
                        {"attributes", requestAttributes(f)},
                        {"traceId", traceIdFor(f.id)},
                        {"spanId", spanIdFor(f.id)}};
  });
  return json::serialize(json::object{{"resourceLogs", std::move(resource_logs)}});
}

std::string tracesJson(std::span<const RecordPtr> batch, const Attributes& extra) {
  auto resource_spans = groupByResource(batch, extra, "scopeSpans", "spans", [](const TelemetryRecord& r) {
    auto f = readFields(r);
    const std::int64_t start = *f.unix_nanos;
    const std::int64_t end = start + msToNanos(f.latency_ms.value_or(0));
    std::string name = genAiOperationName(f.path);
    if (f.model) name += " " + *f.model;
    json::array events;
    if (f.ttfb_ms)
      events.push_back(json::object{{"timeUnixNano", std::to_string(start + msToNanos(*f.ttfb_ms))},
                                    {"name", "ai_gateway.first_byte_sent"}});
    json::object status;
    if (f.status && *f.status != "success") {
      status = json::object{{"code", 2}, {"message", f.error_type.value_or(*f.status)}};  // STATUS_CODE_ERROR
    }
    return json::object{{"traceId", traceIdFor(f.id)},
                        {"spanId", spanIdFor(f.id)},
                        {"name", name},
                        {"kind", 3},  // SPAN_KIND_CLIENT, per the GenAI conventions
                        {"startTimeUnixNano", std::to_string(start)},
                        {"endTimeUnixNano", std::to_string(end)},
                        {"attributes", requestAttributes(f)},
                        {"events", std::move(events)},
                        {"status", std::move(status)}};
  });
  return json::serialize(json::object{{"resourceSpans", std::move(resource_spans)}});
}

std::string metricsJson(std::span<const RecordPtr> batch, const Attributes& extra) {
  // One resource per distinct record resource; within it, the three histograms.
  std::vector<std::pair<std::string, json::object>> resources;
  struct Set {
    Histogram tokens{"gen_ai.client.token.usage", "Number of input and output tokens used.", "{token}", kTokenBuckets};
    Histogram duration{"gen_ai.client.operation.duration", "GenAI operation duration.", "s", kDurationBuckets};
    Histogram first_chunk{"gen_ai.client.operation.time_to_first_chunk",
                          "Time to receive the first chunk of a streaming response.", "s", kDurationBuckets};
    std::int64_t start = INT64_MAX, end = 0;
  };
  std::vector<Set> sets;
  for (const auto& r : batch) {
    if (!exportable(*r)) continue;
    auto resource = resourceFor(*r, extra);
    auto key = json::serialize(resource);
    auto it = std::find_if(resources.begin(), resources.end(), [&](const auto& g) { return g.first == key; });
    std::size_t idx;
    if (it == resources.end()) {
      resources.emplace_back(key, std::move(resource));
      sets.emplace_back();
      idx = sets.size() - 1;
    } else {
      idx = static_cast<std::size_t>(it - resources.begin());
    }
    Set& s = sets[idx];
    auto f = readFields(*r);
    const std::int64_t start = *f.unix_nanos;
    s.start = std::min(s.start, start);
    s.end = std::max(s.end, start + msToNanos(f.latency_ms.value_or(0)));
    json::array base{kv("gen_ai.operation.name", str(genAiOperationName(f.path))),
                     kv("gen_ai.provider.name", str(genAiProviderName(f.provider)))};
    if (f.model) base.push_back(kv("gen_ai.request.model", str(*f.model)));
    if (f.response_model) base.push_back(kv("gen_ai.response.model", str(*f.response_model)));
    if (f.input_tokens) {
      auto a = base;
      a.push_back(kv("gen_ai.token.type", str("input")));
      s.tokens.record(a, static_cast<double>(*f.input_tokens));
    }
    if (f.output_tokens) {
      auto a = base;
      a.push_back(kv("gen_ai.token.type", str("output")));
      s.tokens.record(a, static_cast<double>(*f.output_tokens));
    }
    auto with_error = base;
    if (f.status && *f.status != "success") with_error.push_back(kv("error.type", str(f.error_type.value_or(*f.status))));
    if (f.latency_ms) s.duration.record(with_error, *f.latency_ms / 1000.0);
    if (f.streamed && f.ttfb_ms) s.first_chunk.record(base, *f.ttfb_ms / 1000.0);
  }
  json::array resource_metrics;
  for (std::size_t i = 0; i < sets.size(); ++i) {
    json::array metrics;
    for (const Histogram* h : {&sets[i].tokens, &sets[i].duration, &sets[i].first_chunk})
      if (!h->empty()) metrics.push_back(h->toJson(sets[i].start, sets[i].end));
    resource_metrics.push_back(json::object{
        {"resource", std::move(resources[i].second)},
        {"scopeMetrics", json::array{json::object{{"scope", scope()}, {"metrics", std::move(metrics)}}}}});
  }
  return json::serialize(json::object{{"resourceMetrics", std::move(resource_metrics)}});
}

}  // namespace gw::exporters::otlp
