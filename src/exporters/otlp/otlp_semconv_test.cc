// The otlp exporter's payloads checked against the OpenTelemetry GenAI
// semantic conventions' own definitions (tests/testdata/otel-genai-semconv/,
// see SOURCES.md there): the attribute registry (names, types, enum
// members), the span and metric definitions (span kind, required and listed
// attributes, instrument, unit) and the conventions' histogram boundaries.
// Both encodings are decoded into one neutral form and checked the same way,
// for records the record builder makes from realistic requests: a chat stream
// with cache and reasoning tokens, a Messages API answer with a cache write,
// a Responses API answer cut short, embeddings, errors (the upstream
// unreachable, an upstream 429 from a custom provider) and a request that is
// no GenAI operation.
#include "exporters/otlp/otlp_genai.h"
#include "exporters/otlp/otlp_model.h"
#include "exporters/otlp/otlp_protobuf.h"
#include "exporters/otlp/otlp_serializer.h"
#include "providers/provider_registry.h"
#include "telemetry/record_builder.h"
#include "telemetry/record_json.h"

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>
#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace gw::exporters::otlp {
namespace {
namespace json = boost::json;
namespace pb = opentelemetry::proto;
using namespace std::chrono_literals;

const std::string kSemconvDir = std::string(GW_TESTDATA_DIR) + "/otel-genai-semconv/";

// --- The conventions' definitions.

struct AttributeDef {
  std::string type;               // "string", "int", "double", "boolean", "string[]", ... or "enum"
  std::set<std::string> members;  // an enum's values
};

// attribute -> requirement level ("required", "conditionally_required",
// "recommended", "opt_in"), as a span or metric definition lists it.
using AttributeList = std::map<std::string, std::string>;

struct MetricDef {
  std::string instrument, unit;
  AttributeList attributes;
};

struct SpanDef {
  std::string kind;
  AttributeList attributes;
};

class Semconv {
 public:
  Semconv() {
    // The GenAI registry and the two general attributes it refers to.
    for (const char* file : {"registry.yaml", "server-registry.yaml"}) addAttributes(load(file)["attributes"], "key");
    for (const auto& group : load("error-registry.yaml")["groups"]) addAttributes(group["attributes"], "id");
    // Attribute groups first (the definitions refer to them), then what uses them.
    for (const char* file : {"spans.yaml", "metrics.yaml", "token-metrics.yaml", "usage-metrics.yaml"})
      for (const auto& group : load(file)["attribute_groups"])
        groups_[group["id"].as<std::string>()] = group["attributes"];
    for (const char* file : {"metrics.yaml", "token-metrics.yaml", "usage-metrics.yaml"})
      for (const auto& m : load(file)["metrics"]) {
        const std::string name = m["name"].as<std::string>();
        metric_nodes_.emplace(name, static_cast<const YAML::Node&>(m));
      }
    for (const auto& s : load("spans.yaml")["spans"])
      span_nodes_[s["type"].as<std::string>()] = static_cast<const YAML::Node&>(s);
  }

  const AttributeDef* attribute(const std::string& name) const {
    auto it = attributes_.find(name);
    return it == attributes_.end() ? nullptr : &it->second;
  }
  // Every definition of `name` across the metric files (token-metrics.yaml
  // and usage-metrics.yaml define some names twice, differently).
  std::vector<MetricDef> metric(const std::string& name) const {
    std::vector<MetricDef> out;
    for (auto [it, end] = metric_nodes_.equal_range(name); it != end; ++it)
      out.push_back({it->second["instrument"].as<std::string>(), it->second["unit"].as<std::string>(),
                     resolve(it->second["attributes"])});
    return out;
  }
  std::optional<SpanDef> span(const std::string& type) const {
    auto it = span_nodes_.find(type);
    if (it == span_nodes_.end()) return std::nullopt;
    return SpanDef{it->second["kind"].as<std::string>(), resolve(it->second["attributes"])};
  }

 private:
  static YAML::Node load(const char* file) { return YAML::LoadFile(kSemconvDir + file); }

  void addAttributes(const YAML::Node& list, const char* name_key) {
    for (const auto& a : list) {
      AttributeDef def;
      const YAML::Node type = a["type"];
      if (type.IsMap()) {
        def.type = "enum";
        for (const auto& m : type["members"]) def.members.insert(m["value"].as<std::string>());
      } else {
        def.type = type.as<std::string>();
      }
      attributes_[a[name_key].as<std::string>()] = std::move(def);
    }
  }

  // The attributes of a definition's list: `ref`s with their requirement
  // level (a map such as {conditionally_required: why} names its level),
  // `ref_group`s expanded; a later entry overrides an earlier one.
  AttributeList resolve(const YAML::Node& list) const {
    AttributeList out;
    for (const auto& entry : list) {
      if (entry["ref_group"]) {
        const std::string id = entry["ref_group"].as<std::string>();
        auto group = groups_.find(id);
        if (group == groups_.end()) throw std::runtime_error("attribute group not defined: " + id);
        for (auto& [name, level] : resolve(group->second)) out[name] = level;
        continue;
      }
      std::string level = "recommended";
      if (const YAML::Node r = entry["requirement_level"])
        level = r.IsMap() ? r.begin()->first.as<std::string>() : r.as<std::string>();
      out[entry["ref"].as<std::string>()] = level;
    }
    return out;
  }

