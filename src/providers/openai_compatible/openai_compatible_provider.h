// The OpenAI-compatible providers (each registered by name in
// openai_compatible_providers.cc): requests and responses pass through
// unchanged, as providers/common/openai_passthrough.h describes (the
// include_usage the gateway adds for the record, the usage-only chunk
// hidden from a client that did not ask for it, the Responses API relayed
// event by event, error bodies redacted). What is theirs: the upstream is
// the base URL with the client's path below "/v1" joined to it, and the key
// is the client's Authorization, else the provider's {NAME}_API_KEY.
#pragma once

#include "gw/provider.h"

namespace gw::providers::openai_compatible {

// Whether a request needs an API key: a hosted API does (without one the
// gateway answers 401 itself), a local server (Ollama, vLLM) does not.
enum class ApiKey { kRequired, kOptional };

class OpenAiCompatibleProvider final : public Provider {
 public:
  explicit OpenAiCompatibleProvider(const ProviderConfig& config, ApiKey api_key = ApiKey::kRequired);

  std::string_view name() const override { return name_; }
  bool wantsParsedBody(const ClientRequest& request) const override;
  Result<UpstreamRequest> prepare(const ClientRequest& request) const override;
  std::unique_ptr<ResponseHandler> respond(const ClientRequest& request, const UpstreamResponseHead& head,
                                           std::size_t capture_budget) const override;

 private:
  std::string name_;
  UpstreamEndpoint endpoint_;
  std::string env_authorization_;  // "Bearer <key>" from the environment, or ""
  ApiKey api_key_;
};

}  // namespace gw::providers::openai_compatible
