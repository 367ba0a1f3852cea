#include "providers/bedrock/bedrock_translate.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace gw::providers::bedrock {
namespace json = boost::json;
using openai_chat::intField;
using openai_chat::stringField;
using openai_chat::ChatRequest;
using openai_chat::ContentPart;
using openai_chat::Message;
using openai_chat::ToolChoice;

namespace {

Error malformed(std::string message) { return Error::badGateway("upstream_stream_malformed", std::move(message)); }

// OpenAI error type for a ConverseStream exception (:exception-type).
std::string streamErrorType(std::string_view exception) {
  if (exception == "throttlingException" || exception == "serviceQuotaExceededException") return "rate_limit_error";
  if (exception == "validationException") return "invalid_request_error";
  return "api_error";
}

}  // namespace

Result<std::string> toConverseRequest(const ChatRequest& req) {
  if (req.top_k)
    return Error::badRequest("unsupported_parameter", "'top_k' is not supported by the bedrock provider");
  json::object body;
  json::array system;
  json::array messages;
  std::string last_role;
  bool has_tool_blocks = false;
  for (const auto& m : req.messages) {
    if (m.role == Message::Role::kSystem) {
      for (const auto& p : m.content) system.push_back(json::object{{"text", p.text}});
      continue;
    }
    json::array blocks;
    std::string role = m.role == Message::Role::kAssistant ? "assistant" : "user";
    if (m.role == Message::Role::kTool) {
      has_tool_blocks = true;
      json::array content;
      for (const auto& p : m.content) content.push_back(json::object{{"text", p.text}});
      if (content.empty()) content.push_back(json::object{{"text", ""}});
      blocks.push_back(json::object{
          {"toolResult", json::object{{"toolUseId", m.tool_call_id}, {"content", std::move(content)}}}});
    } else {
      for (const auto& p : m.content) {
        if (p.kind == ContentPart::Kind::kText) {
          blocks.push_back(json::object{{"text", p.text}});
          continue;
        }
        if (!p.image.url.empty())
          return Error::badRequest("unsupported_parameter",
                                   "the bedrock provider accepts inline images only (data: URLs), not image URLs");
        std::string format = p.image.media_type.substr(6);  // after "image/"
        blocks.push_back(json::object{
            {"image", json::object{{"format", format}, {"source", json::object{{"bytes", p.image.base64}}}}}});
      }
      for (const auto& call : m.tool_calls) {
        has_tool_blocks = true;
        blocks.push_back(json::object{
            {"toolUse", json::object{{"toolUseId", call.id}, {"name", call.name}, {"input", call.arguments}}}});
      }
    }
    // Converse wants user and assistant turns to alternate, with all tool
    // results in the user turn after the tool calls: merge neighbours.
    if (role == last_role && !messages.empty()) {
      auto& prev = messages.back().as_object()["content"].as_array();
      for (auto& b : blocks) prev.push_back(std::move(b));
    } else {
      messages.push_back(json::object{{"role", role}, {"content", std::move(blocks)}});
      last_role = role;
    }
  }
  body["messages"] = std::move(messages);
  if (!system.empty()) body["system"] = std::move(system);

  json::object inference;
  if (req.max_tokens) inference["maxTokens"] = *req.max_tokens;
  if (req.temperature) inference["temperature"] = *req.temperature;
  if (req.top_p) inference["topP"] = *req.top_p;
  if (!req.stop.empty()) {
    json::array stops;
    for (const auto& s : req.stop) stops.emplace_back(s);
    inference["stopSequences"] = std::move(stops);
  }
  if (!inference.empty()) body["inferenceConfig"] = std::move(inference);

  if (!req.tools.empty()) {
    if (req.tool_choice.mode == ToolChoice::Mode::kNone) {
      // Converse has no "none" choice; leaving the tools out is the same
      // thing, but Bedrock needs toolConfig when the history has tool blocks.
      if (has_tool_blocks)
        return Error::badRequest("unsupported_parameter",
                                 "tool_choice 'none' is not supported by the bedrock provider when the conversation "
                                 "has tool calls");
    } else {
      json::array tools;
      for (const auto& t : req.tools) {
        json::object spec{{"name", t.name}};
        if (!t.description.empty()) spec["description"] = t.description;
        spec["inputSchema"] = json::object{{"json", t.parameters}};
        tools.push_back(json::object{{"toolSpec", std::move(spec)}});
      }
      json::object config{{"tools", std::move(tools)}};
      switch (req.tool_choice.mode) {
        case ToolChoice::Mode::kAuto: config["toolChoice"] = json::object{{"auto", json::object()}}; break;
        case ToolChoice::Mode::kRequired: config["toolChoice"] = json::object{{"any", json::object()}}; break;
        case ToolChoice::Mode::kNamed:
          config["toolChoice"] = json::object{{"tool", json::object{{"name", req.tool_choice.name}}}};
          break;
        default: break;  // unset: Bedrock's default is auto
      }
      body["toolConfig"] = std::move(config);
    }
  }
  return json::serialize(body);
}

std::string finishReason(std::string_view r) {
  if (r == "end_turn" || r == "stop_sequence") return "stop";
  if (r == "max_tokens" || r == "model_context_window_exceeded") return "length";
  if (r == "tool_use") return "tool_calls";
  if (r == "guardrail_intervened" || r == "content_filtered") return "content_filter";
  return "stop";
}

