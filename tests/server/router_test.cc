#include "server/json_body.h"
#include "server/request_head.h"
#include "server/routing.h"
#include "server/testing/json_body_facts_reference.h"

#include "gw/config_source.h"
#include "providers/provider_registry.h"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <map>

namespace gw {
namespace {

class Headers : public HeaderLookup {
 public:
  std::map<std::string, std::string> items;
  std::optional<std::string_view> get(std::string_view name) const override {
    auto it = items.find(std::string(name));
    if (it == items.end()) return std::nullopt;
    return std::string_view(it->second);
  }
  void forEach(const std::function<void(std::string_view, std::string_view)>& f) const override {
    for (auto& [k, v] : items) f(k, v);
  }
};

ProviderRegistry registry() {
  ProviderRegistry r;
  registerBuiltinProviders(r);
  EXPECT_TRUE(r.create(ConfigSource({}, {}), "openai"));
  return r;
}

TEST(Router, HeaderWinsOverPrefix) {
  auto providers = registry();
  Headers h;
  h.items["x-provider"] = "Anthropic";
  auto body = boost::json::parse(R"({"model":"groq/llama"})").as_object();
  auto r = selectProvider(h, &body, providers, "openai");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->provider_name, "anthropic");
  EXPECT_EQ(r->model, "groq/llama") << "the prefix is only taken without x-provider";
  EXPECT_FALSE(r->model_rewritten);
}

// A provider whose required setting is unset is known (its prefix is
// taken) but answers 400 provider_not_configured, naming what to set.
TEST(Router, AProviderThatIsNotConfiguredSaysWhatToSet) {
  auto providers = registry();
  for (const char* how : {"header", "prefix"}) {
    Headers h;
    if (std::string_view(how) == "header") h.items["x-provider"] = "vllm";
    auto body = boost::json::parse(std::string_view(how) == "header" ? R"({"model":"m"})" : R"({"model":"vllm/m"})")
                    .as_object();
    auto r = selectProvider(h, &body, providers, "openai");
    ASSERT_FALSE(r) << how;
    EXPECT_EQ(r.error().http_status, 400);
    EXPECT_EQ(r.error().code, "provider_not_configured");
    EXPECT_EQ(r.error().message, "Provider 'vllm' is not configured: set VLLM_BASE_URL");
  }
}

TEST(Router, KnownPrefixIsTakenAndRemoved) {
  auto providers = registry();
  Headers h;
  auto body = boost::json::parse(R"({"model":"groq/llama-3.1-8b-instant"})").as_object();
  auto r = selectProvider(h, &body, providers, "openai");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->provider_name, "groq");
  EXPECT_EQ(r->model, "llama-3.1-8b-instant");
  EXPECT_TRUE(r->model_rewritten);
  EXPECT_EQ(body.at("model").as_string(), "llama-3.1-8b-instant");
}

TEST(Router, UnknownPrefixStaysInTheModel) {
  auto providers = registry();
  Headers h;
  auto body = boost::json::parse(R"({"model":"meta-llama/Llama-3.3-70B-Instruct-Turbo"})").as_object();
  auto r = selectProvider(h, &body, providers, "together");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->provider_name, "together");
  EXPECT_EQ(r->model, "meta-llama/Llama-3.3-70B-Instruct-Turbo");
  EXPECT_FALSE(r->model_rewritten);
}

TEST(Router, DefaultProviderWithoutBody) {
  auto providers = registry();
  Headers h;
  auto r = selectProvider(h, nullptr, providers, "openai");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->provider_name, "openai");
  EXPECT_EQ(r->model, "");
}

TEST(Router, UnknownHeaderProviderIs400) {
  auto providers = registry();
  Headers h;
  h.items["x-provider"] = "nosuch";
  auto r = selectProvider(h, nullptr, providers, "openai");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_EQ(r.error().code, "unknown_provider");
}

// A custom provider (the config file's providers: list) is selected like a
// built-in one: by x-provider, by its model prefix, as the default, and an
// unknown x-provider's error lists it among the known names.
TEST(Router, CustomProvidersAreSelectedLikeBuiltInOnes) {
  auto file = ConfigSource::parseYaml(
      "providers: [{name: team-llama, type: openai_compatible, base_url: 'http://10.0.0.5:8000/v1'}]");
  ASSERT_TRUE(file);
  ProviderRegistry providers;
  registerBuiltinProviders(providers);
  ASSERT_TRUE(providers.create(ConfigSource({}, file->values, file->providers), "team-llama"));

  Headers by_header;
  by_header.items["x-provider"] = "Team-Llama";
  auto r = selectProvider(by_header, std::optional<std::string_view>("llama-3"), providers, "openai");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->provider_name, "team-llama");
  EXPECT_EQ(r->provider, providers.find("team-llama"));
  EXPECT_EQ(r->config, providers.config("team-llama"));

  Headers none;
  auto body = boost::json::parse(R"({"model":"team-llama/meta-llama/Llama-3"})").as_object();
  r = selectProvider(none, &body, providers, "openai");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->provider_name, "team-llama");
  EXPECT_EQ(r->model, "meta-llama/Llama-3");
  EXPECT_EQ(body.at("model").as_string(), "meta-llama/Llama-3");

  r = selectProvider(none, std::optional<std::string_view>("some-model"), providers, "team-llama");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->provider_name, "team-llama");

  Headers unknown;
  unknown.items["x-provider"] = "nosuch";
  r = selectProvider(unknown, std::nullopt, providers, "openai");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("team-llama"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("openai"), std::string::npos) << r.error().message;
}