  std::map<std::string, AttributeDef> attributes_;
  std::map<std::string, YAML::Node> groups_;
  std::multimap<std::string, YAML::Node> metric_nodes_;
  std::map<std::string, YAML::Node> span_nodes_;
};

const Semconv& semconv() {
  static const Semconv s;
  return s;
}

// The GenAI histograms' boundaries (docs/exporters.md, the otlp exporter):
// tokens 1, 4, 16, ... 67108864; seconds 0.01, 0.02, 0.04, ... 81.92.
std::vector<double> powers(double first, double factor) {
  std::vector<double> out;
  for (int i = 0; i < 14; ++i) out.push_back(first * std::pow(factor, i));
  return out;
}
const std::map<std::string, std::vector<double>> kExpectedBounds{
    {"gen_ai.client.token.usage", powers(1, 4)},
    {"gen_ai.client.operation.duration", powers(0.01, 2)},
    {"gen_ai.client.operation.time_to_first_chunk", powers(0.01, 2)},
};

// Values the registry does not list that the gateway may send: the
// providers it has no member for keep their own name (the registry allows
// custom values), and error.type is the gateway's documented closed set.
std::set<std::string> customProviderValues() {
  return {"fireworks", "together", "openrouter", "cerebras", "ollama", "vllm", "my-llm"};
}
std::set<std::string> gatewayErrorTypes() {
  std::set<std::string> out;
  for (std::size_t i = 0; i < kErrorTypeCount; ++i) out.insert(std::string(toString(static_cast<ErrorType>(i))));
  return out;
}

// --- A payload, decoded from either encoding.

struct Value {
  enum Kind { kEmpty, kString, kInt, kDouble, kBool, kArray, kKvlist } kind = kEmpty;
  std::string s;
  std::int64_t i = 0;
  double d = 0;
  bool b = false;
  std::vector<Value> items;
  // Doubles within a rounding of each other: Boost.JSON's parser reads
  // numbers to within one unit in the last place, not exactly.
  bool operator==(const Value& o) const {
    const bool close = d == o.d || std::fabs(d - o.d) <= 1e-15 * std::max(std::fabs(d), std::fabs(o.d));
    return kind == o.kind && s == o.s && i == o.i && close && b == o.b && items == o.items;
  }
};
using Attrs = std::vector<std::pair<std::string, Value>>;

struct Span {
  std::string span_id, name;
  int kind = 0;
  bool error = false;
  Attrs attrs;
  bool operator==(const Span&) const = default;
};
struct Log {
  std::string span_id;
  Attrs attrs;
  bool operator==(const Log&) const = default;
};
struct Point {
  Attrs attrs;
  std::vector<double> bounds;
  std::size_t buckets = 0;
  bool operator==(const Point&) const = default;
};
struct Metric {
  std::string name, unit;
  bool histogram = false;
  std::vector<Point> points;
  bool operator==(const Metric&) const = default;
};
struct Payload {
  std::vector<Span> spans;
  std::vector<Log> logs;
  std::vector<Metric> metrics;
  bool operator==(const Payload&) const = default;
};

const Value* find(const Attrs& attrs, const std::string& key) {
  for (const auto& [k, v] : attrs)
    if (k == key) return &v;
  return nullptr;
}

// OTLP/JSON: AnyValue objects, 64-bit integers as strings, ids in hex.
Value fromJson(const json::value& any) {
  Value v;
  const auto& o = any.as_object();
  if (o.empty()) return v;
  const auto& [key, inner] = *o.begin();
  if (key == "stringValue")
    v.kind = Value::kString, v.s = std::string(inner.as_string());
  else if (key == "intValue")
    v.kind = Value::kInt, v.i = std::stoll(std::string(inner.as_string()));
  else if (key == "doubleValue")
    v.kind = Value::kDouble, v.d = inner.to_number<double>();
  else if (key == "boolValue")
    v.kind = Value::kBool, v.b = inner.as_bool();
  else if (key == "arrayValue" || key == "kvlistValue") {
    v.kind = key == "arrayValue" ? Value::kArray : Value::kKvlist;
    for (const auto& item : inner.at("values").as_array())
      v.items.push_back(fromJson(key == "arrayValue" ? item : item.at("value")));
  }
  return v;
}
Attrs attrsFromJson(const json::value& list) {
  Attrs out;
  for (const auto& kv : list.as_array())
    out.emplace_back(std::string(kv.at("key").as_string()), fromJson(kv.at("value")));
  return out;
}

Payload decodeJson(const std::string& traces, const std::string& logs, const std::string& metrics) {
  Payload p;
  // Kept in variables: a range-for keeps only its last temporary alive. A
  // log's body nests the record's bodies, each level two deeper.
  json::parse_options deep;
  deep.max_depth = 4 * kMaxRecordDepth;
  const json::value span_tree = json::parse(traces), log_tree = json::parse(logs, {}, deep),
                    metric_tree = json::parse(metrics);
  for (const auto& rs : span_tree.at("resourceSpans").as_array())
    for (const auto& ss : rs.at("scopeSpans").as_array())
      for (const auto& s : ss.at("spans").as_array())
        p.spans.push_back({std::string(s.at("spanId").as_string()), std::string(s.at("name").as_string()),
                           static_cast<int>(s.at("kind").as_int64()),
                           s.at("status").as_object().contains("code") && s.at("status").at("code").as_int64() == 2,
                           attrsFromJson(s.at("attributes"))});
  for (const auto& rl : log_tree.at("resourceLogs").as_array())
    for (const auto& sl : rl.at("scopeLogs").as_array())
      for (const auto& l : sl.at("logRecords").as_array())
        p.logs.push_back({std::string(l.at("spanId").as_string()), attrsFromJson(l.at("attributes"))});
  for (const auto& rm : metric_tree.at("resourceMetrics").as_array())
    for (const auto& sm : rm.at("scopeMetrics").as_array())
      for (const auto& one : sm.at("metrics").as_array()) {
        Metric metric{std::string(one.at("name").as_string()),
                      std::string(one.at("unit").as_string()),
                      one.as_object().contains("histogram"),
                      {}};
        if (metric.histogram)
          for (const auto& dp : one.at("histogram").at("dataPoints").as_array()) {
            Point point{attrsFromJson(dp.at("attributes")), {}, dp.at("bucketCounts").as_array().size()};
            for (const auto& b : dp.at("explicitBounds").as_array()) point.bounds.push_back(b.to_number<double>());
            metric.points.push_back(std::move(point));
          }
        p.metrics.push_back(std::move(metric));
      }
  return p;
}

// OTLP/protobuf, through the classes generated from the OTLP definitions.
Value fromProto(const pb::common::v1::AnyValue& any) {
  using Any = pb::common::v1::AnyValue;
  Value v;
  switch (any.value_case()) {
    case Any::kStringValue:
      v.kind = Value::kString, v.s = any.string_value();
      break;
    case Any::kIntValue:
      v.kind = Value::kInt, v.i = any.int_value();
      break;
    case Any::kDoubleValue:
      v.kind = Value::kDouble, v.d = any.double_value();
      break;
    case Any::kBoolValue:
      v.kind = Value::kBool, v.b = any.bool_value();
      break;
    case Any::kArrayValue:
      v.kind = Value::kArray;
      for (const auto& item : any.array_value().values()) v.items.push_back(fromProto(item));
      break;
    case Any::kKvlistValue:
      v.kind = Value::kKvlist;
      for (const auto& kv : any.kvlist_value().values()) v.items.push_back(fromProto(kv.value()));
      break;
    default:
      break;
  }
  return v;
}
template <class Repeated>
Attrs attrsFromProto(const Repeated& list) {
  Attrs out;
  for (const auto& kv : list) out.emplace_back(kv.key(), fromProto(kv.value()));
  return out;
}
std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) out += {digits[c >> 4], digits[c & 15]};
  return out;
}

