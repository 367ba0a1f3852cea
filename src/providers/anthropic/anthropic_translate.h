// OpenAI Chat Completions <-> Anthropic Messages API translation.
//
// Pure functions and one incremental stream translator; no I/O. Used by
// AnthropicProvider on a request's worker thread.
#pragma once

#include "common/sse_parser.h"
#include "gw/provider.h"
#include "providers/common/openai_chat.h"

#include <map>
#include <string>
#include <string_view>

namespace gw::providers::anthropic {

inline constexpr std::int64_t kDefaultMaxTokens = 4096;

// The Messages API body for a validated chat request.
std::string toMessagesRequest(const openai_chat::ChatRequest& request);

// Anthropic stop_reason -> OpenAI finish_reason.
std::string finishReason(std::string_view stop_reason);

// Reads an Anthropic "usage" object into `out`. Anthropic's input_tokens
// excludes cache reads and writes; OpenAI's prompt_tokens includes them, so
// input = input_tokens + cache_read_input_tokens + cache_creation_input_tokens.
void readUsage(const boost::json::object& usage, Usage& out);

// A Messages API response body -> chat.completion JSON. Fills usage and
// response_model in `obs`. An Error when the body is not a message.
Result<std::string> translateResponse(std::string_view body, std::int64_t created, ResponseObservation& obs);

// An Anthropic error body ({"type":"error","error":{"type","message"}}) ->
// OpenAI error body; fills provider_error_type/message in `obs`.
std::string translateError(int status, std::string_view body, ResponseObservation& obs);

// Anthropic's SSE stream -> OpenAI chat.completion.chunk events, one event
// at a time: every delta is written as soon as its event is complete.
class StreamTranslator {
 public:
  // Largest SSE event accepted (Anthropic's are a few hundred bytes).
  static constexpr std::size_t kMaxEventBytes = 1u << 20;
  // Content blocks per message; more is a broken upstream.
  static constexpr std::size_t kMaxBlocks = 4096;

  StreamTranslator(ResponseObservation& obs, std::size_t capture_budget, std::string model, bool client_wants_usage,
                   std::int64_t created);

  // Upstream bytes, split anywhere. Appends client bytes to `out`.
  Status feed(std::string_view bytes, std::string& out);
  // The upstream ended. An Error when the stream stopped before message_stop.
  Status finish(std::string& out);
  // The stream broke: a final error event, unless the stream already ended.
  void fail(const Error& error, std::string& out);

 private:
  Status onEvent(std::string_view data, std::string& out);
  void complete(std::string& out);

  ResponseObservation& obs_;
  openai_chat::ChunkWriter writer_;
  bool client_wants_usage_;
  SseParser parser_{kMaxEventBytes};
  // Content block index -> OpenAI tool_calls index, or kNotAClientTool for
  // any other block (text, thinking, a server tool's call and its result).
  static constexpr int kNotAClientTool = -1;
  std::map<std::int64_t, int> tool_index_by_block_;
  int next_tool_index_ = 0;
  std::string finish_reason_;
  bool ended_ = false;  // [DONE] or an error event was written
};

}  // namespace gw::providers::anthropic
