#include "providers/bedrock/bedrock_provider.h"

#include "common/ids.h"
#include "common/strings.h"
#include "config/settings.h"
#include "gw/config_source.h"
#include "gw/provider_plugin.h"
#include "gw/setting_table.h"
#include "providers/bedrock/bedrock_translate.h"
#include "providers/bedrock/messages_translate.h"
#include "providers/bedrock/sigv4.h"
#include "providers/common/openai_chat.h"
#include "providers/common/provider_settings.h"
#include "providers/common/response_handlers.h"

#include <boost/json/object.hpp>

#include <optional>

namespace gw::providers::bedrock {

namespace {

// Every variable the factory reads; --help lists them under "bedrock".
// Bedrock signs with AWS credentials: it has no *_API_KEY.
constexpr SettingDoc kSettings[] = {
    {"BEDROCK_BASE_URL", "https://bedrock-runtime.{region}.amazonaws.com", "upstream base URL"},
    {"AWS_ACCESS_KEY_ID", "", "Bedrock credentials used when the client sends no x-aws-* headers"},
    {"AWS_SECRET_ACCESS_KEY", "", "with AWS_ACCESS_KEY_ID"},
    {"AWS_SESSION_TOKEN", "", "with AWS_ACCESS_KEY_ID, for temporary credentials"},
    {"AWS_REGION", "", "Bedrock region when the client sends no x-aws-region"},
    {"AWS_DEFAULT_REGION", "", "Bedrock region when AWS_REGION is unset"},
};

// The provider named `config.name` at `config.base_url`, with the AWS
// credentials and region of the environment.
ConfiguredProvider withAwsCredentials(ProviderConfig config, const DeclaredSettings<kSettings>& settings) {
  config.env_aws_access_key_id = settings.getString("AWS_ACCESS_KEY_ID", "");
  config.env_aws_secret_access_key = settings.getString("AWS_SECRET_ACCESS_KEY", "");
  config.env_aws_session_token = settings.getString("AWS_SESSION_TOKEN", "");
  config.env_aws_region = settings.getString("AWS_REGION", settings.getString("AWS_DEFAULT_REGION", ""));
  auto provider = std::make_unique<BedrockProvider>(config);
  return ConfiguredProvider{std::move(config), std::move(provider)};
}

Result<ConfiguredProvider> makeProvider(const ConfigSource& source) {
  const DeclaredSettings<kSettings> settings(source);
  ProviderConfig config;
  config.name = "bedrock";
  // The URL may hold "{region}", filled per request; it is checked with a
  // sample region in its place.
  auto base_url = readBaseUrl(settings, "BEDROCK_BASE_URL");
  if (!base_url) return base_url.error();
  config.base_url = std::move(*base_url);
  return withAwsCredentials(std::move(config), settings);
}

// A custom provider of type bedrock: the Converse API at its base_url
// (which may hold "{region}" too), signed with the environment's AWS
// credentials, as the built-in bedrock. It takes no api_key_env: SigV4
// signs with a key pair, not a key.
Result<ConfiguredProvider> makeCustomProvider(const ProviderEntry& entry, const ConfigSource& source) {
  if (entry.api_key_env)
    return configError(entry.field + ".api_key_env",
                       "not used by type bedrock, which signs with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  if (auto st = checkBaseUrl(entry.field + ".base_url", entry.base_url); !st) return st.error();
  ProviderConfig config;
  config.name = entry.name;
  config.base_url = entry.base_url;
  return withAwsCredentials(std::move(config), DeclaredSettings<kSettings>(source));
}

bool isLower(char c) { return c >= 'a' && c <= 'z'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

bool isValidAwsRegion(std::string_view r) {
  if (r.size() < 6 || r.size() > 32) return false;
  if (!isLower(r[0]) || !isLower(r[1]) || r[2] != '-') return false;
  // Trailing "-N" or "-NN".
  std::size_t digits = 0;
  while (digits < r.size() && isDigit(r[r.size() - 1 - digits])) ++digits;
  if (digits < 1 || digits > 2) return false;
  std::size_t dash = r.size() - 1 - digits;
  if (r[dash] != '-') return false;
  // Between: one or more "-[a-z]+" groups, i.e. r[2..dash) = (-[a-z]+)+.
  std::string_view middle = r.substr(2, dash - 2);
  if (middle.empty()) return false;
  bool after_dash = false;
  for (char c : middle) {
    if (c == '-') {
      if (after_dash) return false;  // "--"
      after_dash = true;
    } else if (isLower(c)) {
      after_dash = false;
    } else {
      return false;
    }
  }
  return !after_dash;
}

BedrockProvider::BedrockProvider(const ProviderConfig& config, std::function<std::string()> amz_date_now)
    : config_(config), amz_date_now_(amz_date_now ? std::move(amz_date_now) : std::function<std::string()>(sigv4::amzDateNow)) {}

namespace {

// The client APIs the provider serves, by path.
enum class ClientApi { kChatCompletions, kMessages, kCountTokens };

std::optional<ClientApi> clientApiFor(const ClientRequest& r) {
  if (r.method != "POST") return std::nullopt;
  if (r.path == "/v1/chat/completions") return ClientApi::kChatCompletions;
  if (r.path == "/v1/messages") return ClientApi::kMessages;
  if (r.path == "/v1/messages/count_tokens") return ClientApi::kCountTokens;
  return std::nullopt;
}

Result<ConverseCall> converseCallFor(ClientApi api, const boost::json::object& body) {
  switch (api) {
    case ClientApi::kMessages: return messagesToConverse(body);
    case ClientApi::kCountTokens: return countTokensToConverse(body);
    case ClientApi::kChatCompletions: break;
  }
  auto chat = openai_chat::parseChatRequest(body, "bedrock");
  if (!chat) return chat.error();
  auto converse = bedrock::toConverseRequest(*chat);
  if (!converse) return converse.error();
  return ConverseCall{std::move(chat->model), chat->stream, std::move(*converse)};
}

// The Bedrock operation's path segment after /model/{modelId}/.
std::string_view operationFor(ClientApi api, bool stream) {
  if (api == ClientApi::kCountTokens) return "count-tokens";
  return stream ? "converse-stream" : "converse";
}

// The secrets an upstream error or stream message must never carry back:
// only the session token travels (x-amz-security-token), but neither it nor
// the secret key, the gateway's or the client's, may come back.
std::vector<std::string> secretsFor(const ClientRequest& r, const ProviderConfig& config) {
  std::vector<std::string> secrets{config.env_aws_secret_access_key, config.env_aws_session_token};
  if (r.headers)
    for (std::string_view name : {"x-aws-secret-access-key", "x-aws-session-token"})
      if (auto v = r.headers->get(name)) secrets.emplace_back(trim(*v));
  return secrets;
}

// "msg_" and 32 hex digits, the shape of Anthropic's message ids.
std::string newMessageId() {
  std::string id = "msg_";
  for (char c : newRequestId())
    if (c != '-') id.push_back(c);
  return id;
}

}  // namespace

Result<UpstreamRequest> BedrockProvider::prepare(const ClientRequest& r) const {
  auto api = clientApiFor(r);
  if (!api)
    return Error(404, "invalid_request_error", "unsupported_endpoint",
                 "the bedrock provider serves POST /v1/chat/completions, /v1/messages and /v1/messages/count_tokens "
                 "only");
  if (r.json == nullptr) return Error::badRequest("invalid_json", "the request body must be a JSON object");

  auto header = [&](std::string_view name) -> std::string {
    auto v = r.headers->get(name);
    return v ? std::string(trim(*v)) : std::string();
  };
  sigv4::Credentials creds;
  creds.access_key_id = header("x-aws-access-key-id");
  creds.secret_access_key = header("x-aws-secret-access-key");
  if (!creds.access_key_id.empty() || !creds.secret_access_key.empty()) {
    if (creds.access_key_id.empty() || creds.secret_access_key.empty())
      return Error::unauthorized("incomplete_aws_credentials",
                                 "send both x-aws-access-key-id and x-aws-secret-access-key");
    creds.session_token = header("x-aws-session-token");
  } else {
    creds.access_key_id = config_.env_aws_access_key_id;
    creds.secret_access_key = config_.env_aws_secret_access_key;
    creds.session_token = config_.env_aws_session_token;
  }
  if (creds.access_key_id.empty() || creds.secret_access_key.empty())
    return Error::unauthorized("missing_aws_credentials",
                               "No AWS credentials: send x-aws-access-key-id and x-aws-secret-access-key or "
                               "configure the gateway's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  if (hasHeaderUnsafeBytes(creds.access_key_id) || hasHeaderUnsafeBytes(creds.session_token))
    return Error::unauthorized("invalid_aws_credentials", "the AWS credentials are malformed");

  std::string region = header("x-aws-region");
  if (region.empty()) region = config_.env_aws_region;
  if (region.empty())
    return Error::badRequest("missing_aws_region", "No AWS region: send x-aws-region or configure AWS_REGION");
  if (!isValidAwsRegion(region))
    return Error::badRequest("invalid_aws_region", "x-aws-region is not a valid AWS region name");

  auto call = converseCallFor(*api, *r.json);
  if (!call) return call.error();
  // The model id is one path segment, percent-encoded below ('/', '?', '#'
  // and '%' cannot change the path); "." and ".." are left as they are by
  // that encoding and would be dot segments: refused.
  if (call->model.empty() || call->model == "." || call->model == "..")
    return Error::badRequest("invalid_model", "the model is not a valid Bedrock model id");

  std::string base_url = config_.base_url;
  if (auto pos = base_url.find("{region}"); pos != std::string::npos) base_url.replace(pos, 8, region);
  auto endpoint = parseBaseUrl(base_url);
  if (!endpoint) return Error::internal("BEDROCK_BASE_URL does not form a valid URL");

  UpstreamRequest up;
  up.endpoint = *endpoint;
  up.method = "POST";
  up.target = endpoint->base_path + "/model/" + sigv4::uriEncode(call->model, true) + "/" +
              std::string(operationFor(*api, call->stream));
  up.body = std::move(call->body);

  bool default_port = endpoint->port == (endpoint->tls ? 443 : 80);
  std::string host = default_port ? endpoint->host : endpoint->host + ":" + std::to_string(endpoint->port);
  std::string amz_date = amz_date_now_();

  sigv4::Request signing;
  signing.method = "POST";
  // Every service but S3 signs the path URI-encoded twice: the path as sent
  // (the model id already percent-encoded once) is encoded again.
  signing.canonical_uri = sigv4::uriEncode(up.target, false);
  signing.headers = {{"host", host},
                     {"content-type", "application/json"},
                     {"accept", call->stream ? "application/vnd.amazon.eventstream" : "application/json"},
                     {"x-amz-date", amz_date}};
  if (!creds.session_token.empty()) signing.headers.emplace_back("x-amz-security-token", creds.session_token);
  signing.payload = up.body;
  auto signature = sigv4::sign(signing, creds, region, "bedrock", amz_date);

  up.headers = std::move(signing.headers);
  up.headers.emplace_back("authorization", std::move(signature.authorization));
  return up;
}

std::unique_ptr<ResponseHandler> BedrockProvider::respond(const ClientRequest& r, const UpstreamResponseHead& h,
                                                          std::size_t capture_budget) const {
  // prepare() accepted the request, so its path is one of the three.
  const ClientApi api = clientApiFor(r).value_or(ClientApi::kChatCompletions);
  const bool messages_api = api != ClientApi::kChatCompletions;
  int status = h.status;
  if (status >= 300) {
    std::string error_type;
    if (h.headers)
      if (auto t = h.headers->get("x-amzn-errortype")) error_type = std::string(*t);
    auto handler = std::make_unique<BufferedResponseHandler>(
        status, [status, error_type, messages_api, secrets = secretsFor(r, config_)](
                    std::string_view body, ResponseObservation& obs, std::string& out) -> Status {
          std::string translated = messages_api ? messagesError(status, error_type, body, obs)
                                                : bedrock::translateError(status, error_type, body, obs);
          redactSecrets(translated, secrets);
          if (obs.provider_error_message) redactSecrets(*obs.provider_error_message, secrets);
          out.append(translated);
          return ok();
        });
    if (messages_api) handler->observation().api = ResponseApi::kMessages;
    return handler;
  }
  std::string model = r.model;
  if (r.json)
    if (const auto* m = r.json->if_contains("model"); m && m->is_string()) model = std::string(m->as_string());

  if (api == ClientApi::kCountTokens) {
    auto handler = std::make_unique<BufferedResponseHandler>(
        status, [](std::string_view body, ResponseObservation&, std::string& out) -> Status {
          auto translated = countTokensToMessages(body);
          if (!translated) return translated.error();
          out.append(*translated);
          return ok();
        });
    handler->observation().api = ResponseApi::kMessages;
    return handler;
  }
  if (api == ClientApi::kMessages) {
    if (r.stream)
      return std::make_unique<TranslatedStreamHandler<MessagesStreamTranslator>>(
          capture_budget, newMessageId(), std::move(model), secretsFor(r, config_));
    auto handler = std::make_unique<BufferedResponseHandler>(
        status, [model](std::string_view body, ResponseObservation& obs, std::string& out) -> Status {
          auto translated = converseToMessage(body, newMessageId(), model, obs);
          if (!translated) return translated.error();
          out.append(*translated);
          return ok();
        });
    handler->observation().api = ResponseApi::kMessages;
    return handler;
  }

  if (r.stream)
    return std::make_unique<TranslatedStreamHandler<StreamTranslator>>(
        capture_budget, "chatcmpl-" + newRequestId(), std::move(model), r.client_wants_usage, openai_chat::unixNow(),
        secretsFor(r, config_));
  return std::make_unique<BufferedResponseHandler>(
      status, [model](std::string_view body, ResponseObservation& obs, std::string& out) -> Status {
        auto translated =
            bedrock::translateResponse(body, "chatcmpl-" + newRequestId(), model, openai_chat::unixNow(), obs);
        if (!translated) return translated.error();
        out.append(*translated);
        return ok();
      });
}

}  // namespace gw::providers::bedrock

GW_REGISTER_PROVIDER(bedrock,
                     {"bedrock", kSettings, makeProvider, "bedrock"},
                     ProviderTypeRegistration{"bedrock", "bedrock", makeCustomProvider})
