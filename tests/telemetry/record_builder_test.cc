// Record shape (docs/records.md) against golden files in
// tests/testdata/telemetry/records/. GW_UPDATE_GOLDEN=1 rewrites them (then
// review the diff: a golden file is only as good as its review).
#include "telemetry/record_builder.h"
#include "telemetry/record_json.h"

#include "common/strings.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace gw {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::shared_ptr<const PricingTable> pricing() {
  static auto table = [] {
    auto t = PricingTable::load(std::string(GW_SOURCE_DIR) + "/data/model_prices_and_context_window.json");
    return std::make_shared<const PricingTable>(std::move(*t));
  }();
  return table;
}

RecordBuilder builder(bool capture = true, std::size_t max_body = 1 << 20) {
  RecordBuilderOptions o;
  o.service_name = "noveum_ai_gateway";
  o.service_version = "9.9.9-test";
  o.deployment_environment = "test";
  o.capture_bodies = capture;
  o.max_body_bytes = max_body;
  return RecordBuilder(o, pricing());
}

// 2026-11-26T20:01:02.345Z, and a request that took 351.6 ms.
RequestRecord base() {
  RequestRecord r;
  r.id = "req-1";
  r.wall_start = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795723262345LL));
  r.received = RequestRecord::SteadyTime(10s);
  r.first_byte_sent = r.received + 120400us;
  r.upstream_sent = r.received + 2ms;
  r.upstream_finished = r.received + 350600us;
  r.finished = r.received + 351600us;
  r.provider = "openai";
  r.model = "gpt-4o";
  r.method = "POST";
  r.path = "/v1/chat/completions";
  r.thread_id = "t-1";
  r.org_id = "org-1";
  r.user_id = "u-1";
  r.project_id = "p-1";
  r.project_name = "Project One";
  r.experiment_id = "e-1";
  r.request_body = R"({"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]})";
  r.request_size = r.request_body.size();
  r.status_code = 200;
  r.provider_status_code = 200;
  r.provider_request_id = "chatcmpl-upstream-1";
  return r;
}

void expectGolden(const TelemetryRecord& record, const std::string& name) {
  const std::string path = std::string(GW_TESTDATA_DIR) + "/telemetry/records/" + name + ".json";
  if (std::getenv("GW_UPDATE_GOLDEN")) {
    std::ofstream(path) << json::serialize(record.json()) << "\n";
  }
  std::ifstream in(path);
  ASSERT_TRUE(in) << "missing golden file " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  json::value expected = json::parse(ss.str());
  EXPECT_EQ(json::value(record.json()), expected) << "got:      " << record.serialized << "\nexpected: " << ss.str();
  // The serialized form is the JSON, and every key of docs/records.md is present in order.
  EXPECT_EQ(json::parse(record.serialized), json::value(record.json()));
  EXPECT_EQ(record.serialized.find('\n'), std::string::npos);
  // The typed fields are what the record's JSON holds, but the upstream's
  // address, which only a record built in this process has.
  RecordFields from_json = fieldsFromJson(record.json());
  from_json.provider_address = record.fields.provider_address;
  from_json.provider_port = record.fields.provider_port;
  EXPECT_EQ(record.fields, from_json);
  EXPECT_EQ(record.id, record.fields.id);
}

void expectShape(const json::object& r) {
  std::vector<std::string> top, attrs, meta;
  for (const auto& kv : r) top.emplace_back(kv.key());
  for (const auto& kv : r.at("attributes").as_object()) attrs.emplace_back(kv.key());
  for (const auto& kv : r.at("attributes").at("metadata").as_object()) meta.emplace_back(kv.key());
  EXPECT_EQ(top, (std::vector<std::string>{"timestamp", "resource", "name", "attributes"}));
  EXPECT_EQ(attrs, (std::vector<std::string>{"id", "thread_id", "org_id", "user_id", "project_id", "experiment_id",
                                             "provider", "model", "request", "response", "metadata"}));
  EXPECT_EQ(meta, (std::vector<std::string>{"project_id", "project_name", "latency", "ttfb", "tokens", "cost",
                                            "cost_status", "status", "path", "method", "request_size",
                                            "response_size", "provider_latency", "status_code",
                                            "provider_status_code", "error_count", "error_type",
                                            "provider_error_count", "provider_error_type", "provider_request_id"}));
}

TEST(RecordBuilder, ARoutedRequestListsItsRouteAndEveryAttempt) {
  RequestRecord r = base();
  r.route = "smart";
  r.attempts.push_back({"openai", "gpt-4o", 429, ErrorType::kUpstreamHttpError, 0.0124});
  r.attempts.push_back({"openai", "gpt-4o", 0, ErrorType::kUpstreamTimeout, 1.0});
  r.attempts.push_back({"anthropic", "claude-sonnet-4-5", 200, std::nullopt, 0.8406});
  RecordBuilder b = builder();
  auto built = b.build(r);
  ASSERT_TRUE(built.record);
  const auto& meta = built.record->json().at("attributes").at("metadata").as_object();
  EXPECT_EQ(meta.at("route"), json::value("smart"));
  EXPECT_EQ(built.record->fields.route, "smart");
  EXPECT_EQ(built.record->fields, fieldsFromJson(built.record->json()));
  EXPECT_EQ(meta.at("attempts"), json::parse(R"([
    {"provider":"openai","model":"gpt-4o","status_code":429,"error_type":"upstream_http_error","latency":12},
    {"provider":"openai","model":"gpt-4o","status_code":null,"error_type":"upstream_timeout","latency":1000},
    {"provider":"anthropic","model":"claude-sonnet-4-5","status_code":200,"error_type":null,"latency":841}])"));
  // ai_gateway_attempts_total's outcomes: the last attempt answered.
  ASSERT_EQ(built.summary.attempts.size(), 3u);
  EXPECT_EQ(built.summary.attempts[0].outcome, "retried");
  EXPECT_EQ(built.summary.attempts[1].outcome, "retried");
  EXPECT_EQ(built.summary.attempts[2].outcome, "success");
  EXPECT_EQ(built.summary.attempts[2].provider, "anthropic");
  r.status_code = 503;
  r.outcome = RequestOutcome::kError;
  EXPECT_EQ(b.build(r, false).summary.attempts[2].outcome, "error");
}

