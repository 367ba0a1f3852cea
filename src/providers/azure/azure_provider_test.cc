// The azure provider: its factory (settings), where each request goes
// (deployment paths, api-version, the Responses API's v1 path), which key
// goes upstream and how, which deployment names are refused, and how
// Azure's error bodies reach OpenAI clients. The relay of bodies and
// streams is the OpenAI passthrough's (tested in providers/common and
// openai_compatible); here only that azure uses it.
#include "providers/azure/azure_provider.h"

#include "gw/config_source.h"
#include "providers/provider_registry.h"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <map>
#include <string>
#include <vector>

namespace gw {
// Defined by the folder's GW_REGISTER_PROVIDER.
void gw_register_provider_azure(ProviderRegistry& registry);
}  // namespace gw

namespace gw::providers::azure {
namespace {

class Headers : public HeaderLookup {
 public:
  std::vector<std::pair<std::string, std::string>> items;
  std::optional<std::string_view> get(std::string_view name) const override {
    for (auto& [k, v] : items)
      if (iequalsAscii(k, name)) return std::string_view(v);
    return std::nullopt;
  }
  void forEach(const std::function<void(std::string_view, std::string_view)>& f) const override {
    for (auto& [k, v] : items) f(k, v);
  }

 private:
  static bool iequalsAscii(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
        return false;
    return true;
  }
};

ProviderConfig azureConfig(std::string key = "azure-operator-key-0123") {
  ProviderConfig c;
  c.name = "azure";
  c.base_url = "https://myres.openai.azure.com";
  c.env_api_key = std::move(key);
  return c;
}

struct Request {
  Headers headers;
  boost::json::object json;
  std::string body;
  ClientRequest req;
  Request(std::string method, std::string target, std::string b, const ProviderConfig& config) : body(std::move(b)) {
    req.method = method_ = std::move(method);
    target_ = std::move(target);
    req.target = target_;
    req.path = std::string_view(target_).substr(0, target_.find('?'));
    req.config = &config;
    req.headers = &headers;
    if (!body.empty()) {
      json = boost::json::parse(body).as_object();
      req.body = body;
      req.json = &json;
      req.json_body = true;
      if (auto* m = json.if_contains("model"); m && m->is_string()) req.model = std::string(m->as_string());
      if (auto* s = json.if_contains("stream")) req.stream = s->is_bool() && s->as_bool();
      if (auto* so = json.if_contains("stream_options"); so && so->is_object())
        if (auto* iu = so->as_object().if_contains("include_usage"))
          req.client_wants_usage = iu->is_bool() && iu->as_bool();
      req.has_stream_options = json.contains("stream_options");
    }
  }

