#include "exporters/otlp/otlp_model.h"

#include "exporters/otlp/otlp_genai.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <climits>
#include <deque>
#include <map>
#include <tuple>

namespace gw::exporters::otlp {
namespace json = boost::json;
namespace {

std::string hex(const unsigned char* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 15];
  }
  return out;
}

// The first `bytes` bytes of SHA-256(prefix + text), in hex. Through a
// digest fetched once per thread: OpenSSL 3's one-shot SHA256() looks the
// algorithm up by name on every call, which costs more than hashing an id.
std::string sha256Hex(std::string_view prefix, std::string_view text, std::size_t bytes) {
  struct Digest {
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Digest() {
      EVP_MD_CTX_free(ctx);
      EVP_MD_free(md);
    }
  };
  thread_local Digest d;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  unsigned int n = 0;
  if (!d.md || !d.ctx || EVP_DigestInit_ex2(d.ctx, d.md, nullptr) != 1 ||
      EVP_DigestUpdate(d.ctx, prefix.data(), prefix.size()) != 1 ||
      EVP_DigestUpdate(d.ctx, text.data(), text.size()) != 1 || EVP_DigestFinal_ex(d.ctx, digest, &n) != 1) {
    const std::string whole = std::string(prefix) + std::string(text);
    SHA256(reinterpret_cast<const unsigned char*>(whole.data()), whole.size(), digest);
  }
  return hex(digest, bytes);
}

void addString(KeyValues& attrs, const char* key, const std::optional<std::string>& v) {
  if (v) attrs.push_back({key, json::string(*v)});
}
void addInt(KeyValues& attrs, const char* key, const std::optional<std::int64_t>& v) {
  if (v) attrs.push_back({key, *v});
}
void addDouble(KeyValues& attrs, const char* key, const std::optional<double>& v) {
  if (v) attrs.push_back({key, *v});
}

std::int64_t msToNanos(double ms) { return static_cast<std::int64_t>(ms * 1e6); }

bool failed(const RecordFields& f) { return f.status && *f.status != "success"; }
// error.type: the record's error_type (the closed set of docs/records.md),
// else the conventions' fallback value.
std::string errorType(const RecordFields& f) { return f.error_type.value_or("_OTHER"); }

// The GenAI attributes that spans, logs and metrics of a GenAI operation
// share (what metrics.yaml lists for the metrics, server.* aside):
// operation, provider and models.
KeyValues operationAttributes(const RecordFields& f, std::string_view operation) {
  KeyValues a;
  a.push_back({"gen_ai.operation.name", json::string(operation)});
  if (f.provider) a.push_back({"gen_ai.provider.name", json::string(genAiProviderName(*f.provider))});
  addString(a, "gen_ai.request.model", f.model);
  addString(a, "gen_ai.response.model", f.response_model);
  return a;
}

void addServer(KeyValues& a, const RecordFields& f) {
  if (!f.provider_address) return;
  a.push_back({"server.address", json::string(*f.provider_address)});
  addInt(a, "server.port", f.provider_port);
}

// Room for every attribute requestAttributes can write (33): its vector is
// sized once.
constexpr std::size_t kRequestAttributes = 40;

// The semantic-convention and gateway attributes of one request (spans and logs).
KeyValues requestAttributes(const RecordFields& f) {
  KeyValues a;
  if (auto operation = genAiOperationName(f.method, f.path)) {
    a = operationAttributes(f, *operation);
    a.reserve(kRequestAttributes);
    // An embeddings span has what the embeddings span definition lists
    // (spans.yaml, gen_ai.embeddings.client): input tokens, no output.
    const bool inference = *operation != "embeddings";
    if (inference) {
      if (f.streamed) a.push_back({"gen_ai.request.stream", true});  // only when streaming
      addString(a, "gen_ai.response.id", f.response_id);
      if (!f.finish_reasons.empty()) {
        json::array reasons;
        for (const auto& r : f.finish_reasons) reasons.push_back(json::string(r));
        a.push_back({"gen_ai.response.finish_reasons", std::move(reasons)});
      }
      if (f.streamed && f.ttfb_ms) a.push_back({"gen_ai.response.time_to_first_chunk", *f.ttfb_ms / 1000.0});
    }
    addInt(a, "gen_ai.usage.input_tokens", f.input_tokens);
    if (inference) {
      addInt(a, "gen_ai.usage.cache_read.input_tokens", f.cached_input_tokens);
      addInt(a, "gen_ai.usage.cache_creation.input_tokens", f.cache_creation_tokens);
      addInt(a, "gen_ai.usage.output_tokens", f.output_tokens);
      addInt(a, "gen_ai.usage.reasoning.output_tokens", f.reasoning_tokens);
      addString(a, "gen_ai.conversation.id", f.thread_id);
    }
  }
  a.reserve(kRequestAttributes);
  addServer(a, f);
  addString(a, "http.request.method", f.method);
  addString(a, "url.path", f.path);
  addInt(a, "http.response.status_code", f.status_code);
  if (failed(f)) a.push_back({"error.type", json::string(errorType(f))});
  a.push_back({"ai_gateway.request.id", json::string(f.id)});
  addString(a, "ai_gateway.status", f.status);
  addString(a, "ai_gateway.project_id", f.project_id);
  addString(a, "ai_gateway.org_id", f.org_id);
  addString(a, "ai_gateway.user_id", f.user_id);
  addString(a, "ai_gateway.thread_id", f.thread_id);
  addString(a, "ai_gateway.experiment_id", f.experiment_id);
  addString(a, "ai_gateway.provider_request_id", f.provider_request_id);
  addString(a, "ai_gateway.route", f.route);
  addDouble(a, "ai_gateway.cost_usd", f.cost);
  addString(a, "ai_gateway.cost_status", f.cost_status);
  addDouble(a, "ai_gateway.ttfb_ms", f.ttfb_ms);
  addDouble(a, "ai_gateway.provider_latency_ms", f.provider_latency_ms);
  return a;
}

