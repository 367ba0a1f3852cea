// The OpenAI Chat Completions side of a translating provider: a validated,
// provider-neutral view of a chat/completions request, and writers for the
// OpenAI objects a translating provider sends back (chat.completion,
// chat.completion.chunk, the error shape).
//
// Shared by the translating providers (Anthropic, Bedrock, Gemini: each
// translates to a "messages + content parts" API); nothing here is specific
// to one.
//
// Everything here is called on a worker thread for one request; nothing is
// shared between requests.
#pragma once

#include "gw/provider.h"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <span>
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

// response_format: plain text (the default), any JSON object, or JSON
// following a schema.
struct ResponseFormat {
  enum class Kind { kText, kJsonObject, kJsonSchema };
  Kind kind = Kind::kText;
  boost::json::value schema;  // kJsonSchema: json_schema.schema, null when the client sent none
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
  std::optional<std::int64_t> seed;  // when an integer; no target is required to honour it
  std::int64_t n = 1;                // > 1 only when ChatRequestOptions::max_choices allows it
  ResponseFormat response_format;    // not kText only when ChatRequestOptions::json_response_format
  bool stream = false;
};

// What a target can express beyond what every translating provider can.
// The defaults are the common ground: one choice, text responses.
struct ChatRequestOptions {
  // Largest "n" accepted; above it "n" is a 400.
  std::int64_t max_choices = 1;
  // response_format json_object / json_schema accepted (else a 400).
  bool json_response_format = false;
};

// Validates and converts a chat/completions body. Fields the target APIs
// cannot express and that would change the answer (n > 1, logprobs,
// response_format json, penalties, logit_bias, audio, legacy functions) are
// a 400 naming the field, unless `options` says the target takes them;
// harmless ones are dropped. `provider` names the target in error messages.
// docs/providers.md has the full table.
Result<ChatRequest> parseChatRequest(const boost::json::object& body, std::string_view provider,
                                     const ChatRequestOptions& options = {});

// Splits "data:image/png;base64,AAAA" into media type and base64 payload.
// Only base64 data URLs of image/{png,jpeg,gif,webp} are accepted.
Result<Image> parseImageUrl(std::string_view url);

// Usage as OpenAI reports it: prompt_tokens (cache reads and writes
// included, as OpenAI counts cached tokens inside prompt_tokens),
// completion_tokens (reasoning included), total_tokens,
// prompt_tokens_details.cached_tokens and
// completion_tokens_details.reasoning_tokens (each only when known).
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
// A response with several choices (n > 1): one Completion per choice, in
// the order of their indexes; id, model, created and usage are the first's.
std::string completionJson(std::span<const Completion> choices);

// The OpenAI error body for an upstream error: same message, the
// provider's error type (or one derived from the status) and code.
std::string upstreamErrorBody(int status, std::string_view type, std::string_view code, std::string_view message);
// The OpenAI "type" for an upstream HTTP status without a typed body.
std::string errorTypeForStatus(int status);

// Emits OpenAI chat.completion.chunk events ("data: {...}\n\n") for one
// streamed response and records each chunk in the observation, within the
// capture budget (chunks past it are counted, not kept). `choice` is the
// choice index of a response with several (n > 1), in [0, kMaxChoices)
// (the caller checks it; one outside is written as given but shares choice
// 0's role flag).
class ChunkWriter {
 public:
  static constexpr int kMaxChoices = 64;

  ChunkWriter(ResponseObservation& observation, std::size_t capture_budget)
      : obs_(observation), budget_(capture_budget) {}

  void setId(std::string id) { id_ = std::move(id); }
  void setModel(std::string model) { model_ = std::move(model); }
  void setCreated(std::int64_t created) { created_ = created; }
  const std::string& model() const { return model_; }

  // The first chunk of a choice, {"role":"assistant","content":""}; later
  // calls for that choice do nothing.
  void role(std::string& out, int choice = 0);
  void content(std::string_view text, std::string& out, int choice = 0);
  void toolCallStart(int index, std::string_view id, std::string_view name, std::string& out, int choice = 0);
  void toolCallArguments(int index, std::string_view arguments, std::string& out, int choice = 0);
  void finish(std::string_view finish_reason, std::string& out, int choice = 0);
  // The usage-only chunk ("choices":[]) of stream_options.include_usage.
  void usage(const Usage& usage, std::string& out);
  // A final error event (OpenAI error shape) and nothing after it.
  void error(const Error& error, std::string& out);
  void done(std::string& out) { out.append("data: [DONE]\n\n"); }

  bool sentRole(int choice = 0) const { return (roles_sent_ >> bit(choice)) & 1u; }

 private:
  static int bit(int choice) { return choice >= 0 && choice < kMaxChoices ? choice : 0; }
  void emitDelta(boost::json::object delta, const char* finish_reason, int choice, std::string& out);
  void emit(const boost::json::object& chunk, std::string& out);

  ResponseObservation& obs_;
  std::size_t budget_;
  std::string id_;
  std::string model_;
  std::int64_t created_ = 0;
  std::uint64_t roles_sent_ = 0;  // bit i: choice i had its role chunk
};

// Seconds since the Unix epoch, for "created".
std::int64_t unixNow();

// Field readers for upstream JSON shared by the translators: a missing or
// mistyped field reads as empty.
std::optional<std::int64_t> intField(const boost::json::object& o, std::string_view key);
std::string_view stringField(const boost::json::object& o, std::string_view key);

}  // namespace gw::providers::openai_chat