TEST(RecordBuilder, LongAndEscapedOwnMembersAreWrittenWhole) {
  // Own members past the room the builder makes ahead, with escapes that
  // grow them six-fold, before and after the bodies: the text is the same
  // as a tree's, and the fields are what it holds.
  RequestRecord r = base();
  r.user_id = std::string(3000, '"') + "end";
  r.project_id = "p\x01" + std::string(2000, '\\') + "\n";
  r.provider_request_id = std::string(5000, '\x1f');
  r.response_body = R"({"id":"x","choices":[]})";
  r.route = "r\"oute";
  for (int i = 0; i < 40; ++i) r.attempts.push_back({"openai\t", std::string(100, '"'), 500, std::nullopt, 0.5});
  for (bool capture : {true, false}) {
    auto built = builder(capture).build(r);
    ASSERT_TRUE(built.record);
    const json::value parsed = json::parse(built.record->serialized);
    EXPECT_EQ(json::serialize(parsed), built.record->serialized);
    const auto& attributes = parsed.at("attributes");
    EXPECT_EQ(attributes.at("user_id").as_string(), *r.user_id);
    EXPECT_EQ(attributes.at("metadata").at("project_id").as_string(), *r.project_id);
    EXPECT_EQ(attributes.at("metadata").at("provider_request_id").as_string(), *r.provider_request_id);
    EXPECT_EQ(attributes.at("metadata").at("attempts").as_array().size(), 40u);
    EXPECT_EQ(attributes.at("request").is_object(), capture);
    EXPECT_EQ(built.record->fields, fieldsFromJson(built.record->json()));
  }
}

TEST(RecordBuilder, SuccessNonStream) {
  RequestRecord r = base();
  r.response_body = R"({"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-08-06",)"
                    R"("choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],)"
                    R"("usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}})";
  r.response_size = r.response_body.size();
  auto built = builder().build(r);
  expectShape(built.record->json());
  expectGolden(*built.record, "success_non_stream");
  EXPECT_EQ(built.record->id, "req-1");
  EXPECT_EQ(built.record->json().at("timestamp"), "2026-11-26T20:01:02.345Z");
  const auto& meta = built.record->json().at("attributes").at("metadata");
  EXPECT_EQ(meta.at("latency"), 352);  // 351.6 ms rounded
  EXPECT_EQ(meta.at("ttfb"), 120);
  EXPECT_EQ(meta.at("provider_latency"), 349);  // 348.6 ms
  EXPECT_NEAR(meta.at("cost").as_double(), 9 * 2.5e-6 + 2 * 1e-5, 1e-15);
  EXPECT_EQ(meta.at("cost_status"), "priced");
  EXPECT_FALSE(built.summary.is_error);
  EXPECT_EQ(built.summary.input_tokens, 9);
  EXPECT_EQ(built.summary.cost_status, CostStatus::kPriced);
  EXPECT_EQ(built.record->fields.response_id, "chatcmpl-1");
  EXPECT_EQ(built.record->fields.finish_reasons, std::vector<std::string>{"stop"});
}

TEST(RecordBuilder, TheUpstreamAddressIsAnExportFieldNotARecordMember) {
  RequestRecord r = base();
  r.provider_address = "api.openai.com";
  r.provider_port = 443;
  auto built = builder().build(r);
  EXPECT_EQ(built.record->fields.provider_address, "api.openai.com");
  EXPECT_EQ(built.record->fields.provider_port, 443);
  const auto& meta = built.record->json().at("attributes").at("metadata").as_object();
  EXPECT_FALSE(meta.contains("provider_address"));
  EXPECT_FALSE(meta.contains("provider_port"));
  expectShape(built.record->json());
}

TEST(RecordBuilder, StreamWithChunks) {
  RequestRecord r = base();
  r.streamed = true;
  r.request_body = R"({"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Hi"}]})";
  r.observation.chunks = {
      R"({"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})",
      R"({"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]})",
      R"({"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]})",
      R"({"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]},"finish_reason":null}]})",
      R"({"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]})",
      R"({"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}})"};
  for (const auto& c : r.observation.chunks) r.response_size += c.size() + 8;
  r.observation.usage.input = 9;
  r.observation.usage.output = 3;
  r.observation.usage.total = 12;
  auto built = builder().build(r);
  expectShape(built.record->json());
  expectGolden(*built.record, "stream_with_chunks");
  const auto& resp = built.record->json().at("attributes").at("response").as_object();
  EXPECT_EQ(resp.at("choices").at(0).at("delta").at("content"), "Hello");
  EXPECT_EQ(resp.at("choices").at(0).at("delta").at("tool_calls").at(0).at("function").at("arguments"), "{\"a\":1}");
  EXPECT_EQ(resp.at("choices").at(0).at("finish_reason"), "tool_calls");
  EXPECT_EQ(resp.at("streamed_data").as_array().size(), 6u);
  EXPECT_EQ(built.record->fields.response_id, "c1");
  EXPECT_EQ(built.record->fields.finish_reasons, std::vector<std::string>{"tool_calls"});
  EXPECT_TRUE(built.record->fields.streamed);
}

