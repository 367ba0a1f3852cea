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

namespace gw {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxPreviewBytes = 4096;

// Strings from HTTP headers may hold any byte: JSON text must be UTF-8, so
// invalid sequences become U+FFFD (the check is a scan; the copy only
// happens when needed).
std::string validUtf8(std::string_view s) { return isValidUtf8(s) ? std::string(s) : toValidUtf8(s); }

std::optional<double> seconds(std::optional<RequestRecord::SteadyTime> from,
                              std::optional<RequestRecord::SteadyTime> to) {
  if (!from || !to) return std::nullopt;
  return std::chrono::duration<double>(*to - *from).count();
}

std::optional<std::int64_t> millis(std::optional<double> s) {
  if (!s) return std::nullopt;
  return static_cast<std::int64_t>(std::llround(*s * 1000.0));
}

// parseRfc3339(formatRfc3339Millis(t)) without the text: the whole
// milliseconds, in nanoseconds, for the instants parseRfc3339 reads.
std::optional<std::int64_t> recordTimestampNanos(std::chrono::system_clock::time_point t) {
  const std::int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::int64_t secs = ms / 1000 - (ms % 1000 < 0 ? 1 : 0);
  constexpr std::int64_t kMaxSeconds = 9'223'372'035;  // parseRfc3339's range
  if (secs > kMaxSeconds || secs < -kMaxSeconds) return std::nullopt;
  return ms * 1'000'000;
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

// The writers of the record's own values: each appends one JSON value.
template <std::size_t N>
void appendLiteral(std::string& out, const char (&text)[N]) {
  out.append(text, N - 1);
}

void appendOptionalInt(std::string& out, const std::optional<std::int64_t>& v) {
  if (v)
    appendJsonInt(out, *v);
  else
    appendLiteral(out, "null");
}

// A header's string as the record holds it (valid UTF-8), written, and
// returned for the record's fields.
std::string appendHeaderString(std::string& out, std::string_view s) {
  std::string text = validUtf8(s);
  appendJsonString(out, text);
  return text;
}

std::optional<std::string> appendOptionalHeaderString(std::string& out, const std::optional<std::string>& s) {
  if (s) return appendHeaderString(out, *s);
  appendLiteral(out, "null");
  return std::nullopt;
}

std::optional<std::string> appendNonEmptyHeaderString(std::string& out, const std::string& s) {
  if (!s.empty()) return appendHeaderString(out, s);
  appendLiteral(out, "null");
  return std::nullopt;
}

// error.type (else a non-empty error.code) of an "error" member's value.
std::optional<std::string> errorTypeOfMember(const json::value& e) {
  if (!e.is_object()) return std::nullopt;
  const auto& eo = e.get_object();
  for (std::string_view key : {"type", "code"})
    if (const auto* t = eo.if_contains(key); t && t->is_string() && !t->get_string().empty())
      return std::string(t->get_string());
  return std::nullopt;
}

// What stringAt reads from a value's text: a string, or an integer's digits.
std::optional<std::string> stringOrIntegerText(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text.front() == '"') return jsonTextString(text);
  const std::size_t digits_from = text.front() == '-' ? 1 : 0;
  if (digits_from == text.size()) return std::nullopt;
  for (std::size_t i = digits_from; i < text.size(); ++i)
    if (text[i] < '0' || text[i] > '9') return std::nullopt;  // a double, true, an object...
  return std::string(text);
}

// A non-empty string value's text, decoded.
std::optional<std::string> nonEmptyString(std::string_view text) {
  auto s = jsonTextString(text);
  if (s && s->empty()) s.reset();
  return s;
}

// The record's fields read from a response as the record holds it:
// attributes.response.model and .id (as stringAt reads them), and the
// finish reasons (finishReasonsOf).
void readResponseFields(const json::value& response, RecordFields& f) {
  if (!response.is_object()) return;
  f.response_model = stringAt(response.get_object(), {"model"});
  f.response_id = stringAt(response.get_object(), {"id"});
  f.finish_reasons = finishReasonsOf(response.get_object());
}

// The same fields from the text appendScrubbedJson wrote and its facts.
void readResponseFields(std::string_view text, const ScrubbedJsonFacts& facts, RecordFields& f) {
  if (!facts.is_object) return;
  auto member = [&](std::string_view name) -> std::optional<std::string_view> {
    const auto* span = facts.member(text, name);
    if (!span) return std::nullopt;
    return text.substr(span->offset, span->size);
  };
  if (auto model = member("model")) f.response_model = stringOrIntegerText(*model);
  if (auto id = member("id")) f.response_id = stringOrIntegerText(*id);
  // finishReasonsOf's order of places.
  if (facts.choices_is_array) {
    for (const auto& span : facts.choice_finish_reasons)
      if (auto reason = nonEmptyString(text.substr(span.offset, span.size)))
        f.finish_reasons.push_back(std::move(*reason));
    return;
  }
  if (auto stop = member("stop_reason")) {
    if (auto reason = nonEmptyString(*stop)) {
      f.finish_reasons.push_back(std::move(*reason));
      return;
    }
  }
  if (auto object = member("object"); object && nonEmptyString(*object) == "response") {
    std::optional<std::string> reason;
    if (auto details = member("incomplete_details"); details && details->front() == '{')
      if (auto tree = parseUntrustedJson(*details); tree && tree->is_object())
        if (const auto* r = tree->get_object().if_contains("reason"); r && r->is_string() && !r->get_string().empty())
          reason.emplace(r->get_string());
    if (!reason)
      if (auto status = member("status")) reason = nonEmptyString(*status);
    if (reason) f.finish_reasons.push_back(std::move(*reason));
  }
}

// Appends a tree's text; with `streamed_data`, a stream's chunks spliced
// in after the (assembled response) object's members: each listed chunk's
// own text (StreamAssembler), not a tree parsed from it and serialised
// again.
void appendStreamResponse(std::string& out, const json::object& assembled, const std::string& streamed_data,
                          std::uint64_t chunks_not_captured) {
  appendJson(out, assembled);
  out.pop_back();
  if (!assembled.empty()) out += ',';
  appendLiteral(out, "\"streamed_data\":[");
  out += streamed_data;
  out += ']';
  if (chunks_not_captured > 0) {
    appendLiteral(out, ",\"_chunks_not_captured\":");
    appendJsonUint(out, chunks_not_captured);
  }
  out += '}';
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
  return errorTypeOfMember(*e);
}

std::string formatRfc3339Millis(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const sys_time<milliseconds> ms_time{duration_cast<milliseconds>(t.time_since_epoch())};
  const sys_days day = floor<days>(ms_time);
  const year_month_day date(day);
  const hh_mm_ss<milliseconds> time(ms_time - day);
  const int year = static_cast<int>(date.year());
  if (year < 0 || year > 9999) {
    // Outside what four digits hold: the long form, as gmtime gives it.
    std::time_t secs = static_cast<std::time_t>(floor<std::chrono::seconds>(ms_time).time_since_epoch().count());
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, time.subseconds().count());
  }
  char text[] = "0000-00-00T00:00:00.000Z";
  auto put = [&text](std::size_t at, unsigned value, std::size_t digits) {
    for (std::size_t i = digits; i-- > 0; value /= 10) text[at + i] = static_cast<char>('0' + value % 10);
  };
  put(0, static_cast<unsigned>(year), 4);
  put(5, static_cast<unsigned>(date.month()), 2);
  put(8, static_cast<unsigned>(date.day()), 2);
  put(11, static_cast<unsigned>(time.hours().count()), 2);
  put(14, static_cast<unsigned>(time.minutes().count()), 2);
  put(17, static_cast<unsigned>(time.seconds().count()), 2);
  put(20, static_cast<unsigned>(time.subseconds().count()), 3);
  return std::string(text, sizeof(text) - 1);
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
  const std::string preview = validUtf8(utf8Prefix(scrubbed, std::min(max_bytes, kMaxPreviewBytes)));
  t["_preview"] = std::string_view(preview);
  return t;
}

