// OpenAI-compatible providers (each registered by name in
// openai_compatible_providers.cc): requests
// and responses pass through unchanged, with two exceptions:
//  - a streamed chat/completions request gets stream_options.include_usage
//    so the record has token counts; the extra usage-only chunk (and the
//    "usage":null fields it causes) are then hidden from a client that did
//    not ask for them;
//  - a "provider/model" prefix removed by the router is removed upstream too.
// POST /v1/responses (the Responses API) is relayed unchanged, streams
// event by event; its observation says ResponseApi::kResponses, so that the
// record reads its usage (input_tokens...) and its events.
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

  // True when prepare() adds include_usage for this request: a streamed
  // chat/completions or completions request only (the Responses API has no
  // stream_options).
  static bool injectsUsage(const ClientRequest& request);

 private:
  std::string name_;
  UpstreamEndpoint endpoint_;
  std::string env_authorization_;  // "Bearer <key>" from the environment, or ""
  ApiKey api_key_;
};

// The body (a JSON object without "stream_options") with
// "stream_options":{"include_usage":true} added as its first member; every
// other byte unchanged. Exposed for tests.
std::string withIncludeUsage(std::string_view body);

// Removes the "usage":null member OpenAI adds to each chunk when
// include_usage is on (the chunk's last "usage" member: see
// findLastUsageMember, common/openai_usage.h) from the chunk's JSON text at s[from..], with its
// separating comma. Returns whether it was there. Exposed for tests.
bool stripNullUsage(std::string& s, std::size_t from = 0);

}  // namespace gw::providers::openai_compatible
