// AWS Bedrock (x-provider: bedrock), through the Converse API (POST
// {base}/model/{modelId}/converse, or /converse-stream when streaming),
// signed with SigV4 (service "bedrock"):
//  - POST /v1/chat/completions: OpenAI's request translated to Converse, the
//    answer (JSON or the binary event stream) back to OpenAI objects
//    (bedrock_translate.h);
//  - POST /v1/messages: Anthropic's Messages request translated to
//    Converse, the answer back to a Messages object or SSE events, and
//    POST /v1/messages/count_tokens to CountTokens
//    ({base}/model/{modelId}/count-tokens) (messages_translate.h).
// Anything else is a 404. docs/providers.md has the field mappings.
//
// Credentials: x-aws-access-key-id + x-aws-secret-access-key (+
// x-aws-session-token) from the client, else AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. Region: x-aws-region, else
// AWS_REGION; it must look like an AWS region before it is put in a host name.
//
// The folder also registers the provider type `bedrock`: custom providers
// (the config file's `providers:` list) that speak the Converse API at
// their base_url, with the same AWS credentials.
#pragma once

#include "gw/provider.h"

#include <functional>
#include <string>

namespace gw::providers::bedrock {

class BedrockProvider final : public Provider {
 public:
  // `amz_date_now` returns the signing time ("YYYYMMDDTHHMMSSZ"); tests fix it.
  explicit BedrockProvider(const ProviderConfig& config, std::function<std::string()> amz_date_now = {});

  std::string_view name() const override { return config_.name; }
  bool servesMessagesApi() const override { return true; }
  Result<UpstreamRequest> prepare(const ClientRequest& request) const override;
  std::unique_ptr<ResponseHandler> respond(const ClientRequest& request, const UpstreamResponseHead& head,
                                           std::size_t capture_budget) const override;

 private:
  ProviderConfig config_;
  std::function<std::string()> amz_date_now_;
};

// True for names like "us-east-1", "eu-central-2", "us-gov-west-1",
// "ap-southeast-3": ^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$.
bool isValidAwsRegion(std::string_view region);

}  // namespace gw::providers::bedrock
