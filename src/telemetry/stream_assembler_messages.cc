// The Anthropic Messages side of StreamAssembler: the message a stream's
// events build. message_start gives the message (empty content, first
// usage); content_block_start/delta/stop build each content block (text,
// tool input from its partial JSON, thinking and its signature, citations);
// message_delta sets stop_reason and friends and replaces each usage count
// it gives (counts may repeat cumulatively: the last value wins). Every
// event takes the general path (a tree per event): the fold needs its
// members, and Messages events carry little else.
#include "telemetry/record_builder.h"
#include "telemetry/secret_scrub.h"
#include "telemetry/stream_assembler.h"

#include <boost/json/monotonic_resource.hpp>

namespace gw {

namespace json = boost::json;

namespace {

std::string_view stringMember(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
}

void appendTo(json::object& block, std::string_view key, std::string_view text) {
  json::value& slot = block[key];
  if (slot.is_string()) slot.as_string().append(text);
  else slot = text;
}

}  // namespace

void StreamAssembler::foldMessagesEvent(const json::object& event) {
  const std::string_view type = stringMember(event, "type");
  if (type == "message_start") {
    if (const auto* m = event.if_contains("message"); m && m->is_object()) message_ = json::object(m->as_object(), sp_);
  } else if (type == "content_block_start") {
    const auto* index = event.if_contains("index");
    const auto* block = event.if_contains("content_block");
    if (index && index->is_int64() && block && block->is_object())
      blocks_.insert_or_assign(index->as_int64(), json::object(block->as_object(), sp_));
  } else if (type == "content_block_delta") {
    const auto* index = event.if_contains("index");
    const auto* d = event.if_contains("delta");
    if (!index || !index->is_int64() || !d || !d->is_object()) return;
    const json::object& delta = d->as_object();
    auto [it, fresh] = blocks_.try_emplace(index->as_int64(), sp_);
    json::object& block = it->second;
    const std::string_view delta_type = stringMember(delta, "type");
    if (delta_type == "text_delta") {
      appendTo(block, "text", stringMember(delta, "text"));
    } else if (delta_type == "input_json_delta") {
      partial_json_[index->as_int64()].append(stringMember(delta, "partial_json"));
    } else if (delta_type == "thinking_delta") {
      appendTo(block, "thinking", stringMember(delta, "thinking"));
    } else if (delta_type == "signature_delta") {
      block["signature"] = stringMember(delta, "signature");
    } else if (delta_type == "citations_delta") {
      if (const auto* c = delta.if_contains("citation")) {
        json::value& citations = block["citations"];
        if (!citations.is_array()) citations.emplace_array();
        citations.as_array().push_back(*c);
      }
    }
  } else if (type == "content_block_stop") {
    if (const auto* index = event.if_contains("index"); index && index->is_int64()) finishToolInput(index->as_int64());
  } else if (type == "message_delta") {
    if (const auto* d = event.if_contains("delta"); d && d->is_object())
      for (const auto& [key, value] : d->as_object()) message_[key] = value;
    if (const auto* u = event.if_contains("usage"); u && u->is_object()) {
      json::value& usage = message_["usage"];
      if (!usage.is_object()) usage.emplace_object();
      for (const auto& [key, value] : u->as_object()) usage.as_object()[key] = value;
    }
  } else if (type == "error" && !error_type_) {
    std::string_view error_type;
    if (const auto* e = event.if_contains("error"); e && e->is_object()) error_type = stringMember(e->as_object(), "type");
    error_type_.emplace(error_type.empty() ? std::string_view("stream_error") : error_type);
  }
}

// A tool_use block's input arrives as pieces of JSON text; at the block's
// end they are one document (kept as the text itself should it not parse).
void StreamAssembler::finishToolInput(std::int64_t index) {
  auto text = partial_json_.find(index);
  if (text == partial_json_.end()) return;
  auto [block, fresh] = blocks_.try_emplace(index, sp_);
  if (text->second.empty()) {
    block->second["input"].emplace_object();
  } else if (std::optional<json::value> input = parseUntrustedJson(text->second, sp_)) {
    scrubForRecord(*input);
    block->second["input"] = std::move(*input);
  } else {
    block->second["input"] = scrubSecretsInText(text->second);
  }
  partial_json_.erase(text);
}

json::object StreamAssembler::finishMessages() {
  while (!partial_json_.empty()) finishToolInput(partial_json_.begin()->first);
  json::array content(sp_);
  content.reserve(blocks_.size());
  for (auto& [index, block] : blocks_) content.push_back(std::move(block));
  blocks_.clear();
  message_["content"] = std::move(content);
  return std::move(message_);
}

}  // namespace gw
