#include "exporters/otlp/fake_otlp_receiver.h"

#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

#include <boost/json.hpp>
#include <google/protobuf/util/json_util.h>

#include <algorithm>

namespace gw::exporters::otlp::testing {
namespace json = boost::json;
using exporters::testing::FakeResponse;
using exporters::testing::ReceivedRequest;

namespace {

// Validation collects the first problem as a path-qualified message.
struct Checker {
  std::string error;
  bool fail(const std::string& where, const std::string& what) {
    if (error.empty()) error = where + ": " + what;
    return false;
  }
  bool isHex(const json::value* v, std::size_t len) {
    if (!v || !v->is_string() || v->as_string().size() != len) return false;
    return std::all_of(v->as_string().begin(), v->as_string().end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  }
  bool isUintString(const json::value* v) {
    if (!v || !v->is_string() || v->as_string().empty()) return false;
    return std::all_of(v->as_string().begin(), v->as_string().end(), [](char c) { return c >= '0' && c <= '9'; });
  }
  bool array(const json::object& o, const char* key, const std::string& where, const json::array*& out) {
    const auto* v = o.if_contains(key);
    if (!v || !v->is_array()) return fail(where, std::string(key) + " must be an array");
    out = &v->as_array();
    return true;
  }
  bool anyValue(const json::value& v, const std::string& where) {
    if (!v.is_object()) return fail(where, "AnyValue must be an object");
    const auto& o = v.as_object();
    if (o.empty()) return true;
    if (o.size() != 1) return fail(where, "AnyValue must hold exactly one value");
    const std::string k(o.begin()->key());
    const auto& x = o.begin()->value();
    if (k == "stringValue") return x.is_string() || fail(where, "stringValue must be a string");
    if (k == "boolValue") return x.is_bool() || fail(where, "boolValue must be a bool");
    if (k == "doubleValue") return x.is_number() || fail(where, "doubleValue must be a number");
    if (k == "intValue") {
      if (!x.is_string()) return fail(where, "intValue must be a string-encoded int64");
      auto s = std::string(x.as_string());
      if (s.starts_with("-")) s = s.substr(1);
      json::value sv(s);
      return isUintString(&sv) || fail(where, "intValue is not an integer");
    }
    if (k == "arrayValue" || k == "kvlistValue") {
      if (!x.is_object()) return fail(where, k + std::string(" must be an object"));
      const auto* values = x.as_object().if_contains("values");
      if (!values) return true;
      if (!values->is_array()) return fail(where, "values must be an array");
      for (const auto& item : values->as_array()) {
        if (k == "arrayValue" ? !anyValue(item, where + ".values[]") : !keyValue(item, where + ".values[]"))
          return false;
      }
      return true;
    }
    return fail(where, "unknown AnyValue field " + k);
  }
  bool keyValue(const json::value& v, const std::string& where) {
    if (!v.is_object()) return fail(where, "KeyValue must be an object");
    const auto* key = v.as_object().if_contains("key");
    const auto* value = v.as_object().if_contains("value");
    if (!key || !key->is_string() || key->as_string().empty()) return fail(where, "key must be a non-empty string");
    if (!value) return fail(where, "value is missing");
    return anyValue(*value, where + "[" + std::string(key->as_string()) + "]");
  }
  bool attributes(const json::object& o, const std::string& where) {
    const auto* a = o.if_contains("attributes");
    if (!a) return true;
    if (!a->is_array()) return fail(where, "attributes must be an array");
    for (const auto& kv : a->as_array())
      if (!keyValue(kv, where + ".attributes")) return false;
    return true;
  }
};

namespace gpb = google::protobuf;
namespace pb = opentelemetry::proto;

std::string toHex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// The path of the first message under `m` that carries unknown fields.
std::optional<std::string> unknownFields(const gpb::Message& m) {
  const auto* reflection = m.GetReflection();
  if (!reflection->GetUnknownFields(m).empty()) return m.GetDescriptor()->full_name();
  std::vector<const gpb::FieldDescriptor*> fields;
  reflection->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() != gpb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < reflection->FieldSize(m, f); ++i)
        if (auto where = unknownFields(reflection->GetRepeatedMessage(m, f, i))) return where;
    } else if (auto where = unknownFields(reflection->GetMessage(m, f))) {
      return where;
    }
  }
  return std::nullopt;
}

struct Decoded {
  json::object root;
  std::string error;
};

