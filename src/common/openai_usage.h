// Token usage and the model name read from OpenAI-shaped JSON: the "usage"
// object of responses, stream chunks and embeddings (or of the Responses
// API: see readResponsesUsage), and "model". Used by
// providers (OpenAI-compatible streams), by the proxy (the usage of a
// non-streamed body it captured) and by the record builder (assembled
// streams). Pure functions, safe on any thread.
#pragma once

#include "gw/provider.h"

#include <boost/json/fwd.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace gw {

// Reads an OpenAI "usage" object ({"prompt_tokens","completion_tokens",
// "total_tokens","prompt_tokens_details":{"cached_tokens"},
// "completion_tokens_details":{"reasoning_tokens"}}, or the embeddings form).
void readOpenAiUsage(const boost::json::object& usage, Usage& out);

// Reads an OpenAI Responses API "usage" object ({"input_tokens",
// "output_tokens","total_tokens","input_tokens_details":{"cached_tokens"},
// "output_tokens_details":{"reasoning_tokens"}}). total is input + output
// when the object has no total_tokens.
void readResponsesUsage(const boost::json::object& usage, Usage& out);

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

// The same for a Responses API usage object (a response body, or the
// response.completed / incomplete / failed event of a stream, whose last
// "usage" member is the response's).
bool scanResponsesUsage(std::string_view json_text, Usage& out);

// The Responses API events that end a stream, each carrying the final
// response with its usage: response.completed, .incomplete and .failed.
inline bool isTerminalResponsesEvent(std::string_view type) {
  return type == "response.completed" || type == "response.incomplete" || type == "response.failed";
}

// "model" of an OpenAI response/chunk, found cheaply, or empty.
std::string scanModel(std::string_view json_text);

}  // namespace gw