// metadata.cost_status (docs/records.md): why the cost is what it is.
TEST(RecordBuilder, CostStatusSaysWhyTheCostIsWhatItIs) {
  auto statusOf = [](const RequestRecord& r) {
    auto built = builder().build(r);
    const auto& meta = built.record->json().at("attributes").at("metadata");
    EXPECT_EQ(meta.at("cost_status"), json::value(toString(built.summary.cost_status)));
    EXPECT_EQ(built.record->fields.cost_status, std::string(toString(built.summary.cost_status)));
    EXPECT_EQ(built.summary.cost_status, builder().build(r, false).summary.cost_status) << "without a record too";
    EXPECT_EQ(meta.at("cost").is_null(), built.summary.cost_status != CostStatus::kPriced);
    return built.summary.cost_status;
  };
  const std::string usage = R"("usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11})";
  RequestRecord priced = base();
  priced.response_body = R"({"id":"c","model":"gpt-4o",)" + usage + "}";
  EXPECT_EQ(statusOf(priced), CostStatus::kPriced);

  RequestRecord free = base();  // a price of zero is a price
  free.observation.usage.input = free.observation.usage.output = free.observation.usage.total = 0;
  EXPECT_EQ(statusOf(free), CostStatus::kPriced);

  RequestRecord unpriced = base();
  unpriced.model = "unpriced-zz9";
  unpriced.response_body = R"({"id":"c","model":"unpriced-zz9",)" + usage + "}";
  EXPECT_EQ(statusOf(unpriced), CostStatus::kUnpriced);
  EXPECT_EQ(RecordBuilder(RecordBuilderOptions{}, nullptr).build(priced).summary.cost_status, CostStatus::kUnpriced)
      << "no price table at all";

  RequestRecord no_usage = base();  // an answer without token counts
  no_usage.response_body = R"({"object":"list","data":[]})";
  EXPECT_EQ(statusOf(no_usage), CostStatus::kNoUsage);

  RequestRecord upstream_error = base();  // an upstream error status with no usage
  upstream_error.status_code = upstream_error.provider_status_code.emplace(429);
  upstream_error.outcome = RequestOutcome::kError;
  upstream_error.response_body = R"({"error":{"type":"rate_limit_exceeded"}})";
  EXPECT_EQ(statusOf(upstream_error), CostStatus::kError);

  RequestRecord unreachable = base();  // a gateway-made error: no answer at all
  unreachable.status_code = 502;
  unreachable.provider_status_code.reset();
  unreachable.outcome = RequestOutcome::kError;
  unreachable.error_type = ErrorType::kUpstreamUnreachable;
  EXPECT_EQ(statusOf(unreachable), CostStatus::kError);

  RequestRecord cancelled = base();  // the client left before any usage
  cancelled.outcome = RequestOutcome::kCancelled;
  EXPECT_EQ(statusOf(cancelled), CostStatus::kError);
  cancelled.observation.usage.input = 100;  // ... or after it: that usage is priced
  cancelled.observation.usage.output = 10;
  EXPECT_EQ(statusOf(cancelled), CostStatus::kPriced);
}

// The finish reasons and the response id, per API, as the record's response
// gives them (and as a record read back from the spool gives them again).
TEST(RecordBuilder, FinishReasonsAndResponseIdPerApi) {
  auto fieldsOf = [](const std::string& body, ResponseApi api) {
    RequestRecord r = base();
    r.observation.api = api;
    r.response_body = body;
    auto built = builder().build(r);
    EXPECT_EQ(built.record->fields, fieldsFromJson(built.record->json()));
    return built.record->fields;
  };
  auto chat = fieldsOf(R"({"id":"chatcmpl-2","choices":[{"index":0,"finish_reason":"stop"},)"
                       R"({"index":1,"finish_reason":null},{"index":2,"finish_reason":"length"}]})",
                       ResponseApi::kChatCompletions);
  EXPECT_EQ(chat.response_id, "chatcmpl-2");
  EXPECT_EQ(chat.finish_reasons, (std::vector<std::string>{"stop", "length"}));
  auto messages = fieldsOf(R"({"id":"msg_1","type":"message","stop_reason":"tool_use","content":[]})", ResponseApi::kMessages);
  EXPECT_EQ(messages.response_id, "msg_1");
  EXPECT_EQ(messages.finish_reasons, std::vector<std::string>{"tool_use"});
  auto incomplete = fieldsOf(R"({"id":"resp_1","object":"response","status":"incomplete",)"
                             R"("incomplete_details":{"reason":"max_output_tokens"}})",
                             ResponseApi::kResponses);
  EXPECT_EQ(incomplete.finish_reasons, std::vector<std::string>{"max_output_tokens"});
  auto completed = fieldsOf(R"({"id":"resp_2","object":"response","status":"completed","incomplete_details":null})",
                            ResponseApi::kResponses);
  EXPECT_EQ(completed.finish_reasons, std::vector<std::string>{"completed"});
  auto error = fieldsOf(R"({"error":{"type":"invalid_request_error"}})", ResponseApi::kChatCompletions);
  EXPECT_FALSE(error.response_id);
  EXPECT_TRUE(error.finish_reasons.empty());
}

TEST(RecordBuilder, StreamUsageFromTheLastUsageChunkWhenNotObserved) {
  RequestRecord r = base();
  r.streamed = true;
  r.observation.chunks = {R"({"id":"c","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":5,"total_tokens":9}})"};
  auto built = builder().build(r);
  EXPECT_EQ(built.record->json().at("attributes").at("metadata").at("tokens").at("total"), 9);
}

TEST(RecordBuilder, TokenPartsAreRecordedAndNullWhenNotReported) {
  RequestRecord r = base();
  r.observation.usage.input = 1200;
  r.observation.usage.output = 300;
  r.observation.usage.total = 1500;
  r.observation.usage.cached_input = 1000;
  r.observation.usage.cache_creation = 0;
  r.observation.usage.reasoning = 120;
  auto built = builder().build(r);
  EXPECT_EQ(built.record->json().at("attributes").at("metadata").at("tokens"),
            json::parse(R"({"input":1200,"output":300,"total":1500,"cached_input":1000,"cache_creation":0,)"
                        R"("reasoning":120})"));
  EXPECT_EQ(built.record->fields.cached_input_tokens, 1000);
  EXPECT_EQ(built.record->fields.cache_creation_tokens, 0);
  EXPECT_EQ(built.record->fields.reasoning_tokens, 120);
  EXPECT_EQ(fieldsFromJson(built.record->json()), built.record->fields) << "read back the same";

  RequestRecord plain = base();
  plain.observation.usage.input = 5;
  plain.observation.usage.output = 1;
  plain.observation.usage.total = 6;
  auto none = builder().build(plain);
  EXPECT_EQ(none.record->json().at("attributes").at("metadata").at("tokens"),
            json::parse(R"({"input":5,"output":1,"total":6,"cached_input":null,"cache_creation":null,"reasoning":null})"));
  EXPECT_FALSE(none.record->fields.cached_input_tokens);
}