void appendCapturedBody(std::string& out, std::string_view body, std::size_t max_bytes, bool cut,
                        std::optional<std::uint64_t> original_bytes, ScrubbedJsonFacts* facts) {
  if (facts) *facts = {};
  if (body.empty() && !cut) {
    appendLiteral(out, "null");
    return;
  }
  // A body the direct pass leaves to the tree: parsed, scrubbed, written;
  // empty when the tree parser refuses it too.
  auto scrubbedTreeText = [body]() -> std::string {
    std::optional<json::value> parsed = parseUntrustedJson(body);
    if (!parsed) return {};
    scrubForRecord(*parsed);
    return json::serialize(*parsed);
  };
  const std::uint64_t original = original_bytes.value_or(body.size());
  if (!cut && body.size() <= max_bytes) {
    switch (appendScrubbedJson(body, out, facts)) {
      case ScrubbedJsonResult::kWritten:
        return;
      case ScrubbedJsonResult::kNeedsTree:
        // The tree's text has unique keys and no number out of range: the
        // direct pass copies it as it is, and describes it.
        if (const std::string text = scrubbedTreeText(); !text.empty()) {
          appendScrubbedJson(text, out, facts, true);
          return;
        }
        break;
      case ScrubbedJsonResult::kNotJson:
        break;
    }
    if (!isValidUtf8(body)) {
      // Binary (an upload's bytes): not representable as a JSON string.
      appendLiteral(out, "{\"_binary\":true,\"_original_bytes\":");
      appendJsonUint(out, original);
      out += '}';
      return;
    }
    appendJsonString(out, scrubSecretsInText(body));
    return;
  }
  // Too large: a preview of the (scrubbed) start of the body.
  std::string scrubbed;
  if (!cut && appendScrubbedJson(body, scrubbed) == ScrubbedJsonResult::kNeedsTree) scrubbed = scrubbedTreeText();
  if (scrubbed.empty()) scrubbed = scrubSecretsInText(body.substr(0, std::min(body.size(), kMaxPreviewBytes + 256)));
  appendLiteral(out, "{\"_truncated\":true,\"_original_bytes\":");
  appendJsonUint(out, original);
  appendLiteral(out, ",\"_preview\":");
  appendJsonString(out, validUtf8(utf8Prefix(scrubbed, std::min(max_bytes, kMaxPreviewBytes))));
  out += '}';
}

