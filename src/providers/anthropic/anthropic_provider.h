// Anthropic (x-provider: anthropic): POST /v1/chat/completions is translated
// to the Messages API (POST {base}/v1/messages) and the answer, streamed or
// not, back to OpenAI's chat.completion / chat.completion.chunk objects.
// docs/providers.md has the field mapping. The native Messages API
// (/v1/messages and below) is passed through unchanged
// (messages_passthrough.h).
//
// Credentials: the client's "Authorization: Bearer KEY" (or "x-api-key"),
// else ANTHROPIC_API_KEY (a custom provider's: its api_key_env). The
// client's Authorization header is never sent upstream; the key goes in
// x-api-key.
//
// The folder also registers the provider type `anthropic`: custom providers
// (the config file's `providers:` list) that speak the Messages API.
#pragma once

#include "gw/provider.h"

#include <string>
#include <vector>

namespace gw::providers::anthropic {

class AnthropicProvider final : public Provider {
 public:
  explicit AnthropicProvider(const ProviderConfig& config);

  std::string_view name() const override { return name_; }
  bool servesMessagesApi() const override { return true; }
  bool wantsParsedBody(const ClientRequest& request) const override;
  Result<UpstreamRequest> prepare(const ClientRequest& request) const override;
  std::unique_ptr<ResponseHandler> respond(const ClientRequest& request, const UpstreamResponseHead& head,
                                           std::size_t capture_budget) const override;

 private:
  Result<std::string> apiKeyFor(const ClientRequest& request) const;
  Result<UpstreamRequest> prepareMessages(const ClientRequest& request) const;
  std::vector<std::string> secretsSentUpstream(const ClientRequest& request) const;

  std::string name_;
  UpstreamEndpoint endpoint_;
  std::string env_api_key_;
  std::string missing_key_message_;
};

}  // namespace gw::providers::anthropic
