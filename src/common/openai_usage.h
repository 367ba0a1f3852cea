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
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

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

// The same search for any member key, given with its quotes ("\"id\"").
std::optional<UsageMemberPos> findLastMember(std::string_view json_text, std::string_view quoted_key,
                                             std::size_t before = std::string_view::npos);

// Finds the last top-level-looking "usage":{...} in JSON text and reads it
// without parsing the rest of the document. Cheap enough for the hot path.
bool scanOpenAiUsage(std::string_view json_text, Usage& out);

// The same for a Responses API usage object (a response body, or the
// response.completed / incomplete / failed event of a stream, whose last
// "usage" member is the response's).
bool scanResponsesUsage(std::string_view json_text, Usage& out);

// What the relay of an OpenAI-compatible stream needs from one chat
// completion chunk (or legacy completions chunk), read in one SAX pass over
// its JSON text, without building a tree.
struct ChatChunkFacts {
  enum class UsageValue : std::uint8_t { kAbsent, kNull, kObject, kOther };

  // The text is one JSON object and nothing else; every other field is
  // meaningful only when it is.
  bool is_object = false;
  // Its top-level "choices" is an empty array.
  bool empty_choices = false;
  // Its top-level "usage" (the last, should the key repeat) and the counts
  // of that object, read by readOpenAiUsage's rules.
  UsageValue usage_value = UsageValue::kAbsent;
  Usage usage;
  // The counts of "x_groq":{"usage":{...}}, where Groq reports a stream's
  // usage when it sends no top-level one.
  bool has_x_groq_usage = false;
  Usage x_groq_usage;
  // The bytes [first, second) to erase to leave the chunk without its
  // top-level "usage" member, one separating comma included. Unset when
  // the chunk has none, or when bytes alone cannot say (a key written with
  // escapes, "usage" more than once): removeTopLevelUsage then goes
  // through a tree.
  std::optional<std::pair<std::size_t, std::size_t>> usage_member_bytes;

  // The usage-only chunk a stream ends with under
  // stream_options.include_usage: "choices":[] and a usage object.
  bool isUsageOnly() const { return is_object && empty_choices && usage_value == UsageValue::kObject; }
};
ChatChunkFacts readChatChunk(std::string_view json_text);

// What readChatChunk says of a chunk whose last member is `"usage": null`,
// found by reading the bytes back from the end instead of a parse, when the
// bytes alone can tell: no backslash in the text, "usage" in it once, as
// the key of the member that the final closing brace ends. For a chunk that
// is one JSON object, the facts are those readChatChunk gives (is_object,
// usage_value kNull, usage_member_bytes); otherwise nothing, and the caller
// parses. Streams under include_usage carry `"usage":null` last in every
// chunk but the usage-only one: this keeps them from being parsed chunk by
// chunk.
std::optional<ChatChunkFacts> scanChatChunkWithNullUsage(std::string_view json_text);

// Appends `json_text` (a chunk readChatChunk described with `facts`)
// without its top-level "usage" member to `out`.
void appendWithoutTopLevelUsage(std::string_view json_text, const ChatChunkFacts& facts, std::string& out);

// The Responses API events that end a stream, each carrying the final
// response with its usage: response.completed, .incomplete and .failed.
inline bool isTerminalResponsesEvent(std::string_view type) {
  return type == "response.completed" || type == "response.incomplete" || type == "response.failed";
}

// The last "sequence_number" member with an integer value in Responses API
// event text (one event's data, or several events' raw SSE bytes), found
// by findLastMember, or nothing.
std::optional<std::int64_t> scanLastSequenceNumber(std::string_view text);

// "model" of an OpenAI response/chunk, found cheaply, or empty.
std::string scanModel(std::string_view json_text);

}  // namespace gw
