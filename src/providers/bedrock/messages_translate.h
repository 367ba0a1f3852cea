// Anthropic Messages API (POST /v1/messages, /v1/messages/count_tokens) <->
// Bedrock Converse, ConverseStream and CountTokens translation.
//
// Pure functions and one incremental stream translator (event-stream bytes
// in, Messages SSE events out); no I/O. Used by BedrockProvider on a
// request's worker thread. docs/providers.md ("Bedrock: Anthropic Messages
// API") has the field mapping.
#pragma once

#include "gw/provider.h"
#include "providers/bedrock/converse.h"
#include "providers/bedrock/event_stream.h"

#include <boost/json/fwd.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::providers::bedrock {

// A client's request translated for Bedrock.
struct ConverseCall {
  std::string model;    // the Bedrock model id, for the URL
  bool stream = false;  // ConverseStream rather than Converse
  std::string body;     // the JSON body to send
};

// A Messages body -> the Converse body (the model goes in the URL).
// Malformed or inexpressible input (a missing max_tokens, an image URL, a
// server tool, ...) is a 400 invalid_request_error whose message names the
// field ("messages.1.content.0.source.type: ...").
Result<ConverseCall> messagesToConverse(const boost::json::object& body);

// A count_tokens body (a Messages body without max_tokens) -> the
// CountTokens body {"input":{"converse":{messages, system, toolConfig,
// additionalModelRequestFields}}}. Sampling fields are not part of it.
Result<ConverseCall> countTokensToConverse(const boost::json::object& body);

// Converse stopReason -> Messages stop_reason.
std::string_view messagesStopReason(std::string_view converse_stop_reason);

// A Converse response body -> a Messages "message" object with `id` and
// `model`; fills obs.usage and obs.response_model.
Result<std::string> converseToMessage(std::string_view body, std::string_view id, std::string_view model,
                                      ResponseObservation& obs);

// A CountTokens answer {"inputTokens":N} -> {"input_tokens":N}. Counting is
// not billed: the observation gets no usage.
Result<std::string> countTokensToMessages(std::string_view body);

// A Bedrock error response -> Anthropic's error body
// {"type":"error","error":{"type":<from the status>,"message":...}}; fills
// obs.provider_error_type (the exception name) and _message.
std::string messagesError(int status, std::string_view error_type_header, std::string_view body,
                          ResponseObservation& obs);

// ConverseStream's event stream -> Anthropic Messages SSE events
// ("event: <type>\ndata: <json>\n\n"), each written as soon as the
// Converse event that makes it is complete. Converse reports usage
// (metadata) after messageStop: message_delta and message_stop wait for it
// or for the end of the stream. An exception message, malformed bytes or a
// broken upstream end the stream with Anthropic's error event. The data of
// every event sent is kept in the observation's chunks, in order, up to the
// first that does not fit the capture budget; the rest are counted.
class MessagesStreamTranslator {
 public:
  static constexpr std::size_t kMaxBlocks = 4096;

  // `secrets` are masked in any error message the stream carries.
  MessagesStreamTranslator(ResponseObservation& obs, std::size_t capture_budget, std::string id, std::string model,
                           std::vector<std::string> secrets = {});

  Status feed(std::string_view bytes, std::string& out);
  // The upstream ended; an Error when it ended mid-message or before messageStop.
  Status finish(std::string& out);
  void fail(const Error& error, std::string& out);

 private:
  enum class BlockKind { kText, kToolUse, kThinking, kRedactedThinking };
  struct Block {
    int index = 0;  // the Messages content block index
    BlockKind kind = BlockKind::kText;
    bool open = false;
  };

  Status onMessage(const eventstream::Message& message, std::string& out);
  Status onEvent(std::string_view type, const boost::json::object& event, std::string& out);
  Status onDelta(std::int64_t converse_index, const boost::json::object& delta, std::string& out);
  // The open block for `converse_index` if it is of `kind`, else a new
  // one, started with `content_block` (the previous open block is closed).
  Result<Block*> blockFor(std::int64_t converse_index, BlockKind kind, boost::json::object content_block,
                          std::string& out);
  void closeBlock(Block& block, std::string& out);
  void closeOpenBlock(std::string& out);
  void messageStart(std::string& out);
  void complete(std::string& out);
  void error(const Error& error, std::string& out);
  void emit(std::string_view type, const boost::json::object& data, std::string& out);
  // Keeps one event's data in the observation, within the capture budget.
  void capture(std::string data);

  ResponseObservation& obs_;
  std::size_t budget_;
  bool budget_spent_ = false;  // a chunk did not fit: none after it is kept
  std::string id_;
  std::string model_;
  std::vector<std::string> secrets_;
  eventstream::Decoder decoder_;
  std::map<std::int64_t, Block> blocks_;  // by Converse contentBlockIndex
  Block* open_ = nullptr;                 // at most one block is open, as in Anthropic's streams
  int next_index_ = 0;
  bool started_ = false;        // message_start written
  bool stopped_ = false;        // messageStop seen
  bool have_metadata_ = false;  // metadata (usage) seen
  bool ended_ = false;          // message_stop or an error event written
  std::string stop_reason_;
  std::optional<std::string> stop_sequence_;
  // Converse's own counts, for message_delta's usage.
  std::optional<std::int64_t> input_tokens_, output_tokens_, cache_read_tokens_, cache_write_tokens_;
};

}  // namespace gw::providers::bedrock
