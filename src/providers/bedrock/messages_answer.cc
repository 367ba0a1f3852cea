// Converse -> the Messages API: a whole answer, a token count, an error
// body, and the stream translated event by event. The request side is
// messages_request.cc.
#include "providers/bedrock/messages_translate.h"

#include "common/anthropic_error.h"
#include "common/strings.h"
#include "providers/common/openai_chat.h"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cmath>
#include <cstdint>
#include <limits>

namespace gw::providers::bedrock {
namespace json = boost::json;
using openai_chat::intField;
using openai_chat::stringField;

namespace {


json::object messagesUsage(std::optional<std::int64_t> input, std::optional<std::int64_t> output,
                           std::optional<std::int64_t> cache_read, std::optional<std::int64_t> cache_write) {
  json::object u;
  u["input_tokens"] = input.value_or(0);
  if (cache_write) u["cache_creation_input_tokens"] = *cache_write;
  if (cache_read) u["cache_read_input_tokens"] = *cache_read;
  u["output_tokens"] = output.value_or(0);
  return u;
}

// Claude's stop sequence, which Converse passes on among the additional
// model response fields ({"stop_sequence": ...}, in a stream under "delta").
std::optional<std::string> stopSequence(const json::object& holder) {
  const auto* fields = objectField(holder, "additionalModelResponseFields");
  if (!fields) return std::nullopt;
  if (auto s = stringField(*fields, "stop_sequence"); !s.empty()) return std::string(s);
  if (const auto* delta = objectField(*fields, "delta"))
    if (auto s = stringField(*delta, "stop_sequence"); !s.empty()) return std::string(s);
  return std::nullopt;
}

json::value optionalString(const std::optional<std::string>& s) { return s ? json::value(*s) : json::value(nullptr); }

Error malformed(std::string message) { return Error::badGateway("upstream_stream_malformed", std::move(message)); }

// The HTTP status whose Anthropic error type fits a ConverseStream exception.
int statusForStreamException(std::string_view type) {
  if (type == "throttlingException" || type == "serviceQuotaExceededException") return 429;
  if (type == "serviceUnavailableException") return 503;
  if (type == "validationException") return 400;
  if (type == "accessDeniedException") return 403;
  if (type == "resourceNotFoundException") return 404;
  if (type == "modelTimeoutException") return 504;
  return 500;  // internalServerException, modelStreamErrorException, ...
}


}  // namespace

std::string_view messagesStopReason(std::string_view r) {
  if (r == "tool_use" || r == "max_tokens" || r == "stop_sequence" || r == "model_context_window_exceeded") return r;
  if (r == "guardrail_intervened" || r == "content_filtered") return "refusal";
  return "end_turn";
}

Result<std::string> converseToMessage(std::string_view body, std::string_view id, std::string_view model,
                                      ResponseObservation& obs) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  const json::object* message = nullptr;
  if (!ec && v.is_object())
    if (const auto* output = objectField(v.as_object(), "output")) message = objectField(*output, "message");
  if (!message || !message->contains("content") || !message->at("content").is_array())
    return Error::badGateway("upstream_response_malformed", "the Bedrock response has no output message");
  const json::object& response = v.as_object();

  json::array content;
  for (const auto& item : message->at("content").as_array()) {
    if (!item.is_object()) continue;
    const auto& b = item.as_object();
    if (const auto* text = b.if_contains("text"); text && text->is_string()) {
      content.push_back(json::object{{"type", "text"}, {"text", text->as_string()}});
    } else if (const auto* use = objectField(b, "toolUse")) {
      const auto* input = use->if_contains("input");
      content.push_back(json::object{{"type", "tool_use"},
                                     {"id", stringField(*use, "toolUseId")},
                                     {"name", stringField(*use, "name")},
                                     {"input", input && input->is_object() ? *input : json::value(json::object())}});
    } else if (const auto* reasoning = objectField(b, "reasoningContent")) {
      if (const auto* reasoning_text = objectField(*reasoning, "reasoningText")) {
        content.push_back(json::object{{"type", "thinking"},
                                       {"thinking", stringField(*reasoning_text, "text")},
                                       {"signature", stringField(*reasoning_text, "signature")}});
      } else if (const auto* data = reasoning->if_contains("redactedContent"); data && data->is_string()) {
        content.push_back(json::object{{"type", "redacted_thinking"}, {"data", data->as_string()}});
      }
    }
    // Other Converse blocks (citations, images, documents) have no place in
    // an assistant message of the Messages API.
  }

