// The Messages API request -> Converse: reading the client's body, block by
// block, into a Converse (or CountTokens) request. The answers going back are
// messages_answer.cc.
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

// ---- Reading the client's request.

Error invalid(std::string_view field, std::string_view problem) {
  return Error::badRequest("invalid_request", std::string(field) + ": " + std::string(problem));
}

Error unsupported(std::string_view field, std::string_view what, std::string_view hint = {}) {
  std::string message = std::string(field) + ": " + std::string(what) + " is not supported by the bedrock provider";
  if (!hint.empty()) message += " (" + std::string(hint) + ")";
  return Error::badRequest("unsupported_parameter", std::move(message));
}

std::string path(std::string_view parent, std::size_t index) {
  return std::string(parent) + "." + std::to_string(index);
}

std::string path(std::string_view parent, std::string_view key) { return std::string(parent) + "." + std::string(key); }

// An integer, also written as a float without a fraction (1024.0).
std::optional<std::int64_t> integerOf(const json::value& v) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return static_cast<std::int64_t>(v.as_uint64());
  if (v.is_double()) {
    double d = v.as_double();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

std::optional<double> numberOf(const json::value& v) {
  if (v.is_double()) return v.as_double();
  if (v.is_int64()) return static_cast<double>(v.as_int64());
  if (v.is_uint64()) return static_cast<double>(v.as_uint64());
  return std::nullopt;
}

// A member that is present and not null.
const json::value* member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && !v->is_null() ? v : nullptr;
}

Result<std::string_view> requiredString(const json::object& o, std::string_view key, std::string_view parent) {
  const auto* v = member(o, key);
  if (!v || !v->is_string() || v->as_string().empty()) return invalid(path(parent, key), "must be a non-empty string");
  return std::string_view(v->as_string());
}

// A block the client marked with cache_control is followed by a Converse
// cache point, which caches the prompt up to it.
Status appendCachePoint(const json::object& block, std::string_view field, json::array& out) {
  const auto* cc = member(block, "cache_control");
  if (!cc) return ok();
  if (!cc->is_object() || stringField(cc->as_object(), "type") != "ephemeral")
    return invalid(path(field, "cache_control"), "must be {\"type\":\"ephemeral\"}");
  out.push_back(json::object{{"cachePoint", json::object{{"type", "default"}}}});
  return ok();
}

Result<json::object> textBlock(const json::object& b, std::string_view field) {
  const auto* text = member(b, "text");
  if (!text || !text->is_string()) return invalid(path(field, "text"), "must be a string");
  return json::object{{"text", text->as_string()}};
}

// {type:image, source:{type:base64, media_type, data}} -> {image:{format, source:{bytes}}}.
Result<json::object> imageBlock(const json::object& b, std::string_view field) {
  std::string source_field = path(field, "source");
  const auto* source = member(b, "source");
  if (!source || !source->is_object()) return invalid(source_field, "must be an object");
  const auto& s = source->as_object();
  std::string_view type = stringField(s, "type");
  if (type != "base64") {
    if (type == "url" || type == "file")
      return unsupported(path(source_field, "type"), type == "url" ? "an image URL" : "an uploaded image file",
                         "Converse takes the image's bytes: send a base64 source");
    return invalid(path(source_field, "type"), "must be \"base64\"");
  }
  std::string_view media_type = stringField(s, "media_type");
  std::string_view format;
  if (media_type == "image/jpeg")
    format = "jpeg";
  else if (media_type == "image/png")
    format = "png";
  else if (media_type == "image/gif")
    format = "gif";
  else if (media_type == "image/webp")
    format = "webp";
  else
    return invalid(path(source_field, "media_type"), "must be image/jpeg, image/png, image/gif or image/webp");
  const auto* data = member(s, "data");
  if (!data || !data->is_string() || data->as_string().empty())
    return invalid(path(source_field, "data"), "must be a non-empty base64 string");
  return json::object{
      {"image", json::object{{"format", format}, {"source", json::object{{"bytes", data->as_string()}}}}}};
}

