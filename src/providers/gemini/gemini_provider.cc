#include "providers/gemini/gemini_provider.h"

#include "common/ids.h"
#include "common/strings.h"
#include "config/settings.h"
#include "gw/config_source.h"
#include "gw/provider_plugin.h"
#include "gw/setting_table.h"
#include "providers/common/response_handlers.h"
#include "providers/common/forwarding.h"
#include "providers/common/openai_chat.h"
#include "providers/common/provider_settings.h"
#include "providers/gemini/gemini_translate.h"

#include <boost/json/object.hpp>

namespace gw::providers::gemini {

namespace {

// Every variable the factory reads; --help lists them under "gemini".
constexpr SettingDoc kSettings[] = {
    {"GEMINI_API_KEY", "", "used when the client sends no key"},
    {"GEMINI_BASE_URL", "https://generativelanguage.googleapis.com", "upstream base URL"},
};

Result<ConfiguredProvider> makeProvider(const ConfigSource& source) {
  return configureKeyedProvider<kSettings>(source, "gemini", [](const ProviderConfig& config) {
    return std::make_unique<GeminiProvider>(config);
  });
}

// A custom provider of type gemini: a Gemini API at its base_url.
Result<ConfiguredProvider> makeCustomProvider(const ProviderEntry& entry, const ConfigSource& source) {
  return configureCustomKeyedProvider(entry, source, [](const ProviderConfig& config) {
    return std::make_unique<GeminiProvider>(config);
  });
}

// The client's own key: "Authorization: Bearer KEY" (what OpenAI SDKs
// send), else "x-goog-api-key" (what Google's SDKs send); "" when neither.
std::string clientKey(const HeaderLookup* headers) {
  if (headers == nullptr) return {};
  if (auto auth = headers->get("authorization")) {
    if (auto key = bearerToken(*auth); !key.empty()) return std::string(key);
  }
  if (auto key = headers->get("x-goog-api-key")) return std::string(trim(*key));
  return {};
}

}  // namespace

GeminiProvider::GeminiProvider(const ProviderConfig& config)
    : name_(config.name),
      env_api_key_(config.env_api_key),
      missing_key_message_("No API key: send 'Authorization: Bearer <key>' or configure the gateway's " +
                           config.api_key_setting) {
  // The factory checked the URL at start-up.
  if (auto ep = parseBaseUrl(config.base_url)) endpoint_ = *ep;
}

Result<UpstreamRequest> GeminiProvider::prepare(const ClientRequest& r) const {
  if (r.method != "POST" || r.path != "/v1/chat/completions")
    return Error(404, "invalid_request_error", "unsupported_endpoint",
                 "the gemini provider serves POST /v1/chat/completions only");
  if (r.json == nullptr) return Error::badRequest("invalid_json", "the request body must be a JSON object");

  std::string api_key = clientKey(r.headers);
  if (api_key.empty()) api_key = env_api_key_;
  if (api_key.empty())
    return Error::unauthorized("missing_api_key", missing_key_message_);
  if (hasHeaderUnsafeBytes(api_key)) return Error::unauthorized("invalid_api_key", "the API key is malformed");

  auto chat = openai_chat::parseChatRequest(*r.json, "gemini", kChatOptions);
  if (!chat) return chat.error();
  auto body = toGenerateContentRequest(*chat);
  if (!body) return body.error();

  UpstreamRequest up;
  up.endpoint = endpoint_;
  up.method = "POST";
  up.target = endpoint_.base_path + modelPath(chat->model, chat->stream);
  up.headers.emplace_back("x-goog-api-key", std::move(api_key));
  up.headers.emplace_back("content-type", "application/json");
  up.headers.emplace_back("accept", chat->stream ? "text/event-stream" : "application/json");
  up.body = std::move(*body);
  return up;
}

std::unique_ptr<ResponseHandler> GeminiProvider::respond(const ClientRequest& r, const UpstreamResponseHead& h,
                                                         std::size_t capture_budget) const {
  // The key sent upstream (the client's or the operator's) is redacted
  // should Gemini echo it in an error message.
  std::vector<std::string> secrets{env_api_key_};
  if (auto key = clientKey(r.headers); !key.empty()) secrets.push_back(std::move(key));

  const int status = h.status;
  if (status >= 300) {
    return std::make_unique<BufferedResponseHandler>(
        status, [status, secrets = std::move(secrets)](std::string_view body, ResponseObservation& obs,
                                                      std::string& out) -> Status {
          std::string translated = gemini::translateError(status, body, obs);
          redactSecrets(translated, secrets);
          if (obs.provider_error_message) redactSecrets(*obs.provider_error_message, secrets);
          out.append(translated);
          return ok();
        });
  }
  if (r.stream)
    return std::make_unique<TranslatedStreamHandler<StreamTranslator>>(capture_budget, "chatcmpl-" + newRequestId(),
                                                                       r.model, r.client_wants_usage,
                                                                       openai_chat::unixNow(), std::move(secrets));
  return std::make_unique<BufferedResponseHandler>(
      status, [model = r.model](std::string_view body, ResponseObservation& obs, std::string& out) -> Status {
        auto translated =
            gemini::translateResponse(body, "chatcmpl-" + newRequestId(), model, openai_chat::unixNow(), obs);
        if (!translated) return translated.error();
        out.append(*translated);
        return ok();
      });
}

}  // namespace gw::providers::gemini

GW_REGISTER_PROVIDER(gemini,
                     {"gemini", kSettings, makeProvider, "gemini"},
                     ProviderTypeRegistration{"gemini", "gemini", makeCustomProvider})