  std::optional<std::int64_t> input, output, cache_read, cache_write;
  obs.usage_from_handler = true;  // without Converse's usage, the message's counts are placeholders (0)
  if (const auto* u = objectField(response, "usage")) {
    readUsage(*u, obs.usage);
    input = intField(*u, "inputTokens");
    output = intField(*u, "outputTokens");
    cache_read = intField(*u, "cacheReadInputTokens");
    cache_write = intField(*u, "cacheWriteInputTokens");
  }
  obs.response_model = std::string(model);

  json::object out;
  out["id"] = id;
  out["type"] = "message";
  out["role"] = "assistant";
  out["model"] = model;
  out["content"] = std::move(content);
  out["stop_reason"] = messagesStopReason(stringField(response, "stopReason"));
  out["stop_sequence"] = optionalString(stopSequence(response));
  out["usage"] = messagesUsage(input, output, cache_read, cache_write);
  return json::serialize(out);
}

Result<std::string> countTokensToMessages(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  std::optional<std::int64_t> tokens;
  if (!ec && v.is_object()) tokens = intField(v.as_object(), "inputTokens");
  if (!tokens)
    return Error::badGateway("upstream_response_malformed", "the Bedrock CountTokens answer has no inputTokens");
  return json::serialize(json::object{{"input_tokens", *tokens}});
}

std::string messagesError(int status, std::string_view error_type_header, std::string_view body,
                          ResponseObservation& obs) {
  UpstreamError e = readUpstreamError(status, error_type_header, body);
  std::string type(anthropicErrorType(status));
  obs.provider_error_type = e.code.empty() ? type : e.code;
  obs.provider_error_message = e.message;
  return anthropicErrorBody(Error(status, std::move(type), std::move(e.code), std::move(e.message)));
}

// ---- The stream.

MessagesStreamTranslator::MessagesStreamTranslator(ResponseObservation& obs, std::size_t capture_budget, std::string id,
                                                   std::string model, std::vector<std::string> secrets)
    : obs_(obs), budget_(capture_budget), id_(std::move(id)), model_(std::move(model)), secrets_(std::move(secrets)) {
  obs_.api = ResponseApi::kMessages;
  obs_.usage_from_handler = true;  // message_start's counts are placeholders: Converse gives its own at the end
  obs_.response_model = model_;
}

void MessagesStreamTranslator::emit(std::string_view type, const json::object& data, std::string& out) {
  std::string text = json::serialize(data);
  out.append("event: ").append(type).append("\ndata: ").append(text).append("\n\n");
  capture(std::move(text));
}

void MessagesStreamTranslator::capture(std::string data) {
  // The kept chunks stay a prefix of the stream: the record assembles the
  // message from them, and a delta missing in the middle would change it.
  if (budget_spent_ || obs_.chunk_bytes + data.size() > budget_) {
    budget_spent_ = true;
    ++obs_.chunks_not_captured;
    return;
  }
  obs_.chunk_bytes += data.size();
  obs_.chunks.push_back(std::move(data));
}

Status MessagesStreamTranslator::feed(std::string_view bytes, std::string& out) {
  return decoder_.feed(bytes, [&](const eventstream::Message& m) -> Status {
    if (ended_) return ok();
    return onMessage(m, out);
  });
}

Status MessagesStreamTranslator::onMessage(const eventstream::Message& m, std::string& out) {
  auto message = readStreamMessage(m);
  if (!message) return message.error();
  if (message->error) {
    StreamError& e = *message->error;
    observeStreamError(e, secrets_, obs_);
    error(Error(statusForStreamException(e.type), "", e.type, e.message), out);
    return ok();
  }
  return onEvent(message->event_type, message->fields(), out);
}

