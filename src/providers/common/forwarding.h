// Helpers shared by providers: which client headers go upstream, how
// credentials are chosen, and how usage is read from OpenAI-shaped JSON.
#pragma once

#include "gw/provider.h"

#include <boost/json/fwd.hpp>

#include <optional>

#include <string>
#include <string_view>
#include <vector>

namespace gw {

// True for headers the gateway never forwards upstream: hop-by-hop headers,
// framing it recomputes, its own control headers (x-gateway-key, x-provider,
// x-aws-*) and accept-encoding (the gateway reads bodies for telemetry, so
// it asks upstreams for identity encoding).
bool isGatewayOnlyHeader(std::string_view lowercase_name);

// redactSecrets() is in common/strings.h.

// The API key in an "Authorization: Bearer KEY" value, or "".
std::string_view bearerToken(std::string_view authorization);

// Reads an OpenAI "usage" object ({"prompt_tokens","completion_tokens",
// "total_tokens","prompt_tokens_details":{"cached_tokens"},
// "completion_tokens_details":{"reasoning_tokens"}}, or the embeddings form).
void readOpenAiUsage(const boost::json::object& usage, Usage& out);

// Where a "usage" member is in JSON text: the offset of its key's opening
// quote and of its value's first byte.
struct UsageMemberPos {
  std::size_t key = 0;
  std::size_t value = 0;
};

// The last "usage" member whose key begins before offset `before`: a quoted key right
// after '{' or ',' (or at the start of the text) and followed by ':'
// (whitespace allowed around both). Searched from the end: OpenAI puts
// usage after "choices", near the end of a chunk. Inside a JSON string a
// quote is escaped, so a string's content never matches.
std::optional<UsageMemberPos> findLastUsageMember(std::string_view json_text,
                                                  std::size_t before = std::string_view::npos);

// Finds the last top-level-looking "usage":{...} in JSON text and reads it
// without parsing the rest of the document. Cheap enough for the hot path.
bool scanOpenAiUsage(std::string_view json_text, Usage& out);

// "model" of an OpenAI response/chunk, found cheaply, or empty.
std::string scanModel(std::string_view json_text);

}  // namespace gw