// A requested alias the price table does not know, answered by a model it
// does: priced as the answering model, for a whole body as for a stream.
TEST(RecordBuilder, NonStreamIsPricedAsTheAnsweringModelWhenTheRequestedOneIsUnknown) {
  RequestRecord r = base();
  r.model = "my-team-alias-zz9";
  r.response_body = R"({"id":"c","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[],)"
                    R"("usage":{"prompt_tokens":1000,"completion_tokens":100,"total_tokens":1100}})";
  r.response_size = r.response_body.size();
  auto built = builder().build(r);
  Usage usage;
  usage.input = 1000;
  usage.output = 100;
  usage.total = 1100;
  auto expected = pricing()->cost("openai", "gpt-4o-2024-08-06", usage);
  ASSERT_TRUE(expected);
  EXPECT_EQ(built.record->fields.cost, expected);
  EXPECT_EQ(built.record->json().at("attributes").at("model"), "my-team-alias-zz9") << "the record keeps what was asked";

  r.response_body = R"({"id":"c","object":"chat.completion","model":"unpriced-zz9","choices":[],)"
                    R"("usage":{"prompt_tokens":1000,"completion_tokens":100,"total_tokens":1100}})";
  EXPECT_FALSE(builder().build(r).record->fields.cost) << "neither known: null, never a guess";
}

// The record is priced under the provider's LiteLLM name, which the
// request path copies from the provider's configuration: a custom provider
// (here "fast-llama", an openai_compatible entry with pricing_provider:
// groq) that serves Groq's models gets Groq's price.
TEST(RecordBuilder, ACustomProviderIsPricedUnderItsPricingName) {
  RequestRecord r = base();
  r.provider = "fast-llama";
  r.pricing_provider = "groq";
  r.model = "llama-3.1-8b-instant";
  r.response_body = R"({"id":"c","object":"chat.completion","model":"llama-3.1-8b-instant","choices":[],)"
                    R"("usage":{"prompt_tokens":1000000,"completion_tokens":1000000,"total_tokens":2000000}})";
  r.response_size = r.response_body.size();
  auto built = builder().build(r);
  ASSERT_TRUE(built.record->fields.cost);
  EXPECT_NEAR(*built.record->fields.cost, 0.05 + 0.08, 1e-9) << "groq/llama-3.1-8b-instant: $0.05 in, $0.08 out per 1M";
  EXPECT_EQ(built.record->json().at("attributes").at("provider"), "fast-llama");
  EXPECT_EQ(built.summary.provider, "fast-llama");

  // Under the type's default (openai), the table has no such model: null.
  r.pricing_provider = "openai";
  EXPECT_FALSE(builder().build(r).record->fields.cost);
}

TEST(RecordBuilder, UpstreamClientError) {
  RequestRecord r = base();
  r.status_code = 400;
  r.provider_status_code = 400;
  r.outcome = RequestOutcome::kError;
  r.error_type = gw::ErrorType::kUpstreamHttpError;
  r.first_byte_sent = r.received + 200ms;
  r.response_body = R"({"error":{"message":"Invalid 'messages'","type":"invalid_request_error","param":"messages","code":null}})";
  r.response_size = r.response_body.size();
  auto built = builder().build(r);
  expectShape(built.record->json());
  expectGolden(*built.record, "upstream_4xx");
  EXPECT_TRUE(built.summary.is_error);
  EXPECT_EQ(built.summary.error_type, "upstream_http_error");
}

TEST(RecordBuilder, UpstreamServerErrorWithoutJsonBodyIsHttpStatus) {
  RequestRecord r = base();
  r.status_code = 503;
  r.provider_status_code = 503;
  r.outcome = RequestOutcome::kError;
  r.error_type = gw::ErrorType::kUpstreamHttpError;
  r.response_body = "Service Unavailable";
  auto built = builder().build(r);
  const auto& meta = built.record->json().at("attributes").at("metadata");
  EXPECT_EQ(meta.at("provider_error_type"), "http_503");
  EXPECT_EQ(meta.at("provider_error_count"), 1);
  EXPECT_EQ(built.record->json().at("attributes").at("response"), "Service Unavailable");
}

TEST(RecordBuilder, GatewayErrorBeforeAnyProvider) {
  RequestRecord r = base();
  r.provider.clear();
  r.model.clear();
  r.thread_id.reset();
  r.org_id.reset();
  r.user_id.reset();
  r.project_id.reset();
  r.project_name.reset();
  r.experiment_id.reset();
  r.request_body = "{not json";
  r.request_size = r.request_body.size();
  r.first_byte_sent = r.received + 1ms;
  r.upstream_sent.reset();
  r.upstream_finished.reset();
  r.finished = r.received + 1ms;
  r.provider_status_code.reset();
  r.provider_request_id.reset();
  r.provider_address.clear();
  r.provider_port = 0;
  r.status_code = 400;
  r.outcome = RequestOutcome::kError;
  r.error_type = gw::ErrorType::kInvalidRequest;
  r.response_body = R"({"error":{"message":"malformed JSON","type":"invalid_request_error","code":"invalid_json"}})";
  r.response_size = r.response_body.size();
  auto built = builder().build(r);
  expectShape(built.record->json());
  expectGolden(*built.record, "gateway_error");
  EXPECT_EQ(built.summary.provider, "unknown");
  EXPECT_EQ(built.summary.error_type, "invalid_request");
}