// protobuf's JSON mapping, then the OTLP differences: trace and span ids are
// hex, not base64. `ids` holds, per item in order, its (trace id, span id)
// bytes; the items of the JSON form are in the same order.
Decoded toOtlpJson(const gpb::Message& request, const char* resources_key, const char* scopes_key,
                   const char* items_key, const std::vector<std::pair<std::string, std::string>>& ids) {
  Decoded d;
  if (auto where = unknownFields(request)) {
    d.error = "unknown fields in " + *where;
    return d;
  }
  gpb::util::JsonPrintOptions options;
  options.always_print_enums_as_ints = true;  // as the OTLP JSON mapping requires
  std::string text;
  if (!gpb::util::MessageToJsonString(request, &text, options).ok()) {
    d.error = "cannot print the request as JSON";
    return d;
  }
  auto doc = json::parse(text);
  if (!doc.as_object().contains(resources_key)) doc.as_object()[resources_key] = json::array{};
  std::size_t next = 0;
  for (auto& rv : doc.as_object()[resources_key].as_array()) {
    auto& resource = rv.as_object();
    if (!resource.contains(scopes_key)) resource[scopes_key] = json::array{};
    for (auto& sv : resource[scopes_key].as_array()) {
      auto& scope = sv.as_object();
      if (!scope.contains(items_key)) scope[items_key] = json::array{};
      for (auto& iv : scope[items_key].as_array()) {
        if (ids.empty()) continue;  // metrics carry no ids
        const auto& [trace_id, span_id] = ids.at(next++);
        auto& item = iv.as_object();
        if (!trace_id.empty() || !span_id.empty()) {
          if (trace_id.size() != 16 || span_id.size() != 8) {
            d.error = std::string(items_key) + ": trace_id must be 16 bytes and span_id 8";
            return d;
          }
          item["traceId"] = toHex(trace_id);
          item["spanId"] = toHex(span_id);
        }
      }
    }
  }
  d.root = std::move(doc.as_object());
  return d;
}

Decoded decode(const std::string& target, const std::string& body) {
  auto parse = [&](gpb::Message& m) { return m.ParseFromString(body); };
  std::vector<std::pair<std::string, std::string>> ids;
  if (target == "/v1/logs") {
    pb::collector::logs::v1::ExportLogsServiceRequest request;
    if (!parse(request)) return {{}, "body is not an ExportLogsServiceRequest"};
    for (const auto& rl : request.resource_logs())
      for (const auto& sl : rl.scope_logs())
        for (const auto& l : sl.log_records()) ids.emplace_back(l.trace_id(), l.span_id());
    return toOtlpJson(request, "resourceLogs", "scopeLogs", "logRecords", ids);
  }
  if (target == "/v1/traces") {
    pb::collector::trace::v1::ExportTraceServiceRequest request;
    if (!parse(request)) return {{}, "body is not an ExportTraceServiceRequest"};
    for (const auto& rs : request.resource_spans())
      for (const auto& ss : rs.scope_spans())
        for (const auto& s : ss.spans()) ids.emplace_back(s.trace_id(), s.span_id());
    return toOtlpJson(request, "resourceSpans", "scopeSpans", "spans", ids);
  }
  pb::collector::metrics::v1::ExportMetricsServiceRequest request;
  if (!parse(request)) return {{}, "body is not an ExportMetricsServiceRequest"};
  return toOtlpJson(request, "resourceMetrics", "scopeMetrics", "metrics", ids);
}

}  // namespace

boost::system::result<json::object, std::string> protobufToOtlpJson(const std::string& path,
                                                                   const std::string& body) {
  if (path != "/v1/logs" && path != "/v1/traces" && path != "/v1/metrics") return std::string("unknown path");
  auto d = decode(path, body);
  if (!d.error.empty()) return d.error;
  return std::move(d.root);
}

json::value canonicalOtlpJson(const json::value& v) {
  switch (v.kind()) {
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return v.to_number<double>();
    case json::kind::array: {
      json::array out;
      for (const auto& item : v.get_array()) out.push_back(canonicalOtlpJson(item));
      return out;
    }
    case json::kind::object: {
      json::object out;
      for (const auto& [k, item] : v.get_object()) {
        auto c = canonicalOtlpJson(item);
        if ((c.is_array() && c.get_array().empty()) || (c.is_object() && c.get_object().empty())) continue;
        out[k] = std::move(c);
      }
      return out;
    }
    default:
      return v;
  }
}

FakeOtlpReceiver::FakeOtlpReceiver() : server_([this](const ReceivedRequest& r) { return handle(r); }) {}

void FakeOtlpReceiver::failNext(const std::string& path, int n, int status, std::string retry_after) {
  std::lock_guard lock(mutex_);
  failures_[path] = Failure{n, status, std::move(retry_after)};
}