TEST(Router, JsonBodyLimits) {
  EXPECT_TRUE(parseJsonBody(R"({"a":1})"));
  auto bad = parseJsonBody(R"({"a":)");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().http_status, 400);
  EXPECT_EQ(bad.error().code, "invalid_json");
  EXPECT_FALSE(parseJsonBody("[1]"));
  EXPECT_FALSE(parseJsonBody(std::string(100, '[') + std::string(100, ']')));
  EXPECT_FALSE(parseJsonBody("{\"a\":1} trailing"));
}

// scanJsonBody must accept and refuse exactly what parseJsonBody does (same
// error text), and its facts must be what the proxy reads from the tree.
using testing_support::factsFromTree;

TEST(Router, ScanJsonBodyAgreesWithTheTree) {
  const std::vector<std::string> bodies = {
      R"({"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]})",
      R"({"model":"groq/llama","stream":false})",
      R"({"stream":true,"stream_options":{"include_usage":true},"model":"m"})",
      R"({"stream_options":{"include_usage":false}})",
      R"({"stream_options":{"x":{"include_usage":true},"include_usage":true}})",
      R"({"stream_options":{"include_usage":"yes"},"stream":"true"})",
      R"({"stream_options":{"include_usage":true},"stream_options":{}})",
      R"({"stream_options":null,"model":null,"stream":1})",
      R"({"model":"a","model":"b","stream":true,"stream":false})",
      R"({"model":"a","model":{"x":1},"stream":true,"stream":[true]})",
      R"({"messages":[{"model":"inner","stream":true,"stream_options":{"include_usage":true}}]})",
      R"({"nested":{"model":"inner"},"model":"outer"})",
      R"({"model":"esc\"aped\u00e9/x"} )",
      "{\n\t\"model\" : \"spaced\" ,\r\n \"stream\" : true }\n",
      R"({"include_usage":true,"stream_options":{"include_usage":true,"deeper":[{"include_usage":false}]}})",
      R"({})",
      // Refused ones.
      R"({"a":)", "[1]", "\"text\"", "42", "", "{\"a\":1} trailing", "{\"a\":1}{}", "{\"a\":01}",
      std::string(100, '[') + std::string(100, ']'),
      "{\"a\":" + std::string(70, '[') + std::string(70, ']') + "}",
      "{\"a\":" + std::string(60, '[') + std::string(60, ']') + "}",
      // Numbers beyond a double (refused), after syntax and the top-level
      // object are checked; the largest double is fine.
      R"({"model":"m","temperature":1e999})", R"({"x":[{"y":-1e400}]})", "[1e999]", "{\"a\":1e999,",
      R"({"max":1.7976931348623157e308,"min":-1.7976931348623157e308,"tiny":1e-400})",
  };
  for (const auto& body : bodies) {
    auto tree = parseJsonBody(body);
    auto scan = scanJsonBody(body);
    ASSERT_EQ(bool(tree), bool(scan)) << body;
    if (!tree) {
      EXPECT_EQ(tree.error().message, scan.error().message) << body;
      EXPECT_EQ(scan.error().code, "invalid_json");
      continue;
    }
    JsonBodyFacts expected = factsFromTree(*tree);
    EXPECT_EQ(scan->model, expected.model) << body;
    EXPECT_EQ(scan->stream, expected.stream) << body;
    EXPECT_EQ(scan->include_usage, expected.include_usage) << body;
    EXPECT_EQ(scan->has_stream_options, expected.has_stream_options) << body;
  }
  auto out_of_range = scanJsonBody(R"({"model":"m","temperature":1e999})");
  ASSERT_FALSE(out_of_range);
  EXPECT_EQ(out_of_range.error().message, "Request body has a number beyond the range of a double");
  EXPECT_EQ(out_of_range.error().http_status, 400);
  EXPECT_EQ(scanJsonBody("[1e999]").error().message, "Request body must be a JSON object");
  // A key or string split by the parser's buffering still counts.
  std::string long_model(5000, 'm');
  auto scan = scanJsonBody(R"({"model":")" + long_model + R"("})");
  ASSERT_TRUE(scan);
  EXPECT_EQ(scan->model, long_model);
}

