#include "providers/common/openai_chat.h"
#include "common/saturating.h"

#include "common/openai_error.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <chrono>
#include <cmath>

namespace gw::providers::openai_chat {
namespace json = boost::json;

namespace {

Error fieldError(std::string_view field, std::string_view problem) {
  return Error::badRequest("invalid_request", std::string(field) + ": " + std::string(problem));
}

Error unsupported(std::string_view field, std::string_view provider, std::string_view detail) {
  return Error::badRequest("unsupported_parameter", "'" + std::string(field) + "' is not supported by the " +
                                                        std::string(provider) + " provider" +
                                                        (detail.empty() ? "" : ": " + std::string(detail)));
}

std::optional<double> asNumber(const json::value& v) {
  if (v.is_double()) return v.as_double();
  if (v.is_int64()) return static_cast<double>(v.as_int64());
  if (v.is_uint64()) return static_cast<double>(v.as_uint64());
  return std::nullopt;
}

std::optional<std::int64_t> asInteger(const json::value& v) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    return static_cast<std::int64_t>(v.as_uint64());
  if (v.is_double()) {
    double d = v.as_double();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

bool isZeroOrNull(const json::value& v) {
  if (v.is_null()) return true;
  auto n = asNumber(v);
  return n && *n == 0.0;
}

// Content of a message: a string, null, or an array of parts.
Status parseContent(const json::value& content, Message::Role role, std::string_view where,
                    std::vector<ContentPart>& out) {
  if (content.is_null()) return ok();
  if (content.is_string()) {
    if (!content.as_string().empty())
      out.push_back({ContentPart::Kind::kText, std::string(content.as_string()), {}});
    return ok();
  }
  if (!content.is_array()) return fieldError(where, "content must be a string, an array of parts or null");
  std::size_t i = 0;
  for (const auto& part : content.as_array()) {
    std::string at = std::string(where) + ".content[" + std::to_string(i++) + "]";
    if (!part.is_object()) return fieldError(at, "must be an object");
    const auto& p = part.as_object();
    const auto* type = p.if_contains("type");
    if (!type || !type->is_string()) return fieldError(at, "missing 'type'");
    std::string_view t = type->as_string();
    if (t == "text" || t == "refusal") {
      const auto* text = p.if_contains(t == "text" ? "text" : "refusal");
      if (!text || !text->is_string()) return fieldError(at, "text part without a string 'text'");
      if (!text->as_string().empty())
        out.push_back({ContentPart::Kind::kText, std::string(text->as_string()), {}});
    } else if (t == "image_url") {
      if (role != Message::Role::kUser) return fieldError(at, "image parts are only supported in user messages");
      const auto* iu = p.if_contains("image_url");
      const json::value* url = nullptr;
      if (iu && iu->is_object()) url = iu->as_object().if_contains("url");
      else if (iu && iu->is_string()) url = iu;
      if (!url || !url->is_string()) return fieldError(at, "image_url part without 'image_url.url'");
      std::string_view u = url->as_string();
      ContentPart cp;
      cp.kind = ContentPart::Kind::kImage;
      if (u.starts_with("data:")) {
        auto img = parseImageUrl(u);
        if (!img) return fieldError(at, img.error().message);
        cp.image = std::move(*img);
      } else if (u.starts_with("https://") || u.starts_with("http://")) {
        cp.image.url = std::string(u);
      } else {
        return fieldError(at, "image URL must be a data: URL or an http(s) URL");
      }
      out.push_back(std::move(cp));
    } else {
      return fieldError(at, "content part type '" + std::string(t) + "' is not supported");
    }
  }
  return ok();
}

Result<Message> parseMessage(const json::value& v, std::size_t index) {
  std::string where = "messages[" + std::to_string(index) + "]";
  if (!v.is_object()) return fieldError(where, "must be an object");
  const auto& m = v.as_object();
  const auto* role = m.if_contains("role");
  if (!role || !role->is_string()) return fieldError(where, "missing 'role'");
  std::string_view r = role->as_string();
  Message msg;
  if (r == "system" || r == "developer") msg.role = Message::Role::kSystem;
  else if (r == "user") msg.role = Message::Role::kUser;
  else if (r == "assistant") msg.role = Message::Role::kAssistant;
  else if (r == "tool") msg.role = Message::Role::kTool;
  else if (r == "function")
    return fieldError(where, "the legacy 'function' role is not supported; use 'tool' messages");
  else return fieldError(where, "unknown role '" + std::string(r) + "'");

  static const json::value kNull;
  const auto* content = m.if_contains("content");
  if (auto st = parseContent(content ? *content : kNull, msg.role, where, msg.content); !st) return st.error();

  if (msg.role == Message::Role::kAssistant) {
    if (const auto* calls = m.if_contains("tool_calls"); calls && !calls->is_null()) {
      if (!calls->is_array()) return fieldError(where, "tool_calls must be an array");
      std::size_t i = 0;
      for (const auto& c : calls->as_array()) {
        std::string at = where + ".tool_calls[" + std::to_string(i++) + "]";
        if (!c.is_object()) return fieldError(at, "must be an object");
        const auto& co = c.as_object();
        const auto* id = co.if_contains("id");
        const auto* fn = co.if_contains("function");
        if (!id || !id->is_string() || id->as_string().empty()) return fieldError(at, "missing 'id'");
        if (!fn || !fn->is_object()) return fieldError(at, "missing 'function'");
        const auto* name = fn->as_object().if_contains("name");
        if (!name || !name->is_string() || name->as_string().empty()) return fieldError(at, "missing 'function.name'");
        ToolCall call;
        call.id = std::string(id->as_string());
        call.name = std::string(name->as_string());
        if (const auto* args = fn->as_object().if_contains("arguments"); args && !args->is_null()) {
          if (args->is_object()) {
            call.arguments = args->as_object();
          } else if (args->is_string()) {
            std::string_view text = args->as_string();
            if (!text.empty()) {
              boost::system::error_code ec;
              auto parsed = json::parse(text, ec);
              if (ec || !parsed.is_object())
                return fieldError(at, "function.arguments must be a JSON object encoded as a string");
              call.arguments = std::move(parsed.as_object());
            }
          } else {
            return fieldError(at, "function.arguments must be a string");
          }
        }
        msg.tool_calls.push_back(std::move(call));
      }
    }
    if (m.contains("function_call") && !m.at("function_call").is_null())
      return fieldError(where, "the legacy 'function_call' is not supported; use 'tool_calls'");
  } else if (msg.role == Message::Role::kTool) {
    const auto* id = m.if_contains("tool_call_id");
    if (!id || !id->is_string() || id->as_string().empty()) return fieldError(where, "tool message without 'tool_call_id'");
    msg.tool_call_id = std::string(id->as_string());
  }
  return msg;
}

}  // namespace

Result<Image> parseImageUrl(std::string_view url) {
  // data:[<media type>][;base64],<data>
  if (!url.starts_with("data:")) return Error::badRequest("invalid_image", "not a data: URL");
  auto comma = url.find(',');
  if (comma == std::string_view::npos) return Error::badRequest("invalid_image", "malformed data: URL");
  std::string_view meta = url.substr(5, comma - 5);
  std::string_view data = url.substr(comma + 1);
  if (!meta.ends_with(";base64")) return Error::badRequest("invalid_image", "image data: URLs must be base64");
  std::string_view media = meta.substr(0, meta.size() - 7);
  if (media != "image/png" && media != "image/jpeg" && media != "image/gif" && media != "image/webp")
    return Error::badRequest("invalid_image", "image type must be image/png, image/jpeg, image/gif or image/webp");
  if (data.empty()) return Error::badRequest("invalid_image", "empty image data");
  for (char c : data) {
    bool b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
               c == '/' || c == '=';
    if (!b64) return Error::badRequest("invalid_image", "image data is not valid base64");
  }
  return Image{std::string(media), std::string(data), {}};
}

Result<ChatRequest> parseChatRequest(const json::object& body, std::string_view provider,
                                     const ChatRequestOptions& options) {
  ChatRequest req;
  for (const auto& [key, value] : body) {
    std::string_view k = key;
    if (k == "model") {
      if (!value.is_string() || value.as_string().empty()) return fieldError("model", "must be a non-empty string");
      req.model = std::string(value.as_string());
    } else if (k == "messages") {
      if (!value.is_array() || value.as_array().empty()) return fieldError("messages", "must be a non-empty array");
      std::size_t i = 0;
      for (const auto& m : value.as_array()) {
        auto msg = parseMessage(m, i++);
        if (!msg) return msg.error();
        req.messages.push_back(std::move(*msg));
      }
    } else if (k == "max_tokens" || k == "max_completion_tokens") {
      if (value.is_null()) continue;
      auto n = asInteger(value);
      if (!n || *n < 1) return fieldError(k, "must be a positive integer");
      req.max_tokens = *n;
    } else if (k == "temperature" || k == "top_p") {
      if (value.is_null()) continue;
      auto n = asNumber(value);
      if (!n) return fieldError(k, "must be a number");
      (k == "temperature" ? req.temperature : req.top_p) = *n;
    } else if (k == "top_k") {
      if (value.is_null()) continue;
      auto n = asInteger(value);
      if (!n || *n < 1) return fieldError(k, "must be a positive integer");
      req.top_k = *n;
    } else if (k == "stop") {
      if (value.is_null()) continue;
      if (value.is_string()) {
        req.stop.emplace_back(value.as_string());
      } else if (value.is_array()) {
        for (const auto& s : value.as_array()) {
          if (!s.is_string()) return fieldError("stop", "must be a string or an array of strings");
          req.stop.emplace_back(s.as_string());
        }
      } else {
        return fieldError("stop", "must be a string or an array of strings");
      }
    } else if (k == "tools") {
      if (value.is_null()) continue;
      if (!value.is_array()) return fieldError("tools", "must be an array");
      std::size_t i = 0;
      for (const auto& t : value.as_array()) {
        std::string at = "tools[" + std::to_string(i++) + "]";
        if (!t.is_object()) return fieldError(at, "must be an object");
        const auto* type = t.as_object().if_contains("type");
        if (!type || !type->is_string() || type->as_string() != "function")
          return fieldError(at, "only tools of type 'function' are supported");
        const auto* fn = t.as_object().if_contains("function");
        if (!fn || !fn->is_object()) return fieldError(at, "missing 'function'");
        const auto& f = fn->as_object();
        const auto* name = f.if_contains("name");
        if (!name || !name->is_string() || name->as_string().empty()) return fieldError(at, "missing 'function.name'");
        Tool tool;
        tool.name = std::string(name->as_string());
        if (const auto* d = f.if_contains("description"); d && d->is_string()) tool.description = std::string(d->as_string());
        if (const auto* p = f.if_contains("parameters"); p && !p->is_null()) {
          if (!p->is_object()) return fieldError(at, "function.parameters must be a JSON Schema object");
          tool.parameters = *p;
        } else {
          tool.parameters = json::object{{"type", "object"}, {"properties", json::object()}};
        }
        req.tools.push_back(std::move(tool));
      }
    } else if (k == "tool_choice") {
      if (value.is_null()) continue;
      if (value.is_string()) {
        std::string_view s = value.as_string();
        if (s == "auto") req.tool_choice.mode = ToolChoice::Mode::kAuto;
        else if (s == "none") req.tool_choice.mode = ToolChoice::Mode::kNone;
        else if (s == "required") req.tool_choice.mode = ToolChoice::Mode::kRequired;
        else return fieldError("tool_choice", "must be 'auto', 'none', 'required' or a named function");
      } else if (value.is_object()) {
        const auto* fn = value.as_object().if_contains("function");
        const json::value* name = (fn && fn->is_object()) ? fn->as_object().if_contains("name") : nullptr;
        if (!name || !name->is_string() || name->as_string().empty())
          return fieldError("tool_choice", "a named tool choice needs 'function.name'");
        req.tool_choice.mode = ToolChoice::Mode::kNamed;
        req.tool_choice.name = std::string(name->as_string());
      } else {
        return fieldError("tool_choice", "must be a string or an object");
      }
    } else if (k == "parallel_tool_calls") {
      if (value.is_null()) continue;
      if (!value.is_bool()) return fieldError(k, "must be a boolean");
      req.parallel_tool_calls = value.as_bool();
    } else if (k == "user") {
      if (value.is_null()) continue;
      if (!value.is_string()) return fieldError(k, "must be a string");
      req.user = std::string(value.as_string());
    } else if (k == "stream") {
      if (value.is_null()) continue;
      if (!value.is_bool()) return fieldError(k, "must be a boolean");
      req.stream = value.as_bool();
    } else if (k == "n") {
      if (value.is_null()) continue;
      auto n = asInteger(value);
      if (!n || *n < 1 || *n > options.max_choices)
        return unsupported("n", provider,
                           options.max_choices == 1
                               ? "only one choice per request (n=1)"
                               : "from 1 to " + std::to_string(options.max_choices) + " choices per request");
      req.n = *n;
    } else if (k == "seed") {
      if (auto seed = asInteger(value)) req.seed = *seed;
    } else if (k == "logprobs") {
      if (!value.is_null() && !(value.is_bool() && !value.as_bool())) return unsupported(k, provider, "");
    } else if (k == "top_logprobs" || k == "functions" || k == "function_call" || k == "audio" ||
               k == "prediction" || k == "web_search_options" || k == "reasoning_effort") {
      if (!value.is_null()) return unsupported(k, provider, "");
    } else if (k == "logit_bias") {
      if (!value.is_null() && !(value.is_object() && value.as_object().empty())) return unsupported(k, provider, "");
    } else if (k == "frequency_penalty" || k == "presence_penalty") {
      if (!isZeroOrNull(value)) return unsupported(k, provider, "only 0 is accepted");
    } else if (k == "response_format") {
      const json::value* type = value.is_object() ? value.as_object().if_contains("type") : nullptr;
      if (value.is_null() || (type && type->is_string() && type->as_string() == "text")) continue;
      if (!options.json_response_format)
        return unsupported(k, provider, "only {\"type\":\"text\"}; describe the JSON you want in the prompt or use a tool");
      if (!type || !type->is_string()) return fieldError(k, "must be an object with a 'type'");
      if (type->as_string() == "json_object") {
        req.response_format.kind = ResponseFormat::Kind::kJsonObject;
      } else if (type->as_string() == "json_schema") {
        const auto* js = value.as_object().if_contains("json_schema");
        if (!js || !js->is_object()) return fieldError(k, "type 'json_schema' needs a 'json_schema' object");
        const auto* schema = js->as_object().if_contains("schema");
        if (schema && !schema->is_null() && !schema->is_object())
          return fieldError(k, "json_schema.schema must be a JSON Schema object");
        req.response_format.kind = ResponseFormat::Kind::kJsonSchema;
        if (schema) req.response_format.schema = *schema;
      } else {
        return unsupported(k, provider, "type must be 'text', 'json_object' or 'json_schema'");
      }
    } else if (k == "modalities") {
      if (value.is_null()) continue;
      bool text_only = value.is_array();
      if (text_only)
        for (const auto& m : value.as_array()) text_only = text_only && m.is_string() && m.as_string() == "text";
      if (!text_only) return unsupported(k, provider, "only [\"text\"]");
    }
    // Everything else (stream_options, seed, store, metadata, service_tier,
    // prompt_cache_key, ...) does not change the answer the target API gives
    // and is dropped. docs/providers.md lists the mapping.
  }
  if (req.model.empty()) return fieldError("model", "is required");
  if (req.messages.empty()) return fieldError("messages", "is required");
  if (req.tool_choice.mode == ToolChoice::Mode::kNamed) {
    bool found = false;
    for (const auto& t : req.tools) found = found || t.name == req.tool_choice.name;
    if (!found) return fieldError("tool_choice", "names a function that is not in 'tools'");
  }
  if (req.tool_choice.mode == ToolChoice::Mode::kRequired && req.tools.empty())
    return fieldError("tool_choice", "'required' needs at least one tool");
  return req;
}

json::object usageJson(const Usage& u) {
  json::object o;
  std::int64_t in = u.input.value_or(0), out = u.output.value_or(0);
  o["prompt_tokens"] = in;
  o["completion_tokens"] = out;
  o["total_tokens"] = u.total.value_or(in + out);
  if (u.cached_input) o["prompt_tokens_details"] = json::object{{"cached_tokens", *u.cached_input}};
  if (u.reasoning) o["completion_tokens_details"] = json::object{{"reasoning_tokens", *u.reasoning}};
  return o;
}

namespace {

json::object choiceJson(const Completion& c, std::size_t index) {
  json::object message;
  message["role"] = "assistant";
  if (c.has_text) message["content"] = c.text;
  else message["content"] = nullptr;
  if (!c.tool_calls_id_name.empty()) {
    json::array calls;
    for (std::size_t i = 0; i < c.tool_calls_id_name.size(); ++i) {
      calls.push_back(json::object{{"id", c.tool_calls_id_name[i].first},
                                   {"type", "function"},
                                   {"function", json::object{{"name", c.tool_calls_id_name[i].second},
                                                             {"arguments", c.tool_calls_arguments[i]}}}});
    }
    message["tool_calls"] = std::move(calls);
  }
  message["refusal"] = nullptr;
  return json::object{{"index", index}, {"message", std::move(message)}, {"logprobs", nullptr},
                      {"finish_reason", c.finish_reason}};
}

}  // namespace

std::string completionJson(const Completion& c) { return completionJson(std::span<const Completion>(&c, 1)); }

std::string completionJson(std::span<const Completion> choices) {
  static const Completion kNone;
  const Completion& first = choices.empty() ? kNone : choices.front();
  json::array out;
  for (std::size_t i = 0; i < choices.size(); ++i) out.push_back(choiceJson(choices[i], i));
  json::object o;
  o["id"] = first.id;
  o["object"] = "chat.completion";
  o["created"] = first.created;
  o["model"] = first.model;
  o["choices"] = std::move(out);
  o["usage"] = usageJson(first.usage);
  return json::serialize(o);
}

std::string errorTypeForStatus(int status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

std::string upstreamErrorBody(int status, std::string_view type, std::string_view code, std::string_view message) {
  return openAiErrorBody(Error(status, std::string(type), std::string(code), std::string(message)));
}

void ChunkWriter::emit(const json::object& chunk, std::string& out) {
  std::string text = json::serialize(chunk);
  out.append("data: ").append(text).append("\n\n");
  if (obs_.chunk_bytes + text.size() > budget_) {
    ++obs_.chunks_not_captured;
    return;
  }
  obs_.chunk_bytes += text.size();
  obs_.chunks.push_back(std::move(text));
}

void ChunkWriter::emitDelta(json::object delta, const char* finish_reason, int index, std::string& out) {
  json::object choice;
  choice["index"] = index;
  choice["delta"] = std::move(delta);
  choice["logprobs"] = nullptr;
  if (finish_reason) choice["finish_reason"] = finish_reason;
  else choice["finish_reason"] = nullptr;
  json::object chunk;
  chunk["id"] = id_;
  chunk["object"] = "chat.completion.chunk";
  chunk["created"] = created_;
  chunk["model"] = model_;
  chunk["choices"] = json::array{std::move(choice)};
  emit(chunk, out);
}

void ChunkWriter::role(std::string& out, int choice) {
  if (sentRole(choice)) return;
  roles_sent_ |= std::uint64_t{1} << bit(choice);
  emitDelta(json::object{{"role", "assistant"}, {"content", ""}}, nullptr, choice, out);
}

void ChunkWriter::content(std::string_view text, std::string& out, int choice) {
  role(out, choice);
  if (text.empty()) return;
  emitDelta(json::object{{"content", text}}, nullptr, choice, out);
}

void ChunkWriter::toolCallStart(int index, std::string_view id, std::string_view name, std::string& out, int choice) {
  role(out, choice);
  json::object call{{"index", index},
                    {"id", id},
                    {"type", "function"},
                    {"function", json::object{{"name", name}, {"arguments", ""}}}};
  emitDelta(json::object{{"tool_calls", json::array{std::move(call)}}}, nullptr, choice, out);
}

void ChunkWriter::toolCallArguments(int index, std::string_view arguments, std::string& out, int choice) {
  role(out, choice);
  if (arguments.empty()) return;
  json::object call{{"index", index}, {"function", json::object{{"arguments", arguments}}}};
  emitDelta(json::object{{"tool_calls", json::array{std::move(call)}}}, nullptr, choice, out);
}

void ChunkWriter::finish(std::string_view finish_reason, std::string& out, int choice) {
  role(out, choice);
  std::string fr(finish_reason);
  emitDelta(json::object(), fr.c_str(), choice, out);
}

void ChunkWriter::usage(const Usage& u, std::string& out) {
  json::object chunk;
  chunk["id"] = id_;
  chunk["object"] = "chat.completion.chunk";
  chunk["created"] = created_;
  chunk["model"] = model_;
  chunk["choices"] = json::array();
  chunk["usage"] = usageJson(u);
  emit(chunk, out);
}

void ChunkWriter::error(const Error& e, std::string& out) {
  out.append("data: ").append(openAiErrorBody(e)).append("\n\n");
}

std::int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<std::int64_t> intField(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return saturatingInt64(v->as_uint64());
  return std::nullopt;
}

std::string_view stringField(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
}

}  // namespace gw::providers::openai_chat