 private:
  std::string method_, target_;
};

std::map<std::string, std::string> headerMap(const UpstreamRequest& up) {
  return {up.headers.begin(), up.headers.end()};
}

std::string targetOf(std::string method, std::string target, std::string body = "", std::string base = "",
                     std::string version = "2024-10-21") {
  auto config = azureConfig();
  Request r(std::move(method), std::move(target), std::move(body), config);
  auto t = upstreamTarget(r.req, base, version);
  return t ? *t : "error " + std::to_string(t.error().http_status) + " " + t.error().code;
}

TEST(Azure, DeploymentPathsCarryTheModelAndTheApiVersion) {
  EXPECT_EQ(targetOf("POST", "/v1/chat/completions", R"({"model":"gpt4o-prod"})"),
            "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21");
  EXPECT_EQ(targetOf("POST", "/v1/completions", R"({"model":"instruct"})", "", "2025-04-01-preview"),
            "/openai/deployments/instruct/completions?api-version=2025-04-01-preview");
  EXPECT_EQ(targetOf("POST", "/v1/embeddings", R"({"model":"text-embedding-3-small"})"),
            "/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21");
  // Below the endpoint's own path (a proxy in front of Azure).
  EXPECT_EQ(targetOf("POST", "/v1/chat/completions", R"({"model":"d"})", "/aoai"),
            "/aoai/openai/deployments/d/chat/completions?api-version=2024-10-21");
  // A deployment name that needs it is percent-encoded into one segment.
  EXPECT_EQ(targetOf("POST", "/v1/chat/completions", R"({"model":"my dep%1"})"),
            "/openai/deployments/my%20dep%251/chat/completions?api-version=2024-10-21");
}

TEST(Azure, TheClientsQueryIsKeptButNeverASecondApiVersion) {
  EXPECT_EQ(targetOf("POST", "/v1/chat/completions?api-version=2023-05-15&x=1", R"({"model":"d"})"),
            "/openai/deployments/d/chat/completions?api-version=2024-10-21&x=1");
  EXPECT_EQ(targetOf("POST", "/v1/embeddings?a=%20b&api%2Dversion=1&flag&api-version", R"({"model":"d"})"),
            "/openai/deployments/d/embeddings?api-version=2024-10-21&a=%20b&flag");
  // The target is a view into the client's request head: nothing past its
  // end is read.
  {
    auto config = azureConfig();
    Request r("POST", "/v1/chat/completions", R"({"model":"d"})", config);
    const std::string head = "/v1/chat/completions?a=1&b=2 HTTP/1.1\r\nHost: x\r\n";
    r.req.target = std::string_view(head).substr(0, head.find(' '));
    EXPECT_EQ(*upstreamTarget(r.req, "", "2024-10-21"),
              "/openai/deployments/d/chat/completions?api-version=2024-10-21&a=1&b=2");
  }
  // The Responses API takes no api-version at all.
  EXPECT_EQ(targetOf("POST", "/v1/responses?api-version=preview", R"({"model":"d"})"), "/openai/v1/responses");
  EXPECT_EQ(targetOf("GET", "/v1/responses/resp_1/input_items?limit=5&api-version=x"),
            "/openai/v1/responses/resp_1/input_items?limit=5");
}

TEST(Azure, TheResponsesApiGoesToTheV1Path) {
  EXPECT_EQ(targetOf("POST", "/v1/responses", R"({"model":"gpt4o-prod","input":"hi"})"), "/openai/v1/responses");
  EXPECT_EQ(targetOf("GET", "/v1/responses/resp_abc123"), "/openai/v1/responses/resp_abc123");
  EXPECT_EQ(targetOf("DELETE", "/v1/responses/resp_abc123"), "/openai/v1/responses/resp_abc123");
  EXPECT_EQ(targetOf("GET", "/v1/responses/resp_abc123/input_items"), "/openai/v1/responses/resp_abc123/input_items");
  EXPECT_EQ(targetOf("POST", "/v1/responses/resp_abc123/cancel"), "/openai/v1/responses/resp_abc123/cancel");
  EXPECT_EQ(targetOf("POST", "/v1/responses", R"({"model":"d"})", "/aoai"), "/aoai/openai/v1/responses");
  // Ids that could steer the path elsewhere.
  for (std::string bad : {"/v1/responses/..", "/v1/responses/.", "/v1/responses/", "/v1/responses/a%2Fb",
                          "/v1/responses/a/../b", "/v1/responses/a//input_items", "/v1/responses/r%00"})
    EXPECT_EQ(targetOf("GET", bad), "error 400 invalid_response_id") << bad;
}

TEST(Azure, OtherPathsAndMethodsAre404NamingWhatAzureServes) {
  for (auto [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/models"},
                                                        {"POST", "/v1/images/generations"},
                                                        {"GET", "/v1/chat/completions"},
                                                        {"POST", "/v1/messages"},
                                                        {"PUT", "/v1/responses/resp_1"},
                                                        {"GET", "/v1/responses"},
                                                        {"GET", "/v1/responses/resp_1/other"},
                                                        {"POST", "/v1/responses/resp_1/input_items"}}) {
    auto config = azureConfig();
    Request r(method, target, "", config);
    auto t = upstreamTarget(r.req, "", "2024-10-21");
    ASSERT_FALSE(t) << method << " " << target;
    EXPECT_EQ(t.error().http_status, 404);
    EXPECT_EQ(t.error().code, "unsupported_endpoint");
    EXPECT_NE(t.error().message.find("/v1/chat/completions"), std::string::npos);
    EXPECT_NE(t.error().message.find("/v1/embeddings"), std::string::npos);
  }
}

TEST(Azure, DeploymentNamesThatCannotBeAPathSegmentAre400) {
  for (std::string_view good : {"gpt-4o", "gpt4o_prod.v2", "a", "x y", "dep%41", "ünïcode"})
    EXPECT_TRUE(checkDeployment(good)) << good;
  for (std::string_view bad :
       {std::string_view("a/b"), std::string_view("a?b"), std::string_view("a#b"), std::string_view(".."),
        std::string_view("a..b"), std::string_view("."), std::string_view("a\\b"), std::string_view("a\nb"),
        std::string_view("a\0b", 3), std::string_view("a\x7f")}) {
    auto st = checkDeployment(bad);
    ASSERT_FALSE(st) << bad;
    EXPECT_EQ(st.error().http_status, 400);
    EXPECT_EQ(st.error().code, "invalid_deployment");
  }
  EXPECT_FALSE(checkDeployment(std::string(257, 'a')));
  EXPECT_TRUE(checkDeployment(std::string(256, 'a')));
  auto missing = checkDeployment("");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "missing_model");
  // Through prepare(): the request never leaves.
  auto config = azureConfig();
  AzureProvider p(config, "2024-10-21");
  Request r("POST", "/v1/chat/completions", R"({"model":"../../admin"})", config);
  auto up = p.prepare(r.req);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().http_status, 400);
}