Payload decodeProtobuf(const std::string& traces, const std::string& logs, const std::string& metrics) {
  Payload p;
  pb::collector::trace::v1::ExportTraceServiceRequest t;
  pb::collector::logs::v1::ExportLogsServiceRequest l;
  pb::collector::metrics::v1::ExportMetricsServiceRequest m;
  EXPECT_TRUE(t.ParseFromString(traces) && l.ParseFromString(logs) && m.ParseFromString(metrics));
  for (const auto& rs : t.resource_spans())
    for (const auto& ss : rs.scope_spans())
      for (const auto& s : ss.spans())
        p.spans.push_back({hex(s.span_id()), s.name(), static_cast<int>(s.kind()),
                           s.status().code() == pb::trace::v1::Status::STATUS_CODE_ERROR,
                           attrsFromProto(s.attributes())});
  for (const auto& rl : l.resource_logs())
    for (const auto& sl : rl.scope_logs())
      for (const auto& r : sl.log_records()) p.logs.push_back({hex(r.span_id()), attrsFromProto(r.attributes())});
  for (const auto& rm : m.resource_metrics())
    for (const auto& sm : rm.scope_metrics())
      for (const auto& metric : sm.metrics()) {
        Metric out{metric.name(), metric.unit(), metric.has_histogram(), {}};
        for (const auto& dp : metric.histogram().data_points())
          out.points.push_back({attrsFromProto(dp.attributes()),
                                std::vector<double>(dp.explicit_bounds().begin(), dp.explicit_bounds().end()),
                                static_cast<std::size_t>(dp.bucket_counts_size())});
        p.metrics.push_back(std::move(out));
      }
  return p;
}

// --- The checks. Each returns what it found wrong, one line per problem.

bool isConvention(const std::string& key) {
  return key.starts_with("gen_ai.") || key.starts_with("server.") || key.starts_with("error.");
}

bool hasType(const Value& v, const std::string& type) {
  if (type == "string" || type == "enum") return v.kind == Value::kString;
  if (type == "int") return v.kind == Value::kInt;
  if (type == "double") return v.kind == Value::kDouble;
  if (type == "boolean") return v.kind == Value::kBool;
  if (type == "string[]" || type == "int[]" || type == "double[]" || type == "boolean[]") {
    const std::string item = type.substr(0, type.size() - 2);
    return v.kind == Value::kArray &&
           std::all_of(v.items.begin(), v.items.end(), [&](const Value& i) { return hasType(i, item); });
  }
  return type == "any";
}

