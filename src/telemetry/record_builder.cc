#include "telemetry/record_builder.h"

#include "common/saturating.h"
#include "common/strings.h"
#include "telemetry/record_response.h"
#include "telemetry/text_cursor.h"

#include <boost/json/monotonic_resource.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ctime>

namespace gw {

namespace json = boost::json;

namespace {

// Room the cursor makes ahead for the record's own members before the
// bodies, and again for those after them (each part is under 1 kB but for
// long header values, for which the cursor grows the text).
constexpr std::size_t kRecordOwnBytes = 1024;

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
    case RequestOutcome::kSuccess:
      return "success";
    case RequestOutcome::kError:
      return "error";
    case RequestOutcome::kCancelled:
      return "cancelled";
  }
  return "error";
}

// The writers of the record's own values: each writes one JSON value.
void putOptionalInt(TextCursor& out, const std::optional<std::int64_t>& v) {
  if (v)
    out.putJsonInt(*v);
  else
    out.literal("null");
}

// A header's string as the record holds it (valid UTF-8), written, and
// returned for the record's fields.
std::string putHeaderString(TextCursor& out, std::string_view s) {
  std::string text = toValidUtf8(s);
  out.putJsonString(text);
  return text;
}

std::optional<std::string> putOptionalHeaderString(TextCursor& out, const std::optional<std::string>& s) {
  if (s) return putHeaderString(out, *s);
  out.literal("null");
  return std::nullopt;
}