void MessagesStreamTranslator::messageStart(std::string& out) {
  if (started_) return;
  started_ = true;
  // Converse reports usage only at the end: message_delta carries it.
  json::object message{{"id", id_},
                       {"type", "message"},
                       {"role", "assistant"},
                       {"model", model_},
                       {"content", json::array()},
                       {"stop_reason", nullptr},
                       {"stop_sequence", nullptr},
                       {"usage", messagesUsage(0, 0, std::nullopt, std::nullopt)}};
  emit("message_start", json::object{{"type", "message_start"}, {"message", std::move(message)}}, out);
}

void MessagesStreamTranslator::closeBlock(Block& block, std::string& out) {
  if (!block.open) return;
  block.open = false;
  if (open_ == &block) open_ = nullptr;
  emit("content_block_stop", json::object{{"type", "content_block_stop"}, {"index", block.index}}, out);
}

void MessagesStreamTranslator::closeOpenBlock(std::string& out) {
  if (open_) closeBlock(*open_, out);
}

Result<MessagesStreamTranslator::Block*> MessagesStreamTranslator::blockFor(std::int64_t converse_index, BlockKind kind,
                                                                            json::object content_block,
                                                                            std::string& out) {
  auto it = blocks_.find(converse_index);
  if (it != blocks_.end() && it->second.open && it->second.kind == kind) return &it->second;
  if (static_cast<std::size_t>(next_index_) >= kMaxBlocks) return malformed("too many content blocks");
  messageStart(out);
  closeOpenBlock(out);
  Block& block = blocks_[converse_index];
  block.index = next_index_++;
  block.kind = kind;
  block.open = true;
  open_ = &block;
  emit("content_block_start",
       json::object{
           {"type", "content_block_start"}, {"index", block.index}, {"content_block", std::move(content_block)}},
       out);
  return &block;
}

Status MessagesStreamTranslator::onEvent(std::string_view type, const json::object& e, std::string& out) {
  if (type == "messageStart") {
    messageStart(out);
  } else if (type == "contentBlockStart") {
    auto index = intField(e, "contentBlockIndex");
    if (!index) return malformed("contentBlockStart without contentBlockIndex");
    const auto* start = objectField(e, "start");
    // A text or reasoning block starts with its first delta; only a tool
    // call has a start event (its id and name).
    if (const auto* use = start ? objectField(*start, "toolUse") : nullptr) {
      json::object block{{"type", "tool_use"},
                         {"id", stringField(*use, "toolUseId")},
                         {"name", stringField(*use, "name")},
                         {"input", json::object()}};
      auto b = blockFor(*index, BlockKind::kToolUse, std::move(block), out);
      if (!b) return b.error();
    }
  } else if (type == "contentBlockDelta") {
    auto index = intField(e, "contentBlockIndex");
    const auto* delta = objectField(e, "delta");
    if (!index || !delta) return malformed("contentBlockDelta without contentBlockIndex or delta");
    return onDelta(*index, *delta, out);
  } else if (type == "contentBlockStop") {
    auto index = intField(e, "contentBlockIndex");
    if (!index) return malformed("contentBlockStop without contentBlockIndex");
    if (auto it = blocks_.find(*index); it != blocks_.end()) closeBlock(it->second, out);
  } else if (type == "messageStop") {
    messageStart(out);
    closeOpenBlock(out);
    stop_reason_ = std::string(messagesStopReason(stringField(e, "stopReason")));
    stop_sequence_ = stopSequence(e);
    stopped_ = true;
    if (have_metadata_) complete(out);
  } else if (type == "metadata") {
    if (const auto* u = objectField(e, "usage")) {
      readUsage(*u, obs_.usage);
      // A later count replaces an earlier one, as in readUsage.
      if (auto v = intField(*u, "inputTokens")) input_tokens_ = v;
      if (auto v = intField(*u, "outputTokens")) output_tokens_ = v;
      if (auto v = intField(*u, "cacheReadInputTokens")) cache_read_tokens_ = v;
      if (auto v = intField(*u, "cacheWriteInputTokens")) cache_write_tokens_ = v;
    }
    have_metadata_ = true;
    if (stopped_) complete(out);
  }
  // Event types added later carry nothing a Messages client reads.
  return ok();
}