KeyValues resourceFor(const TelemetryRecord& r, const Attributes& extra) {
  KeyValues attrs;
  // The record's resource (docs/records.md names these three), from its fields: no tree needed.
  const RecordFields& f = r.fields;
  for (const auto& [k, v] : {std::pair{"service.name", &f.service_name}, std::pair{"service.version", &f.service_version},
                             std::pair{"deployment.environment", &f.environment}})
    if (*v) attrs.push_back({k, json::string(**v)});
  for (const auto& [k, v] : extra) {
    // A named capture, not [&]: clang before 16 cannot capture a structured binding.
    bool present = std::any_of(attrs.begin(), attrs.end(), [&key = k](const KeyValue& a) { return a.key == key; });
    if (!present) attrs.push_back({k, json::string(v)});  // the record's own resource wins
  }
  return attrs;
}

// `s` as a JSON string, as json::serialize writes it: printable ASCII other
// than a quote or a backslash as it is, anything else through the serializer.
void appendJsonString(std::string& out, std::string_view s) {
  const bool plain =
      std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
  if (!plain) {
    out += json::serialize(json::string_view(s.data(), s.size()));
    return;
  }
  out += '"';
  out += s;
  out += '"';
}

// A stable text form of attributes, for grouping and ordering: the JSON
// text of [[key,value],...], written directly for strings and integers (an
// attribute's usual values) and by json::serialize for the rest.
std::string keyOf(const KeyValues& attrs) {
  std::string out = "[";
  for (const auto& kv : attrs) {
    if (out.size() > 1) out += ',';
    out += '[';
    appendJsonString(out, kv.key);
    out += ',';
    if (const auto* s = kv.value.if_string()) {
      appendJsonString(out, std::string_view(s->data(), s->size()));
    } else if (const auto* i = kv.value.if_int64()) {
      char buf[24];
      out.append(buf, static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, *i).ptr - buf));
    } else {
      out += json::serialize(kv.value);
    }
    out += ']';
  }
  out += ']';
  return out;
}

// keyOf(attrs + {key: value}) from keyOf(attrs), for a non-empty `attrs`
// and a string value.
std::string keyWith(const std::string& attrs_key, std::string_view key, std::string_view value) {
  std::string out(attrs_key, 0, attrs_key.size() - 1);
  out += ",[";
  appendJsonString(out, key);
  out += ',';
  appendJsonString(out, value);
  out += "]]";
  return out;
}

bool sameResource(const RecordFields& a, const RecordFields& b) {
  return a.service_name == b.service_name && a.service_version == b.service_version && a.environment == b.environment;
}

// Accumulates one histogram: attributes -> point.
class HistogramBuilder {
 public:
  HistogramBuilder(std::string name, std::string description, std::string unit, std::span<const double> bounds)
      : name_(std::move(name)), description_(std::move(description)), unit_(std::move(unit)), bounds_(bounds) {}

  // `key` is keyOf of the point's attributes: `base`, then `extra` when
  // set. They are copied for a new point only. Returns the point, which
  // stays where it is while the builder lives (add() takes it again).
  HistogramPointData& record(std::string key, const KeyValues& base, const KeyValue* extra, double value) {
    auto [it, inserted] = points_.try_emplace(std::move(key));
    HistogramPointData& p = it->second;
    if (inserted) {
      p.attributes.reserve(base.size() + 1);
      p.attributes = base;
      if (extra) p.attributes.push_back(*extra);
      p.bucket_counts.assign(bounds_.size() + 1, 0);
      p.min = p.max = value;
    }
    add(p, value);
    return p;
  }

