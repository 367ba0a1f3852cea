#include "providers/azure/azure_provider.h"

#include "common/strings.h"
#include "config/settings.h"
#include "gw/config_source.h"
#include "gw/provider_plugin.h"
#include "gw/setting_table.h"
#include "providers/common/forwarding.h"
#include "providers/common/openai_chat.h"
#include "providers/common/openai_passthrough.h"
#include "providers/common/provider_settings.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/decode_view.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url_view.hpp>

#include <array>

namespace gw::providers::azure {

namespace {

// Every variable the factory reads; --help lists them under "azure".
//
// The default api-version is the newest generally available (not preview)
// version of Azure OpenAI's data-plane inference API: a GA version is
// supported until Azure announces its retirement well ahead, a preview one
// may be withdrawn within months, and 2024-10-21 serves chat/completions,
// completions and embeddings with everything an OpenAI client sends there
// (tools, structured outputs, stream_options.include_usage). The Responses
// API takes no api-version (upstreamTarget).
constexpr SettingDoc kSettings[] = {
    {"AZURE_OPENAI_ENDPOINT", "",
     "the resource's endpoint, e.g. https://NAME.openai.azure.com (required to use azure)"},
    {"AZURE_OPENAI_API_KEY", "", "used when the client sends no key"},
    {"AZURE_OPENAI_API_VERSION", "2024-10-21", "api-version of chat/completions, completions and embeddings requests"},
};

Result<ConfiguredProvider> makeProvider(const ConfigSource& source) {
  using Settings = DeclaredSettings<kSettings>;
  const Settings settings(source);
  ProviderConfig config;
  config.name = "azure";
  // No endpoint anyone could guess: without one the name is known, and a
  // request that selects it is told what to set.
  if (!settings.get("AZURE_OPENAI_ENDPOINT"))
    return ConfiguredProvider{std::move(config), nullptr, "is not configured: set AZURE_OPENAI_ENDPOINT"};
  auto endpoint = readBaseUrl(settings, "AZURE_OPENAI_ENDPOINT");
  if (!endpoint) return endpoint.error();
  config.base_url = std::move(*endpoint);
  constexpr Settings::Name kApiVersion("AZURE_OPENAI_API_VERSION");
  std::string api_version = settings.getString(kApiVersion, kApiVersion.doc().default_text);
  if (!isApiVersion(api_version))
    return configError("AZURE_OPENAI_API_VERSION",
                       "'" + api_version + "' is not an api-version (letters, digits, '.' and '-', e.g. 2024-10-21)");
  config.env_api_key = settings.getString("AZURE_OPENAI_API_KEY", "");
  auto provider = std::make_unique<AzureProvider>(config, std::move(api_version));
  return ConfiguredProvider{std::move(config), std::move(provider)};
}

// A custom provider of type azure: another Azure OpenAI resource, its
// endpoint the entry's base_url, at the default api-version.
Result<ConfiguredProvider> makeCustomProvider(const ProviderEntry& entry, const ConfigSource& source) {
  constexpr DeclaredSettings<kSettings>::Name kApiVersion("AZURE_OPENAI_API_VERSION");
  return configureCustomKeyedProvider(entry, source, [&](const ProviderConfig& config) {
    return std::make_unique<AzureProvider>(config, std::string(kApiVersion.doc().default_text));
  });
}

// The client's own key: "api-key" (what Azure's SDKs send), else
// "Authorization: Bearer KEY" (what OpenAI's SDKs send); "" when neither.
std::string clientKey(const HeaderLookup* headers) {
  if (headers == nullptr) return {};
  if (auto key = headers->get("api-key"); key && !trim(*key).empty()) return std::string(trim(*key));
  if (auto auth = headers->get("authorization")) return std::string(bearerToken(*auth));
  return {};
}

// Client headers that never go to Azure: credentials (the key goes in the
// gateway's own "api-key") and the cookies of the gateway's own site.
bool isCredentialHeader(std::string_view lowercase_name) {
  return lowercase_name == "authorization" || lowercase_name == "api-key" || lowercase_name == "x-api-key" ||
         lowercase_name == "x-goog-api-key" || lowercase_name == "cookie";
}

// The client's query parameters, as they were encoded, without any
// api-version (the gateway sets it). Nothing for no query. Read through
// the whole target (parse_origin_form): Boost.URL 1.81's parse_query reads
// the last value past the end of the text it is given.
Result<std::string> queryWithoutApiVersion(std::string_view target) {
  if (target.find('?') == std::string_view::npos) return std::string();
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return Error::badRequest("invalid_query", "the request's target is malformed");
  std::string kept;
  for (const auto& param : url->encoded_params()) {
    if (*param.key == std::string_view("api-version")) continue;
    if (!kept.empty()) kept.push_back('&');
    kept.append(param.key.data(), param.key.size());
    if (param.has_value) kept.append("=").append(param.value.data(), param.value.size());
  }
  return kept;
}

// A response id (or "input_items", "cancel") as one path segment: the
// characters OpenAI's ids use, nothing a path could be redirected with.
bool isPlainSegment(std::string_view s) {
  if (s.empty() || s.size() > 256 || s == "." || s == "..") return false;
  for (char c : s) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

constexpr std::string_view kServes =
    "the azure provider serves POST /v1/chat/completions, /v1/completions and /v1/embeddings, and the "
    "Responses API: POST /v1/responses, GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items, "
    "POST /v1/responses/{id}/cancel";

Error notServed() { return Error(404, "invalid_request_error", "unsupported_endpoint", std::string(kServes)); }

}  // namespace

bool isApiVersion(std::string_view v) {
  if (v.empty() || v.size() > 64) return false;
  for (char c : v)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
      return false;
  return true;
}

Status checkDeployment(std::string_view d) {
  if (d.empty())
    return Error::badRequest("missing_model", "the request names no model: for azure, the model is the deployment");
  bool url_safe = d.size() <= 256 && d != "." && d.find("..") == std::string_view::npos;
  for (char c : d)
    if (c == '/' || c == '?' || c == '#' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      url_safe = false;
  if (!url_safe)
    return Error::badRequest("invalid_deployment",
                             "the model must name an Azure deployment: no '/', '?', '#', '\\', '..' or control "
                             "characters, at most 256 bytes");
  return ok();
}

Result<std::string> upstreamTarget(const ClientRequest& r, std::string_view base_path, std::string_view api_version) {
  static constexpr std::array<std::string_view, 3> kDeploymentPaths = {"/v1/chat/completions", "/v1/completions",
                                                                       "/v1/embeddings"};
  static constexpr std::string_view kResponses = "/v1/responses";
  auto query = queryWithoutApiVersion(r.target);
  if (!query) return query.error();
  std::string target(base_path);

  for (std::string_view path : kDeploymentPaths) {
    if (r.path != path) continue;
    if (r.method != "POST") return notServed();
    if (auto st = checkDeployment(r.model); !st) return st.error();
    target.append("/openai/deployments/");
    target.append(boost::urls::encode(r.model, boost::urls::unreserved_chars));
    target.append(path.substr(3)).append("?api-version=").append(api_version);
    if (!query->empty()) target.append("&").append(*query);
    return target;
  }

  // The Responses API exists on Azure only in the v1 API (/openai/v1/...,
  // generally available, versionless; its model is the deployment, in the
  // body), not under /openai/deployments/: the dated route
  // (/openai/responses?api-version=) is served by preview api-versions only.
  if (r.path == kResponses || r.path.starts_with("/v1/responses/")) {
    std::string_view rest = r.path.substr(kResponses.size());  // "", "/{id}" or "/{id}/{action}"
    std::string_view id, action;
    if (!rest.empty()) {
      rest.remove_prefix(1);
      const std::size_t slash = rest.find('/');
      id = rest.substr(0, slash);
      if (slash != std::string_view::npos) action = rest.substr(slash + 1);
      if (!isPlainSegment(id) || (slash != std::string_view::npos && !isPlainSegment(action)))
        return Error::badRequest("invalid_response_id", "the response id in the path is malformed");
    }
    const bool served = (rest.empty() && r.method == "POST") ||
                        (action.empty() && !id.empty() && (r.method == "GET" || r.method == "DELETE")) ||
                        (action == "input_items" && r.method == "GET") || (action == "cancel" && r.method == "POST");
    if (!served) return notServed();
    target.append("/openai/v1/responses");
    if (!id.empty()) target.append("/").append(id);
    if (!action.empty()) target.append("/").append(action);
    if (!query->empty()) target.append("?").append(*query);
    return target;
  }
  return notServed();
}

void toOpenAiErrorShape(int status, std::string& body, ResponseObservation& obs) {
  namespace json = boost::json;
  const std::string fallback = "Azure OpenAI returned HTTP " + std::to_string(status);
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  json::object* root = !ec && doc.is_object() ? &doc.as_object() : nullptr;
  json::value* error = root ? root->if_contains("error") : nullptr;

  if (error && error->is_object()) {
    json::object& e = error->as_object();
    bool changed = false;
    const json::value* message = e.if_contains("message");
    if (!message || !message->is_string()) {
      e["message"] = fallback;
      changed = true;
    }
    const json::value* type = e.if_contains("type");
    if (!type || !type->is_string() || type->as_string().empty()) {
      e["type"] = openai_chat::errorTypeForStatus(status);
      changed = true;
    }
    if (!e.contains("code")) {
      e["code"] = nullptr;
      changed = true;
    }
    const json::value& code = e.at("code");
    if (code.is_string() && !code.as_string().empty())
      obs.provider_error_type = std::string(code.as_string());
    else
      obs.provider_error_type = std::string(e.at("type").as_string());
    obs.provider_error_message = std::string(e.at("message").as_string());
    if (changed) body = json::serialize(doc);
    return;
  }

  // Not an error object: a message found elsewhere ({"error":"..."}, or a
  // gateway's {"statusCode":401,"message":"..."}) is kept.
  std::string message = fallback;
  if (error && error->is_string())
    message = std::string(error->as_string());
  else if (const json::value* m = root ? root->if_contains("message") : nullptr; m && m->is_string())
    message = std::string(m->as_string());
  json::object inner;
  inner["message"] = message;
  inner["type"] = openai_chat::errorTypeForStatus(status);
  inner["code"] = nullptr;
  json::object outer;
  outer["error"] = std::move(inner);
  body = json::serialize(outer);
  obs.provider_error_type = "http_" + std::to_string(status);
  obs.provider_error_message = std::move(message);
}

AzureProvider::AzureProvider(const ProviderConfig& config, std::string api_version)
    : name_(config.name), env_api_key_(config.env_api_key), api_version_(std::move(api_version)) {
  // The factory checked the URL at start-up.
  if (auto ep = parseBaseUrl(config.base_url)) endpoint_ = *ep;
}

bool AzureProvider::wantsParsedBody(const ClientRequest& r) const { return openai_passthrough::needsParsedBody(r); }

Result<UpstreamRequest> AzureProvider::prepare(const ClientRequest& r) const {
  UpstreamRequest up;
  auto target = upstreamTarget(r, endpoint_.base_path, api_version_);
  if (!target) return target.error();
  up.target = std::move(*target);
  up.endpoint = endpoint_;
  up.method = std::string(r.method);

  std::string key = clientKey(r.headers);
  if (key.empty()) key = env_api_key_;
  if (key.empty())
    return Error::unauthorized("missing_api_key",
                               "No API key: send 'api-key: <key>' or 'Authorization: Bearer <key>', or configure the "
                               "gateway's AZURE_OPENAI_API_KEY");
  if (hasHeaderUnsafeBytes(key)) return Error::unauthorized("invalid_api_key", "the API key is malformed");

  up.headers.reserve(16);
  if (r.headers) {
    r.headers->forEach([&](std::string_view name, std::string_view value) {
      std::string lower = toLower(name);
      if (isGatewayOnlyHeader(lower) || isCredentialHeader(lower)) return;
      up.headers.emplace_back(std::move(lower), std::string(value));
    });
  }
  up.headers.emplace_back("api-key", std::move(key));
  openai_passthrough::setUpstreamBody(r, up);
  return up;
}

std::unique_ptr<ResponseHandler> AzureProvider::respond(const ClientRequest& r, const UpstreamResponseHead& h,
                                                        std::size_t capture_budget) const {
  openai_passthrough::ErrorRelay errors;
  if (h.status >= 400) {
    // The keys an error body may echo: the client's and the operator's.
    if (auto key = clientKey(r.headers); !key.empty()) errors.secrets.push_back(std::move(key));
    if (!env_api_key_.empty()) errors.secrets.push_back(env_api_key_);
    errors.rewrite = toOpenAiErrorShape;
  }
  return openai_passthrough::makeResponseHandler(r, h, capture_budget, std::move(errors));
}

}  // namespace gw::providers::azure

GW_REGISTER_PROVIDER(azure,
                     {"azure", kSettings, makeProvider, "azure"},
                     ProviderTypeRegistration{"azure", "azure", makeCustomProvider})