Result<json::object> toolResultBlock(const json::object& b, std::string_view field) {
  auto id = requiredString(b, "tool_use_id", field);
  if (!id) return id.error();
  json::array content;
  std::string content_field = path(field, "content");
  if (const auto* c = member(b, "content")) {
    if (c->is_string()) {
      content.push_back(json::object{{"text", c->as_string()}});
    } else if (c->is_array()) {
      std::size_t i = 0;
      for (const auto& item : c->as_array()) {
        std::string item_field = path(content_field, i++);
        if (!item.is_object()) return invalid(item_field, "must be an object");
        const auto& ib = item.as_object();
        std::string_view type = stringField(ib, "type");
        Result<json::object> block =
            type == "text" ? textBlock(ib, item_field)
            : type == "image"
                ? imageBlock(ib, item_field)
                : Result<json::object>(
                      unsupported(path(item_field, "type"), "tool result content of type '" + std::string(type) + "'"));
        if (!block) return block.error();
        content.push_back(std::move(*block));
      }
    } else {
      return invalid(content_field, "must be a string or an array of content blocks");
    }
  }
  // Converse wants at least one content block in a tool result.
  if (content.empty()) content.push_back(json::object{{"text", ""}});
  json::object result{{"toolUseId", *id}, {"content", std::move(content)}};
  if (const auto* e = member(b, "is_error")) {
    if (!e->is_bool()) return invalid(path(field, "is_error"), "must be a boolean");
    if (e->as_bool()) result["status"] = "error";
  }
  return json::object{{"toolResult", std::move(result)}};
}

Result<json::object> toolUseBlock(const json::object& b, std::string_view field) {
  auto id = requiredString(b, "id", field);
  if (!id) return id.error();
  auto name = requiredString(b, "name", field);
  if (!name) return name.error();
  const auto* input = member(b, "input");
  if (!input || !input->is_object()) return invalid(path(field, "input"), "must be an object");
  return json::object{{"toolUse", json::object{{"toolUseId", *id}, {"name", *name}, {"input", *input}}}};
}

// thinking -> reasoningContent.reasoningText; redacted_thinking ->
// reasoningContent.redactedContent (the same opaque base64 data).
Result<json::object> reasoningBlock(const json::object& b, std::string_view type, std::string_view field) {
  if (type == "redacted_thinking") {
    const auto* data = member(b, "data");
    if (!data || !data->is_string()) return invalid(path(field, "data"), "must be a string");
    return json::object{{"reasoningContent", json::object{{"redactedContent", data->as_string()}}}};
  }
  const auto* thinking = member(b, "thinking");
  if (!thinking || !thinking->is_string()) return invalid(path(field, "thinking"), "must be a string");
  json::object text{{"text", thinking->as_string()}};
  if (const auto* signature = member(b, "signature")) {
    if (!signature->is_string()) return invalid(path(field, "signature"), "must be a string");
    text["signature"] = signature->as_string();
  }
  return json::object{{"reasoningContent", json::object{{"reasoningText", std::move(text)}}}};
}

// The Converse content of one message; `has_tool_blocks` is set when it
// holds a tool call or a tool result.
Result<json::array> messageContent(const json::value& content, bool assistant, std::string_view field,
                                   bool& has_tool_blocks) {
  json::array out;
  if (content.is_string()) {
    out.push_back(json::object{{"text", content.as_string()}});
    return out;
  }
  if (!content.is_array()) return invalid(field, "must be a string or an array of content blocks");
  if (content.as_array().empty()) return invalid(field, "must not be empty");
  std::size_t i = 0;
  for (const auto& item : content.as_array()) {
    std::string block_field = path(field, i++);
    if (!item.is_object()) return invalid(block_field, "must be an object");
    const auto& b = item.as_object();
    std::string_view type = stringField(b, "type");
    Result<json::object> block = json::object();
    if (type == "text") {
      block = textBlock(b, block_field);
    } else if (type == "image") {
      block = imageBlock(b, block_field);
    } else if (type == "tool_result") {
      if (assistant) return invalid(path(block_field, "type"), "a tool_result block belongs in a user message");
      block = toolResultBlock(b, block_field);
      has_tool_blocks = true;
    } else if (type == "tool_use") {
      if (!assistant) return invalid(path(block_field, "type"), "a tool_use block belongs in an assistant message");
      block = toolUseBlock(b, block_field);
      has_tool_blocks = true;
    } else if (type == "thinking" || type == "redacted_thinking") {
      if (!assistant)
        return invalid(path(block_field, "type"), "a " + std::string(type) + " block belongs in an assistant message");
      block = reasoningBlock(b, type, block_field);
    } else if (type.empty()) {
      return invalid(path(block_field, "type"), "must be a string");
    } else {
      return unsupported(path(block_field, "type"), "content block type '" + std::string(type) + "'");
    }
    if (!block) return block.error();
    out.push_back(std::move(*block));
    if (Status st = appendCachePoint(b, block_field, out); !st) return st.error();
  }
  return out;
}

// What both the Converse and the CountTokens bodies hold.
struct Conversation {
  std::string model;
  json::array messages;
  json::array system;
  json::object tool_config;  // empty: no toolConfig
  json::object thinking;     // empty: none
};

