#include "providers/anthropic/anthropic_provider.h"

#include "common/strings.h"
#include "config/settings.h"
#include "gw/config_source.h"
#include "gw/provider_plugin.h"
#include "gw/setting_table.h"
#include "providers/anthropic/anthropic_translate.h"
#include "providers/anthropic/messages_passthrough.h"
#include "providers/common/forwarding.h"
#include "providers/common/openai_chat.h"
#include "providers/common/provider_settings.h"
#include "providers/common/response_handlers.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace gw::providers::anthropic {

namespace {

constexpr std::string_view kAnthropicVersion = "2023-06-01";

// Every variable the factory reads; --help lists them under "anthropic".
constexpr SettingDoc kSettings[] = {
    {"ANTHROPIC_API_KEY", "", "used when the client sends no key"},
    {"ANTHROPIC_BASE_URL", "https://api.anthropic.com", "upstream base URL"},
};

Result<ConfiguredProvider> makeProvider(const ConfigSource& source) {
  return configureKeyedProvider<kSettings>(source, "anthropic", [](const ProviderConfig& config) {
    return std::make_unique<AnthropicProvider>(config);
  });
}

// A custom provider of type anthropic: a Messages API at its base_url.
Result<ConfiguredProvider> makeCustomProvider(const ProviderEntry& entry, const ConfigSource& source) {
  return configureCustomKeyedProvider(entry, source, [](const ProviderConfig& config) {
    return std::make_unique<AnthropicProvider>(config);
  });
}

}  // namespace

AnthropicProvider::AnthropicProvider(const ProviderConfig& config)
    : name_(config.name),
      env_api_key_(config.env_api_key),
      missing_key_message_("No API key: send 'Authorization: Bearer <key>' or configure the gateway's " +
                           config.api_key_setting) {
  // The factory checked the URL at start-up.
  if (auto ep = parseBaseUrl(config.base_url)) endpoint_ = *ep;
}

bool AnthropicProvider::wantsParsedBody(const ClientRequest& r) const {
  // The Messages API's body goes upstream as the client wrote it, unless a
  // provider prefix was taken off its "model".
  return !isMessagesApiPath(r.path) || r.body_rewritten;
}

Result<std::string> AnthropicProvider::apiKeyFor(const ClientRequest& r) const {
  std::string api_key;
  if (auto auth = r.headers->get("authorization")) api_key = std::string(bearerToken(*auth));
  if (api_key.empty())
    if (auto key = r.headers->get("x-api-key")) api_key = std::string(trim(*key));
  if (api_key.empty()) api_key = env_api_key_;
  if (api_key.empty())
    return Error::unauthorized("missing_api_key", missing_key_message_);
  if (hasHeaderUnsafeBytes(api_key)) return Error::unauthorized("invalid_api_key", "the API key is malformed");
  return api_key;
}

// The Messages API: the request as the client wrote it (path and query,
// e.g. the SDK's ?beta=true; its anthropic-version, else the default; its
// anthropic-beta), with the key in x-api-key.
Result<UpstreamRequest> AnthropicProvider::prepareMessages(const ClientRequest& r) const {
  auto api_key = apiKeyFor(r);
  if (!api_key) return api_key.error();
  UpstreamRequest up;
  up.endpoint = endpoint_;
  up.method = std::string(r.method);
  up.target.reserve(endpoint_.base_path.size() + r.target.size());
  up.target.append(endpoint_.base_path).append(r.target);
  up.headers.emplace_back("x-api-key", std::move(*api_key));
  std::string_view version = kAnthropicVersion;
  if (auto v = r.headers->get("anthropic-version"); v && !trim(*v).empty() && !hasHeaderUnsafeBytes(*v))
    version = trim(*v);
  up.headers.emplace_back("anthropic-version", std::string(version));
  if (auto beta = r.headers->get("anthropic-beta"); beta && !hasHeaderUnsafeBytes(*beta))
    up.headers.emplace_back("anthropic-beta", std::string(*beta));
  if (!r.body.empty()) up.headers.emplace_back("content-type", "application/json");
  up.headers.emplace_back("accept", r.stream ? "text/event-stream" : "application/json");
  if (r.body_rewritten && r.json) up.body = boost::json::serialize(*r.json);
  else up.forwards_client_body = true;
  return up;
}

