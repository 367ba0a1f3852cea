// Fuzzes every exporter's serializer with records built from fuzz input:
// Elasticsearch bulk NDJSON, Datadog series and logs, New Relic logs and
// metrics, OTLP JSON and protobuf (logs, traces, metrics), the console and
// file lines, the postgres row mapping, and the shared field reader.
//
// Records come from two places, as in the gateway:
//  - mode 0: a RequestRecord whose every field (ids, tracking headers,
//    bodies, stream chunks, usage, status codes, timings) is filled from the
//    input with arbitrary bytes and integers, turned into the docs/records.md
//    record by the real RecordBuilder; then some record fields are
//    overwritten with hostile JSON values (NaN, inf, huge and negative
//    numbers, wrong types), as a spooled or hand-edited record may hold;
//  - mode 1: the rest of the input is a record as the spool reads it back
//    (recordFromJson), i.e. any JSON document with attributes.id.
// Invariants: no crash; when the record is valid JSON, so is every JSON
// payload (the backends would reject the whole batch otherwise).
#include "exporters/common/record_mapping.h"
#include "exporters/console/console_exporter.h"
#include "exporters/datadog/datadog_exporter.h"
#include "exporters/elasticsearch/elasticsearch_serializer.h"
#include "exporters/file/file_exporter.h"
#include "exporters/newrelic/newrelic_exporter.h"
#include "exporters/otlp/otlp_protobuf.h"
#include "exporters/otlp/otlp_serializer.h"
#ifdef GW_FUZZ_HAVE_POSTGRES  // built only where libpq is installed
#include "exporters/postgres/postgres_serializer.h"
#endif
#include "exporters/prometheus/prometheus_exporter.h"
#include "fuzz_support.h"
#include "telemetry/pricing.h"
#include "telemetry/record_builder.h"
#include "telemetry/spool.h"

#include <boost/json/serialize.hpp>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using gw::fuzz::FuzzInput;

const gw::RecordBuilder& builder() {
  static const gw::RecordBuilder b = [] {
    auto table = gw::PricingTable::parse(R"({
      "gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
                 "cache_read_input_token_cost": 1.25e-06},
      "claude-3-5-sonnet-20241022": {"litellm_provider": "anthropic", "input_cost_per_token": 3e-06,
                                     "output_cost_per_token": 1.5e-05},
      "groq/llama-3.1-8b-instant": {"litellm_provider": "groq", "input_cost_per_token": 5e-08,
                                    "output_cost_per_token": 8e-08}})");
    if (!table) std::abort();
    gw::RecordBuilderOptions options;
    options.max_body_bytes = 2048;  // small, so the truncation paths run
    return gw::RecordBuilder(options, std::make_shared<const gw::PricingTable>(std::move(*table)));
  }();
  return b;
}

std::optional<std::string> maybeString(FuzzInput& in) {
  if (!in.flag()) return std::nullopt;
  return std::string(in.bytes());
}

std::optional<std::int64_t> maybeTokens(FuzzInput& in) {
  std::uint8_t b = in.byte();
  if (!(b & 1)) return std::nullopt;
  return b & 2 ? in.i64() : static_cast<std::int64_t>(in.byte()) * 100;
}

// Equal, but for the last bits of the doubles: Boost.JSON 1.81's parser
// does not always read back the exact double its serialiser wrote.
bool sameFields(gw::RecordFields a, gw::RecordFields b) {
  for (auto [x, y] : {std::pair{&a.cost, &b.cost}, std::pair{&a.latency_ms, &b.latency_ms},
                      std::pair{&a.ttfb_ms, &b.ttfb_ms}, std::pair{&a.provider_latency_ms, &b.provider_latency_ms}}) {
    if (x->has_value() != y->has_value()) return false;
    if (*x && std::fabs(**x - **y) > 1e-9 * std::max(1.0, std::fabs(**x))) return false;
    x->reset();
    y->reset();
  }
  // The upstream's address is a field of a record built in this process
  // only, not a member of its JSON.
  a.provider_address = b.provider_address;
  a.provider_port = b.provider_port;
  return a == b;
}

