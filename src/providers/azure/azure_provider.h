// Azure OpenAI (x-provider: azure, or an "azure/" model prefix): the OpenAI
// API served by an Azure resource, where the request's model names a
// deployment. The upstream speaks the OpenAI API itself, so requests and
// responses go through the OpenAI passthrough
// (providers/common/openai_passthrough.h: include_usage for the record, the
// usage-only chunk hidden, the Responses API relayed event by event); what
// is Azure's own is here:
//  - where a request goes (upstreamTarget): the deployment's path with the
//    api-version query for chat/completions, completions and embeddings,
//    the versionless v1 path for the Responses API;
//  - the key: the client's "api-key", else its "Authorization: Bearer"
//    (what OpenAI SDKs send), else AZURE_OPENAI_API_KEY; it goes upstream
//    in "api-key", never in Authorization;
//  - error bodies: Azure's {"error":{"code","message","innererror"...}}
//    completed into OpenAI's error shape (toOpenAiErrorShape).
// docs/providers.md, "Azure OpenAI", has the table.
#pragma once

#include "gw/provider.h"

#include <string>
#include <string_view>

namespace gw::providers::azure {

class AzureProvider final : public Provider {
 public:
  // `api_version` is AZURE_OPENAI_API_VERSION, checked by the factory
  // (isApiVersion); config.base_url is AZURE_OPENAI_ENDPOINT, checked too.
  AzureProvider(const ProviderConfig& config, std::string api_version);

  std::string_view name() const override { return name_; }
  bool wantsParsedBody(const ClientRequest& request) const override;
  Result<UpstreamRequest> prepare(const ClientRequest& request) const override;
  std::unique_ptr<ResponseHandler> respond(const ClientRequest& request, const UpstreamResponseHead& head,
                                           std::size_t capture_budget) const override;

 private:
  std::string name_;
  UpstreamEndpoint endpoint_;
  std::string env_api_key_;
  std::string api_version_;
};

// The path and query on Azure for the client's request, below the
// endpoint's own path `base_path`:
//   POST /v1/chat/completions, /v1/completions, /v1/embeddings
//     -> /openai/deployments/{model}/<same>?api-version={api_version}
//   /v1/responses, /v1/responses/{id}, /v1/responses/{id}/input_items,
//   /v1/responses/{id}/cancel -> /openai/v1/responses... (no api-version)
// The client's own query parameters follow, but for any api-version of its
// own (the operator's version applies). Errors: 404 for any other path,
// 400 for a deployment or response id that cannot be a path segment
// (checkDeployment) or a query that does not parse.
Result<std::string> upstreamTarget(const ClientRequest& request, std::string_view base_path,
                                   std::string_view api_version);

// 400 unless `deployment` can name a deployment in a URL path: not empty,
// at most 256 bytes, no '/', '?', '#', '\', "..", control bytes, and not
// "." (the rest is percent-encoded into one path segment).
Status checkDeployment(std::string_view deployment);

// Whether `version` can be AZURE_OPENAI_API_VERSION: letters, digits, '.'
// and '-' (e.g. 2024-10-21, 2025-04-01-preview), at most 64 bytes.
bool isApiVersion(std::string_view version);

// Makes the error body an Azure upstream answered with `status` one that
// OpenAI clients read: {"error":{"message","type","code",...}}. Azure's
// error object is kept with its other members (param, innererror...); a
// missing or null "type" is derived from the status, a missing "code" is
// null, a missing "message" is "Azure OpenAI returned HTTP N". A body
// that is not an error object (an HTML page, a gateway's
// {"statusCode","message"}) becomes one, its "message" kept when it has
// one. Notes Azure's error code (else the type) and message in `obs`.
void toOpenAiErrorShape(int status, std::string& body, ResponseObservation& obs);

}  // namespace gw::providers::azure
