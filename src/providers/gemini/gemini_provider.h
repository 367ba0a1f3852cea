// Gemini (x-provider: gemini): POST /v1/chat/completions is translated to
// the Gemini API (POST {base}/v1beta/models/{model}:generateContent, or
// :streamGenerateContent?alt=sse when streaming) and the answer, streamed
// or not, back to OpenAI's chat.completion / chat.completion.chunk objects.
// docs/providers.md has the field mapping.
//
// Credentials: the client's "Authorization: Bearer KEY" (or
// "x-goog-api-key"), else GEMINI_API_KEY (a custom provider's: its
// api_key_env). The key goes in x-goog-api-key; the client's Authorization
// header is never sent upstream.
//
// The folder also registers the provider type `gemini`: custom providers
// (the config file's `providers:` list) that speak the Gemini API.
#pragma once

#include "gw/provider.h"

namespace gw::providers::gemini {

class GeminiProvider final : public Provider {
 public:
  explicit GeminiProvider(const ProviderConfig& config);

  std::string_view name() const override { return name_; }
  Result<UpstreamRequest> prepare(const ClientRequest& request) const override;
  std::unique_ptr<ResponseHandler> respond(const ClientRequest& request, const UpstreamResponseHead& head,
                                           std::size_t capture_budget) const override;

 private:
  std::string name_;
  UpstreamEndpoint endpoint_;
  std::string env_api_key_;
  std::string missing_key_message_;
};

}  // namespace gw::providers::gemini