Result<UpstreamRequest> AnthropicProvider::prepare(const ClientRequest& r) const {
  if (isMessagesApiPath(r.path)) return prepareMessages(r);
  if (r.method != "POST" || r.path != "/v1/chat/completions")
    return Error(404, "invalid_request_error", "unsupported_endpoint",
                 "the anthropic provider serves POST /v1/chat/completions and the Messages API (/v1/messages)");
  if (r.json == nullptr) return Error::badRequest("invalid_json", "the request body must be a JSON object");
  auto api_key = apiKeyFor(r);
  if (!api_key) return api_key.error();

  auto chat = openai_chat::parseChatRequest(*r.json, "anthropic");
  if (!chat) return chat.error();

  UpstreamRequest up;
  up.endpoint = endpoint_;
  up.method = "POST";
  up.target = endpoint_.base_path + "/v1/messages";
  up.headers.emplace_back("x-api-key", std::move(*api_key));
  up.headers.emplace_back("anthropic-version", std::string(kAnthropicVersion));
  up.headers.emplace_back("content-type", "application/json");
  up.headers.emplace_back("accept", chat->stream ? "text/event-stream" : "application/json");
  // Beta features are opted into per request by Anthropic clients.
  if (auto beta = r.headers->get("anthropic-beta"); beta && !hasHeaderUnsafeBytes(*beta))
    up.headers.emplace_back("anthropic-beta", std::string(*beta));
  up.body = anthropic::toMessagesRequest(*chat);
  return up;
}

// The keys sent upstream (the client's or the operator's): redacted should
// Anthropic echo one in an error message.
std::vector<std::string> AnthropicProvider::secretsSentUpstream(const ClientRequest& r) const {
  std::vector<std::string> secrets{env_api_key_};
  if (r.headers) {
    if (auto auth = r.headers->get("authorization")) secrets.emplace_back(bearerToken(*auth));
    if (auto key = r.headers->get("x-api-key")) secrets.emplace_back(trim(*key));
  }
  return secrets;
}

std::unique_ptr<ResponseHandler> AnthropicProvider::respond(const ClientRequest& r, const UpstreamResponseHead& h,
                                                            std::size_t capture_budget) const {
  int status = h.status;
  if (isMessagesApiPath(r.path)) {
    // Only a new message is billed: a token count, a batch's listing or
    // results are not this request's tokens.
    const bool own_usage = r.method == "POST" && r.path == "/v1/messages";
    return respondToMessages(h, r.observed, own_usage, capture_budget, secretsSentUpstream(r));
  }
  if (status >= 300) {
    std::vector<std::string> secrets = secretsSentUpstream(r);
    return std::make_unique<BufferedResponseHandler>(
        status, [status, secrets = std::move(secrets)](std::string_view body, ResponseObservation& obs,
                                                      std::string& out) -> Status {
          std::string translated = anthropic::translateError(status, body, obs);
          redactSecrets(translated, secrets);
          if (obs.provider_error_message) redactSecrets(*obs.provider_error_message, secrets);
          out.append(translated);
          return ok();
        });
  }
  if (r.stream)
    return std::make_unique<TranslatedStreamHandler<StreamTranslator>>(capture_budget, r.model, r.client_wants_usage,
                                                                       openai_chat::unixNow());
  return std::make_unique<BufferedResponseHandler>(
      status, [](std::string_view body, ResponseObservation& obs, std::string& out) -> Status {
        auto translated = anthropic::translateResponse(body, openai_chat::unixNow(), obs);
        if (!translated) return translated.error();
        out.append(*translated);
        return ok();
      });
}

}  // namespace gw::providers::anthropic

GW_REGISTER_PROVIDER(anthropic,
                     {"anthropic", kSettings, makeProvider, "anthropic"},
                     ProviderTypeRegistration{"anthropic", "anthropic", makeCustomProvider})