TEST(Azure, ApiVersions) {
  for (std::string_view v : {"2024-10-21", "2025-04-01-preview", "preview", "v1.0"}) EXPECT_TRUE(isApiVersion(v)) << v;
  for (std::string_view v : {"", "2024 10 21", "2024-10-21&x=1", "a/b", "é"}) EXPECT_FALSE(isApiVersion(v)) << v;
  EXPECT_FALSE(isApiVersion(std::string(65, '1')));
}

TEST(Azure, TheKeyGoesInApiKeyFromTheClientOrTheEnvironment) {
  auto config = azureConfig();
  AzureProvider p(config, "2024-10-21");
  struct Case {
    std::vector<std::pair<std::string, std::string>> client;
    std::string sent;
  };
  const Case cases[] = {
      {{{"api-key", "client-api-key-1"}, {"Authorization", "Bearer other"}}, "client-api-key-1"},
      {{{"Authorization", "Bearer sdk-bearer-key"}}, "sdk-bearer-key"},
      {{{"Api-Key", "  spaced-key  "}}, "spaced-key"},
      {{{"api-key", ""}, {"authorization", "Bearer from-bearer"}}, "from-bearer"},
      {{}, "azure-operator-key-0123"},
      {{{"Authorization", "Basic abc"}}, "azure-operator-key-0123"},
  };
  for (const Case& c : cases) {
    Request r("POST", "/v1/chat/completions", R"({"model":"d","messages":[]})", config);
    r.headers.items = c.client;
    r.headers.items.push_back({"OpenAI-Organization", "org-1"});
    r.headers.items.push_back({"x-api-key", "sk-ant-for-anthropic"});
    r.headers.items.push_back({"Cookie", "session=gateway-site"});
    r.headers.items.push_back({"x-gateway-key", "gk"});
    r.headers.items.push_back({"Content-Type", "application/json"});
    auto up = p.prepare(r.req);
    ASSERT_TRUE(up) << up.error().message;
    auto h = headerMap(*up);
    EXPECT_EQ(h["api-key"], c.sent);
    EXPECT_EQ(std::count_if(up->headers.begin(), up->headers.end(), [](auto& kv) { return kv.first == "api-key"; }), 1);
    EXPECT_FALSE(h.contains("authorization")) << "the client's Authorization never reaches Azure";
    for (const char* gone : {"x-api-key", "cookie", "x-gateway-key"}) EXPECT_FALSE(h.contains(gone)) << gone;
    EXPECT_EQ(h["openai-organization"], "org-1");
    EXPECT_EQ(h["content-type"], "application/json");
    EXPECT_EQ(up->method, "POST");
    EXPECT_EQ(up->endpoint.host, "myres.openai.azure.com");
    EXPECT_TRUE(up->endpoint.tls);
    EXPECT_EQ(up->target, "/openai/deployments/d/chat/completions?api-version=2024-10-21");
    EXPECT_TRUE(up->forwards_client_body) << "the body goes as the client sent it";
  }
}

