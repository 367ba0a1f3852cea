// Token usage of the Anthropic Messages API ("usage" of a message, of a
// message_start event's message, of message_delta events):
//   {"input_tokens" (uncached), "cache_creation_input_tokens",
//    "cache_read_input_tokens", "output_tokens",
//    "output_tokens_details":{"thinking_tokens"}}
// in the gateway's terms (common/cache_aware_usage.h: input includes the
// cache counts; reasoning = thinking tokens, included in output). Each
// count read replaces the one `out` has (a later event of a stream may
// repeat counts cumulatively: the last value wins, never a sum).
// Used by the anthropic provider's Messages passthrough (stream events),
// the proxy (a non-streamed body it captured) and the record builder.
// Pure functions, safe on any thread.
#pragma once

#include "gw/provider.h"

#include <boost/json/fwd.hpp>

#include <string_view>

namespace gw {

void readMessagesUsage(const boost::json::object& usage, Usage& out);

// Reads the last top-level-looking "usage":{...} of JSON text (a message
// body or the tail of one, a message_start or message_delta event), parsing
// that object only. False when there is none.
bool scanMessagesUsage(std::string_view json_text, Usage& out);

}  // namespace gw