  // One more value for a point record() returned.
  void add(HistogramPointData& p, double value) const {
    ++p.count;
    p.sum += value;
    p.min = std::min(p.min, value);
    p.max = std::max(p.max, value);
    // Bucket i holds values in (bounds[i-1], bounds[i]]: upper bounds inclusive.
    auto idx = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
    ++p.bucket_counts[idx];
  }

  bool empty() const { return points_.empty(); }

  HistogramData build(std::int64_t start_nanos, std::int64_t end_nanos) const {
    HistogramData h{name_, description_, unit_, bounds_, {}};
    for (const auto& [key, p] : points_) {
      h.points.push_back(p);
      h.points.back().start_time_unix_nano = start_nanos;
      h.points.back().time_unix_nano = end_nanos;
    }
    return h;
  }

 private:
  std::string name_, description_, unit_;
  std::span<const double> bounds_;
  std::map<std::string, HistogramPointData> points_;  // ordered: deterministic output
};

struct MetricSet {
  HistogramBuilder tokens{"gen_ai.client.token.usage", "Number of input and output tokens used.", "{token}",
                          kTokenBuckets};
  HistogramBuilder duration{"gen_ai.client.operation.duration", "GenAI operation duration.", "s", kDurationBuckets};
  HistogramBuilder first_chunk{"gen_ai.client.operation.time_to_first_chunk",
                               "Time to receive the first chunk of a streaming response.", "s", kDurationBuckets};
  std::int64_t start = INT64_MAX, end = 0;

  MetricSet() = default;
  MetricSet(const MetricSet&) = delete;  // its memo points into its own histograms
  MetricSet& operator=(const MetricSet&) = delete;

  void add(const RecordFields& f) {
    // Only GenAI operations are measured: a GET /v1/models is no "chat".
    const auto operation = genAiOperationName(f.method, f.path);
    if (!operation) return;
    const std::int64_t begin = *f.unix_nanos;
    start = std::min(start, begin);
    end = std::max(end, begin + msToNanos(f.latency_ms.value_or(0)));
    // The records of a batch mostly share their base attributes with the
    // record before them: then the points are those it went to.
    if (!last_ || !last_->sameBase(f, *operation)) last_.emplace(f, *operation);
    Base& b = *last_;
    for (const auto& [type, count, point] :
         {std::tuple{"input", f.input_tokens, &b.input}, std::tuple{"output", f.output_tokens, &b.output}}) {
      // An embeddings response has input tokens only (its "0" output is the record's).
      if (!count || (*operation == "embeddings" && std::string_view(type) == "output")) continue;
      addPoint(tokens, *point, "gen_ai.token.type", type, static_cast<double>(*count));
    }
    if (f.latency_ms) {
      const double seconds = *f.latency_ms / 1000.0;
      if (failed(f)) {
        const std::string type = errorType(f);
        const KeyValue error{"error.type", json::string(type)};
        duration.record(keyWith(b.key, "error.type", type), b.attributes, &error, seconds);
      } else {
        addPoint(duration, b.duration, {}, {}, seconds);
      }
    }
    if (f.streamed && f.ttfb_ms) addPoint(first_chunk, b.first_chunk, {}, {}, *f.ttfb_ms / 1000.0);
  }

 private:
  // The attributes every point of a record starts with (operation, provider,
  // models, server), their grouping key, and the points of the last record
  // that had them (null until one is recorded).
  struct Base {
    Base(const RecordFields& f, std::string_view op)
        : fields(&f), operation(op), attributes(operationAttributes(f, op)) {
      addServer(attributes, f);
      key = keyOf(attributes);
    }
    // Whether a record's base attributes are these: the fields they are
    // made of are those of the record that made them.
    bool sameBase(const RecordFields& f, std::string_view op) const {
      return op == operation && f.provider == fields->provider && f.model == fields->model &&
             f.response_model == fields->response_model && f.provider_address == fields->provider_address &&
             f.provider_port == fields->provider_port;
    }
    const RecordFields* fields;  // of the record that made them, which the batch holds
    std::string_view operation;  // genAiOperationName's, a literal
    KeyValues attributes;
    std::string key;
    HistogramPointData *input = nullptr, *output = nullptr, *duration = nullptr, *first_chunk = nullptr;
  };

  // Adds `value` to `h`'s point with the base attributes (and `extra_key`
  // set to `extra_value` when there is one): the point `memo` names, else
  // the one found by its key, which `memo` then names.
  void addPoint(HistogramBuilder& h, HistogramPointData*& memo, std::string_view extra_key,
                std::string_view extra_value, double value) {
    if (memo) return h.add(*memo, value);
    const Base& b = *last_;
    if (extra_key.empty()) {
      memo = &h.record(b.key, b.attributes, nullptr, value);
      return;
    }
    const KeyValue extra{extra_key, json::string(extra_value)};
    memo = &h.record(keyWith(b.key, extra_key, extra_value), b.attributes, &extra, value);
  }

