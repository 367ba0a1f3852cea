#include "exporters/otlp/fake_otlp_receiver.h"

#include <boost/json.hpp>

#include <algorithm>

namespace gw::exporters::otlp::testing {
namespace json = boost::json;
using http::testing::FakeResponse;
using http::testing::ReceivedRequest;

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

}  // namespace

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

FakeResponse FakeOtlpReceiver::handle(const ReceivedRequest& r) {
  std::lock_guard lock(mutex_);
  auto bad = [&](const std::string& message) {
    violations_.push_back(message);
    return FakeResponse::json(400, json::serialize(json::object{{"code", 3}, {"message", message}}));
  };
  if (r.method != "POST") return FakeResponse::json(405, R"({"code":12,"message":"method not allowed"})");
  if (auto it = failures_.find(r.target); it != failures_.end() && it->second.remaining > 0) {
    --it->second.remaining;
    auto res = FakeResponse::json(it->second.status, R"({"code":14,"message":"unavailable"})");
    if (!it->second.retry_after.empty()) res.headers.emplace_back("Retry-After", it->second.retry_after);
    return res;
  }
  if (r.header("Content-Type").value_or("").rfind("application/json", 0) != 0)
    return FakeResponse::json(415, R"({"code":3,"message":"unsupported content type"})");
  json::error_code ec;
  auto doc = json::parse(r.body, ec);
  if (ec || !doc.is_object()) return bad("body is not a JSON object");
  const auto& root = doc.as_object();

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
  } else if (r.target == "/v1/metrics") {
    shape = {"resourceMetrics", "scopeMetrics", "metrics"};
  } else {
    return FakeResponse::json(404, R"({"code":5,"message":"not found"})");
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
  return FakeResponse::json(200, "{}");
}

}  // namespace gw::exporters::otlp::testing