void checkAttributes(const Attrs& attrs, const std::string& where, std::vector<std::string>& errors) {
  std::set<std::string> seen;
  for (const auto& [key, value] : attrs) {
    if (!seen.insert(key).second) errors.push_back(where + ": " + key + " appears twice");
    if (!isConvention(key)) continue;
    const AttributeDef* def = semconv().attribute(key);
    if (!def) {
      errors.push_back(where + ": " + key + " is not in the registry");
      continue;
    }
    if (!hasType(value, def->type)) errors.push_back(where + ": " + key + " is not of type " + def->type);
    if (def->type != "enum" || value.kind != Value::kString || def->members.contains(value.s)) continue;
    // The registry allows custom values for these two, and the gateway
    // sends only the ones it documents; every other enum must use a member.
    const bool allowed = (key == "gen_ai.provider.name" && customProviderValues().contains(value.s)) ||
                         (key == "error.type" && gatewayErrorTypes().contains(value.s));
    if (!allowed) errors.push_back(where + ": " + key + " = '" + value.s + "' is not a member of its enum");
  }
  if (find(attrs, "server.port") && !find(attrs, "server.address"))
    errors.push_back(where + ": server.port without server.address");
  if (find(attrs, "server.address") && !find(attrs, "server.port"))
    errors.push_back(where + ": server.port is required with server.address");
}

// Every attribute of the conventions that `attrs` carries is one the
// definition lists, and every one it requires is there.
void checkAgainst(const Attrs& attrs, const AttributeList& listed, const std::string& where,
                  std::vector<std::string>& errors) {
  for (const auto& [key, value] : attrs)
    if (isConvention(key) && !listed.contains(key)) errors.push_back(where + ": " + key + " is not in its definition");
  for (const auto& [key, level] : listed)
    if (level == "required" && !find(attrs, key)) errors.push_back(where + ": required " + key + " is missing");
}

std::string spanTypeFor(const std::string& operation) {
  return operation == "embeddings" ? "gen_ai.embeddings.client" : "gen_ai.inference.client";
}

std::vector<std::string> validate(const Payload& p) {
  std::vector<std::string> errors;
  for (const auto& s : p.spans) {
    const std::string where = "span '" + s.name + "'";
    checkAttributes(s.attrs, where, errors);
    const Value* operation = find(s.attrs, "gen_ai.operation.name");
    if (!operation) {
      // No GenAI operation: none of the GenAI attributes.
      for (const auto& [key, value] : s.attrs)
        if (key.starts_with("gen_ai."))
          errors.push_back(where + ": " + key + " on a request that is no GenAI operation");
      continue;
    }
    const auto def = semconv().span(spanTypeFor(operation->s));
    if (!def) {
      errors.push_back(where + ": no span definition for " + operation->s);
      continue;
    }
    checkAgainst(s.attrs, def->attributes, where, errors);
    if (def->kind != "client" || s.kind != 3) errors.push_back(where + ": kind is not CLIENT");
    // "{gen_ai.operation.name} {gen_ai.request.model}"
    const Value* model = find(s.attrs, "gen_ai.request.model");
    if (s.name != operation->s + (model ? " " + model->s : ""))
      errors.push_back(where + ": name is not '{operation} {model}'");
    // Conditionally required: gen_ai.request.stream if and only if streaming
    // (unset means not streaming); error.type if the operation failed.
    if (const Value* stream = find(s.attrs, "gen_ai.request.stream"); stream && !stream->b)
      errors.push_back(where + ": gen_ai.request.stream is set but false");
    if (s.error != (find(s.attrs, "error.type") != nullptr))
      errors.push_back(where + ": error.type iff the span failed");
  }
  for (const auto& l : p.logs) {
    checkAttributes(l.attrs, "log of span " + l.span_id, errors);
    // A log carries the attributes of its request's span.
    auto span = std::find_if(p.spans.begin(), p.spans.end(), [&](const Span& s) { return s.span_id == l.span_id; });
    if (span == p.spans.end() || span->attrs != l.attrs)
      errors.push_back("log of span " + l.span_id + ": not its span's attributes");
  }
  for (const auto& m : p.metrics) {
    const std::string where = "metric " + m.name;
    const auto defs = semconv().metric(m.name);
    if (defs.size() != 1) {
      errors.push_back(where + ": " + std::to_string(defs.size()) + " definitions");
      continue;
    }
    const MetricDef& def = defs.front();
    if (def.instrument != "histogram" || !m.histogram) errors.push_back(where + ": not a histogram");
    if (def.unit != m.unit) errors.push_back(where + ": unit '" + m.unit + "', defined '" + def.unit + "'");
    auto bounds = kExpectedBounds.find(m.name);
    for (const auto& point : m.points) {
      checkAttributes(point.attrs, where, errors);
      checkAgainst(point.attrs, def.attributes, where, errors);
      if (bounds == kExpectedBounds.end() || point.bounds != bounds->second)
        errors.push_back(where + ": bucket boundaries are not the conventions'");
      if (point.buckets != point.bounds.size() + 1)
        errors.push_back(where + ": bucket counts do not match the boundaries");
    }
  }
  return errors;
}