TEST(Router, SelectProviderFromTheModelAlone) {
  auto providers = registry();
  Headers h;
  auto r = selectProvider(h, std::optional<std::string_view>("groq/llama-3.1-8b-instant"), providers, "openai");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->provider_name, "groq");
  EXPECT_EQ(r->model, "llama-3.1-8b-instant");
  EXPECT_TRUE(r->model_rewritten);
  r = selectProvider(h, std::nullopt, providers, "openai");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->provider_name, "openai");
  EXPECT_FALSE(r->model_rewritten);
}

TEST(Router, RequestIds) {
  Headers h;
  h.items["x-request-id"] = "abc-123";
  EXPECT_EQ(requestIdFor(h), "abc-123");
  h.items["x-request-id"] = "has space";
  EXPECT_NE(requestIdFor(h), "has space");
  h.items["x-request-id"] = std::string(200, 'a');
  EXPECT_EQ(requestIdFor(h).size(), 36u);
}

TEST(Router, TrackingHeaders) {
  Headers h;
  h.items = {{"x-project-id", "p1"}, {"x-project-name", "Proj"}, {"x-organization-id", "o1"},
             {"x-user-id", "u1"},    {"x-experiment-id", "e1"},  {"x-thread-id", "t1"}};
  RequestRecord r;
  copyTrackingHeaders(h, r);
  EXPECT_EQ(r.project_id, "p1");
  EXPECT_EQ(r.project_name, "Proj");
  EXPECT_EQ(r.org_id, "o1");
  EXPECT_EQ(r.user_id, "u1");
  EXPECT_EQ(r.experiment_id, "e1");
  EXPECT_EQ(r.thread_id, "t1");
  h.items["x-organisation-id"] = "o2";
  RequestRecord r2;
  copyTrackingHeaders(h, r2);
  EXPECT_EQ(r2.org_id, "o2") << "the British spelling, the one docs/configuration.md names first, comes first";
}

TEST(Router, GatewayKeys) {
  std::vector<std::string> keys = {"k1", "k2"};
  EXPECT_TRUE(gatewayKeyAccepted("k2", keys));
  EXPECT_FALSE(gatewayKeyAccepted("k3", keys));
  EXPECT_FALSE(gatewayKeyAccepted("", keys));
}

TEST(RequestHygiene, HeadScanFindsTheEndAndRefusesFoldingAndBareLf) {
  auto complete = scanRequestHead("GET / HTTP/1.1\r\nHost: x\r\n\r\nNEXT");
  EXPECT_TRUE(complete.complete);
  EXPECT_EQ(complete.end, 27u);
  EXPECT_FALSE(complete.obs_fold || complete.bare_lf);

  EXPECT_FALSE(scanRequestHead("GET / HTTP/1.1\r\nHost: x\r\n").complete);
  EXPECT_FALSE(scanRequestHead("GET / HTTP/1.1\r\nHost: x\r\n\r").complete);
  EXPECT_FALSE(scanRequestHead("").complete);

  auto fold = scanRequestHead("GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n");
  EXPECT_TRUE(fold.obs_fold);
  EXPECT_FALSE(fold.complete);
  EXPECT_TRUE(scanRequestHead("GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n").obs_fold);
  // Only once the next byte is known can folding be told from a new line.
  EXPECT_FALSE(scanRequestHead("GET / HTTP/1.1\r\nX-A: a\r\n").obs_fold);

  EXPECT_TRUE(scanRequestHead("GET / HTTP/1.1\nHost: x\r\n\r\n").bare_lf);
  EXPECT_TRUE(scanRequestHead("GET / HTTP/1.1\r\nHost: x\n\n").bare_lf);
  // Fed a byte at a time, resuming where the last scan stopped, the result
  // is the same as in one piece.
  for (std::string_view whole : {std::string_view("GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\nBODY"),
                                 std::string_view("GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n"),
                                 std::string_view("GET / HTTP/1.1\r\nX-A: a\n\r\n")}) {
    HeadScan one = scanRequestHead(whole);
    HeadScan step;
    for (std::size_t n = 1; n <= whole.size(); ++n) {
      step = scanRequestHead(whole.substr(0, n), step.resume);
      if (step.complete || step.obs_fold || step.bare_lf) break;
    }
    EXPECT_EQ(step.complete, one.complete) << whole;
    EXPECT_EQ(step.end, one.end) << whole;
    EXPECT_EQ(step.obs_fold, one.obs_fold) << whole;
    EXPECT_EQ(step.bare_lf, one.bare_lf) << whole;
  }
  // Folding after the blank line is body, not head.
  EXPECT_TRUE(scanRequestHead("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n\r\n ").complete);
}