gw::RecordPtr fromRequestRecord(FuzzInput& in) {
  using std::chrono::milliseconds;
  gw::RequestRecord r;
  r.id = in.pick({"0b9c7f4e-3f1d-4e1a-9c55-2f4c9b8e7a61", "req-1", ""});
  r.thread_id = maybeString(in);
  r.org_id = maybeString(in);
  r.user_id = maybeString(in);
  r.project_id = maybeString(in);
  r.project_name = maybeString(in);
  r.experiment_id = maybeString(in);
  r.provider = in.pick({"openai", "anthropic", "bedrock", "groq", ""});
  r.model = in.pick({"gpt-4o", "claude-3-5-sonnet-20241022", "llama-3.1-8b-instant", ""});
  r.method = in.pick({"POST", "GET"});
  r.path = in.pick({"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models"});
  r.request_body = std::string(in.bytes(255));
  r.response_body = std::string(in.bytes(255));
  r.response_body_truncated = in.flag();
  r.streamed = in.flag();
  auto now = std::chrono::system_clock::now();
  r.wall_start = now;
  r.received = std::chrono::steady_clock::now();
  std::uint8_t timings = in.byte();
  auto after = [&](int bit) -> std::optional<gw::RequestRecord::SteadyTime> {
    if (!(timings & (1 << bit))) return std::nullopt;
    return r.received + milliseconds(in.u64() % (48ull * 3600 * 1000));
  };
  r.first_byte_sent = after(0);
  r.upstream_sent = after(1);
  r.upstream_finished = after(2);
  r.finished = r.received + milliseconds(in.u64() % (48ull * 3600 * 1000));
  r.request_size = in.u64();
  r.response_size = in.u64();
  r.outcome = static_cast<gw::RequestOutcome>(in.below(3));
  r.status_code = static_cast<int>(in.i64() % 1000);
  if (in.flag()) r.provider_status_code = static_cast<int>(in.u64() % 1000);
  if (in.flag()) r.error_type = static_cast<gw::ErrorType>(in.below(gw::kErrorTypeCount));
  r.provider_request_id = maybeString(in);
  gw::ResponseObservation& obs = r.observation;
  obs.usage.input = maybeTokens(in);
  obs.usage.output = maybeTokens(in);
  obs.usage.total = maybeTokens(in);
  obs.usage.cached_input = maybeTokens(in);
  obs.usage.cache_creation = maybeTokens(in);
  obs.usage.reasoning = maybeTokens(in);
  for (std::size_t n = in.below(6); n > 0; --n) obs.chunks.emplace_back(in.bytes());
  obs.chunks_not_captured = in.byte();
  obs.response_model = maybeString(in);
  obs.provider_error_type = maybeString(in);
  obs.provider_error_message = maybeString(in);
  r.provider_address = in.pick({"api.openai.com", "", "10.0.0.5"});
  r.provider_port = static_cast<std::uint16_t>(in.u64());
  gw::BuiltRecord built = builder().build(r);
  // Whatever bytes a client sent (headers may hold any obs-text byte,
  // uploads are binary), the record is valid JSON (regressions/fuzz_exporters/).
  if (!gw::fuzz::isJson(built.record->serialized)) std::abort();
  // The builder's typed fields are what its text holds (exporters read one
  // or the other), and the text parses back into the record's tree.
  if (built.record->json().empty() || !sameFields(gw::fieldsFromJson(built.record->json()), built.record->fields))
    std::abort();

  // Hostile values in record fields the exporters read.
  // A copy with storage of its own, to modify: the built tree is read-only.
  boost::json::object tree(built.record->json(), boost::json::storage_ptr());
  static constexpr std::string_view kFields[] = {
      "timestamp", "id", "provider", "model", "cost", "latency", "ttfb", "status", "status_code",
      "input_tokens", "output_tokens", "total_tokens", "project_id", "request", "response", "metadata"};
  for (std::size_t n = in.below(4); n > 0; --n) {
    std::string_view field = kFields[in.below(std::size(kFields))];
    boost::json::value v;
    switch (in.below(12)) {
      case 0: v = std::numeric_limits<double>::quiet_NaN(); break;
      case 1: v = std::numeric_limits<double>::infinity(); break;
      case 2: v = -std::numeric_limits<double>::infinity(); break;
      case 3: v = 1e308; break;
      case 4: v = std::numeric_limits<std::int64_t>::min(); break;
      case 5: v = std::numeric_limits<std::uint64_t>::max(); break;
      case 6: v = -1; break;
      case 7: v = std::string(in.bytes()); break;
      case 8: v = nullptr; break;
      case 9: v = true; break;
      case 10: v = boost::json::array{1, "x"}; break;
      default: v = boost::json::object{{"k", in.i64()}}; break;
    }
    bool top = field == "timestamp" || in.flag();
    if (top) {
      tree[field] = v;
    } else if (auto* attrs = tree.if_contains("attributes"); attrs && attrs->is_object()) {
      attrs->as_object()[field] = v;
    }
  }
  return std::make_shared<gw::TelemetryRecord>(built.record->id, boost::json::serialize(tree), gw::fieldsFromJson(tree));
}