std::optional<std::string> putNonEmptyHeaderString(TextCursor& out, const std::string& s) {
  if (!s.empty()) return putHeaderString(out, s);
  out.literal("null");
  return std::nullopt;
}

}  // namespace

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

  // The record's typed fields (gw/record_fields.h), from the values its
  // text is written from: what fieldsFromJson would read back from the
  // text, without looking anything up (fuzz_exporters checks that they
  // agree).
  RecordFields f;
  RecordResponse response = readRecordResponse(in, with_record, options_, f, sp);
  Usage& usage = response.usage;
  const std::optional<std::string>& response_model = response.model;
  const std::string& response_text = response.text;
  const bool has_parsed_response = response.parsed;
  const std::optional<std::string>& response_error_type = response.error_type;

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

  // Errors: the provider's first, since a stream the provider ended with
  // its own error event is a failed request too.
  std::optional<std::string> provider_error_type = obs.provider_error_type;
  if (!provider_error_type && in.streamed) provider_error_type = response_error_type;
  if (!provider_error_type && in.provider_status_code && *in.provider_status_code >= 400) {
    if (has_parsed_response) provider_error_type = response_error_type;
    if (!provider_error_type) provider_error_type = "http_" + std::to_string(*in.provider_status_code);
  }
  const bool provider_error = provider_error_type.has_value();
  // An error event inside a 200 stream (Anthropic's `error`, the Responses
  // API's `response.failed`, a chat chunk holding `error`, a Bedrock
  // exception) ends the stream without the answer, exactly as a provider's
  // status >= 400 would: the request failed, as the provider said, though
  // the client's status stays 200.
  const bool stream_failed = in.streamed && provider_error && in.outcome == RequestOutcome::kSuccess;
  const RequestOutcome outcome = stream_failed ? RequestOutcome::kError : in.outcome;
  const bool is_error = in.status_code >= 400 || outcome != RequestOutcome::kSuccess;
  std::optional<ErrorType> gateway_error = in.error_type;
  if (!gateway_error && is_error) {
    if (outcome == RequestOutcome::kCancelled)
      gateway_error = ErrorType::kClientDisconnected;
    else if (stream_failed || (in.provider_status_code && *in.provider_status_code >= 400))
      gateway_error = ErrorType::kUpstreamHttpError;
    else
      gateway_error = ErrorType::kInternal;
  }
  std::optional<std::string> error_type;
  if (gateway_error) error_type.emplace(toString(*gateway_error));

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
  sum.outcome = outcome;
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
  std::string text;
  const std::size_t request_bytes =
      options_.capture_bodies ? std::min(in.request_body.size(), options_.max_body_bytes) : 0;
  text.reserve(2 * kRecordOwnBytes + request_bytes + response_text.size());
  TextCursor out(text, kRecordOwnBytes);

  f.timestamp = formatRfc3339Millis(in.wall_start);
  f.unix_nanos = recordTimestampNanos(in.wall_start);
  out.literal("{\"timestamp\":");
  out.putJsonString(f.timestamp);
  out.literal(",\"resource\":{\"service.name\":");
  out.putJsonString(options_.service_name);
  out.literal(",\"service.version\":");
  out.putJsonString(options_.service_version);
  out.literal(",\"deployment.environment\":");
  out.putJsonString(options_.deployment_environment);
  f.service_name = options_.service_name;
  f.service_version = options_.service_version;
  f.environment = options_.deployment_environment;
  f.name = "ai_gateway_request_log";
  out.literal("},\"name\":\"ai_gateway_request_log\"");

  out.literal(",\"attributes\":{\"id\":");
  f.id = putHeaderString(out, in.id);
  out.literal(",\"thread_id\":");
  f.thread_id = putOptionalHeaderString(out, in.thread_id);
  out.literal(",\"org_id\":");
  f.org_id = putOptionalHeaderString(out, in.org_id);
  out.literal(",\"user_id\":");
  f.user_id = putOptionalHeaderString(out, in.user_id);
  out.literal(",\"project_id\":");
  putOptionalHeaderString(out, in.project_id);
  out.literal(",\"experiment_id\":");
  f.experiment_id = putOptionalHeaderString(out, in.experiment_id);
  out.literal(",\"provider\":");
  f.provider = putNonEmptyHeaderString(out, in.provider);
  out.literal(",\"model\":");
  f.model = putNonEmptyHeaderString(out, model);
  // The bodies, written by their own writers after what the cursor wrote.
  out.literal(",\"request\":");
  out.finish();
  if (options_.capture_bodies) {
    ScrubbedJsonFacts request_facts;
    appendCapturedBody(text, in.request_body, options_.max_body_bytes, in.request_body_truncated,
                       in.request_body_truncated ? std::optional<std::uint64_t>(in.request_size) : std::nullopt,
                       &request_facts);
    if (const auto* stream = request_facts.member(text, "stream")) {
      const std::string_view value = std::string_view(text).substr(stream->offset, stream->size);
      if (value == "true" || value == "false") f.streamed = value == "true";
    }
  } else {
    appendLiteral(text, "null");
  }
  appendLiteral(text, ",\"response\":");
  if (response_text.empty())
    appendLiteral(text, "null");
  else
    text += response_text;
  out.resume(kRecordOwnBytes);

  // attributes.metadata
  f.latency_ms = millis(sum.latency_s);
  f.ttfb_ms = millis(sum.ttfb_s);
  f.provider_latency_ms = millis(sum.provider_latency_s);
  out.literal(",\"metadata\":{\"project_id\":");
  f.project_id = putOptionalHeaderString(out, in.project_id);
  out.literal(",\"project_name\":");
  f.project_name = putOptionalHeaderString(out, in.project_name);
  out.literal(",\"latency\":");
  putOptionalInt(out, millis(sum.latency_s));
  out.literal(",\"ttfb\":");
  putOptionalInt(out, millis(sum.ttfb_s));
  out.literal(",\"tokens\":{\"input\":");
  putOptionalInt(out, usage.input);
  out.literal(",\"output\":");
  putOptionalInt(out, usage.output);
  out.literal(",\"total\":");
  putOptionalInt(out, usage.total);
  out.literal(",\"cached_input\":");
  putOptionalInt(out, usage.cached_input);
  out.literal(",\"cache_creation\":");
  putOptionalInt(out, usage.cache_creation);
  out.literal(",\"reasoning\":");
  putOptionalInt(out, usage.reasoning);
  f.input_tokens = usage.input;
  f.output_tokens = usage.output;
  f.total_tokens = usage.total;
  f.cached_input_tokens = usage.cached_input;
  f.cache_creation_tokens = usage.cache_creation;
  f.reasoning_tokens = usage.reasoning;
  out.literal("},\"cost\":");
  if (cost)
    out.putJsonDouble(*cost);
  else
    out.literal("null");
  if (cost && std::isfinite(*cost)) f.cost = *cost;
  f.cost_status = std::string(toString(cost_status));
  out.literal(",\"cost_status\":");
  out.putJsonString(*f.cost_status);
  f.status = std::string(statusName(outcome));
  out.literal(",\"status\":");
  out.putJsonString(*f.status);
  out.literal(",\"path\":");
  f.path = putNonEmptyHeaderString(out, in.path);
  out.literal(",\"method\":");
  f.method = putNonEmptyHeaderString(out, in.method);
  out.literal(",\"request_size\":");
  out.putJsonUint(in.request_size);
  out.literal(",\"response_size\":");
  out.putJsonUint(in.response_size);
  auto sizeField = [](std::uint64_t n) {
    return n <= static_cast<std::uint64_t>(INT64_MAX) ? std::optional<std::int64_t>(static_cast<std::int64_t>(n))
                                                      : std::nullopt;
  };
  f.request_size = sizeField(in.request_size);
  f.response_size = sizeField(in.response_size);
  out.literal(",\"provider_latency\":");
  putOptionalInt(out, millis(sum.provider_latency_s));
  out.literal(",\"status_code\":");
  if (in.status_code > 0) {
    out.putJsonInt(in.status_code);
    f.status_code = in.status_code;
  } else {
    out.literal("null");
  }
  out.literal(",\"provider_status_code\":");
  if (in.provider_status_code) {
    out.putJsonInt(*in.provider_status_code);
    f.provider_status_code = *in.provider_status_code;
  } else {
    out.literal("null");
  }
  if (is_error)
    out.literal(",\"error_count\":1");
  else
    out.literal(",\"error_count\":0");
  out.literal(",\"error_type\":");
  f.error_type = putOptionalHeaderString(out, error_type);
  if (provider_error)
    out.literal(",\"provider_error_count\":1");
  else
    out.literal(",\"provider_error_count\":0");
  out.literal(",\"provider_error_type\":");
  f.provider_error_type = putOptionalHeaderString(out, provider_error_type);
  out.literal(",\"provider_request_id\":");
  f.provider_request_id = putOptionalHeaderString(out, in.provider_request_id);
  // The upstream's address is an export attribute (OTLP server.address),
  // not a record member: the record keeps section 5's shape. A record
  // replayed from the spool has none.
  if (!in.provider_address.empty()) f.provider_address = in.provider_address;
  if (in.provider_port > 0) f.provider_port = in.provider_port;
  // Requests with a virtual key only, like the route below.
  if (!in.virtual_key_id.empty()) {
    out.literal(",\"virtual_key_id\":");
    out.putJsonString(in.virtual_key_id);
  }
  // Routed requests only: the record of any other request keeps the
  // shape docs/records.md gives, member for member.
  if (!in.route.empty()) {
    out.literal(",\"route\":");
    out.putJsonString(in.route);
    f.route = in.route;
    out.literal(",\"attempts\":[");
    for (std::size_t i = 0; i < in.attempts.size(); ++i) {
      const auto& a = in.attempts[i];
      if (i == 0)
        out.literal("{\"provider\":");
      else
        out.literal(",{\"provider\":");
      out.putJsonString(a.provider);
      out.literal(",\"model\":");
      out.putJsonString(a.model);
      out.literal(",\"status_code\":");
      if (a.status_code > 0)
        out.putJsonInt(a.status_code);
      else
        out.literal("null");
      out.literal(",\"error_type\":");
      if (a.error_type)
        out.putJsonString(toString(*a.error_type));
      else
        out.literal("null");
      out.literal(",\"latency\":");
      putOptionalInt(out, millis(a.latency_s));
      out.literal("}");
    }
    out.literal("]");
  }
  out.literal("}}}");
  out.finish();

  std::string id = f.id;  // attributes.id as written: valid UTF-8
  auto record = std::make_shared<const TelemetryRecord>(std::move(id), std::move(text), std::move(f));
  return {std::move(record), std::move(sum)};
}

}  // namespace gw