Result<std::string> translateResponse(std::string_view body, std::string_view id, std::string_view model,
                                      std::int64_t created, ResponseObservation& obs) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  const json::object* message = nullptr;
  if (!ec && v.is_object())
    if (const auto* output = objectField(v.as_object(), "output")) message = objectField(*output, "message");
  if (!message || !message->contains("content") || !message->at("content").is_array())
    return Error::badGateway("upstream_response_malformed", "the Bedrock response has no output message");
  openai_chat::Completion c;
  c.id = std::string(id);
  c.model = std::string(model);
  c.created = created;
  for (const auto& block : message->at("content").as_array()) {
    if (!block.is_object()) continue;
    const auto& b = block.as_object();
    if (const auto* text = b.if_contains("text"); text && text->is_string()) {
      c.text.append(text->as_string());
      c.has_text = true;
    } else if (const auto* use = objectField(b, "toolUse")) {
      c.tool_calls_id_name.emplace_back(stringField(*use, "toolUseId"), stringField(*use, "name"));
      const auto* input = use->if_contains("input");
      c.tool_calls_arguments.push_back(input ? json::serialize(*input) : "{}");
    }
  }
  c.finish_reason = finishReason(stringField(v.as_object(), "stopReason"));
  if (const auto* u = objectField(v.as_object(), "usage")) readUsage(*u, obs.usage);
  c.usage = obs.usage;
  obs.response_model = std::string(model);
  return openai_chat::completionJson(c);
}

std::string translateError(int status, std::string_view error_type_header, std::string_view body,
                           ResponseObservation& obs) {
  UpstreamError e = readUpstreamError(status, error_type_header, body);
  std::string type = openai_chat::errorTypeForStatus(status);
  obs.provider_error_type = e.code.empty() ? type : e.code;
  obs.provider_error_message = e.message;
  return openai_chat::upstreamErrorBody(status, type, e.code, e.message);
}

StreamTranslator::StreamTranslator(ResponseObservation& obs, std::size_t capture_budget, std::string id,
                                   std::string model, bool client_wants_usage, std::int64_t created,
                                   std::vector<std::string> secrets)
    : obs_(obs), writer_(obs, capture_budget), client_wants_usage_(client_wants_usage), secrets_(std::move(secrets)) {
  writer_.setId(std::move(id));
  obs_.response_model = model;
  writer_.setModel(std::move(model));
  writer_.setCreated(created);
}

Status StreamTranslator::feed(std::string_view bytes, std::string& out) {
  return decoder_.feed(bytes, [&](const eventstream::Message& m) -> Status {
    if (ended_) return ok();
    return onMessage(m, out);
  });
}

Status StreamTranslator::onMessage(const eventstream::Message& m, std::string& out) {
  auto message = readStreamMessage(m);
  if (!message) return message.error();
  if (message->error) {
    StreamError& e = *message->error;
    observeStreamError(e, secrets_, obs_);
    writer_.error(Error(502, streamErrorType(e.type), e.type, e.message), out);
    ended_ = true;
    return ok();
  }
  return onEvent(message->event_type, message->fields(), out);
}

Status StreamTranslator::onEvent(std::string_view type, const json::object& e, std::string& out) {
  if (type == "messageStart") {
    writer_.role(out);
  } else if (type == "contentBlockStart") {
    auto index = intField(e, "contentBlockIndex");
    if (!index) return malformed("contentBlockStart without contentBlockIndex");
    const auto* start = objectField(e, "start");
    if (const auto* use = start ? objectField(*start, "toolUse") : nullptr) {
      if (tool_index_by_block_.size() >= kMaxBlocks) return malformed("too many content blocks");
      int tool_index = next_tool_index_++;
      tool_index_by_block_[*index] = tool_index;
      writer_.toolCallStart(tool_index, stringField(*use, "toolUseId"), stringField(*use, "name"), out);
    }
  } else if (type == "contentBlockDelta") {
    auto index = intField(e, "contentBlockIndex");
    const auto* delta = objectField(e, "delta");
    if (!index || !delta) return malformed("contentBlockDelta without contentBlockIndex or delta");
    if (const auto* text = delta->if_contains("text"); text && text->is_string()) {
      writer_.content(text->as_string(), out);
    } else if (const auto* use = objectField(*delta, "toolUse")) {
      auto it = tool_index_by_block_.find(*index);
      if (it == tool_index_by_block_.end()) return malformed("toolUse delta for a block that is not a toolUse");
      writer_.toolCallArguments(it->second, stringField(*use, "input"), out);
    }
    // reasoningContent and citations deltas have no Chat Completions form.
  } else if (type == "messageStop") {
    writer_.finish(finishReason(stringField(e, "stopReason")), out);
    stopped_ = true;
    if (have_metadata_) complete(out);
  } else if (type == "metadata") {
    if (const auto* u = objectField(e, "usage")) readUsage(*u, obs_.usage);
    have_metadata_ = true;
    if (stopped_) complete(out);
  }
  // contentBlockStop and event types added later carry nothing a client reads.
  return ok();
}

void StreamTranslator::complete(std::string& out) {
  if (client_wants_usage_) writer_.usage(obs_.usage, out);
  writer_.done(out);
  ended_ = true;
}

Status StreamTranslator::finish(std::string& out) {
  if (ended_) return ok();
  if (!decoder_.idle()) return Error::badGateway("upstream_stream_truncated", "the Bedrock stream ended mid-message");
  if (!stopped_) return Error::badGateway("upstream_stream_truncated", "the Bedrock stream ended before messageStop");
  complete(out);  // no metadata event: usage stays unknown
  return ok();
}

void StreamTranslator::fail(const Error& error, std::string& out) {
  if (ended_) return;
  writer_.error(error, out);
  ended_ = true;
}

}  // namespace gw::providers::bedrock
