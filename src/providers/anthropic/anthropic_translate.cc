#include "providers/anthropic/anthropic_translate.h"

#include "common/cache_aware_usage.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace gw::providers::anthropic {
namespace json = boost::json;
using openai_chat::intField;
using openai_chat::stringField;
using openai_chat::ChatRequest;
using openai_chat::ContentPart;
using openai_chat::Message;
using openai_chat::ToolChoice;

namespace {

json::object textBlock(std::string_view text) { return json::object{{"type", "text"}, {"text", text}}; }

json::object imageBlock(const openai_chat::Image& image) {
  json::object source;
  if (image.url.empty()) {
    source = json::object{{"type", "base64"}, {"media_type", image.media_type}, {"data", image.base64}};
  } else {
    source = json::object{{"type", "url"}, {"url", image.url}};
  }
  return json::object{{"type", "image"}, {"source", std::move(source)}};
}


}  // namespace

std::string toMessagesRequest(const ChatRequest& req) {
  json::object body;
  body["model"] = req.model;
  body["max_tokens"] = req.max_tokens.value_or(kDefaultMaxTokens);

  json::array system;
  json::array messages;
  std::string last_role;
  for (const auto& m : req.messages) {
    if (m.role == Message::Role::kSystem) {
      for (const auto& p : m.content) system.push_back(textBlock(p.text));
      continue;
    }
    json::array blocks;
    std::string role = m.role == Message::Role::kAssistant ? "assistant" : "user";
    if (m.role == Message::Role::kTool) {
      json::object result{{"type", "tool_result"}, {"tool_use_id", m.tool_call_id}};
      if (m.content.size() == 1) {
        result["content"] = m.content[0].text;
      } else if (!m.content.empty()) {
        json::array parts;
        for (const auto& p : m.content) parts.push_back(textBlock(p.text));
        result["content"] = std::move(parts);
      }
      blocks.push_back(std::move(result));
    } else {
      for (const auto& p : m.content)
        blocks.push_back(p.kind == ContentPart::Kind::kText ? textBlock(p.text) : imageBlock(p.image));
      for (const auto& call : m.tool_calls)
        blocks.push_back(json::object{{"type", "tool_use"}, {"id", call.id}, {"name", call.name}, {"input", call.arguments}});
    }
    // Anthropic wants user and assistant turns to alternate and all tool
    // results in the user turn that follows the tool calls: merge neighbours.
    if (role == last_role && !messages.empty()) {
      auto& prev = messages.back().as_object()["content"].as_array();
      for (auto& b : blocks) prev.push_back(std::move(b));
    } else {
      messages.push_back(json::object{{"role", role}, {"content", std::move(blocks)}});
      last_role = role;
    }
  }
  // A lone text block is sent in the short string form.
  for (auto& mv : messages) {
    auto& content = mv.as_object()["content"];
    auto& arr = content.as_array();
    if (arr.size() == 1 && arr[0].as_object().at("type") == "text") {
      json::value text = arr[0].as_object().at("text");
      content = std::move(text);
    }
  }
  if (system.size() == 1) body["system"] = system[0].as_object().at("text");
  else if (!system.empty()) body["system"] = std::move(system);
  body["messages"] = std::move(messages);

  if (req.temperature) body["temperature"] = *req.temperature;
  if (req.top_p) body["top_p"] = *req.top_p;
  if (req.top_k) body["top_k"] = *req.top_k;
  if (!req.stop.empty()) {
    json::array stops;
    for (const auto& s : req.stop) stops.emplace_back(s);
    body["stop_sequences"] = std::move(stops);
  }
  if (!req.tools.empty()) {
    json::array tools;
    for (const auto& t : req.tools) {
      json::object tool{{"name", t.name}};
      if (!t.description.empty()) tool["description"] = t.description;
      tool["input_schema"] = t.parameters;
      tools.push_back(std::move(tool));
    }
    body["tools"] = std::move(tools);
    json::object choice;
    switch (req.tool_choice.mode) {
      case ToolChoice::Mode::kUnset:
      case ToolChoice::Mode::kAuto: choice["type"] = "auto"; break;
      case ToolChoice::Mode::kNone: choice["type"] = "none"; break;
      case ToolChoice::Mode::kRequired: choice["type"] = "any"; break;
      case ToolChoice::Mode::kNamed:
        choice["type"] = "tool";
        choice["name"] = req.tool_choice.name;
        break;
    }
    bool no_parallel = req.parallel_tool_calls && !*req.parallel_tool_calls;
    if (no_parallel && req.tool_choice.mode != ToolChoice::Mode::kNone) choice["disable_parallel_tool_use"] = true;
    // Without an explicit choice Anthropic's default is "auto" already.
    if (req.tool_choice.mode != ToolChoice::Mode::kUnset || no_parallel) body["tool_choice"] = std::move(choice);
  }
  if (req.user) body["metadata"] = json::object{{"user_id", *req.user}};
  if (req.stream) body["stream"] = true;
  return json::serialize(body);
}