std::vector<json::object> FakeOtlpReceiver::logRecords() const {
  std::lock_guard lock(mutex_);
  return logs_;
}
std::vector<json::object> FakeOtlpReceiver::spans() const {
  std::lock_guard lock(mutex_);
  return spans_;
}
std::vector<json::object> FakeOtlpReceiver::metrics() const {
  std::lock_guard lock(mutex_);
  return metrics_;
}
std::vector<json::object> FakeOtlpReceiver::resources() const {
  std::lock_guard lock(mutex_);
  return resources_;
}
std::vector<std::string> FakeOtlpReceiver::violations() const {
  std::lock_guard lock(mutex_);
  return violations_;
}
std::vector<std::string> FakeOtlpReceiver::encodings() const {
  std::lock_guard lock(mutex_);
  return encodings_;
}

FakeResponse FakeOtlpReceiver::handle(const ReceivedRequest& r) {
  std::lock_guard lock(mutex_);
  const std::string content_type = r.header("Content-Type").value_or("");
  const bool protobuf = content_type.starts_with("application/x-protobuf");
  // An error answer: google.rpc.Status in the request's encoding.
  auto status = [&](int http_status, int code, const std::string& message) {
    if (!protobuf)
      return FakeResponse::json(http_status, json::serialize(json::object{{"code", code}, {"message", message}}));
    google::rpc::Status s;
    s.set_code(code);
    s.set_message(message);
    FakeResponse res;
    res.status = http_status;
    res.headers.emplace_back("Content-Type", "application/x-protobuf");
    res.body = s.SerializeAsString();
    return res;
  };
  auto bad = [&](const std::string& message) {
    violations_.push_back(message);
    return status(400, 3, message);  // INVALID_ARGUMENT
  };
  if (r.method != "POST") return status(405, 12, "method not allowed");
  if (auto it = failures_.find(r.target); it != failures_.end() && it->second.remaining > 0) {
    --it->second.remaining;
    auto res = status(it->second.status, 14, "unavailable");
    if (!it->second.retry_after.empty()) res.headers.emplace_back("Retry-After", it->second.retry_after);
    return res;
  }
  if (r.target != "/v1/logs" && r.target != "/v1/traces" && r.target != "/v1/metrics")
    return status(404, 5, "not found");
  if (!protobuf && !content_type.starts_with("application/json")) return status(415, 3, "unsupported content type");
  json::object root;
  if (protobuf) {
    auto decoded = decode(r.target, r.body);
    if (!decoded.error.empty()) return bad(decoded.error);
    root = std::move(decoded.root);
  } else {
    json::error_code ec;
    auto doc = json::parse(r.body, ec);
    if (ec || !doc.is_object()) return bad("body is not a JSON object");
    root = std::move(doc.as_object());
  }

  struct Shape {
    const char* resource_key;
    const char* scope_key;
    const char* items_key;
  };
  Shape shape;
  if (r.target == "/v1/logs") {
    shape = {"resourceLogs", "scopeLogs", "logRecords"};
  } else if (r.target == "/v1/traces") {
    shape = {"resourceSpans", "scopeSpans", "spans"};
  } else {
    shape = {"resourceMetrics", "scopeMetrics", "metrics"};
  }
  Checker c;
  const json::array* resources = nullptr;
  std::vector<json::object> items, seen_resources;
  if (!c.array(root, shape.resource_key, "", resources)) return bad(c.error);
  for (const auto& rv : *resources) {
    if (!rv.is_object()) return bad("resource entry is not an object");
    const auto& ro = rv.as_object();
    if (const auto* res = ro.if_contains("resource")) {
      if (!res->is_object() || !c.attributes(res->as_object(), "resource")) return bad(c.error.empty() ? "bad resource" : c.error);
      seen_resources.push_back(res->as_object());
    }
    const json::array* scopes = nullptr;
    if (!c.array(ro, shape.scope_key, shape.resource_key, scopes)) return bad(c.error);
    for (const auto& sv : *scopes) {
      if (!sv.is_object()) return bad("scope entry is not an object");
      const json::array* list = nullptr;
      if (!c.array(sv.as_object(), shape.items_key, shape.scope_key, list)) return bad(c.error);
      for (const auto& iv : *list) {
        if (!iv.is_object()) return bad(std::string(shape.items_key) + " entry is not an object");
        const auto& o = iv.as_object();
        const std::string where = shape.items_key;
        if (!c.attributes(o, where)) return bad(c.error);
        if (r.target == "/v1/logs") {
          if (!c.isUintString(o.if_contains("timeUnixNano"))) return bad("logRecords.timeUnixNano must be a uint64 string");
          if (o.contains("traceId") && !c.isHex(o.if_contains("traceId"), 32)) return bad("logRecords.traceId must be 32 hex digits");
          if (o.contains("spanId") && !c.isHex(o.if_contains("spanId"), 16)) return bad("logRecords.spanId must be 16 hex digits");
          if (const auto* sev = o.if_contains("severityNumber"); sev && (!sev->is_int64() || sev->as_int64() < 0 || sev->as_int64() > 24))
            return bad("logRecords.severityNumber must be an enum integer 0..24");
          if (const auto* body = o.if_contains("body"); body && !c.anyValue(*body, "logRecords.body")) return bad(c.error);
        } else if (r.target == "/v1/traces") {
          if (!c.isHex(o.if_contains("traceId"), 32)) return bad("spans.traceId must be 32 hex digits");
          if (!c.isHex(o.if_contains("spanId"), 16)) return bad("spans.spanId must be 16 hex digits");
          const auto* name = o.if_contains("name");
          if (!name || !name->is_string() || name->as_string().empty()) return bad("spans.name is required");
          const auto* kind = o.if_contains("kind");
          if (!kind || !kind->is_int64() || kind->as_int64() < 0 || kind->as_int64() > 5) return bad("spans.kind must be an enum integer");
          if (!c.isUintString(o.if_contains("startTimeUnixNano")) || !c.isUintString(o.if_contains("endTimeUnixNano")))
            return bad("spans times must be uint64 strings");
          if (std::stoull(std::string(o.at("endTimeUnixNano").as_string())) <
              std::stoull(std::string(o.at("startTimeUnixNano").as_string())))
            return bad("span ends before it starts");
        } else {
          const auto* name = o.if_contains("name");
          if (!name || !name->is_string() || name->as_string().empty()) return bad("metrics.name is required");
          const auto* h = o.if_contains("histogram");
          if (!h || !h->is_object()) return bad("only histogram metrics are expected");
          const auto* temporality = h->as_object().if_contains("aggregationTemporality");
          if (!temporality || !temporality->is_int64() || (temporality->as_int64() != 1 && temporality->as_int64() != 2))
            return bad("histogram.aggregationTemporality must be 1 or 2");
          const json::array* points = nullptr;
          if (!c.array(h->as_object(), "dataPoints", "histogram", points)) return bad(c.error);
          for (const auto& pv : *points) {
            const auto& p = pv.as_object();
            if (!c.attributes(p, "dataPoints")) return bad(c.error);
            if (!c.isUintString(p.if_contains("count"))) return bad("dataPoints.count must be a uint64 string");
            if (!c.isUintString(p.if_contains("timeUnixNano")) || !c.isUintString(p.if_contains("startTimeUnixNano")))
              return bad("dataPoints times must be uint64 strings");
            const json::array* buckets = nullptr;
            const json::array* bounds = nullptr;
            if (!c.array(p, "bucketCounts", "dataPoints", buckets) || !c.array(p, "explicitBounds", "dataPoints", bounds))
              return bad(c.error);
            if (buckets->size() != bounds->size() + 1) return bad("bucketCounts must have explicitBounds + 1 entries");
            std::uint64_t total = 0;
            for (const auto& b : *buckets) {
              if (!c.isUintString(&b)) return bad("bucketCounts must be uint64 strings");
              total += std::stoull(std::string(b.as_string()));
            }
            if (total != std::stoull(std::string(p.at("count").as_string()))) return bad("bucketCounts do not add up to count");
            for (std::size_t i = 1; i < bounds->size(); ++i)
              if (!((*bounds)[i].is_number() && (*bounds)[i].to_number<double>() > (*bounds)[i - 1].to_number<double>()))
                return bad("explicitBounds must increase");
          }
        }
        items.push_back(o);
      }
    }
  }
  auto& store = r.target == "/v1/logs" ? logs_ : r.target == "/v1/traces" ? spans_ : metrics_;
  store.insert(store.end(), items.begin(), items.end());
  resources_.insert(resources_.end(), seen_resources.begin(), seen_resources.end());
  encodings_.push_back(content_type);
  if (!protobuf) return FakeResponse::json(200, "{}");
  FakeResponse ok;  // an empty Export*ServiceResponse: full success
  ok.headers.emplace_back("Content-Type", "application/x-protobuf");
  return ok;
}

}  // namespace gw::exporters::otlp::testing
