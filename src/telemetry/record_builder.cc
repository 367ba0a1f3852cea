#include "telemetry/record_builder.h"

#include "common/anthropic_usage.h"
#include "common/openai_usage.h"
#include "common/saturating.h"
#include "common/strings.h"
#include "telemetry/record_json.h"
#include "telemetry/stream_assembler.h"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <iterator>

namespace gw {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxPreviewBytes = 4096;

// Setters that build the value in its slot's own storage (assigning a
// value made elsewhere would copy it across resources). Strings from HTTP
// headers may hold any byte: JSON text must be UTF-8, so invalid sequences
// become U+FFFD (the check is a scan; the copy only happens when needed).
// Each returns what it wrote (nullopt for null), for the record's fields.
std::string setString(json::value& slot, std::string_view s) {
  std::string text = isValidUtf8(s) ? std::string(s) : toValidUtf8(s);
  slot = std::string_view(text);
  return text;
}

std::optional<std::string> setOptionalString(json::value& slot, const std::optional<std::string>& s) {
  if (s) return setString(slot, *s);
  slot = nullptr;
  return std::nullopt;
}

std::optional<std::string> setNonEmptyString(json::value& slot, const std::string& s) {
  if (s.empty()) {
    slot = nullptr;
    return std::nullopt;
  }
  return setString(slot, s);
}

json::value optionalInt(const std::optional<std::int64_t>& v) { return v ? json::value(*v) : json::value(nullptr); }

std::optional<double> seconds(std::optional<RequestRecord::SteadyTime> from, std::optional<RequestRecord::SteadyTime> to) {
  if (!from || !to) return std::nullopt;
  return std::chrono::duration<double>(*to - *from).count();
}

json::value millis(std::optional<double> s) {
  if (!s) return nullptr;
  return static_cast<std::int64_t>(std::llround(*s * 1000.0));
}

std::string_view statusName(RequestOutcome o) {
  switch (o) {
    case RequestOutcome::kSuccess: return "success";
    case RequestOutcome::kError: return "error";
    case RequestOutcome::kCancelled: return "cancelled";
  }
  return "error";
}

// Appends `v`'s compact JSON text to `out` (through a stack buffer: no
// temporary string, no zero-filling of `out`'s spare capacity).
void appendJson(std::string& out, const json::value& v) {
  json::serializer sr;
  sr.reset(&v);
  char buffer[4096];
  while (!sr.done()) {
    const json::string_view written = sr.read(buffer, sizeof(buffer));
    out.append(written.data(), written.size());
  }
}

// The record's text from its tree, with a stream's chunks spliced in: each
// listed chunk's own text (StreamAssembler), not a tree parsed from it and
// serialised again. The keys of the record and of its attributes are the
// builder's own (plain ASCII, written as they are).
std::string writeRecord(const json::object& root, const std::optional<std::string>& streamed_data,
                        std::uint64_t chunks_not_captured) {
  std::string out;
  out.reserve(4096 + (streamed_data ? streamed_data->size() : 0));
  auto writeMembers = [&out](const json::object& object, auto&& writeValue) {
    out += '{';
    bool first = true;
    for (const auto& [key, value] : object) {
      if (!first) out += ',';
      first = false;
      out += '"';
      out.append(key.data(), key.size());
      out += "\":";
      writeValue(key, value);
    }
    out += '}';
  };
  writeMembers(root, [&](json::string_view key, const json::value& value) {
    if (key != "attributes" || !value.is_object()) return appendJson(out, value);
    writeMembers(value.as_object(), [&](json::string_view attr, const json::value& attr_value) {
      if (attr != "response" || !streamed_data || !attr_value.is_object()) return appendJson(out, attr_value);
      // The assembled response, its closing brace replaced by the chunks.
      appendJson(out, attr_value);
      out.pop_back();
      if (!attr_value.as_object().empty()) out += ',';
      out += "\"streamed_data\":[";
      out += *streamed_data;
      out += ']';
      if (chunks_not_captured > 0) fmt::format_to(std::back_inserter(out), ",\"_chunks_not_captured\":{}", chunks_not_captured);
      out += '}';
    });
  });
  return out;
}

}  // namespace

std::optional<json::value> parseUntrustedJson(std::string_view text, json::storage_ptr sp) {
  if (text.empty()) return std::nullopt;
  json::parse_options opt;
  opt.max_depth = kMaxUntrustedJsonDepth;
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec, std::move(sp), opt);
  if (ec) return std::nullopt;
  return v;
}