TEST(RecordBuilder, CancelledStream) {
  RequestRecord r = base();
  r.streamed = true;
  r.outcome = RequestOutcome::kCancelled;
  r.error_type = gw::ErrorType::kClientDisconnected;
  r.upstream_finished.reset();
  r.observation.chunks = {
      R"({"id":"c2","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Once upon"},"finish_reason":null}]})"};
  r.response_size = r.observation.chunks[0].size() + 8;
  auto built = builder().build(r);
  expectShape(built.record->json());
  expectGolden(*built.record, "cancelled_stream");
  const auto& meta = built.record->json().at("attributes").at("metadata");
  EXPECT_EQ(meta.at("status"), "cancelled");
  EXPECT_EQ(meta.at("error_count"), 1);
  EXPECT_TRUE(meta.at("provider_latency").is_null());
  EXPECT_TRUE(meta.at("cost").is_null());  // no usage known
}

TEST(RecordBuilder, TruncatedBody) {
  RequestRecord r = base();
  std::string big = R"({"model":"gpt-4o","api_key":"sk-secret-1","messages":[{"role":"user","content":")" +
                    std::string(300, 'a') + "\u00e9\"}]}";
  r.request_body = big;
  r.request_size = big.size();
  auto built = builder(true, 64).build(r);
  expectGolden(*built.record, "truncated_body");
  const auto& req = built.record->json().at("attributes").at("request").as_object();
  EXPECT_EQ(req.at("_truncated"), true);
  EXPECT_EQ(req.at("_original_bytes"), big.size());
  const auto preview = std::string(req.at("_preview").as_string());
  EXPECT_LE(preview.size(), 64u);
  EXPECT_EQ(built.record->serialized.find("sk-secret-1"), std::string::npos);
}

TEST(RecordBuilder, CutResponseCaptureIsTruncatedWithTheFullSize) {
  RequestRecord r = base();
  r.response_body = R"({"id":"x","choices":[{"message":{"content":"abc)";
  r.response_body_truncated = true;
  r.response_size = 5000;
  auto built = builder().build(r);
  const auto& resp = built.record->json().at("attributes").at("response").as_object();
  EXPECT_EQ(resp.at("_truncated"), true);
  EXPECT_EQ(resp.at("_original_bytes"), 5000);
  EXPECT_EQ(resp.at("_preview").as_string(), r.response_body);
}

TEST(RecordBuilder, SecretsScrubbedAtAnyDepth) {
  RequestRecord r = base();
  r.request_body = R"({"model":"gpt-4o","api_key":"sk-1","nested":{"apiKey":"sk-2","list":[{"X-Api-Key":"sk-3"},)"
                   R"({"Authorization":"Bearer sk-4"}]},"aws_secret_access_key":"aws-5","AWS_SESSION_TOKEN":"tok-6",)"
                   R"("messages":[{"role":"user","content":"api_key is a word"}]})";
  r.response_body = R"({"echo":{"authorization":"Bearer sk-7"}})";
  auto built = builder().build(r);
  expectGolden(*built.record, "secrets_scrubbed");
  for (std::string_view secret : {"sk-1", "sk-2", "sk-3", "sk-4", "aws-5", "tok-6", "sk-7"})
    EXPECT_EQ(built.record->serialized.find(secret), std::string::npos) << secret;
  EXPECT_NE(built.record->serialized.find("api_key is a word"), std::string::npos);
}

TEST(RecordBuilder, BodiesOff) {
  RequestRecord r = base();
  r.response_body = R"({"id":"x","usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})";
  auto built = builder(false).build(r);
  const auto& attrs = built.record->json().at("attributes");
  EXPECT_TRUE(attrs.at("request").is_null());
  EXPECT_TRUE(attrs.at("response").is_null());
  EXPECT_EQ(attrs.at("metadata").at("tokens").at("total"), 2);  // usage still read
}

TEST(RecordBuilder, NonJsonRequestBodyIsKeptAsAString) {
  RequestRecord r = base();
  r.request_body = "plain text";
  auto built = builder().build(r);
  EXPECT_EQ(built.record->json().at("attributes").at("request"), "plain text");
}

TEST(RecordBuilder, Helpers) {
  EXPECT_EQ(formatRfc3339Millis(std::chrono::system_clock::time_point(std::chrono::milliseconds(5))),
            "1970-01-01T00:00:00.005Z");
  EXPECT_TRUE(isSecretKey("Api_Key"));
  EXPECT_FALSE(isSecretKey("api_keys"));
  EXPECT_EQ(utf8Prefix("a\xc3\xa9", 2), "a");  // never cut inside é
  EXPECT_EQ(utf8Prefix("a\xc3\xa9", 3), "a\xc3\xa9");
  EXPECT_EQ(utf8Prefix("\xe2\x82\xac\xe2\x82\xac", 4), "\xe2\x82\xac");
  EXPECT_EQ(scrubSecretsInText(R"({"api_key": "sk-9", "x":1, "Authorization":12, "y":"z")"),
            R"({"api_key": "[REDACTED]", "x":1, "Authorization":"[REDACTED]", "y":"z")");
  EXPECT_EQ(scrubSecretsInText(R"({"api_key":"sk-cut-off)"), R"({"api_key":"[REDACTED]")");
  auto v = captureBody("", 10);
  EXPECT_TRUE(v.is_null());
}

TEST(RecordBuilder, BodyNumbersBeyondADoubleKeepTheRecordJson) {
  RequestRecord r = base();
  r.request_body = R"({"model":"gpt-4o","temperature":1e999,"seed":-1e400})";
  r.response_body = R"({"id":"x","usage":{"prompt_tokens":1e999}})";
  auto built = builder().build(r);
  boost::system::error_code ec;
  json::parse(built.record->serialized, ec);
  ASSERT_FALSE(ec) << built.record->serialized;
  EXPECT_EQ(built.record->json().at("attributes").at("request").at("temperature"), "Infinity");
  EXPECT_EQ(built.record->json().at("attributes").at("request").at("seed"), "-Infinity");
  EXPECT_EQ(built.record->json().at("attributes").at("response").at("usage").at("prompt_tokens"), "Infinity");
}

TEST(RecordBuilder, MalformedAndHostileChunksDoNotBreakAssembly) {
  RequestRecord r = base();
  r.streamed = true;
  r.observation.chunks = {"not json", "[1,2]", R"({"choices":"x"})", R"({"choices":[1,{"index":"a"}]})",
                          std::string(1000, '[') + std::string(1000, ']')};
  auto built = builder().build(r);
  const auto& resp = built.record->json().at("attributes").at("response").as_object();
  EXPECT_EQ(resp.at("streamed_data").as_array().size(), 5u);
  EXPECT_EQ(resp.at("streamed_data").at(0), "not json");
}

}  // namespace
}  // namespace gw