// --- Records, as the record builder makes them.

std::shared_ptr<const PricingTable> pricing() {
  static auto table = std::make_shared<const PricingTable>(
      std::move(*PricingTable::load(std::string(GW_SOURCE_DIR) + "/data/model_prices_and_context_window.json")));
  return table;
}

RequestRecord request(std::string id, std::string provider, std::string model, std::string path, std::string address,
                      std::uint16_t port) {
  RequestRecord r;
  r.id = std::move(id);
  r.wall_start = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795723262345LL));
  r.received = RequestRecord::SteadyTime(10s);
  r.upstream_sent = r.received + 2ms;
  r.first_byte_sent = r.received + 180ms;
  r.upstream_finished = r.received + 1200ms;
  r.finished = r.received + 1210ms;
  r.provider = std::move(provider);
  r.pricing_provider = r.provider;
  r.model = std::move(model);
  r.method = "POST";
  r.path = std::move(path);
  r.provider_address = std::move(address);
  r.provider_port = port;
  r.status_code = 200;
  r.provider_status_code = 200;
  r.request_body = R"({"model":")" + r.model + R"(","messages":[{"role":"user","content":"Hi"}]})";
  r.request_size = r.request_body.size();
  return r;
}

std::vector<RequestRecord> realisticRequests() {
  std::vector<RequestRecord> out;
  {  // A chat stream that read from the prompt cache and reasoned, in a thread.
    RequestRecord r = request("6f1c2a4e-8b3d-4c5e-9f01-23456789abcd", "openai", "o4-mini", "/v1/chat/completions",
                              "api.openai.com", 443);
    r.thread_id = "thread-42";
    r.project_id = "proj-a";
    r.request_body = R"({"model":"o4-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]})";
    r.streamed = true;
    r.observation.chunks = {
        R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"o4-mini-2025-04-16","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]})",
        R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"o4-mini-2025-04-16","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]})",
        R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"o4-mini-2025-04-16","choices":[],"usage":{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,"prompt_tokens_details":{"cached_tokens":1024},"completion_tokens_details":{"reasoning_tokens":256}}})"};
    out.push_back(std::move(r));
  }
  {  // The Messages API, writing to the prompt cache.
    RequestRecord r =
        request("req-messages", "anthropic", "claude-sonnet-4-5", "/v1/messages", "api.anthropic.com", 443);
    r.observation.api = ResponseApi::kMessages;
    r.response_body =
        R"({"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","usage":{"input_tokens":20,"cache_creation_input_tokens":2048,"cache_read_input_tokens":0,"output_tokens":12}})";
    out.push_back(std::move(r));
  }
  {  // The Responses API on Azure, cut short by its token limit.
    RequestRecord r = request("req-responses", "azure", "gpt-4.1", "/v1/responses", "example.openai.azure.com", 443);
    r.observation.api = ResponseApi::kResponses;
    r.response_body =
        R"({"id":"resp_1","object":"response","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"model":"gpt-4.1-2025-04-14","output":[],"usage":{"input_tokens":30,"output_tokens":16,"total_tokens":46}})";
    out.push_back(std::move(r));
  }
  {  // Embeddings.
    RequestRecord r =
        request("req-embeddings", "openai", "text-embedding-3-small", "/v1/embeddings", "api.openai.com", 443);
    r.thread_id = "thread-42";
    r.response_body =
        R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}})";
    out.push_back(std::move(r));
  }
  {  // Bedrock unreachable: an error the gateway made.
    RequestRecord r = request("req-unreachable", "bedrock", "anthropic.claude-3-haiku-20240307-v1:0",
                              "/v1/chat/completions", "bedrock-runtime.us-east-1.amazonaws.com", 443);
    r.upstream_finished.reset();
    r.provider_status_code.reset();
    r.status_code = 502;
    r.outcome = RequestOutcome::kError;
    r.error_type = ErrorType::kUpstreamUnreachable;
    r.response_body = R"({"error":{"message":"connect failed","type":"upstream_unreachable"}})";
    out.push_back(std::move(r));
  }
  {  // A custom provider the registry cannot know, answering 429.
    RequestRecord r = request("req-custom-429", "my-llm", "llama-3.1-8b", "/v1/chat/completions", "10.0.0.5", 8000);
    r.status_code = 429;
    r.provider_status_code = 429;
    r.outcome = RequestOutcome::kError;
    r.response_body = R"({"error":{"message":"slow down","type":"rate_limit_exceeded"}})";
    out.push_back(std::move(r));
  }
  {  // Gemini through chat, with its well-known provider name.
    RequestRecord r = request("req-gemini", "gemini", "gemini-2.5-flash", "/v1/chat/completions",
                              "generativelanguage.googleapis.com", 443);
    r.response_body =
        R"({"id":"chatcmpl-g","object":"chat.completion","model":"gemini-2.5-flash","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"},{"index":1,"message":{"role":"assistant","content":"Hey"},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}})";
    out.push_back(std::move(r));
  }
  {  // No GenAI operation.
    RequestRecord r = request("req-models", "openai", "", "/v1/models", "api.openai.com", 443);
    r.method = "GET";
    r.request_body.clear();
    r.request_size = 0;
    r.response_body = R"({"object":"list","data":[{"id":"gpt-4o","object":"model"}]})";
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<RecordPtr> realisticBatch() {
  RecordBuilderOptions o;
  o.service_version = "9.9.9-test";
  RecordBuilder builder(o, pricing());
  std::vector<RecordPtr> out;
  for (const auto& r : realisticRequests()) out.push_back(builder.build(r).record);
  return out;
}

Payload jsonPayload(const std::vector<RecordPtr>& batch) {
  return decodeJson(tracesJson(batch, {}), logsJson(batch, {}), metricsJson(batch, {}));
}
Payload protobufPayload(const std::vector<RecordPtr>& batch) {
  return decodeProtobuf(tracesProtobuf(batch, {}), logsProtobuf(batch, {}), metricsProtobuf(batch, {}));
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

const Span& spanNamed(const Payload& p, const std::string& name) {
  auto it = std::find_if(p.spans.begin(), p.spans.end(), [&](const Span& s) { return s.name == name; });
  if (it == p.spans.end()) throw std::runtime_error("no span " + name);
  return *it;
}

Value str(std::string s) {
  Value v;
  v.kind = Value::kString;
  v.s = std::move(s);
  return v;
}
Value integer(std::int64_t i) {
  Value v;
  v.kind = Value::kInt;
  v.i = i;
  return v;
}
Value strings(std::vector<std::string> items) {
  Value v;
  v.kind = Value::kArray;
  for (auto& s : items) v.items.push_back(str(std::move(s)));
  return v;
}

// --- The tests.

TEST(OtlpSemconv, TheDefinitionsLoad) {
  // The checks below are only as good as what they read.
  ASSERT_NE(semconv().attribute("gen_ai.usage.cache_read.input_tokens"), nullptr);
  EXPECT_EQ(semconv().attribute("gen_ai.response.finish_reasons")->type, "string[]");
  EXPECT_EQ(semconv().attribute("gen_ai.request.stream")->type, "boolean");
  EXPECT_EQ(semconv().attribute("server.port")->type, "int");
  EXPECT_TRUE(semconv().attribute("error.type")->members.contains("_OTHER"));
  EXPECT_TRUE(semconv().attribute("gen_ai.provider.name")->members.contains("aws.bedrock"));
  auto duration = semconv().metric("gen_ai.client.operation.duration");
  ASSERT_EQ(duration.size(), 1u);
  EXPECT_EQ(duration[0].attributes.at("gen_ai.operation.name"), "required");
  EXPECT_EQ(duration[0].attributes.at("error.type"), "conditionally_required");
  EXPECT_EQ(semconv().metric("gen_ai.client.token.usage")[0].attributes.at("gen_ai.token.type"), "required");
  EXPECT_EQ(semconv().span("gen_ai.inference.client")->attributes.at("gen_ai.provider.name"), "required");
}

TEST(OtlpSemconv, TheJsonPayloadFollowsTheConventions) {
  const Payload p = jsonPayload(realisticBatch());
  ASSERT_EQ(p.spans.size(), 8u);
  ASSERT_EQ(p.logs.size(), 8u);
  ASSERT_EQ(p.metrics.size(), 3u);
  EXPECT_EQ(validate(p), std::vector<std::string>{}) << joined(validate(p));
}

TEST(OtlpSemconv, TheProtobufPayloadFollowsTheConventions) {
  const auto batch = realisticBatch();
  const Payload p = protobufPayload(batch);
  ASSERT_EQ(p.spans.size(), 8u);
  EXPECT_EQ(validate(p), std::vector<std::string>{}) << joined(validate(p));
  EXPECT_TRUE(p == jsonPayload(batch)) << "the two encodings carry the same attributes";
}

TEST(OtlpSemconv, EveryAttributeTheSpecListsIsSent) {
  // The GenAI attributes docs/exporters.md lists, each sent by some span of the batch
  // (a check that passes because nothing was sent proves nothing).
  const Payload p = protobufPayload(realisticBatch());
  std::set<std::string> sent;
  for (const auto& s : p.spans)
    for (const auto& [key, value] : s.attrs) sent.insert(key);
  for (const char* key : {"gen_ai.operation.name",
                          "gen_ai.provider.name",
                          "gen_ai.request.model",
                          "gen_ai.response.model",
                          "gen_ai.response.id",
                          "gen_ai.response.finish_reasons",
                          "gen_ai.request.stream",
                          "gen_ai.usage.input_tokens",
                          "gen_ai.usage.output_tokens",
                          "gen_ai.usage.cache_read.input_tokens",
                          "gen_ai.usage.cache_creation.input_tokens",
                          "gen_ai.usage.reasoning.output_tokens",
                          "gen_ai.conversation.id",
                          "server.address",
                          "server.port",
                          "error.type",
                          "ai_gateway.cost_usd",
                          "ai_gateway.cost_status",
                          "ai_gateway.project_id",
                          "ai_gateway.request.id"})
    EXPECT_TRUE(sent.contains(key)) << key;
  std::set<std::string> metrics;
  for (const auto& m : p.metrics) metrics.insert(m.name);
  EXPECT_EQ(metrics, (std::set<std::string>{"gen_ai.client.token.usage", "gen_ai.client.operation.duration",
                                            "gen_ai.client.operation.time_to_first_chunk"}));
}

TEST(OtlpSemconv, TheValuesAreTheRecordsFacts) {
  const Payload p = protobufPayload(realisticBatch());
  const Span& stream = spanNamed(p, "chat o4-mini");
  EXPECT_EQ(*find(stream.attrs, "gen_ai.provider.name"), str("openai"));
  EXPECT_EQ(*find(stream.attrs, "gen_ai.response.model"), str("o4-mini-2025-04-16"));
  EXPECT_EQ(*find(stream.attrs, "gen_ai.response.id"), str("chatcmpl-9"));
  EXPECT_EQ(*find(stream.attrs, "gen_ai.response.finish_reasons"), strings({"stop"}));
  EXPECT_TRUE(find(stream.attrs, "gen_ai.request.stream")->b);
  EXPECT_EQ(*find(stream.attrs, "gen_ai.usage.input_tokens"), integer(1200));
  EXPECT_EQ(*find(stream.attrs, "gen_ai.usage.output_tokens"), integer(300));
  EXPECT_EQ(*find(stream.attrs, "gen_ai.usage.cache_read.input_tokens"), integer(1024));
  EXPECT_EQ(*find(stream.attrs, "gen_ai.usage.reasoning.output_tokens"), integer(256));
  EXPECT_EQ(*find(stream.attrs, "gen_ai.conversation.id"), str("thread-42"));
  EXPECT_EQ(*find(stream.attrs, "server.address"), str("api.openai.com"));
  EXPECT_EQ(*find(stream.attrs, "server.port"), integer(443));
  EXPECT_EQ(*find(stream.attrs, "ai_gateway.cost_status"), str("priced"));

  const Span& messages = spanNamed(p, "chat claude-sonnet-4-5");
  EXPECT_EQ(*find(messages.attrs, "gen_ai.provider.name"), str("anthropic"));
  EXPECT_EQ(*find(messages.attrs, "gen_ai.usage.input_tokens"), integer(2068));  // cache writes included
  EXPECT_EQ(*find(messages.attrs, "gen_ai.usage.cache_creation.input_tokens"), integer(2048));
  EXPECT_EQ(*find(messages.attrs, "gen_ai.response.finish_reasons"), strings({"end_turn"}));
  EXPECT_EQ(find(messages.attrs, "gen_ai.request.stream"), nullptr) << "unset: not streaming";

  const Span& responses = spanNamed(p, "chat gpt-4.1");
  EXPECT_EQ(*find(responses.attrs, "gen_ai.provider.name"), str("azure.ai.openai"));
  EXPECT_EQ(*find(responses.attrs, "gen_ai.response.finish_reasons"), strings({"max_output_tokens"}));
  EXPECT_EQ(*find(responses.attrs, "gen_ai.response.id"), str("resp_1"));

  const Span& embeddings = spanNamed(p, "embeddings text-embedding-3-small");
  EXPECT_EQ(*find(embeddings.attrs, "gen_ai.usage.input_tokens"), integer(8));
  EXPECT_EQ(find(embeddings.attrs, "gen_ai.usage.output_tokens"), nullptr);

  const Span& unreachable = spanNamed(p, "chat anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(*find(unreachable.attrs, "gen_ai.provider.name"), str("aws.bedrock"));
  EXPECT_EQ(*find(unreachable.attrs, "error.type"), str("upstream_unreachable"));
  EXPECT_EQ(*find(unreachable.attrs, "server.address"), str("bedrock-runtime.us-east-1.amazonaws.com"));
  EXPECT_EQ(*find(unreachable.attrs, "ai_gateway.cost_status"), str("error"));
  EXPECT_TRUE(unreachable.error);

  const Span& custom = spanNamed(p, "chat llama-3.1-8b");
  EXPECT_EQ(*find(custom.attrs, "gen_ai.provider.name"), str("my-llm"));
  EXPECT_EQ(*find(custom.attrs, "error.type"), str("upstream_http_error"));
  EXPECT_EQ(*find(custom.attrs, "server.port"), integer(8000));

  const Span& gemini = spanNamed(p, "chat gemini-2.5-flash");
  EXPECT_EQ(*find(gemini.attrs, "gen_ai.provider.name"), str("gcp.gemini"));
  EXPECT_EQ(*find(gemini.attrs, "gen_ai.response.finish_reasons"), strings({"stop", "length"}));

  const Span& models = spanNamed(p, "GET");
  EXPECT_EQ(find(models.attrs, "gen_ai.operation.name"), nullptr);
  EXPECT_EQ(*find(models.attrs, "server.address"), str("api.openai.com"));
  EXPECT_EQ(*find(models.attrs, "ai_gateway.cost_status"), str("no_usage"));

  // Token usage by type, for the stream: input 1200 and output 300.
  for (const auto& m : p.metrics) {
    if (m.name != "gen_ai.client.token.usage") continue;
    std::set<std::string> types;
    for (const auto& point : m.points)
      if (*find(point.attrs, "gen_ai.request.model") == str("o4-mini"))
        types.insert(find(point.attrs, "gen_ai.token.type")->s);
    EXPECT_EQ(types, (std::set<std::string>{"input", "output"}));
  }
}

TEST(OtlpSemconv, TheCheckFindsWhatIsWrong) {
  // The validator itself: a payload bent in each way it must catch.
  Payload p = jsonPayload(realisticBatch());
  ASSERT_EQ(validate(p), std::vector<std::string>{});
  Span& span = p.spans.front();
  span.attrs.emplace_back("gen_ai.usage.prompt_tokens", integer(1));  // not in the registry
  span.attrs.emplace_back("gen_ai.request.temperature", str("0.2"));  // a double as a string
  for (auto& [key, value] : span.attrs)
    if (key == "gen_ai.operation.name") value = str("completion");                   // not a member
  span.kind = 1;                                                                     // INTERNAL
  p.metrics.front().points.front().bounds.back() = 1e9;                              // other boundaries
  p.metrics.front().unit = "tokens";                                                 // other unit
  p.metrics.back().points.front().attrs.emplace_back("ai_gateway.route", str("x"));  // gateway attributes are fine
  p.metrics.back().points.front().attrs.emplace_back("gen_ai.conversation.id", str("t"));  // not listed for metrics
  const std::string found = joined(validate(p));
  for (const char* expected :
       {"gen_ai.usage.prompt_tokens is not in the registry", "gen_ai.request.temperature is not of type double",
        "gen_ai.operation.name = 'completion' is not a member", "kind is not CLIENT",
        "bucket boundaries are not the conventions'", "unit 'tokens'",
        "gen_ai.conversation.id is not in its definition"})
    EXPECT_NE(found.find(expected), std::string::npos) << expected << "\n" << found;
  EXPECT_EQ(found.find("ai_gateway.route"), std::string::npos) << found;
}

TEST(OtlpSemconv, EveryProviderHasItsProviderName) {
  // Every provider the gateway registers, with the registry's value when it
  // has one (registry.yaml), else the gateway's own name.
  const std::map<std::string, std::string> expected{{"openai", "openai"},
                                                    {"anthropic", "anthropic"},
                                                    {"bedrock", "aws.bedrock"},
                                                    {"gemini", "gcp.gemini"},
                                                    {"azure", "azure.ai.openai"},
                                                    {"groq", "groq"},
                                                    {"mistral", "mistral_ai"},
                                                    {"deepseek", "deepseek"},
                                                    {"xai", "x_ai"},
                                                    {"perplexity", "perplexity"},
                                                    {"fireworks", "fireworks"},
                                                    {"together", "together"},
                                                    {"openrouter", "openrouter"},
                                                    {"cerebras", "cerebras"},
                                                    {"ollama", "ollama"},
                                                    {"vllm", "vllm"}};
  ProviderRegistry registry;
  registerBuiltinProviders(registry);
  const auto& members = semconv().attribute("gen_ai.provider.name")->members;
  for (const auto& name : registry.names()) {
    ASSERT_TRUE(expected.contains(name)) << "a new provider: decide its gen_ai.provider.name here: " << name;
    const std::string value(genAiProviderName(name));
    EXPECT_EQ(value, expected.at(name));
    EXPECT_TRUE(members.contains(value) || customProviderValues().contains(value)) << value;
  }
  EXPECT_EQ(genAiProviderName("my-llm"), "my-llm");
}

TEST(OtlpSemconv, OperationNamesByPath) {
  auto op = [](const char* method, const char* path) {
    return genAiOperationName(std::string(method), std::string(path)).value_or("(none)");
  };
  EXPECT_EQ(op("POST", "/v1/chat/completions"), "chat");
  EXPECT_EQ(op("POST", "/v1/messages"), "chat");
  EXPECT_EQ(op("POST", "/v1/responses"), "chat");
  EXPECT_EQ(op("POST", "/v1/completions"), "text_completion");
  EXPECT_EQ(op("POST", "/v1/embeddings"), "embeddings");
  EXPECT_EQ(op("POST", "/v1/models/gemini-2.5-flash:generateContent"), "generate_content");
  EXPECT_EQ(op("POST", "/v1/models/gemini-2.5-flash:streamGenerateContent"), "generate_content");
  EXPECT_EQ(op("POST", "/v1/chat/completions?x=1"), "chat");
  for (auto [method, path] : {std::pair{"GET", "/v1/models"}, std::pair{"GET", "/v1/chat/completions"},
                              std::pair{"POST", "/v1/messages/count_tokens"}, std::pair{"GET", "/v1/responses/resp_1"},
                              std::pair{"POST", "/v1/moderations"}, std::pair{"POST", "/v1/audio/speech"}})
    EXPECT_EQ(op(method, path), "(none)") << method << " " << path;
  EXPECT_FALSE(genAiOperationName(std::nullopt, std::string("/v1/chat/completions")));
}

}  // namespace
}  // namespace gw::exporters::otlp