Status MessagesStreamTranslator::onDelta(std::int64_t index, const json::object& delta, std::string& out) {
  if (const auto* text = delta.if_contains("text"); text && text->is_string()) {
    auto b = blockFor(index, BlockKind::kText, json::object{{"type", "text"}, {"text", ""}}, out);
    if (!b) return b.error();
    emit("content_block_delta",
         json::object{{"type", "content_block_delta"},
                      {"index", (*b)->index},
                      {"delta", json::object{{"type", "text_delta"}, {"text", text->as_string()}}}},
         out);
  } else if (const auto* use = objectField(delta, "toolUse")) {
    auto it = blocks_.find(index);
    if (it == blocks_.end() || !it->second.open || it->second.kind != BlockKind::kToolUse)
      return malformed("toolUse delta for a block that is not an open toolUse");
    emit("content_block_delta",
         json::object{
             {"type", "content_block_delta"},
             {"index", it->second.index},
             {"delta", json::object{{"type", "input_json_delta"}, {"partial_json", stringField(*use, "input")}}}},
         out);
  } else if (const auto* reasoning = objectField(delta, "reasoningContent")) {
    if (const auto* data = reasoning->if_contains("redactedContent"); data && data->is_string()) {
      // A redacted block is whole in its start event: each one is a block.
      closeOpenBlock(out);
      auto b = blockFor(index, BlockKind::kRedactedThinking,
                        json::object{{"type", "redacted_thinking"}, {"data", data->as_string()}}, out);
      if (!b) return b.error();
      return ok();
    }
    auto b = blockFor(index, BlockKind::kThinking,
                      json::object{{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}, out);
    if (!b) return b.error();
    if (const auto* thinking = reasoning->if_contains("text"); thinking && thinking->is_string())
      emit("content_block_delta",
           json::object{{"type", "content_block_delta"},
                        {"index", (*b)->index},
                        {"delta", json::object{{"type", "thinking_delta"}, {"thinking", thinking->as_string()}}}},
           out);
    if (const auto* signature = reasoning->if_contains("signature"); signature && signature->is_string())
      emit("content_block_delta",
           json::object{{"type", "content_block_delta"},
                        {"index", (*b)->index},
                        {"delta", json::object{{"type", "signature_delta"}, {"signature", signature->as_string()}}}},
           out);
  }
  // Citation deltas have no Messages form here.
  return ok();
}

void MessagesStreamTranslator::complete(std::string& out) {
  json::object delta{{"stop_reason", stop_reason_}, {"stop_sequence", optionalString(stop_sequence_)}};
  emit("message_delta",
       json::object{{"type", "message_delta"},
                    {"delta", std::move(delta)},
                    {"usage", messagesUsage(input_tokens_, output_tokens_, cache_read_tokens_, cache_write_tokens_)}},
       out);
  emit("message_stop", json::object{{"type", "message_stop"}}, out);
  ended_ = true;
}

void MessagesStreamTranslator::error(const Error& e, std::string& out) {
  out.append(anthropicErrorEvent(e));
  capture(anthropicErrorBody(e));  // the event's data
  ended_ = true;
}

Status MessagesStreamTranslator::finish(std::string& out) {
  if (ended_) return ok();
  if (!decoder_.idle()) return Error::badGateway("upstream_stream_truncated", "the Bedrock stream ended mid-message");
  if (!stopped_) return Error::badGateway("upstream_stream_truncated", "the Bedrock stream ended before messageStop");
  complete(out);  // no metadata event: the usage is unknown
  return ok();
}

void MessagesStreamTranslator::fail(const Error& e, std::string& out) {
  if (ended_) return;
  // The gateway's own error event (a broken or malformed upstream) is the
  // client's last event, but no event of the provider's: the record keeps
  // the events relayed before it, as on the other APIs, and no provider error.
  out.append(anthropicErrorEvent(e));
  ended_ = true;
}

}  // namespace gw::providers::bedrock