std::string finishReason(std::string_view r) {
  if (r == "end_turn" || r == "stop_sequence" || r == "pause_turn") return "stop";
  if (r == "max_tokens" || r == "model_context_window_exceeded") return "length";
  if (r == "tool_use") return "tool_calls";
  if (r == "refusal") return "content_filter";
  return "stop";
}

void readUsage(const json::object& u, Usage& out) {
  readCacheAwareUsage(intField(u, "input_tokens"), intField(u, "cache_read_input_tokens"),
                      intField(u, "cache_creation_input_tokens"), intField(u, "output_tokens"), out);
}

Result<std::string> translateResponse(std::string_view body, std::int64_t created, ResponseObservation& obs) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("content") || !v.as_object().at("content").is_array())
    return Error::badGateway("upstream_response_malformed", "the Anthropic response is not a message");
  const auto& m = v.as_object();
  openai_chat::Completion c;
  c.id = std::string(stringField(m, "id"));
  c.model = std::string(stringField(m, "model"));
  c.created = created;
  for (const auto& block : m.at("content").as_array()) {
    if (!block.is_object()) continue;
    const auto& b = block.as_object();
    std::string_view type = stringField(b, "type");
    if (type == "text") {
      c.text.append(stringField(b, "text"));
      c.has_text = true;
    } else if (type == "tool_use") {
      c.tool_calls_id_name.emplace_back(stringField(b, "id"), stringField(b, "name"));
      const auto* input = b.if_contains("input");
      c.tool_calls_arguments.push_back(input ? json::serialize(*input) : "{}");
    }
    // thinking / redacted_thinking blocks have no Chat Completions form.
  }
  c.finish_reason = finishReason(stringField(m, "stop_reason"));
  if (const auto* u = m.if_contains("usage"); u && u->is_object()) readUsage(u->as_object(), obs.usage);
  c.usage = obs.usage;
  if (!c.model.empty()) obs.response_model = c.model;
  return openai_chat::completionJson(c);
}

std::string translateError(int status, std::string_view body, ResponseObservation& obs) {
  std::string type = openai_chat::errorTypeForStatus(status);
  std::string message;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    if (const auto* e = v.as_object().if_contains("error"); e && e->is_object()) {
      if (auto t = stringField(e->as_object(), "type"); !t.empty()) type = std::string(t);
      message = std::string(stringField(e->as_object(), "message"));
    }
  }
  if (message.empty()) message = "Anthropic returned HTTP " + std::to_string(status);
  obs.provider_error_type = type;
  obs.provider_error_message = message;
  return openai_chat::upstreamErrorBody(status, type, "", message);
}

StreamTranslator::StreamTranslator(ResponseObservation& obs, std::size_t capture_budget, std::string model,
                                   bool client_wants_usage, std::int64_t created)
    : obs_(obs), writer_(obs, capture_budget), client_wants_usage_(client_wants_usage) {
  writer_.setModel(std::move(model));
  writer_.setCreated(created);
}

Status StreamTranslator::feed(std::string_view bytes, std::string& out) {
  Status status = ok();
  bool parsed = parser_.feed(bytes, [&](const SseEvent& e) {
    if (ended_) return true;  // nothing follows message_stop or an error
    status = onEvent(e.data, out);
    return static_cast<bool>(status);
  });
  if (!status) return status;
  if (!parsed) return Error::badGateway("upstream_stream_malformed", "an Anthropic stream event is too large");
  return ok();
}