namespace gw {
namespace {

TEST(RecordBuilderScrub, FormAndMultipartBodiesAreScrubbed) {
  EXPECT_EQ(scrubSecretsInText("api_key=sk-SECRET&x=1"), "api_key=[REDACTED]&x=1");
  EXPECT_EQ(scrubSecretsInText("model=m&Password=hunter2"), "model=m&Password=[REDACTED]");
  EXPECT_EQ(scrubSecretsInText("mykey_api_key=v"), "mykey_api_key=[REDACTED]") << "a name ending in a secret suffix";
  EXPECT_EQ(scrubSecretsInText("api_keys=v&max_tokens=5"), "api_keys=v&max_tokens=5") << "whole names only";
  std::string multipart =
      "--b\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\nsk-SECRET\r\n--b\r\n"
      "Content-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--b--\r\n";
  std::string scrubbed = scrubSecretsInText(multipart);
  EXPECT_EQ(scrubbed.find("sk-SECRET"), std::string::npos) << scrubbed;
  EXPECT_NE(scrubbed.find("whisper-1"), std::string::npos);
}

}  // namespace
}  // namespace gw

namespace gw {
namespace {

// Metrics exporters alone: no record is built, and the summary the metrics
// read is the one a full build gives.
TEST(RecordBuilder, SummaryOnlyMatchesTheFullBuild) {
  RequestRecord r = base();
  r.response_body = R"({"id":"chatcmpl-1","model":"gpt-4o-2024-08-06","choices":[],)"
                    R"("usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}})";
  r.observation.usage.input = 9;
  r.observation.usage.output = 2;
  r.status_code = 429;
  r.outcome = RequestOutcome::kError;
  r.error_type = gw::ErrorType::kUpstreamHttpError;
  auto full = builder().build(r);
  auto summary_only = builder().build(r, /*with_record=*/false);
  EXPECT_EQ(summary_only.record, nullptr);
  ASSERT_NE(full.record, nullptr);
  const RecordSummary& a = full.summary;
  const RecordSummary& b = summary_only.summary;
  EXPECT_EQ(a.provider, b.provider);
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.status_code, b.status_code);
  EXPECT_EQ(a.input_tokens, b.input_tokens);
  EXPECT_EQ(a.output_tokens, b.output_tokens);
  EXPECT_EQ(a.cost, b.cost);
  EXPECT_EQ(a.latency_s, b.latency_s);
  EXPECT_EQ(a.ttfb_s, b.ttfb_s);
  EXPECT_EQ(a.provider_latency_s, b.provider_latency_s);
  EXPECT_TRUE(b.is_error);
  EXPECT_EQ(b.error_type, "upstream_http_error");
  EXPECT_EQ(b.input_tokens, 9);
  EXPECT_TRUE(b.cost.has_value());
}

}  // namespace
}  // namespace gw

namespace gw {
namespace {

// HTTP header values may hold any byte, and uploads are binary: the record
// must still be JSON (UTF-8) for every exporter.
TEST(RecordBuilder, InvalidUtf8AndBinaryBodiesStillMakeValidJson) {
  RequestRecord r = base();
  r.org_id = std::string("org-\xff\xfe");
  r.user_id = std::string("u-\xC0\xAF");
  r.id = std::string("req-\x80");
  static constexpr char kUpload[] = "--b\r\nContent-Type: audio/mpeg\r\n\r\nID3\x04\x00\xff\xfb\x90\r\n--b--\r\n";
  r.request_body.assign(kUpload, sizeof kUpload - 1);  // with its NUL byte
  r.request_size = r.request_body.size();
  r.response_body = "plain \xff text";
  r.response_size = r.response_body.size();
  auto built = builder().build(r);
  ASSERT_NE(built.record, nullptr);
  boost::system::error_code ec;
  json::value reparsed = json::parse(built.record->serialized, ec);
  ASSERT_FALSE(ec) << "the record is valid JSON: " << ec.message();
  const auto& attrs = reparsed.at("attributes");
  EXPECT_EQ(attrs.at("org_id"), "org-\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(attrs.at("id"), "req-\xEF\xBF\xBD");
  EXPECT_TRUE(isValidUtf8(built.record->id));
  EXPECT_EQ(attrs.at("request").at("_binary"), true);
  EXPECT_EQ(attrs.at("request").at("_original_bytes"), sizeof kUpload - 1);
  EXPECT_EQ(attrs.at("response").at("_binary"), true);
}

// Exporters read one record from several threads at once, the first of
// them making the tree (parsed once), and may copy subtrees: a default copy
// allocates in the tree's arena (locked once it is parsed) and lives while
// the record does; a copy with storage of its own outlives it. The TSan and
// ASan suites run this.
TEST(RecordBuilder, ExportersMayCopyFromOneRecordConcurrently) {
  RequestRecord r = base();
  r.response_body = R"({"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"}}]})";
  auto built = builder().build(r);
  // Nobody has asked for the tree yet: the threads race to parse it too.
  std::string expected = json::serialize(json::parse(built.record->serialized).at("attributes"));
  std::vector<std::string> seen(4);
  std::vector<json::value> kept(4);
  {
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < kept.size(); ++i)
      threads.emplace_back([&, i, record = built.record] {
        for (int n = 0; n < 50; ++n) {
          json::value in_arena = record->json().at("attributes");  // default copy: the record's storage
          seen[i] = json::serialize(in_arena);
          kept[i] = json::value(record->json().at("attributes"), json::storage_ptr());
        }
      });
    for (auto& t : threads) t.join();
  }
  built.record.reset();
  for (std::size_t i = 0; i < kept.size(); ++i) {
    EXPECT_EQ(seen[i], expected);
    EXPECT_EQ(json::serialize(kept[i]), expected);
  }
}

}  // namespace
}  // namespace gw

