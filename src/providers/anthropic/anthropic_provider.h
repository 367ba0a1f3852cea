// Anthropic (x-provider: anthropic): POST /v1/chat/completions is translated
// to the Messages API (POST {base}/v1/messages) and the answer, streamed or
// not, back to OpenAI's chat.completion / chat.completion.chunk objects.
// docs/providers.md has the field mapping.
//
// Credentials: the client's "Authorization: Bearer KEY" (or "x-api-key"),
// else ANTHROPIC_API_KEY. The client's Authorization header is never sent
// upstream; the key goes in x-api-key.
#pragma once

#include "gw/provider.h"

namespace gw::providers::anthropic {

class AnthropicProvider final : public Provider {
 public:
  explicit AnthropicProvider(const ProviderConfig& config);

  std::string_view name() const override { return "anthropic"; }
  Result<UpstreamRequest> prepare(const ClientRequest& request) const override;
  std::unique_ptr<ResponseHandler> respond(const ClientRequest& request, const UpstreamResponseHead& head,
                                           std::size_t capture_budget) const override;

 private:
  UpstreamEndpoint endpoint_;
  std::string env_api_key_;
};

}  // namespace gw::providers::anthropic