Status StreamTranslator::onEvent(std::string_view data, std::string& out) {
  boost::system::error_code ec;
  json::value v = json::parse(data, ec);
  if (ec || !v.is_object())
    return Error::badGateway("upstream_stream_malformed", "an Anthropic stream event is not a JSON object");
  const auto& e = v.as_object();
  std::string_view type = stringField(e, "type");

  if (type == "message_start") {
    const auto* m = e.if_contains("message");
    if (m && m->is_object()) {
      const auto& msg = m->as_object();
      if (auto id = stringField(msg, "id"); !id.empty()) writer_.setId(std::string(id));
      if (auto model = stringField(msg, "model"); !model.empty()) {
        writer_.setModel(std::string(model));
        obs_.response_model = std::string(model);
      }
      if (const auto* u = msg.if_contains("usage"); u && u->is_object()) readUsage(u->as_object(), obs_.usage);
    }
    writer_.role(out);
  } else if (type == "content_block_start") {
    auto index = intField(e, "index");
    const auto* cb = e.if_contains("content_block");
    if (!index || !cb || !cb->is_object())
      return Error::badGateway("upstream_stream_malformed", "content_block_start without index or block");
    const auto& block = cb->as_object();
    std::string_view block_type = stringField(block, "type");
    if (tool_index_by_block_.size() >= kMaxBlocks)
      return Error::badGateway("upstream_stream_malformed", "too many content blocks");
    if (block_type == "tool_use") {
      int tool_index = next_tool_index_++;
      tool_index_by_block_[*index] = tool_index;
      writer_.toolCallStart(tool_index, stringField(block, "id"), stringField(block, "name"), out);
    } else {
      // A call the server runs itself (server_tool_use, mcp_tool_use, ...)
      // streams its input too, but it is not a call for the client to make.
      tool_index_by_block_[*index] = kNotAClientTool;
      if (block_type == "text") writer_.content(stringField(block, "text"), out);
    }
  } else if (type == "content_block_delta") {
    auto index = intField(e, "index");
    const auto* d = e.if_contains("delta");
    if (!index || !d || !d->is_object())
      return Error::badGateway("upstream_stream_malformed", "content_block_delta without index or delta");
    const auto& delta = d->as_object();
    std::string_view delta_type = stringField(delta, "type");
    if (delta_type == "text_delta") {
      writer_.content(stringField(delta, "text"), out);
    } else if (delta_type == "input_json_delta") {
      auto it = tool_index_by_block_.find(*index);
      if (it == tool_index_by_block_.end())
        return Error::badGateway("upstream_stream_malformed", "input_json_delta for a block that was not started");
      if (it->second != kNotAClientTool) writer_.toolCallArguments(it->second, stringField(delta, "partial_json"), out);
    }
    // thinking_delta / signature_delta / citations_delta: no Chat Completions form.
  } else if (type == "message_delta") {
    if (const auto* d = e.if_contains("delta"); d && d->is_object()) {
      if (auto r = stringField(d->as_object(), "stop_reason"); !r.empty()) finish_reason_ = finishReason(r);
    }
    if (const auto* u = e.if_contains("usage"); u && u->is_object()) readUsage(u->as_object(), obs_.usage);
    if (!finish_reason_.empty()) writer_.finish(finish_reason_, out);
  } else if (type == "message_stop") {
    if (finish_reason_.empty()) writer_.finish("stop", out);
    complete(out);
  } else if (type == "error") {
    std::string err_type = "api_error";
    std::string message = "the Anthropic stream reported an error";
    if (const auto* er = e.if_contains("error"); er && er->is_object()) {
      if (auto t = stringField(er->as_object(), "type"); !t.empty()) err_type = std::string(t);
      if (auto msg = stringField(er->as_object(), "message"); !msg.empty()) message = std::string(msg);
    }
    obs_.provider_error_type = err_type;
    obs_.provider_error_message = message;
    writer_.error(Error(502, err_type, "", message), out);
    ended_ = true;
  }
  // "ping" and event types added later carry nothing a Chat Completions client reads.
  return ok();
}

void StreamTranslator::complete(std::string& out) {
  if (client_wants_usage_) writer_.usage(obs_.usage, out);
  writer_.done(out);
  ended_ = true;
}

Status StreamTranslator::finish(std::string&) {
  if (ended_) return ok();
  return Error::badGateway("upstream_stream_truncated", "the Anthropic stream ended before message_stop");
}

void StreamTranslator::fail(const Error& error, std::string& out) {
  if (ended_) return;
  writer_.error(error, out);
  ended_ = true;
}

}  // namespace gw::providers::anthropic
