// OpenAI Chat Completions <-> Gemini API (generateContent) translation.
//
// Pure functions and one incremental stream translator; no I/O. Used by
// GeminiProvider on a request's worker thread. docs/providers.md has the
// field mapping.
#pragma once

#include "common/sse_parser.h"
#include "gw/provider.h"
#include "providers/common/openai_chat.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gw::providers::gemini {

// Gemini answers with at most 8 candidates (generationConfig.candidateCount).
inline constexpr int kMaxCandidates = 8;
// Function calls in one response; more is a broken upstream.
inline constexpr int kMaxToolCalls = 4096;

// What the OpenAI side may ask of Gemini beyond the common ground: n up to
// kMaxCandidates (candidateCount) and JSON response formats.
inline constexpr openai_chat::ChatRequestOptions kChatOptions{kMaxCandidates, true};

// Put on the first functionCall part of every model turn of the history:
// Gemini 3 models refuse an unsigned function call there, and an OpenAI
// client does not keep the thoughtSignature Gemini sent with the call.
// Gemini takes this value in place of a signature it issued (the model then
// goes on without its earlier reasoning).
inline constexpr std::string_view kUnsignedCallSignature = "skip_thought_signature_validator";

// "/v1beta/models/{model}:generateContent", or
// ":streamGenerateContent?alt=sse" when streaming. A leading "models/" (the
// resource name the Gemini SDKs use) is dropped; the rest is
// percent-encoded as one path segment.
std::string modelPath(std::string_view model, bool stream);

// The generateContent body for a validated chat request. An Error (400)
// for what Gemini cannot take: an image by URL, a tool message whose
// tool_call_id names no earlier tool call.
Result<std::string> toGenerateContentRequest(const openai_chat::ChatRequest& request);

// Gemini finishReason -> OpenAI finish_reason (before the "tool_calls"
// override of a candidate with function calls).
std::string finishReason(std::string_view gemini_reason);

// Reads a usageMetadata object into `out`, replacing what was there:
// input = promptTokenCount + toolUsePromptTokenCount, output =
// candidatesTokenCount + thoughtsTokenCount, total = input + output
// (Gemini's totalTokenCount), cached_input = cachedContentTokenCount,
// reasoning = thoughtsTokenCount. Gemini leaves out counts that are 0.
void readUsage(const boost::json::object& usage_metadata, Usage& out);

// A GenerateContentResponse body -> chat.completion JSON, one choice per
// candidate. `fallback_id` / `fallback_model` stand in for a missing
// responseId / modelVersion. Fills usage and response_model in `obs`. An
// Error (502) when the body is not a GenerateContentResponse.
Result<std::string> translateResponse(std::string_view body, std::string_view fallback_id,
                                      std::string_view fallback_model, std::int64_t created, ResponseObservation& obs);

// A Gemini error body ({"error":{"code","message","status"}}, also inside a
// one-element array) -> OpenAI error body: the message, a type from the
// HTTP status, Gemini's status as the code. Fills provider_error_type
// (Gemini's status) and provider_error_message in `obs`.
std::string translateError(int status, std::string_view body, ResponseObservation& obs);

// Gemini's SSE stream (streamGenerateContent?alt=sse: every event one
// GenerateContentResponse) -> OpenAI chat.completion.chunk events. Text and
// function calls are forwarded as soon as their event is complete; the
// finish chunks, the usage chunk and [DONE] follow when the stream ends,
// since Gemini has no end event and may repeat its (cumulative) usage in
// every event: the last usageMetadata is the one that counts.
class StreamTranslator {
 public:
  // Largest SSE event accepted (one streamed GenerateContentResponse).
  static constexpr std::size_t kMaxEventBytes = 1u << 20;

  // `fallback_id` / `model` stand in for a missing responseId / modelVersion;
  // `secrets` are redacted from an error event's message (the key sent
  // upstream).
  StreamTranslator(ResponseObservation& obs, std::size_t capture_budget, std::string fallback_id, std::string model,
                   bool client_wants_usage, std::int64_t created, std::vector<std::string> secrets = {});

  void setSecrets(std::vector<std::string> secrets) { secrets_ = std::move(secrets); }

  // Upstream bytes, split anywhere. Appends client bytes to `out`.
  Status feed(std::string_view bytes, std::string& out);
  // The upstream ended: the finish chunks, the usage chunk (when asked for)
  // and [DONE]. An Error when a candidate never got its finishReason.
  Status finish(std::string& out);
  // The stream broke: a final error event, unless the stream already ended.
  void fail(const Error& error, std::string& out);

 private:
  struct Candidate {
    bool seen = false;
    bool has_function_call = false;
    int tool_calls = 0;         // this choice's OpenAI tool_calls indexes used so far
    std::string finish_reason;  // OpenAI's; "" until Gemini sent one
  };

  Status onEvent(std::string_view data, std::string& out);
  Status onCandidate(const boost::json::object& candidate, std::string& out);
  void onError(const boost::json::object& error, std::string& out);

  ResponseObservation& obs_;
  openai_chat::ChunkWriter writer_;
  bool client_wants_usage_;
  SseParser parser_{kMaxEventBytes};
  std::array<Candidate, kMaxCandidates> candidates_;
  int next_call_id_ = 0;      // tool call ids call_<n>, unique in the response
  bool has_id_ = false;       // the chunk id is the first responseId seen
  bool blocked_ = false;      // promptFeedback.blockReason: the prompt got no answer
  bool ended_ = false;        // [DONE] or an error event was written
  std::vector<std::string> secrets_;
};

}  // namespace gw::providers::gemini