Result<Conversation> readConversation(const json::object& body) {
  Conversation c;
  // Fields whose meaning Converse cannot carry.
  for (std::string_view key : {"mcp_servers", "container", "context_management", "output_format"})
    if (member(body, key)) return unsupported(key, "'" + std::string(key) + "'");

  const auto* model = member(body, "model");
  if (!model || !model->is_string() || model->as_string().empty())
    return invalid("model", "must be a non-empty string");
  c.model = std::string(model->as_string());

  const auto* messages = member(body, "messages");
  if (!messages || !messages->is_array() || messages->as_array().empty())
    return invalid("messages", "must be a non-empty array");
  bool has_tool_blocks = false;
  std::string_view last_role;
  std::size_t i = 0;
  for (const auto& m : messages->as_array()) {
    std::string field = path("messages", i++);
    if (!m.is_object()) return invalid(field, "must be an object");
    const auto& message = m.as_object();
    std::string_view role = stringField(message, "role");
    if (role != "user" && role != "assistant") return invalid(path(field, "role"), "must be \"user\" or \"assistant\"");
    const auto* content = member(message, "content");
    if (!content) return invalid(path(field, "content"), "is required");
    auto blocks = messageContent(*content, role == "assistant", path(field, "content"), has_tool_blocks);
    if (!blocks) return blocks.error();
    // Converse wants user and assistant turns to alternate; Anthropic
    // joins consecutive turns of one role, and so does this.
    if (role == last_role) {
      auto& prev = c.messages.back().as_object()["content"].as_array();
      for (auto& b : *blocks) prev.push_back(std::move(b));
    } else {
      c.messages.push_back(json::object{{"role", role}, {"content", std::move(*blocks)}});
      last_role = role;
    }
  }

  if (const auto* system = member(body, "system")) {
    if (system->is_string()) {
      if (!system->as_string().empty()) c.system.push_back(json::object{{"text", system->as_string()}});
    } else if (system->is_array()) {
      std::size_t j = 0;
      for (const auto& item : system->as_array()) {
        std::string field = path("system", j++);
        if (!item.is_object()) return invalid(field, "must be an object");
        const auto& b = item.as_object();
        if (stringField(b, "type") != "text") return invalid(path(field, "type"), "must be \"text\"");
        auto text = textBlock(b, field);
        if (!text) return text.error();
        c.system.push_back(std::move(*text));
        if (Status st = appendCachePoint(b, field, c.system); !st) return st.error();
      }
    } else {
      return invalid("system", "must be a string or an array of text blocks");
    }
  }

  json::array tools;
  if (const auto* t = member(body, "tools")) {
    if (!t->is_array()) return invalid("tools", "must be an array");
    std::size_t j = 0;
    for (const auto& item : t->as_array()) {
      std::string field = path("tools", j++);
      if (!item.is_object()) return invalid(field, "must be an object");
      const auto& tool = item.as_object();
      if (const auto* type = member(tool, "type"); type && !(type->is_string() && type->as_string() == "custom")) {
        std::string name = type->is_string() ? std::string(type->as_string()) : std::string("?");
        return unsupported(path(field, "type"), "the server tool '" + name + "'");
      }
      auto name = requiredString(tool, "name", field);
      if (!name) return name.error();
      json::object spec{{"name", *name}};
      if (const auto* d = member(tool, "description")) {
        if (!d->is_string()) return invalid(path(field, "description"), "must be a string");
        if (!d->as_string().empty()) spec["description"] = d->as_string();
      }
      const auto* schema = member(tool, "input_schema");
      if (!schema || !schema->is_object()) return invalid(path(field, "input_schema"), "must be an object");
      spec["inputSchema"] = json::object{{"json", *schema}};
      tools.push_back(json::object{{"toolSpec", std::move(spec)}});
      if (Status st = appendCachePoint(tool, field, tools); !st) return st.error();
    }
  }

  json::object tool_choice;  // Converse's; empty: Bedrock's default (auto)
  bool choose_none = false;
  if (const auto* tc = member(body, "tool_choice")) {
    if (!tc->is_object()) return invalid("tool_choice", "must be an object");
    const auto& choice = tc->as_object();
    std::string_view type = stringField(choice, "type");
    if (const auto* p = member(choice, "disable_parallel_tool_use"); p && !p->is_bool())
      return invalid("tool_choice.disable_parallel_tool_use", "must be a boolean");
    if (type == "auto") {
      tool_choice["auto"] = json::object();
    } else if (type == "any") {
      tool_choice["any"] = json::object();
    } else if (type == "tool") {
      auto name = requiredString(choice, "name", "tool_choice");
      if (!name) return name.error();
      tool_choice["tool"] = json::object{{"name", *name}};
    } else if (type == "none") {
      choose_none = true;
    } else {
      return invalid("tool_choice.type", "must be \"auto\", \"any\", \"tool\" or \"none\"");
    }
  }
  if (!tools.empty()) {
    if (choose_none) {
      // Converse has no "none" choice; leaving the tools out is the same
      // thing, but Bedrock needs toolConfig when the history has tool blocks.
      if (has_tool_blocks)
        return unsupported("tool_choice.type",
                           "\"none\" in a conversation that already has tool_use or tool_result blocks");
    } else {
      c.tool_config["tools"] = std::move(tools);
      if (!tool_choice.empty()) c.tool_config["toolChoice"] = std::move(tool_choice);
    }
  }

  // Claude on Bedrock takes Anthropic's thinking object as it is, among
  // the additional model request fields.
  if (const auto* t = member(body, "thinking")) {
    if (!t->is_object()) return invalid("thinking", "must be an object");
    const auto& thinking = t->as_object();
    std::string_view type = stringField(thinking, "type");
    if (type == "enabled") {
      const auto* budget = member(thinking, "budget_tokens");
      auto n = budget ? integerOf(*budget) : std::nullopt;
      if (!n || *n < 1) return invalid("thinking.budget_tokens", "must be a positive integer");
    } else if (type != "disabled" && type != "adaptive") {
      return invalid("thinking.type", "must be \"enabled\", \"disabled\" or \"adaptive\"");
    }
    c.thinking = thinking;
  }
  return c;
}
}  // namespace

