// Helpers shared by providers: which client headers go upstream and how a
// client's key is read. (Usage in OpenAI-shaped JSON is read by
// common/openai_usage.h, which the core uses too.)
#pragma once

#include <string_view>

namespace gw::providers {

// True for headers the gateway never forwards upstream: hop-by-hop headers,
// framing it recomputes, its own control headers (x-gateway-key, x-provider,
// x-aws-*) and accept-encoding (the gateway reads bodies for telemetry, so
// it asks upstreams for identity encoding).
bool isGatewayOnlyHeader(std::string_view lowercase_name);

// redactSecrets() is in common/strings.h.

// The API key in an "Authorization: Bearer KEY" value, or "".
std::string_view bearerToken(std::string_view authorization);

}  // namespace gw::providers