TEST(Azure, NoKeyAnywhereIs401WithoutSecrets) {
  auto config = azureConfig("");
  AzureProvider p(config, "2024-10-21");
  Request r("POST", "/v1/chat/completions", R"({"model":"d"})", config);
  auto up = p.prepare(r.req);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().http_status, 401);
  EXPECT_EQ(up.error().code, "missing_api_key");
  EXPECT_NE(up.error().message.find("AZURE_OPENAI_API_KEY"), std::string::npos);
  r.headers.items = {{"api-key", "bad\r\nkey"}};
  auto bad = p.prepare(r.req);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "invalid_api_key");
  EXPECT_EQ(bad.error().message.find("bad"), std::string::npos);
}

TEST(Azure, StreamsGetIncludeUsageLikeEveryOpenAiUpstream) {
  auto config = azureConfig();
  AzureProvider p(config, "2024-10-21");
  Request r("POST", "/v1/chat/completions", R"({"model":"d","stream":true,"messages":[]})", config);
  r.req.json = nullptr;  // the proxy builds no tree for this body
  EXPECT_FALSE(p.wantsParsedBody(r.req));
  auto up = p.prepare(r.req);
  ASSERT_TRUE(up);
  EXPECT_EQ(boost::json::parse(up->body).at("stream_options").at("include_usage"), true);

  // The usage-only chunk is hidden and read; Azure's first chunk (content
  // filter results, no choices, no usage) goes through.
  const std::string upstream =
      "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[]}\n\n"
      "data: "
      "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"model\":\"gpt-4o-2024-08-06\",\"usage\":null}\n\n"
      "data: {\"choices\":[],\"model\":\"gpt-4o-2024-08-06\",\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,"
      "\"total_tokens\":11}}\n\n"
      "data: [DONE]\n\n";
  auto h = p.respond(r.req, {200, "text/event-stream", nullptr}, 1 << 20);
  std::string out;
  ASSERT_TRUE(h->onBody(upstream, out));
  ASSERT_TRUE(h->onEnd(out));
  EXPECT_EQ(
      out,
      "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"model\":\"gpt-4o-2024-08-06\"}\n\n"
      "data: [DONE]\n\n");
  EXPECT_EQ(h->observation().usage.total, 11);
  EXPECT_EQ(h->observation().response_model, "gpt-4o-2024-08-06");
}

std::string shaped(int status, std::string body, ResponseObservation* obs_out = nullptr) {
  ResponseObservation obs;
  toOpenAiErrorShape(status, body, obs);
  if (obs_out) *obs_out = obs;
  return body;
}

