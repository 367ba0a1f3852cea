// The OpenAI Chat Completions side of a translating provider: a validated,
// provider-neutral view of a chat/completions request, and writers for the
// OpenAI objects a translating provider sends back (chat.completion,
// chat.completion.chunk, the error shape).
//
// Shared by the translating providers (Anthropic, Bedrock: both translate
// to a "messages + content blocks" API); nothing here is specific to one.
//
// Everything here is called on a worker thread for one request; nothing is
// shared between requests.
#pragma once

#include "gw/provider.h"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::providers::openai_chat {

// An image part: either inline bytes (from a data: URL) or a remote URL.
struct Image {
  std::string media_type;  // "image/png", ... (inline only)
  std::string base64;      // inline bytes, base64 as the client sent them
  std::string url;         // http(s) URL when not inline
};

struct ContentPart {
  enum class Kind { kText, kImage };
  Kind kind = Kind::kText;
  std::string text;
  Image image;
};

struct ToolCall {
  std::string id;
  std::string name;
  boost::json::object arguments;  // the client's JSON arguments, parsed
};

struct Message {
  enum class Role { kSystem, kUser, kAssistant, kTool };
  Role role = Role::kUser;
  std::vector<ContentPart> content;  // text and images; no empty text parts
  std::vector<ToolCall> tool_calls;  // assistant only
  std::string tool_call_id;          // tool only
};

struct Tool {
  std::string name;
  std::string description;
  boost::json::value parameters;  // JSON Schema object
};

struct ToolChoice {
  enum class Mode { kUnset, kAuto, kNone, kRequired, kNamed };
  Mode mode = Mode::kUnset;
  std::string name;  // kNamed
};

struct ChatRequest {
  std::string model;
  std::vector<Message> messages;  // in order, system messages included
  std::optional<std::int64_t> max_tokens;  // max_tokens or max_completion_tokens
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<std::int64_t> top_k;  // non-OpenAI extension, Anthropic only
  std::vector<std::string> stop;
  std::vector<Tool> tools;
  ToolChoice tool_choice;
  std::optional<bool> parallel_tool_calls;
  std::optional<std::string> user;
  bool stream = false;
};

// Validates and converts a chat/completions body. Fields the target APIs
// cannot express and that would change the answer (n > 1, logprobs,
// response_format json, penalties, logit_bias, audio, legacy functions) are
// a 400 naming the field; harmless ones are dropped. `provider` names the
// target in error messages. docs/providers.md has the full table.
Result<ChatRequest> parseChatRequest(const boost::json::object& body, std::string_view provider);

// Splits "data:image/png;base64,AAAA" into media type and base64 payload.
// Only base64 data URLs of image/{png,jpeg,gif,webp} are accepted.
Result<Image> parseImageUrl(std::string_view url);

// Usage as OpenAI reports it: prompt_tokens (cache reads and writes
// included, as OpenAI counts cached tokens inside prompt_tokens),
// completion_tokens, total_tokens, prompt_tokens_details.cached_tokens.
boost::json::object usageJson(const Usage& usage);

// What a translated non-streaming response says.
struct Completion {
  std::string id;
  std::string model;
  std::int64_t created = 0;
  std::string text;  // concatenated text blocks
  bool has_text = false;
  std::vector<std::pair<std::string, std::string>> tool_calls_id_name;
  std::vector<std::string> tool_calls_arguments;  // JSON text, parallel to the above
  std::string finish_reason;
  Usage usage;
};
std::string completionJson(const Completion& completion);

// The OpenAI error body for an upstream error: same message, the
// provider's error type (or one derived from the status) and code.
std::string upstreamErrorBody(int status, std::string_view type, std::string_view code, std::string_view message);
// The OpenAI "type" for an upstream HTTP status without a typed body.
std::string errorTypeForStatus(int status);

// Emits OpenAI chat.completion.chunk events ("data: {...}\n\n") for one
// streamed response and records each chunk in the observation, within the
// capture budget (chunks past it are counted, not kept).
class ChunkWriter {
 public:
  ChunkWriter(ResponseObservation& observation, std::size_t capture_budget)
      : obs_(observation), budget_(capture_budget) {}

  void setId(std::string id) { id_ = std::move(id); }
  void setModel(std::string model) { model_ = std::move(model); }
  void setCreated(std::int64_t created) { created_ = created; }
  const std::string& model() const { return model_; }

  // The first chunk, {"role":"assistant","content":""}; later calls do nothing.
  void role(std::string& out);
  void content(std::string_view text, std::string& out);
  void toolCallStart(int index, std::string_view id, std::string_view name, std::string& out);
  void toolCallArguments(int index, std::string_view arguments, std::string& out);
  void finish(std::string_view finish_reason, std::string& out);
  // The usage-only chunk ("choices":[]) of stream_options.include_usage.
  void usage(const Usage& usage, std::string& out);
  // A final error event (OpenAI error shape) and nothing after it.
  void error(const Error& error, std::string& out);
  void done(std::string& out) { out.append("data: [DONE]\n\n"); }

  bool sentRole() const { return sent_role_; }

 private:
  void emitDelta(boost::json::object delta, const char* finish_reason, std::string& out);
  void emit(const boost::json::object& chunk, std::string& out);

  ResponseObservation& obs_;
  std::size_t budget_;
  std::string id_;
  std::string model_;
  std::int64_t created_ = 0;
  bool sent_role_ = false;
};

// Seconds since the Unix epoch, for "created".
std::int64_t unixNow();

// Field readers for upstream JSON shared by the translators: a missing or
// mistyped field reads as empty.
std::optional<std::int64_t> intField(const boost::json::object& o, std::string_view key);
std::string_view stringField(const boost::json::object& o, std::string_view key);

}  // namespace gw::providers::openai_chat
