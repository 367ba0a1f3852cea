#include "providers/openai_compatible/openai_compatible_provider.h"

#include "common/strings.h"
#include "config/settings.h"
#include "providers/common/forwarding.h"
#include "providers/common/openai_passthrough.h"

namespace gw::providers::openai_compatible {

OpenAiCompatibleProvider::OpenAiCompatibleProvider(const ProviderConfig& config, ApiKey api_key)
    : name_(config.name), api_key_(api_key) {
  // The factory checked the URL at start-up.
  if (auto ep = parseBaseUrl(config.base_url)) endpoint_ = *ep;
  if (!config.env_api_key.empty()) env_authorization_ = "Bearer " + config.env_api_key;
}

bool OpenAiCompatibleProvider::wantsParsedBody(const ClientRequest& r) const {
  return openai_passthrough::needsParsedBody(r);
}

Result<UpstreamRequest> OpenAiCompatibleProvider::prepare(const ClientRequest& r) const {
  UpstreamRequest up;
  up.endpoint = endpoint_;
  up.method = std::string(r.method);
  std::string_view rest = r.target;
  if (rest.starts_with("/v1")) rest.remove_prefix(3);
  up.target.reserve(endpoint_.base_path.size() + rest.size());
  up.target.append(endpoint_.base_path).append(rest);
  if (up.target.empty() || up.target[0] != '/') up.target.insert(0, 1, '/');

  bool have_auth = false;
  up.headers.reserve(16);
  r.headers->forEach([&](std::string_view name, std::string_view value) {
    std::string lower = toLower(name);
    if (isGatewayOnlyHeader(lower)) return;
    // Credentials meant for someone else: Anthropic's key header (a client
    // configured for several providers may send it to all of them) and the
    // cookies of the gateway's own site. Neither is part of the OpenAI API.
    if (lower == "x-api-key" || lower == "cookie") return;
    if (lower == "authorization") {
      if (trim(value).empty()) return;
      have_auth = true;
    }
    up.headers.emplace_back(std::move(lower), std::string(value));
  });
  if (!have_auth && !(env_authorization_.empty() && api_key_ == ApiKey::kOptional)) {
    if (env_authorization_.empty())
      return Error::unauthorized("missing_api_key",
                                 "No API key: send 'Authorization: Bearer <key>' or configure the gateway's " +
                                     toUpper(name_) + "_API_KEY");
    up.headers.emplace_back("authorization", env_authorization_);
  }

  openai_passthrough::setUpstreamBody(r, up);
  return up;
}

std::unique_ptr<ResponseHandler> OpenAiCompatibleProvider::respond(const ClientRequest& r,
                                                                   const UpstreamResponseHead& h,
                                                                   std::size_t capture_budget) const {
  // The keys an error body may echo: the client's and the operator's.
  openai_passthrough::ErrorRelay errors;
  if (h.status >= 400) {
    if (auto auth = r.headers ? r.headers->get("authorization") : std::nullopt) {
      if (auto token = bearerToken(*auth); !token.empty()) errors.secrets.emplace_back(token);
      else errors.secrets.emplace_back(trim(*auth));
    }
    if (env_authorization_.size() > 7) errors.secrets.push_back(env_authorization_.substr(7));
  }
  return openai_passthrough::makeResponseHandler(r, h, capture_budget, std::move(errors));
}

}  // namespace gw::providers::openai_compatible