TEST(Azure, ErrorBodiesAreInTheOpenAiErrorShape) {
  // Azure's own: no type. Filled from the status; everything else kept.
  ResponseObservation obs;
  auto not_found = boost::json::parse(shaped(
      404,
      R"({"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}})",
      &obs));
  EXPECT_EQ(
      not_found,
      boost::json::parse(
          R"({"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist.","type":"not_found_error"}})"));
  EXPECT_EQ(obs.provider_error_type, "DeploymentNotFound");
  EXPECT_EQ(obs.provider_error_message, "The API deployment for this resource does not exist.");

  // A content filter: type null, innererror kept.
  auto filtered = boost::json::parse(shaped(
      400,
      R"({"error":{"message":"filtered","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":true,"severity":"high"}}}}})"));
  EXPECT_EQ(filtered.at("error").at("type"), "invalid_request_error");
  EXPECT_EQ(filtered.at("error").at("code"), "content_filter");
  EXPECT_EQ(filtered.at("error").at("innererror").at("code"), "ResponsibleAIPolicyViolation");
  EXPECT_EQ(filtered.at("error").at("param"), "prompt");

  // Rate limit: code "429", no type.
  EXPECT_EQ(boost::json::parse(shaped(429, R"({"error":{"code":"429","message":"Requests ... have exceeded"}})"))
                .at("error")
                .at("type"),
            "rate_limit_error");
  // No code at all: null.
  EXPECT_EQ(shaped(500, R"({"error":{"message":"boom"}})"),
            R"({"error":{"message":"boom","type":"api_error","code":null}})");
  // Already complete: the very same bytes.
  const std::string complete = R"({"error": {"message": "m", "type": "invalid_request_error", "code": "x"}})";
  EXPECT_EQ(shaped(400, complete), complete);
  // No message: the status says what happened.
  EXPECT_EQ(boost::json::parse(shaped(401, R"({"error":{"code":"401"}})")).at("error").at("message"),
            "Azure OpenAI returned HTTP 401");
}

TEST(Azure, BodiesThatAreNotErrorObjectsBecomeOne) {
  ResponseObservation obs;
  EXPECT_EQ(
      shaped(401, R"({"statusCode":401,"message":"Access denied due to invalid subscription key."})", &obs),
      R"({"error":{"message":"Access denied due to invalid subscription key.","type":"authentication_error","code":null}})");
  EXPECT_EQ(obs.provider_error_type, "http_401");
  EXPECT_EQ(shaped(403, R"({"error":"Forbidden"})"),
            R"({"error":{"message":"Forbidden","type":"permission_error","code":null}})");
  for (std::string body : {std::string("<html>Bad Gateway</html>"), std::string(""), std::string("[1,2]"),
                           std::string(R"({"error":{"message":)"), std::string(R"({"error":7})")})
    EXPECT_EQ(shaped(502, body),
              R"({"error":{"message":"Azure OpenAI returned HTTP 502","type":"api_error","code":null}})")
        << body;
}

TEST(Azure, ErrorResponsesAreShapedAndKeysRedacted) {
  auto config = azureConfig();
  AzureProvider p(config, "2024-10-21");
  Request r("POST", "/v1/chat/completions", R"({"model":"d"})", config);
  r.headers.items = {{"api-key", "client-key-abcdef"}};
  auto h = p.respond(r.req, {401, "application/json", nullptr}, 1000);
  EXPECT_EQ(h->head().status, 401);
  EXPECT_EQ(h->head().framing, Framing::kBuffered);
  std::string out;
  ASSERT_TRUE(h->onBody(R"({"error":{"code":"401","message":"Access denied for key client-key-abcdef"}})", out));
  ASSERT_TRUE(h->onEnd(out));
  EXPECT_EQ(
      boost::json::parse(out),
      boost::json::parse(
          R"({"error":{"code":"401","message":"Access denied for key [REDACTED]","type":"authentication_error"}})"));
  EXPECT_EQ(h->observation().provider_error_message, "Access denied for key [REDACTED]");

  // The operator's key too, in a body that is not an error object.
  Request env("POST", "/v1/chat/completions", R"({"model":"d"})", config);
  auto h2 = p.respond(env.req, {500, "text/plain", nullptr}, 1000);
  std::string out2;
  ASSERT_TRUE(h2->onBody(R"({"message":"bad key azure-operator-key-0123"})", out2));
  EXPECT_EQ(out2.find("azure-operator-key-0123"), std::string::npos);
  EXPECT_NE(out2.find("[REDACTED]"), std::string::npos);
}