void checkJson(std::string_view text, bool must) {
  if (must && !gw::fuzz::isJson(text)) std::abort();
}

void checkNdjson(std::string_view text, bool must) {
  if (!text.empty() && text.back() != '\n') std::abort();
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    checkJson(text.substr(0, end), must);
    text.remove_prefix(end + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput in(data, size);
  std::uint8_t control = in.byte();
  gw::RecordPtr record = control & 1 ? gw::recordFromJson(in.rest()) : fromRequestRecord(in);
  if (!record) return 0;
  // The exporters' contract: what they send is JSON as long as the record
  // is. Whether it is (UTF-8, finite numbers) is checked separately.
  bool valid = gw::fuzz::isJson(record->serialized);

  std::vector<gw::RecordPtr> batch{record};
  if (control & 2) batch.push_back(record);  // a batch with a duplicate id (a retried record)
  std::span<const gw::RecordPtr> span(batch);
  gw::exporters::otlp::Attributes resource = {{"k8s.pod.name", "gw-0"}, {"", ""}};

  namespace es = gw::exporters::elasticsearch;
  (void)es::indexFor(*record, "gateway-logs", control & 4);
  checkNdjson(es::serializeBulk(span, "gateway-logs", control & 4), valid);

  namespace dd = gw::exporters::datadog;
  checkJson(dd::seriesJson(span, {"env:prod", "team:ai"}), valid);
  checkJson(dd::logEntryJson(*record, {"env:prod"}, "host-1"), valid);

  namespace nr = gw::exporters::newrelic;
  checkJson(nr::metricsJson(span), valid);
  std::string entry = nr::logEntryJson(*record);
  checkJson(entry, valid);
  checkJson(nr::logsPayload(std::vector<std::string>{entry, entry}, *record), valid);

  namespace otlp = gw::exporters::otlp;
  checkJson(otlp::logsJson(span, resource), valid);
  checkJson(otlp::tracesJson(span, resource), valid);
  checkJson(otlp::metricsJson(span, resource), valid);
  (void)otlp::logsProtobuf(span, resource);
  (void)otlp::tracesProtobuf(span, resource);
  (void)otlp::metricsProtobuf(span, resource);

  std::string console = gw::exporters::console::serializeConsoleBatch(span, control & 8);
  std::vector<std::size_t> rejected;
  std::string lines = gw::exporters::file::serializeLines(span, &rejected);
  if (rejected.empty()) checkNdjson(lines, valid);

#ifdef GW_FUZZ_HAVE_POSTGRES
  namespace pg = gw::exporters::postgres;
  if (auto row = pg::rowFor(*record)) {
    if (row->size() != pg::kColumnCount) std::abort();
    const auto& log_data = (*row)[1];
    if (!log_data || (valid && !gw::fuzz::isJson(*log_data))) std::abort();
  }
#endif

  // Prometheus label values come from the record too (provider, model).
  const auto& fields = record->fields;
  for (const auto& v : {fields.provider, fields.model})
    if (v && gw::exporters::prometheus::escapePrometheusLabelValue(*v).find('\n') != std::string::npos) std::abort();
  return 0;
}