  std::optional<Base> last_;
};

}  // namespace

std::string traceIdFor(const std::string& id) {
  // A UUID: 36 characters, of which 32 hex digits (taken lower-case) and
  // the rest dashes, not all zero.
  if (id.size() == 36) {
    std::string compact(32, '0');
    std::size_t digits = 0;
    bool uuid = true;
    for (char c : id) {
      if (c == '-') continue;
      if (digits == compact.size() || !std::isxdigit(static_cast<unsigned char>(c))) {
        uuid = false;
        break;
      }
      compact[digits++] = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (uuid && digits == compact.size() && compact.find_first_not_of('0') != std::string::npos) return compact;
  }
  return sha256Hex({}, id, 16);
}

std::string spanIdFor(const std::string& id) { return sha256Hex("span:", id, 8); }

bool exportable(const TelemetryRecord& record) {
  if (record.id.empty()) return false;
  return record.fields.unix_nanos.has_value();
}

BatchModel buildModel(std::span<const RecordPtr> batch, const Attributes& extra) {
  BatchModel m;
  // One group per distinct record resource, in first-seen order, with the
  // same index in the logs and traces models.
  std::vector<std::string> keys;
  std::deque<MetricSet> sets;  // never moved: a set holds pointers into its own points
  const RecordFields* previous = nullptr;
  std::size_t group = 0;
  for (const auto& r : batch) {
    if (!exportable(*r)) continue;
    const auto& f = r->fields;
    // Consecutive records of one batch mostly share their resource.
    if (!previous || !sameResource(*previous, f)) {
      KeyValues resource = resourceFor(*r, extra);
      std::string key = keyOf(resource);
      group = static_cast<std::size_t>(std::find(keys.begin(), keys.end(), key) - keys.begin());
      if (group == keys.size()) {
        keys.push_back(std::move(key));
        m.logs.push_back({resource, {}});
        m.traces.push_back({resource, {}});
        m.metrics.push_back({std::move(resource), {}});
        sets.emplace_back();
      }
    }
    previous = &f;

    auto attributes = std::make_shared<const RequestAttributes>(RequestAttributes{requestAttributes(f), {}});
    const bool error = failed(f);
    const std::int64_t start = *f.unix_nanos;
    const std::int64_t end = start + msToNanos(f.latency_ms.value_or(0));

    SpanData& span = m.traces[group].items.emplace_back();
    span.trace_id = traceIdFor(f.id);
    span.span_id = spanIdFor(f.id);
    // "{gen_ai.operation.name} {gen_ai.request.model}"; a request that is
    // no GenAI operation is named by its method, as HTTP client spans are.
    if (auto operation = genAiOperationName(f.method, f.path)) {
      span.name = *operation;
      if (f.model) span.name += " " + *f.model;
    } else {
      span.name = f.method.value_or("HTTP");
    }
    span.start_time_unix_nano = start;
    span.end_time_unix_nano = end;
    span.attributes = attributes;
    if (f.ttfb_ms) span.events.push_back({start + msToNanos(*f.ttfb_ms), "ai_gateway.first_byte_sent"});
    if (error) {
      span.error = true;
      span.status_message = errorType(f);
    }

    LogRecordData& log = m.logs[group].items.emplace_back();
    log.time_unix_nano = end;
    log.severity_number = error ? 17 : 9;  // SEVERITY_NUMBER_ERROR : SEVERITY_NUMBER_INFO
    log.severity_text = error ? "ERROR" : "INFO";
    log.event_name = f.name;
    log.record = r;
    log.attributes = std::move(attributes);
    log.trace_id = span.trace_id;
    log.span_id = span.span_id;

    sets[group].add(f);
  }
  for (std::size_t i = 0; i < m.metrics.size(); ++i)
    for (const HistogramBuilder* h : {&sets[i].tokens, &sets[i].duration, &sets[i].first_chunk})
      if (!h->empty()) m.metrics[i].items.push_back(h->build(sets[i].start, sets[i].end));
  // A resource whose requests were no GenAI operation has no metric.
  std::erase_if(m.metrics, [](const ResourceGroup<HistogramData>& g) { return g.items.empty(); });
  return m;
}

LogsModel buildLogs(std::span<const RecordPtr> batch, const Attributes& extra) {
  return std::move(buildModel(batch, extra).logs);
}

TracesModel buildTraces(std::span<const RecordPtr> batch, const Attributes& extra) {
  return std::move(buildModel(batch, extra).traces);
}

MetricsModel buildMetrics(std::span<const RecordPtr> batch, const Attributes& extra) {
  return std::move(buildModel(batch, extra).metrics);
}

}  // namespace gw::exporters::otlp
