// OpenAI Chat Completions <-> Bedrock Converse / ConverseStream translation.
//
// Pure functions and one incremental stream translator (event-stream bytes
// in, OpenAI chunks out); no I/O. Used by BedrockProvider on a request's
// worker thread.
#pragma once

#include "gw/provider.h"
#include "providers/bedrock/converse.h"
#include "providers/bedrock/event_stream.h"
#include "providers/common/openai_chat.h"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace gw::providers::bedrock {

// The Converse body for a validated chat request (the model goes in the URL).
Result<std::string> toConverseRequest(const openai_chat::ChatRequest& request);

// Bedrock stopReason -> OpenAI finish_reason.
std::string finishReason(std::string_view stop_reason);

// A Converse response body -> chat.completion JSON; fills obs.usage.
Result<std::string> translateResponse(std::string_view body, std::string_view id, std::string_view model,
                                      std::int64_t created, ResponseObservation& obs);

// A Bedrock error response -> OpenAI error body. `error_type_header` is the
// x-amzn-ErrorType header ("ValidationException:http://..."), may be "".
std::string translateError(int status, std::string_view error_type_header, std::string_view body,
                           ResponseObservation& obs);

// ConverseStream's event stream -> OpenAI chat.completion.chunk events, each
// written as soon as its message is complete.
class StreamTranslator {
 public:
  static constexpr std::size_t kMaxBlocks = 4096;

  // `secrets`: the credentials the request was signed with, masked in an
  // exception message that echoes one.
  StreamTranslator(ResponseObservation& obs, std::size_t capture_budget, std::string id, std::string model,
                   bool client_wants_usage, std::int64_t created, std::vector<std::string> secrets = {});

  Status feed(std::string_view bytes, std::string& out);
  // The upstream ended; an Error when it ended mid-message or before messageStop.
  Status finish(std::string& out);
  void fail(const Error& error, std::string& out);

 private:
  Status onMessage(const eventstream::Message& message, std::string& out);
  Status onEvent(std::string_view type, const boost::json::object& event, std::string& out);
  void complete(std::string& out);

  ResponseObservation& obs_;
  openai_chat::ChunkWriter writer_;
  bool client_wants_usage_;
  eventstream::Decoder decoder_;
  std::map<std::int64_t, int> tool_index_by_block_;
  int next_tool_index_ = 0;
  bool stopped_ = false;       // messageStop seen
  bool have_metadata_ = false; // metadata (usage) seen
  bool ended_ = false;         // [DONE] or an error event written
  std::vector<std::string> secrets_;
};

}  // namespace gw::providers::bedrock