std::optional<std::string> errorTypeOf(const json::value& v) {
  if (!v.is_object()) return std::nullopt;
  const auto* e = v.as_object().if_contains("error");
  if (!e) return std::nullopt;
  if (e->is_object()) {
    const auto& eo = e->as_object();
    for (std::string_view key : {"type", "code"})
      if (const auto* t = eo.if_contains(key); t && t->is_string() && !t->as_string().empty())
        return std::string(t->as_string());
  }
  return std::nullopt;
}

std::string formatRfc3339Millis(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  int rem = static_cast<int>(ms % 1000);
  if (rem < 0) {
    rem += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, rem);
}

std::string_view utf8Prefix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t n = max_bytes;
  // Step back over continuation bytes to the start of the cut sequence, then
  // keep that sequence only if it is complete.
  std::size_t start = n;
  while (start > 0 && (static_cast<unsigned char>(text[start - 1]) & 0xC0) == 0x80 && n - start < 4) --start;
  if (start > 0) {
    auto lead = static_cast<unsigned char>(text[start - 1]);
    std::size_t len = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 1;
    if (lead >= 0x80 && (start - 1) + len > n) n = start - 1;
  }
  return text.substr(0, n);
}

json::value captureBody(std::string_view body, std::size_t max_bytes, bool cut,
                        std::optional<std::uint64_t> original_bytes, json::storage_ptr sp) {
  if (body.empty() && !cut) return json::value(nullptr, sp);
  const std::uint64_t original = original_bytes.value_or(body.size());
  if (!cut && body.size() <= max_bytes) {
    if (auto parsed = parseUntrustedJson(body, sp)) {
      scrubForRecord(*parsed);
      return std::move(*parsed);
    }
    if (!isValidUtf8(body)) {
      // Binary (an upload's bytes): not representable as a JSON string.
      json::object b(sp);
      b["_binary"] = true;
      b["_original_bytes"] = original;
      return b;
    }
    return json::value(json::string_view(scrubSecretsInText(body)), sp);
  }
  // Too large: a preview of the (scrubbed) start of the body.
  std::string scrubbed;
  if (!cut) {
    if (auto parsed = parseUntrustedJson(body)) {
      scrubForRecord(*parsed);
      scrubbed = json::serialize(*parsed);
    }
  }
  if (scrubbed.empty()) scrubbed = scrubSecretsInText(body.substr(0, std::min(body.size(), kMaxPreviewBytes + 256)));
  json::object t(sp);
  t["_truncated"] = true;
  t["_original_bytes"] = original;
  setString(t["_preview"], utf8Prefix(scrubbed, std::min(max_bytes, kMaxPreviewBytes)));
  return t;
}

RecordBuilder::RecordBuilder(RecordBuilderOptions options, std::shared_ptr<const PricingTable> pricing)
    : options_(std::move(options)), pricing_(std::move(pricing)) {}