namespace gw {
namespace {

// docs/records.md: a member is secret when its name, lower-cased with '-'
// read as '_', is or ends with one of the listed suffixes, or is one of the
// names redacted before that rule (aws_secret_access_key).
const std::vector<std::string> kSecretNames = {
    "api_key", "API_KEY", "apiKey", "apikey", "api-key", "x-api-key", "X-Goog-Api-Key", "openai_api_key",
    "OpenAI-API-Key", "myApiKey", "secret", "my_secret", "My-Secret", "client_secret", "clientSecret",
    "secret_key", "AWS-Secret-Key", "password", "db_password", "user.password", "Password", "access_token",
    "refresh_token", "session_token", "aws_session_token", "AWS_SESSION_TOKEN", "auth_token", "x-auth-token",
    "private_key", "ssh-private-key", "authorization", "Proxy-Authorization", "aws_secret_access_key",
    "AWS-Secret-Access-Key", std::string(300, 'a') + "_api_key",
    // camelCase spellings of the two-word suffixes
    "accessToken", "refreshToken", "sessionToken", "authToken", "privateKey", "secretKey", "githubAccessToken"};

// Near misses: names that merely contain a suffix, or a suffix's words.
const std::vector<std::string> kOrdinaryNames = {
    "", "key", "token", "tokens", "max_tokens", "max_completion_tokens", "secretary", "secrets", "secret_santa",
    "apikeys", "api_keys", "api_key_id", "passwords", "password_policy", "access_token_expires_in", "token_type",
    "authorization_url", "private_keys", "access_key", "aws_access_key_id", "api key", "api.key", "api__key",
    "apike", "content", "model", "id", std::string(300, 'a') + "_api_keys", "accessTokens", "privateKeys",
    "tokenType", "authTokenUrl"};

TEST(RecordBuilderSecretNames, SuffixRuleOnTheNormalisedName) {
  for (const auto& name : kSecretNames) EXPECT_TRUE(isSecretKey(name)) << name;
  for (const auto& name : kOrdinaryNames) EXPECT_FALSE(isSecretKey(name)) << name;
}

// The rule read plainly (lower-case ASCII, '-' as '_', then "ends with"),
// against isSecretKey's inline test of the last two bytes: every pair of
// bytes at the end of every name of the rule, and of a name too short.
TEST(RecordBuilderSecretNames, EveryLastTwoBytesAgreeWithThePlainRule) {
  auto plain = [](std::string_view name) {
    std::string normal;
    for (char c : name) normal += c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::string_view n(normal);
    for (std::string_view suffix : secret_key_detail::kSecretSuffixes)
      if (n.size() >= suffix.size() && n.substr(n.size() - suffix.size()) == suffix) return true;
    for (std::string_view whole : secret_key_detail::kSecretNames)
      if (n == whole) return true;
    return false;
  };
  std::vector<std::string> stems;
  for (std::string_view suffix : secret_key_detail::kSecretSuffixes)
    stems.emplace_back(suffix.substr(0, suffix.size() - 2));
  for (std::string_view whole : secret_key_detail::kSecretNames) stems.emplace_back(whole.substr(0, whole.size() - 2));
  stems.emplace_back("ap");
  for (const std::string& stem : stems)
    for (int a = 0; a < 256; ++a)
      for (int b = 0; b < 256; ++b) {
        const std::string name = stem + static_cast<char>(a) + static_cast<char>(b);
        ASSERT_EQ(isSecretKey(name), plain(name)) << stem << " " << a << " " << b;
      }
}

// Every character of `name` as a \u escape: what a JSON reader sees as the
// same name.
std::string escapedJsonName(std::string_view name) {
  std::string out;
  for (char c : name) out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
  return out;
}

// The tree path (a body that parses) and the text path (a preview that does
// not) apply the one rule, also to names written with escapes.
TEST(RecordBuilderSecretNames, TreeAndTextPathsAgree) {
  auto check = [](const std::string& name, bool secret) {
    for (const std::string& written : {name, escapedJsonName(name)}) {
      const std::string body = "{\"" + written + "\":\"v-SECRET\",\"n\":1}";
      json::value tree = captureBody(body, 1 << 20);
      ASSERT_TRUE(tree.is_object()) << body;
      EXPECT_EQ(tree.as_object().at(name) == "[REDACTED]", secret) << "tree: " << body;
      const std::string text = scrubSecretsInText(body.substr(0, body.size() - 1));  // cut: not JSON
      EXPECT_EQ(text.find("v-SECRET") == std::string::npos, secret) << "text: " << text;
      EXPECT_NE(text.find("\"n\":1"), std::string::npos) << text;
    }
  };
  for (const auto& name : kSecretNames) check(name, true);
  for (const auto& name : kOrdinaryNames)
    if (!name.empty() && name != "n") check(name, false);
}

TEST(RecordBuilderSecretNames, RequestResponseAndStreamAtAnyDepth) {
  RequestRecord r = base();
  r.request_body = R"({"model":"gpt-4o","openai_api_key":"sk-secret-1","nested":{"My-Secret":"sec-2",)"
                   R"("deep":[{"refresh_token":"rt-3"}]},"max_tokens":5,"password_policy":"strict",)"
                   R"("secretary":"Ann","tokens":["t"],"apikeys":["k"],"passwords":2})";
  r.response_body = R"({"id":"x","data":{"client_private_key":"pk-4"}})";
  auto built = builder().build(r);
  const std::string& text = built.record->serialized;
  for (std::string_view secret : {"sk-secret-1", "sec-2", "rt-3", "pk-4"})
    EXPECT_EQ(text.find(secret), std::string::npos) << secret;
  const auto& req = built.record->json().at("attributes").at("request");
  EXPECT_EQ(req.at("openai_api_key"), "[REDACTED]");
  EXPECT_EQ(req.at("nested").at("My-Secret"), "[REDACTED]");
  EXPECT_EQ(req.at("nested").at("deep").at(0).at("refresh_token"), "[REDACTED]");
  EXPECT_EQ(req.at("max_tokens"), 5);
  EXPECT_EQ(req.at("password_policy"), "strict");
  EXPECT_EQ(req.at("secretary"), "Ann");
  EXPECT_EQ(req.at("tokens"), json::parse(R"(["t"])"));
  EXPECT_EQ(req.at("apikeys"), json::parse(R"(["k"])"));
  EXPECT_EQ(req.at("passwords"), 2);
  EXPECT_EQ(built.record->json().at("attributes").at("response").at("data").at("client_private_key"), "[REDACTED]");

  // A stream chunk carrying a secret member, and one that is not JSON.
  RequestRecord s = base();
  s.streamed = true;
  s.observation.chunks = {
      R"({"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}],)"
      R"("x":{"user_access_token":"tok-5"},"max_tokens":7})",
      R"({"id":"c","choices":[{"index":0,"delta":{"content":"!","X-Session-Token":"tok-6"}}]})",
      R"(not json "github_auth_token": "tok-7", "max_tokens": 8)"};
  auto streamed = builder().build(s);
  for (std::string_view secret : {"tok-5", "tok-6", "tok-7"})
    EXPECT_EQ(streamed.record->serialized.find(secret), std::string::npos) << secret;
  const auto& resp = streamed.record->json().at("attributes").at("response");
  EXPECT_EQ(resp.at("choices").at(0).at("delta").at("content"), "Hi!");
  EXPECT_EQ(resp.at("streamed_data").at(0).at("x").at("user_access_token"), "[REDACTED]");
  EXPECT_EQ(resp.at("streamed_data").at(0).at("max_tokens"), 7);
  EXPECT_NE(streamed.record->serialized.find("max_tokens\\\": 8"), std::string::npos) << streamed.record->serialized;
}