TEST(Azure, TheResponsesApiIsRelayedWithItsOwnRecordKind) {
  auto config = azureConfig();
  AzureProvider p(config, "2024-10-21");
  Request r("POST", "/v1/responses", R"({"model":"d","stream":true,"input":"hi"})", config);
  auto up = p.prepare(r.req);
  ASSERT_TRUE(up);
  EXPECT_TRUE(up->forwards_client_body) << "no stream_options on the Responses API";
  auto h = p.respond(r.req, {200, "text/event-stream", nullptr}, 1 << 20);
  EXPECT_EQ(h->observation().api, ResponseApi::kResponses);
  EXPECT_TRUE(h->head().passthrough_bytes);
}

// --- The factory (the folder's registration).

ProviderRegistry registryWith(std::map<std::string, std::string> env, std::string* error = nullptr) {
  ProviderRegistry registry;
  gw_register_provider_azure(registry);
  auto st = registry.create(ConfigSource(std::move(env), {}), "azure");
  if (error) *error = st ? "" : st.error().message;
  return registry;
}

TEST(Azure, FactoryReadsItsThreeVariables) {
  std::string error;
  ProviderRegistry none = registryWith({}, &error);
  EXPECT_EQ(error, "DEFAULT_PROVIDER: provider 'azure' is not configured: set AZURE_OPENAI_ENDPOINT");
  EXPECT_EQ(none.find("azure"), nullptr);
  EXPECT_EQ(none.notConfigured("azure"), "is not configured: set AZURE_OPENAI_ENDPOINT");

  ProviderRegistry configured = registryWith({{"AZURE_OPENAI_ENDPOINT", "http://127.0.0.1:9/base/"},
                                              {"AZURE_OPENAI_API_KEY", "k-env"},
                                              {"AZURE_OPENAI_API_VERSION", "2025-04-01-preview"}},
                                             &error);
  EXPECT_EQ(error, "");
  ASSERT_NE(configured.find("azure"), nullptr);
  EXPECT_EQ(configured.config("azure")->env_api_key, "k-env");
  EXPECT_EQ(configured.config("azure")->base_url, "http://127.0.0.1:9/base/");
  auto config = azureConfig();
  Request r("POST", "/v1/embeddings", R"({"model":"e"})", config);
  auto up = configured.find("azure")->prepare(r.req);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->target, "/base/openai/deployments/e/embeddings?api-version=2025-04-01-preview");
  EXPECT_FALSE(up->endpoint.tls);
  EXPECT_EQ(up->endpoint.port, 9);
  EXPECT_EQ(headerMap(*up)["api-key"], "k-env");

  // The default api-version.
  ProviderRegistry defaults = registryWith({{"AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com"}});
  auto up2 = defaults.find("azure")->prepare(r.req);
  ASSERT_FALSE(up2) << "no key: AZURE_OPENAI_API_KEY unset";
  r.headers.items = {{"api-key", "k"}};
  up2 = defaults.find("azure")->prepare(r.req);
  ASSERT_TRUE(up2);
  EXPECT_EQ(up2->target, "/openai/deployments/e/embeddings?api-version=2024-10-21");

  // Bad values stop start-up, naming the variable.
  registryWith({{"AZURE_OPENAI_ENDPOINT", "ftp://x"}}, &error);
  EXPECT_EQ(error.rfind("AZURE_OPENAI_ENDPOINT: ", 0), 0u) << error;
  registryWith({{"AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com"}, {"AZURE_OPENAI_API_VERSION", "x&y=1"}},
               &error);
  EXPECT_EQ(error.rfind("AZURE_OPENAI_API_VERSION: ", 0), 0u) << error;
}

}  // namespace
}  // namespace gw::providers::azure