RecordBuilder::RecordBuilder(RecordBuilderOptions options, std::shared_ptr<const PricingTable> pricing)
    : options_(std::move(options)), pricing_(std::move(pricing)) {}

BuiltRecord RecordBuilder::build(const RequestRecord& in, bool with_record) const {
  RecordSummary sum;
  const ResponseObservation& obs = in.observation;
  // The trees build() still makes (a stream's assembled response; a body
  // the direct pass leaves to the tree) live in scratch memory, a stack
  // buffer first, all freed when build returns.
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

  // The record's typed fields (gw/record_fields.h), from the values its
  // text is written from: what fieldsFromJson would read back from the
  // text, without looking anything up (fuzz_exporters checks that they
  // agree).
  RecordFields f;

  // Response: read once, for the record, usage and error type. Its text
  // (attributes.response) stays empty for null.
  std::string response_text;
  bool has_parsed_response = false;  // non-stream, full body, JSON
  std::optional<std::string> response_error_type;
  // Without a record, the response is read only for usage the request path
  // did not observe (the summary's error type never comes from the body:
  // an error always has the gateway's own error type).
  const bool read_response = with_record || (!usage.input && !usage.output);
  const bool capture_response = with_record && options_.capture_bodies;
  if (read_response && in.streamed) {
    // The assembled response is built from every chunk the request path
    // kept (its own, larger, memory bound); TELEMETRY_MAX_BODY_BYTES caps
    // only the chunks listed in streamed_data: their own text,
    // comma-separated, spliced in after the assembled response's members.
    std::string streamed_data;
    if (capture_response) streamed_data.reserve(obs.chunk_bytes + obs.chunks.size());
    StreamAssembler assembler(sp, false, obs.api);
    std::size_t bytes = 0, listed = 0;
    std::uint64_t chunks_not_captured = obs.chunks_not_captured;
    bool budget_left = true;
    for (const auto& chunk : obs.chunks) {
      bool listed_here = false;
      if (budget_left && bytes + chunk.size() <= options_.max_body_bytes) {
        bytes += chunk.size();
        listed_here = capture_response;
        if (listed_here && listed++ > 0) streamed_data += ',';
      } else {
        budget_left = false;  // keep streamed_data a prefix, in order
        ++chunks_not_captured;
      }
      assembler.add(chunk, listed_here ? &streamed_data : nullptr);
    }
    json::object assembled = assembler.finish();
    response_error_type = assembler.errorType();
    // A stream's usage is in its last usage chunk (Responses API: its final
    // response), when the handler did not report it itself.
    if (!obs.usage_from_handler && !usage.input && !usage.output)
      if (const auto* u = assembled.if_contains("usage"); u && u->is_object()) readUsage(u->as_object());
    if (capture_response) {
      readResponseFields(assembled, f);
      response_text.reserve(1024 + streamed_data.size());
      appendStreamResponse(response_text, assembled, streamed_data, chunks_not_captured);
    }
  } else if (read_response && (!in.response_body.empty() || in.response_body_truncated)) {
    const std::string_view body = in.response_body;
    const bool full_body = !in.response_body_truncated;
    // The usual case: one pass writes the scrubbed body and finds what
    // the tree would give.
    ScrubbedJsonFacts facts;
    std::optional<ScrubbedJsonResult> scanned;
    if (full_body && capture_response && body.size() <= options_.max_body_bytes)
      scanned = appendScrubbedJson(body, response_text, &facts);
    if (scanned == ScrubbedJsonResult::kWritten) {
      has_parsed_response = true;
      const std::string_view text = response_text;
      auto member = [&](std::string_view name) -> std::optional<std::string_view> {
        const auto* span = facts.member(text, name);
        if (!span) return std::nullopt;
        return text.substr(span->offset, span->size);
      };
      // A secret's value is the only change scrubbing makes to this text
      // (a number out of range, or a repeated key, takes the tree path):
      // error.type, the usage counts and model are none.
      if (auto error = member("error"); error && error->front() == '{')
        if (auto tree = parseUntrustedJson(*error, sp)) response_error_type = errorTypeOfMember(*tree);
      if (!obs.usage_from_handler && !usage.input && !usage.output)
        if (auto u = member("usage"); u && u->front() == '{')
          if (auto tree = parseUntrustedJson(*u, sp); tree && tree->is_object()) readUsage(tree->get_object());
      if (!response_model)
        if (auto m = member("model")) response_model = nonEmptyString(*m);
      readResponseFields(text, facts, f);
    } else {
      std::optional<json::value> parsed;
      if (full_body && scanned != ScrubbedJsonResult::kNotJson) parsed = parseUntrustedJson(body, sp);
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
      if (capture_response) {
        if (parsed && body.size() <= options_.max_body_bytes) {
          scrubForRecord(*parsed);
          readResponseFields(*parsed, f);
          appendJson(response_text, *parsed);
        } else {
          appendCapturedBody(
              response_text, body, options_.max_body_bytes, in.response_body_truncated,
              in.response_body_truncated ? std::optional<std::uint64_t>(in.response_size) : std::nullopt);
        }
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
    if (in.outcome == RequestOutcome::kCancelled)
      gateway_error = ErrorType::kClientDisconnected;
    else if (in.provider_status_code && *in.provider_status_code >= 400)
      gateway_error = ErrorType::kUpstreamHttpError;
    else
      gateway_error = ErrorType::kInternal;
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
  if (is_error) sum.error_type = error_type ? *error_type : provider_error_type.value_or("internal");
  sum.attempts.reserve(in.attempts.size());
  for (std::size_t i = 0; i < in.attempts.size(); ++i) {
    const auto& a = in.attempts[i];
    const bool last = i + 1 == in.attempts.size();
    sum.attempts.push_back({a.provider, a.model, !last ? "retried" : (is_error ? "error" : "success")});
  }
  if (!with_record) return {nullptr, std::move(sum)};

  // The record's text, member by member in docs/records.md's order. The
  // keys are the builder's own (plain ASCII, written as they are).
  std::string out;
  out.reserve(2048 + (options_.capture_bodies ? std::min(in.request_body.size(), options_.max_body_bytes) : 0) +
              response_text.size());

  f.timestamp = formatRfc3339Millis(in.wall_start);
  f.unix_nanos = recordTimestampNanos(in.wall_start);
  appendLiteral(out, "{\"timestamp\":");
  appendJsonString(out, f.timestamp);
  appendLiteral(out, ",\"resource\":{\"service.name\":");
  appendJsonString(out, options_.service_name);
  appendLiteral(out, ",\"service.version\":");
  appendJsonString(out, options_.service_version);
  appendLiteral(out, ",\"deployment.environment\":");
  appendJsonString(out, options_.deployment_environment);
  f.service_name = options_.service_name;
  f.service_version = options_.service_version;
  f.environment = options_.deployment_environment;
  f.name = "ai_gateway_request_log";
  appendLiteral(out, "},\"name\":\"ai_gateway_request_log\"");

  appendLiteral(out, ",\"attributes\":{\"id\":");
  f.id = appendHeaderString(out, in.id);
  appendLiteral(out, ",\"thread_id\":");
  f.thread_id = appendOptionalHeaderString(out, in.thread_id);
  appendLiteral(out, ",\"org_id\":");
  f.org_id = appendOptionalHeaderString(out, in.org_id);
  appendLiteral(out, ",\"user_id\":");
  f.user_id = appendOptionalHeaderString(out, in.user_id);
  appendLiteral(out, ",\"project_id\":");
  appendOptionalHeaderString(out, in.project_id);
  appendLiteral(out, ",\"experiment_id\":");
  f.experiment_id = appendOptionalHeaderString(out, in.experiment_id);
  appendLiteral(out, ",\"provider\":");
  f.provider = appendNonEmptyHeaderString(out, in.provider);
  appendLiteral(out, ",\"model\":");
  f.model = appendNonEmptyHeaderString(out, model);
  appendLiteral(out, ",\"request\":");
  if (options_.capture_bodies) {
    ScrubbedJsonFacts request_facts;
    appendCapturedBody(out, in.request_body, options_.max_body_bytes, in.request_body_truncated,
                       in.request_body_truncated ? std::optional<std::uint64_t>(in.request_size) : std::nullopt,
                       &request_facts);
    if (const auto* stream = request_facts.member(out, "stream")) {
      const std::string_view text = std::string_view(out).substr(stream->offset, stream->size);
      if (text == "true" || text == "false") f.streamed = text == "true";
    }
  } else {
    appendLiteral(out, "null");
  }
  appendLiteral(out, ",\"response\":");
  if (response_text.empty())
    appendLiteral(out, "null");
  else
    out += response_text;

  // attributes.metadata
  f.latency_ms = millis(sum.latency_s);
  f.ttfb_ms = millis(sum.ttfb_s);
  f.provider_latency_ms = millis(sum.provider_latency_s);
  appendLiteral(out, ",\"metadata\":{\"project_id\":");
  f.project_id = appendOptionalHeaderString(out, in.project_id);
  appendLiteral(out, ",\"project_name\":");
  f.project_name = appendOptionalHeaderString(out, in.project_name);
  appendLiteral(out, ",\"latency\":");
  appendOptionalInt(out, millis(sum.latency_s));
  appendLiteral(out, ",\"ttfb\":");
  appendOptionalInt(out, millis(sum.ttfb_s));
  appendLiteral(out, ",\"tokens\":{\"input\":");
  appendOptionalInt(out, usage.input);
  appendLiteral(out, ",\"output\":");
  appendOptionalInt(out, usage.output);
  appendLiteral(out, ",\"total\":");
  appendOptionalInt(out, usage.total);
  appendLiteral(out, ",\"cached_input\":");
  appendOptionalInt(out, usage.cached_input);
  appendLiteral(out, ",\"cache_creation\":");
  appendOptionalInt(out, usage.cache_creation);
  appendLiteral(out, ",\"reasoning\":");
  appendOptionalInt(out, usage.reasoning);
  f.input_tokens = usage.input;
  f.output_tokens = usage.output;
  f.total_tokens = usage.total;
  f.cached_input_tokens = usage.cached_input;
  f.cache_creation_tokens = usage.cache_creation;
  f.reasoning_tokens = usage.reasoning;
  appendLiteral(out, "},\"cost\":");
  if (cost)
    appendJsonDouble(out, *cost);
  else
    appendLiteral(out, "null");
  if (cost && std::isfinite(*cost)) f.cost = *cost;
  f.cost_status = std::string(toString(cost_status));
  appendLiteral(out, ",\"cost_status\":");
  appendJsonString(out, *f.cost_status);
  f.status = std::string(statusName(in.outcome));
  appendLiteral(out, ",\"status\":");
  appendJsonString(out, *f.status);
  appendLiteral(out, ",\"path\":");
  f.path = appendNonEmptyHeaderString(out, in.path);
  appendLiteral(out, ",\"method\":");
  f.method = appendNonEmptyHeaderString(out, in.method);
  appendLiteral(out, ",\"request_size\":");
  appendJsonUint(out, in.request_size);
  appendLiteral(out, ",\"response_size\":");
  appendJsonUint(out, in.response_size);
  auto sizeField = [](std::uint64_t n) {
    return n <= static_cast<std::uint64_t>(INT64_MAX) ? std::optional<std::int64_t>(static_cast<std::int64_t>(n))
                                                      : std::nullopt;
  };
  f.request_size = sizeField(in.request_size);
  f.response_size = sizeField(in.response_size);
  appendLiteral(out, ",\"provider_latency\":");
  appendOptionalInt(out, millis(sum.provider_latency_s));
  appendLiteral(out, ",\"status_code\":");
  if (in.status_code > 0) {
    appendJsonInt(out, in.status_code);
    f.status_code = in.status_code;
  } else {
    appendLiteral(out, "null");
  }
  appendLiteral(out, ",\"provider_status_code\":");
  if (in.provider_status_code) {
    appendJsonInt(out, *in.provider_status_code);
    f.provider_status_code = *in.provider_status_code;
  } else {
    appendLiteral(out, "null");
  }
  out += is_error ? ",\"error_count\":1" : ",\"error_count\":0";
  appendLiteral(out, ",\"error_type\":");
  f.error_type = appendOptionalHeaderString(out, error_type);
  out += provider_error ? ",\"provider_error_count\":1" : ",\"provider_error_count\":0";
  appendLiteral(out, ",\"provider_error_type\":");
  f.provider_error_type = appendOptionalHeaderString(out, provider_error_type);
  appendLiteral(out, ",\"provider_request_id\":");
  f.provider_request_id = appendOptionalHeaderString(out, in.provider_request_id);
  // The upstream's address is an export attribute (OTLP server.address),
  // not a record member: the record keeps section 5's shape. A record
  // replayed from the spool has none.
  if (!in.provider_address.empty()) f.provider_address = in.provider_address;
  if (in.provider_port > 0) f.provider_port = in.provider_port;
  // Requests with a virtual key only, like the route below.
  if (!in.virtual_key_id.empty()) {
    appendLiteral(out, ",\"virtual_key_id\":");
    appendJsonString(out, in.virtual_key_id);
  }
  // Routed requests only: the record of any other request keeps the
  // shape docs/records.md gives, member for member.
  if (!in.route.empty()) {
    appendLiteral(out, ",\"route\":");
    appendJsonString(out, in.route);
    f.route = in.route;
    appendLiteral(out, ",\"attempts\":[");
    for (std::size_t i = 0; i < in.attempts.size(); ++i) {
      const auto& a = in.attempts[i];
      out += i == 0 ? "{\"provider\":" : ",{\"provider\":";
      appendJsonString(out, a.provider);
      appendLiteral(out, ",\"model\":");
      appendJsonString(out, a.model);
      appendLiteral(out, ",\"status_code\":");
      if (a.status_code > 0)
        appendJsonInt(out, a.status_code);
      else
        appendLiteral(out, "null");
      appendLiteral(out, ",\"error_type\":");
      if (a.error_type)
        appendJsonString(out, toString(*a.error_type));
      else
        appendLiteral(out, "null");
      appendLiteral(out, ",\"latency\":");
      appendOptionalInt(out, millis(a.latency_s));
      out += '}';
    }
    out += ']';
  }
  appendLiteral(out, "}}}");

  std::string id = f.id;  // attributes.id as written: valid UTF-8
  auto record = std::make_shared<const TelemetryRecord>(std::move(id), std::move(out), std::move(f));
  return {std::move(record), std::move(sum)};
}

}  // namespace gw