BuiltRecord RecordBuilder::build(const RequestRecord& in, bool with_record) const {
  RecordSummary sum;
  const ResponseObservation& obs = in.observation;
  // The record's tree is scaffolding for its text (TelemetryRecord parses
  // the text again only for an exporter that asks for a tree): it is built
  // in scratch memory, a stack buffer first, all freed when build returns.
  unsigned char scratch_buffer[16384];
  json::monotonic_resource scratch(scratch_buffer, sizeof(scratch_buffer));
  json::storage_ptr sp(&scratch);

  Usage usage = obs.own_usage ? obs.usage : Usage{};
  auto readUsage = [&](const json::object& u) {
    if (!obs.own_usage) return;  // a stored response's usage is not this request's
    switch (obs.api) {
      case ResponseApi::kResponses: readResponsesUsage(u, usage); break;
      case ResponseApi::kMessages: readMessagesUsage(u, usage); break;
      case ResponseApi::kChatCompletions: readOpenAiUsage(u, usage); break;
    }
  };
  std::optional<std::string> response_model = obs.response_model;

  // Response: parsed once, used for the record, usage and error type.
  json::value response(nullptr, sp);
  bool has_parsed_response = false;  // non-stream, full body, JSON
  std::optional<std::string> response_error_type;
  // A stream's streamed_data, as JSON text: the listed chunks, comma-separated,
  // spliced into the record's text after the assembled response's members.
  std::optional<std::string> streamed_data;
  std::uint64_t chunks_not_captured = 0;
  // Without a record, the response is read only for usage the request path
  // did not observe (the summary's error type never comes from the body:
  // an error always has the gateway's own error type).
  const bool read_response = with_record || (!usage.input && !usage.output);
  if (read_response && in.streamed) {
    // The assembled response is built from every chunk the request path
    // kept (its own, larger, memory bound); TELEMETRY_MAX_BODY_BYTES caps
    // only the chunks listed in streamed_data.
    const bool list_chunks = with_record && options_.capture_bodies;
    if (list_chunks) streamed_data.emplace().reserve(obs.chunk_bytes + obs.chunks.size());
    StreamAssembler assembler(sp, false, obs.api);
    std::size_t bytes = 0, listed = 0;
    chunks_not_captured = obs.chunks_not_captured;
    bool budget_left = true;
    for (const auto& chunk : obs.chunks) {
      bool listed_here = false;
      if (budget_left && bytes + chunk.size() <= options_.max_body_bytes) {
        bytes += chunk.size();
        listed_here = list_chunks;
        if (listed_here && listed++ > 0) *streamed_data += ',';
      } else {
        budget_left = false;  // keep streamed_data a prefix, in order
        ++chunks_not_captured;
      }
      assembler.add(chunk, listed_here ? &*streamed_data : nullptr);
    }
    json::object assembled = assembler.finish();
    response_error_type = assembler.errorType();
    // A stream's usage is in its last usage chunk (Responses API: its final
    // response), when the handler did not report it itself.
    if (!obs.usage_from_handler && !usage.input && !usage.output)
      if (const auto* u = assembled.if_contains("usage"); u && u->is_object()) readUsage(u->as_object());
    if (options_.capture_bodies) response = std::move(assembled);
  } else if (read_response && (!in.response_body.empty() || in.response_body_truncated)) {
    std::optional<json::value> parsed;
    if (!in.response_body_truncated) parsed = parseUntrustedJson(in.response_body, sp);
    if (parsed) {
      has_parsed_response = true;
      response_error_type = errorTypeOf(*parsed);
      // Tokens: what the provider's handler observed, else the response's usage.
      if (!obs.usage_from_handler && !usage.input && !usage.output && parsed->is_object())
        if (const auto* u = parsed->as_object().if_contains("usage"); u && u->is_object()) readUsage(u->as_object());
      // The model that answered, for pricing, as a stream's chunks give it.
      if (!response_model && parsed->is_object())
        if (const auto* m = parsed->as_object().if_contains("model"); m && m->is_string() && !m->as_string().empty())
          response_model.emplace(m->as_string());
    }
    if (options_.capture_bodies && with_record) {
      if (parsed && in.response_body.size() <= options_.max_body_bytes) {
        response = std::move(*parsed);
        scrubForRecord(response);
      } else {
        response = captureBody(in.response_body, options_.max_body_bytes, in.response_body_truncated,
                               in.response_body_truncated ? std::optional<std::uint64_t>(in.response_size)
                                                          : std::nullopt,
                               sp);
      }
    }
  }

  if (!usage.total && usage.input && usage.output) usage.total = saturatingAdd(*usage.input, *usage.output);

  const std::string model = !in.model.empty() ? in.model : response_model.value_or("");
  std::optional<double> cost;
  if (pricing_) {
    // The requested model's price, else the answering model's (a requested
    // alias the table does not know, answered by a dated model it does).
    cost = pricing_->cost(in.pricing_provider, model, usage);
    if (!cost && response_model && *response_model != model)
      cost = pricing_->cost(in.pricing_provider, *response_model, usage);
  }

  // Timings.
  sum.latency_s = seconds(in.received, in.finished);
  sum.ttfb_s = seconds(in.received, in.first_byte_sent);
  sum.provider_latency_s = seconds(in.upstream_sent, in.upstream_finished);

  // Errors.
  const bool is_error = in.status_code >= 400 || in.outcome != RequestOutcome::kSuccess;
  std::optional<ErrorType> gateway_error = in.error_type;
  if (!gateway_error && is_error) {
    if (in.outcome == RequestOutcome::kCancelled) gateway_error = ErrorType::kClientDisconnected;
    else if (in.provider_status_code && *in.provider_status_code >= 400) gateway_error = ErrorType::kUpstreamHttpError;
    else gateway_error = ErrorType::kInternal;
  }
  std::optional<std::string> error_type;
  if (gateway_error) error_type.emplace(toString(*gateway_error));
  std::optional<std::string> provider_error_type = obs.provider_error_type;
  if (!provider_error_type && in.streamed) provider_error_type = response_error_type;
  if (!provider_error_type && in.provider_status_code && *in.provider_status_code >= 400) {
    if (has_parsed_response) provider_error_type = response_error_type;
    if (!provider_error_type) provider_error_type = "http_" + std::to_string(*in.provider_status_code);
  }
  const bool provider_error = provider_error_type.has_value();

  // Why the cost is what it is: a price needs token counts and a price for
  // the model; without counts, a failed or cancelled request had no answer
  // to price, a successful one an answer that reported none.
  const bool has_usage = usage.input || usage.output;
  const CostStatus cost_status = cost        ? CostStatus::kPriced
                                 : has_usage ? CostStatus::kUnpriced
                                 : is_error  ? CostStatus::kError
                                             : CostStatus::kNoUsage;

  sum.provider = in.provider.empty() ? "unknown" : in.provider;
  sum.model = model.empty() ? "unknown" : model;
  sum.status_code = in.status_code;
  sum.outcome = in.outcome;
  sum.input_tokens = usage.input;
  sum.output_tokens = usage.output;
  sum.cached_input_tokens = usage.cached_input;
  sum.cache_creation_tokens = usage.cache_creation;
  sum.reasoning_tokens = usage.reasoning;
  sum.cost = cost;
  sum.cost_status = cost_status;
  sum.is_error = is_error;
  if (is_error)
    sum.error_type = error_type ? *error_type : provider_error_type.value_or("internal");
  sum.attempts.reserve(in.attempts.size());
  for (std::size_t i = 0; i < in.attempts.size(); ++i) {
    const auto& a = in.attempts[i];
    const bool last = i + 1 == in.attempts.size();
    sum.attempts.push_back({a.provider, a.model, !last ? "retried" : (is_error ? "error" : "success")});
  }
  if (!with_record) return {nullptr, std::move(sum)};

  // The record's tree, and its typed fields (gw/record_fields.h) from the
  // same values: what fieldsFromJson would read back from the tree, without
  // looking anything up (fuzz_exporters checks that they agree).
  RecordFields f;
  json::object tokens(sp);
  tokens.reserve(6);
  tokens["input"] = optionalInt(usage.input);
  tokens["output"] = optionalInt(usage.output);
  tokens["total"] = optionalInt(usage.total);
  tokens["cached_input"] = optionalInt(usage.cached_input);
  tokens["cache_creation"] = optionalInt(usage.cache_creation);
  tokens["reasoning"] = optionalInt(usage.reasoning);
  f.input_tokens = usage.input;
  f.output_tokens = usage.output;
  f.total_tokens = usage.total;
  f.cached_input_tokens = usage.cached_input;
  f.cache_creation_tokens = usage.cache_creation;
  f.reasoning_tokens = usage.reasoning;

  auto sizeField = [](std::uint64_t n) {
    return n <= static_cast<std::uint64_t>(INT64_MAX) ? std::optional<std::int64_t>(static_cast<std::int64_t>(n))
                                                      : std::nullopt;
  };
  auto millisField = [](const json::value& v) { return v.is_int64() ? std::optional<double>(static_cast<double>(v.get_int64())) : std::nullopt; };

  json::object meta(sp);
  meta.reserve(25);
  f.project_id = setOptionalString(meta["project_id"], in.project_id);
  f.project_name = setOptionalString(meta["project_name"], in.project_name);
  f.latency_ms = millisField(meta["latency"] = millis(sum.latency_s));
  f.ttfb_ms = millisField(meta["ttfb"] = millis(sum.ttfb_s));
  meta["tokens"] = std::move(tokens);
  meta["cost"] = cost ? json::value(*cost) : json::value(nullptr);
  if (cost && std::isfinite(*cost)) f.cost = *cost;
  f.cost_status = std::string(toString(cost_status));
  meta["cost_status"] = *f.cost_status;
  f.status = std::string(statusName(in.outcome));
  meta["status"] = *f.status;
  f.path = setNonEmptyString(meta["path"], in.path);
  f.method = setNonEmptyString(meta["method"], in.method);
  meta["request_size"] = in.request_size;
  meta["response_size"] = in.response_size;
  f.request_size = sizeField(in.request_size);
  f.response_size = sizeField(in.response_size);
  f.provider_latency_ms = millisField(meta["provider_latency"] = millis(sum.provider_latency_s));
  meta["status_code"] = in.status_code > 0 ? json::value(in.status_code) : json::value(nullptr);
  meta["provider_status_code"] = in.provider_status_code ? json::value(*in.provider_status_code) : json::value(nullptr);
  if (in.status_code > 0) f.status_code = in.status_code;
  if (in.provider_status_code) f.provider_status_code = *in.provider_status_code;
  meta["error_count"] = is_error ? 1 : 0;
  f.error_type = setOptionalString(meta["error_type"], error_type);
  meta["provider_error_count"] = provider_error ? 1 : 0;
  f.provider_error_type = setOptionalString(meta["provider_error_type"], provider_error_type);
  f.provider_request_id = setOptionalString(meta["provider_request_id"], in.provider_request_id);
  // The upstream's address is an export attribute (OTLP server.address),
  // not a record member: the record keeps section 5's shape. A record
  // replayed from the spool has none.
  if (!in.provider_address.empty()) f.provider_address = in.provider_address;
  if (in.provider_port > 0) f.provider_port = in.provider_port;
  // Requests with a virtual key only, like the route below.
  if (!in.virtual_key_id.empty()) meta["virtual_key_id"] = std::string_view(in.virtual_key_id);
  // Routed requests only: the record of any other request keeps the
  // shape docs/records.md gives, member for member.
  if (!in.route.empty()) {
    meta["route"] = std::string_view(in.route);
    f.route = in.route;
    json::array attempts(sp);
    attempts.reserve(in.attempts.size());
    for (const auto& a : in.attempts) {
      json::object o(sp);
      o.reserve(5);
      o["provider"] = std::string_view(a.provider);
      o["model"] = std::string_view(a.model);
      o["status_code"] = a.status_code > 0 ? json::value(a.status_code) : json::value(nullptr);
      o["error_type"] = a.error_type ? json::value(toString(*a.error_type)) : json::value(nullptr);
      o["latency"] = millis(a.latency_s);
      attempts.push_back(std::move(o));
    }
    meta["attempts"] = std::move(attempts);
  }

  json::object attrs(sp);
  attrs.reserve(11);
  f.id = setString(attrs["id"], in.id);
  f.thread_id = setOptionalString(attrs["thread_id"], in.thread_id);
  f.org_id = setOptionalString(attrs["org_id"], in.org_id);
  f.user_id = setOptionalString(attrs["user_id"], in.user_id);
  setOptionalString(attrs["project_id"], in.project_id);
  f.experiment_id = setOptionalString(attrs["experiment_id"], in.experiment_id);
  f.provider = setNonEmptyString(attrs["provider"], in.provider);
  f.model = setNonEmptyString(attrs["model"], model);
  json::value& request = attrs["request"] =
      options_.capture_bodies ? captureBody(in.request_body, options_.max_body_bytes, in.request_body_truncated,
                                            in.request_body_truncated ? std::optional<std::uint64_t>(in.request_size)
                                                                      : std::nullopt,
                                            sp)
                              : json::value(nullptr, sp);
  if (const auto* stream = request.is_object() ? request.as_object().if_contains("stream") : nullptr;
      stream && stream->is_bool())
    f.streamed = stream->get_bool();
  if (response.is_object()) {
    f.response_model = stringAt(response.as_object(), {"model"});
    f.response_id = stringAt(response.as_object(), {"id"});
    f.finish_reasons = finishReasonsOf(response.as_object());
  }
  attrs["response"] = std::move(response);
  attrs["metadata"] = std::move(meta);

  json::object resource(sp);
  resource.reserve(3);
  resource["service.name"] = std::string_view(options_.service_name);
  resource["service.version"] = std::string_view(options_.service_version);
  resource["deployment.environment"] = std::string_view(options_.deployment_environment);
  f.service_name = options_.service_name;
  f.service_version = options_.service_version;
  f.environment = options_.deployment_environment;

  json::object root(sp);
  root.reserve(4);
  f.timestamp = formatRfc3339Millis(in.wall_start);
  f.unix_nanos = parseRfc3339(f.timestamp);
  root["timestamp"] = std::string_view(f.timestamp);
  root["resource"] = std::move(resource);
  f.name = "ai_gateway_request_log";
  root["name"] = std::string_view(f.name);
  root["attributes"] = std::move(attrs);

  std::string text = writeRecord(root, streamed_data, chunks_not_captured);
  std::string id = f.id;  // attributes.id as written: valid UTF-8
  auto record = std::make_shared<const TelemetryRecord>(std::move(id), std::move(text), std::move(f));
  return {std::move(record), std::move(sum)};
}

}  // namespace gw