Result<ConverseCall> messagesToConverse(const json::object& body) {
  auto conversation = readConversation(body);
  if (!conversation) return conversation.error();
  Conversation& c = *conversation;
  ConverseCall call;
  call.model = std::move(c.model);

  json::object inference;
  const auto* max_tokens = member(body, "max_tokens");
  if (!max_tokens) return invalid("max_tokens", "is required");
  auto n = integerOf(*max_tokens);
  if (!n || *n < 1) return invalid("max_tokens", "must be a positive integer");
  inference["maxTokens"] = *n;
  for (auto [key, converse_key] : {std::pair{"temperature", "temperature"}, std::pair{"top_p", "topP"}}) {
    if (const auto* v = member(body, key)) {
      auto x = numberOf(*v);
      if (!x) return invalid(key, "must be a number");
      inference[converse_key] = *x;
    }
  }
  if (const auto* stops = member(body, "stop_sequences")) {
    if (!stops->is_array()) return invalid("stop_sequences", "must be an array of strings");
    json::array out;
    for (const auto& s : stops->as_array()) {
      if (!s.is_string()) return invalid("stop_sequences", "must be an array of strings");
      out.push_back(s);
    }
    if (!out.empty()) inference["stopSequences"] = std::move(out);
  }

  json::object additional;
  if (const auto* top_k = member(body, "top_k")) {
    auto k = integerOf(*top_k);
    if (!k || *k < 0) return invalid("top_k", "must be a non-negative integer");
    additional["top_k"] = *k;
  }
  if (!c.thinking.empty()) additional["thinking"] = std::move(c.thinking);

  if (const auto* stream = member(body, "stream")) {
    if (!stream->is_bool()) return invalid("stream", "must be a boolean");
    call.stream = stream->as_bool();
  }

  json::object converse;
  converse["messages"] = std::move(c.messages);
  if (!c.system.empty()) converse["system"] = std::move(c.system);
  converse["inferenceConfig"] = std::move(inference);
  if (!c.tool_config.empty()) converse["toolConfig"] = std::move(c.tool_config);
  if (!additional.empty()) converse["additionalModelRequestFields"] = std::move(additional);
  call.body = json::serialize(converse);
  return call;
}

Result<ConverseCall> countTokensToConverse(const json::object& body) {
  auto conversation = readConversation(body);
  if (!conversation) return conversation.error();
  Conversation& c = *conversation;
  ConverseCall call;
  call.model = std::move(c.model);
  json::object converse;
  converse["messages"] = std::move(c.messages);
  if (!c.system.empty()) converse["system"] = std::move(c.system);
  if (!c.tool_config.empty()) converse["toolConfig"] = std::move(c.tool_config);
  if (!c.thinking.empty()) converse["additionalModelRequestFields"] = json::object{{"thinking", std::move(c.thinking)}};
  call.body = json::serialize(json::object{{"input", json::object{{"converse", std::move(converse)}}}});
  return call;
}
}  // namespace gw::providers::bedrock