// Bodies that cannot be parsed (cut previews, broken JSON, forms) go
// through the text path: the same rule, escapes and all.
TEST(RecordBuilderSecretNames, TextPath) {
  EXPECT_EQ(scrubSecretsInText(R"({"openai_api_key": "sk-1", "max_tokens": 5, "nested": {"My-Secret": "sk-2)"),
            R"({"openai_api_key": "[REDACTED]", "max_tokens": 5, "nested": {"My-Secret": "[REDACTED]")");
  // Escaped names are read as a JSON reader reads them.
  EXPECT_EQ(scrubSecretsInText(R"({"api\u005fkey":"sk-3","pass\u0077ord":"sk-4","x\"y_Secret":"sk-5","a\/b":1)"),
            R"({"api\u005fkey":"[REDACTED]","pass\u0077ord":"[REDACTED]","x\"y_Secret":"[REDACTED]","a\/b":1)");
  EXPECT_EQ(scrubSecretsInText(R"({"caf\u00e9":"v","max\u005ftokens":5,"\ud83d\ude00_token":"v")"),
            R"({"caf\u00e9":"v","max\u005ftokens":5,"\ud83d\ude00_token":"v")");
  EXPECT_EQ(scrubSecretsInText(R"({"\u00e9_refresh_token":"sk-6")"), R"({"\u00e9_refresh_token":"[REDACTED]")");
  // A non-string secret value is dropped whole, brackets in its strings included.
  EXPECT_EQ(scrubSecretsInText(R"({"password": ["}", "sk-7", {"a": "]"}], "max_tokens": 5)"),
            R"({"password": "[REDACTED]", "max_tokens": 5)");
  // Forms: whole names, percent-encoded names decoded.
  EXPECT_EQ(scrubSecretsInText("openai_api_key=sk-8&max_tokens=5&passwords=keep"),
            "openai_api_key=[REDACTED]&max_tokens=5&passwords=keep");
  EXPECT_EQ(scrubSecretsInText("api%5Fkey=sk-9&max%5Ftokens=5"), "api%5Fkey=[REDACTED]&max%5Ftokens=5");
  // A cut body's preview (not JSON) through the builder.
  RequestRecord r = base();
  r.request_body = R"({"model":"gpt-4o","openai\u005fapi_key":"sk-cut-10","max_tokens":5,"pad":")" +
                   std::string(300, 'x');
  r.request_size = r.request_body.size();
  auto built = builder(true, 128).build(r);
  const auto& req = built.record->json().at("attributes").at("request");
  ASSERT_EQ(req.at("_truncated"), true);
  const std::string preview(req.at("_preview").as_string());
  EXPECT_EQ(preview.find("sk-cut-10"), std::string::npos) << preview;
  EXPECT_NE(preview.find("\"max_tokens\":5"), std::string::npos) << preview;
}

}  // namespace
}  // namespace gw

namespace gw {
namespace {

// The closed set of error_type: each value has its own name, and
// docs/records.md documents every one of them in its error_type table.
TEST(RecordBuilderErrorTypes, EveryValueIsNamedOnceAndDocumented) {
  std::ifstream in(GW_SOURCE_DIR "/docs/records.md");
  std::stringstream docs;
  docs << in.rdbuf();
  ASSERT_FALSE(docs.str().empty());
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < kErrorTypeCount; ++i) {
    std::string_view name = toString(static_cast<ErrorType>(i));
    EXPECT_TRUE(names.insert(name).second) << name << " is used twice";
    EXPECT_NE(docs.str().find("| `" + std::string(name) + "` |"), std::string::npos) << name << " is not in docs/records.md";
  }
}

}  // namespace
}  // namespace gw