TEST(RequestHygiene, FramingAmbiguityIsNamed) {
  EXPECT_EQ(framingProblem(11, {}, true), "");
  EXPECT_EQ(framingProblem(11, {"chunked"}, false), "");
  EXPECT_EQ(framingProblem(11, {" Chunked "}, false), "");
  EXPECT_NE(framingProblem(10, {"chunked"}, false), "");
  EXPECT_NE(framingProblem(11, {"chunked"}, true), "");
  EXPECT_NE(framingProblem(11, {"chunked", "chunked"}, false), "");
  EXPECT_NE(framingProblem(11, {"chunked, identity"}, false), "");
  EXPECT_NE(framingProblem(11, {"gzip, chunked"}, false), "");
  EXPECT_NE(framingProblem(11, {"identity"}, false), "");
  EXPECT_NE(framingProblem(11, {""}, false), "");
}

TEST(RequestHygiene, TargetPathsThatCouldLeaveTheBasePath) {
  for (std::string_view ok : {"/v1/chat/completions", "/v1", "/v1/", "/v1/models/meta-llama/Llama-3",
                              "/v1/models/meta-llama%2FLlama-3", "/v1/files/file-abc...x", "/v1/a..b/.c/d."})
    EXPECT_EQ(targetPathProblem(ok), "") << ok;
  for (std::string_view bad : {"/v1/../admin", "/v1/..", "/v1/./x", "/v1/.", "/v1/%2e%2e/admin", "/v1/%2E%2e",
                               "/v1/.%2e/x", "/v1/x/..%2fadmin", "/v1/x/..%2Fadmin", "/v1/x%2f..%2fadmin",
                               "/v1/..\\admin", "/v1/%5c..", "/v1/a%00b"})
    EXPECT_NE(targetPathProblem(bad), "") << bad;
}

TEST(JsonBody, MessagesApiChecksNameTheField) {
  auto check = [](std::string_view path, std::string_view body) -> std::string {
    auto facts = scanJsonBody(body);
    if (!facts) return "scan: " + facts.error().message;
    auto st = checkMessagesBody(path, *facts);
    return st ? "ok" : st.error().message;
  };
  const std::string_view good = R"({"model":"m","max_tokens":5,"messages":[]})";
  EXPECT_EQ(check("/v1/messages", good), "ok");
  EXPECT_EQ(check("/v1/messages", R"({"max_tokens":5,"messages":[]})"), "model: Field required (a string)");
  EXPECT_EQ(check("/v1/messages", R"({"model":"m","max_tokens":5})"), "messages: Field required (an array)");
  EXPECT_EQ(check("/v1/messages", R"({"model":"m","max_tokens":5,"messages":{}})"), "messages: Field required (an array)");
  EXPECT_EQ(check("/v1/messages", R"({"model":"m","messages":[]})"), "max_tokens: Field required (an integer)");
  EXPECT_EQ(check("/v1/messages", R"({"model":"m","max_tokens":"5","messages":[]})"),
            "max_tokens: Field required (an integer)");
  EXPECT_EQ(check("/v1/messages", R"({"model":"m","max_tokens":0,"messages":[]})"), "max_tokens: must be at least 1");
  EXPECT_EQ(check("/v1/messages", R"({"model":"m","max_tokens":-3,"messages":[]})"), "max_tokens: must be at least 1");
  EXPECT_EQ(check("/v1/messages", R"({"model":"m","max_tokens":18446744073709551615,"messages":[]})"), "ok");
  // The last of a repeated key counts, as in the tree.
  EXPECT_EQ(check("/v1/messages", R"({"model":"m","max_tokens":5,"messages":[],"messages":"x"})"),
            "messages: Field required (an array)");
  EXPECT_EQ(check("/v1/messages", R"({"model":"m","max_tokens":null,"max_tokens":5,"messages":[]})"), "ok");
  // A nested "messages" or "max_tokens" is not the request's.
  EXPECT_EQ(check("/v1/messages", R"({"model":"m","x":{"max_tokens":5,"messages":[]}})"),
            "messages: Field required (an array)");
  // count_tokens needs no max_tokens; batches have their own shape.
  EXPECT_EQ(check("/v1/messages/count_tokens", R"({"model":"m","messages":[]})"), "ok");
  EXPECT_EQ(check("/v1/messages/batches", R"({"requests":[]})"), "ok");
  EXPECT_TRUE(isMessagesApiPath("/v1/messages"));
  EXPECT_TRUE(isMessagesApiPath("/v1/messages/count_tokens"));
  EXPECT_FALSE(isMessagesApiPath("/v1/messagesx"));
  EXPECT_FALSE(isMessagesApiPath("/v1/chat/completions"));
}

}  // namespace
}  // namespace gw
