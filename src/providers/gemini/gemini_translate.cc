#include "providers/gemini/gemini_translate.h"

#include "common/saturating.h"
#include "common/strings.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <algorithm>
#include <map>
#include <optional>

namespace gw::providers::gemini {
namespace json = boost::json;
using openai_chat::ChatRequest;
using openai_chat::Completion;
using openai_chat::ContentPart;
using openai_chat::intField;
using openai_chat::Message;
using openai_chat::ResponseFormat;
using openai_chat::stringField;
using openai_chat::ToolChoice;

namespace {

constexpr std::string_view kMalformedResponse = "upstream_response_malformed";
constexpr std::string_view kMalformedStream = "upstream_stream_malformed";

Error malformed(std::string_view code, std::string message) {
  return Error::badGateway(std::string(code), std::move(message));
}

// OpenAI's tool functions without parameters get {"type":"object",
// "properties":{}} (parseChatRequest); Gemini takes a function without
// parameters as one with none declared.
bool isEmptyObjectSchema(const json::value& schema) {
  if (!schema.is_object()) return false;
  const auto& o = schema.as_object();
  for (const auto& [key, value] : o) {
    if (key == "type" && value.is_string() && value.as_string() == "object") continue;
    if (key == "properties" && value.is_object() && value.as_object().empty()) continue;
    return false;
  }
  return true;
}

// A tool message's content as Gemini's functionResponse.response, which
// must be an object: a result that is a JSON object is sent as it is, any
// other text as {"content": text}.
json::object toolResponse(const Message& m) {
  std::string text;
  for (const auto& p : m.content) text.append(p.text);
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (!ec && v.is_object()) return std::move(v.as_object());
  return json::object{{"content", text}};
}

json::object functionCallingConfig(const openai_chat::ToolChoice& choice) {
  json::object config;
  switch (choice.mode) {
    case ToolChoice::Mode::kUnset:
    case ToolChoice::Mode::kAuto: config["mode"] = "AUTO"; break;
    case ToolChoice::Mode::kNone: config["mode"] = "NONE"; break;
    case ToolChoice::Mode::kRequired: config["mode"] = "ANY"; break;
    case ToolChoice::Mode::kNamed:
      config["mode"] = "ANY";
      config["allowedFunctionNames"] = json::array{json::value(choice.name)};
      break;
  }
  return config;
}

// A candidate's index: Gemini leaves out an index of 0.
Result<int> candidateIndex(const json::object& candidate, int fallback, std::string_view code) {
  if (!candidate.contains("index")) return fallback;
  auto index = intField(candidate, "index");
  if (!index || *index < 0 || *index >= kMaxCandidates)
    return malformed(code, "a Gemini candidate index is not between 0 and " + std::to_string(kMaxCandidates - 1));
  return static_cast<int>(*index);
}

// A candidate's content.parts; null when it has none (a candidate stopped
// by a safety filter has no content).
Result<const json::array*> candidateParts(const json::object& candidate, std::string_view code) {
  const auto* content = candidate.if_contains("content");
  if (content == nullptr || content->is_null()) return nullptr;
  if (!content->is_object()) return malformed(code, "a Gemini candidate's content is not an object");
  const auto* parts = content->as_object().if_contains("parts");
  if (parts == nullptr || parts->is_null()) return nullptr;
  if (!parts->is_array()) return malformed(code, "a Gemini candidate's content.parts is not an array");
  return &parts->as_array();
}

bool isThought(const json::object& part) {
  const auto* t = part.if_contains("thought");
  return t != nullptr && t->is_bool() && t->as_bool();
}

struct FunctionCall {
  std::string_view name;
  std::string arguments;  // JSON text of args
};

// A part's functionCall, if it has one.
Result<std::optional<FunctionCall>> functionCall(const json::object& part, std::string_view code) {
  const auto* fc = part.if_contains("functionCall");
  if (fc == nullptr || fc->is_null()) return std::optional<FunctionCall>();
  if (!fc->is_object()) return malformed(code, "a Gemini functionCall is not an object");
  const auto& call = fc->as_object();
  std::string_view name = stringField(call, "name");
  if (name.empty()) return malformed(code, "a Gemini functionCall has no name");
  const auto* args = call.if_contains("args");
  if (args != nullptr && !args->is_null() && !args->is_object())
    return malformed(code, "a Gemini functionCall's args is not an object");
  std::string arguments = args != nullptr && args->is_object() ? json::serialize(*args) : "{}";
  return std::optional<FunctionCall>(FunctionCall{name, std::move(arguments)});
}

std::string callId(int n) { return "call_" + std::to_string(n); }

// Gemini ends a turn that calls functions with STOP; OpenAI clients look
// for "tool_calls". An answer cut short or filtered keeps that reason.
std::string finalReason(std::string_view reason, bool has_function_call) {
  if (has_function_call && (reason.empty() || reason == "stop")) return "tool_calls";
  return reason.empty() ? "stop" : std::string(reason);
}

bool promptBlocked(const json::object& response) {
  const auto* feedback = response.if_contains("promptFeedback");
  return feedback != nullptr && feedback->is_object() && !stringField(feedback->as_object(), "blockReason").empty();
}

}  // namespace

std::string modelPath(std::string_view model, bool stream) {
  if (model.starts_with("models/")) model.remove_prefix(7);
  std::string path = "/v1beta/models/";
  path += boost::urls::encode(model, boost::urls::unreserved_chars);
  path += stream ? ":streamGenerateContent?alt=sse" : ":generateContent";
  return path;
}

Result<std::string> toGenerateContentRequest(const ChatRequest& req) {
  json::array system;
  json::array contents;
  // tool_call_id -> function name, from the assistant messages so far: the
  // latest call with an id wins (ids such as call_0 repeat across turns).
  std::map<std::string, std::string, std::less<>> call_names;
  for (std::size_t i = 0; i < req.messages.size(); ++i) {
    const Message& m = req.messages[i];
    if (m.role == Message::Role::kSystem) {
      for (const auto& p : m.content) system.push_back(json::object{{"text", p.text}});
      continue;
    }
    json::array parts;
    if (m.role == Message::Role::kTool) {
      auto it = call_names.find(m.tool_call_id);
      if (it == call_names.end())
        return Error::badRequest("invalid_request", "messages[" + std::to_string(i) +
                                                        "]: tool_call_id names no tool call of an earlier "
                                                        "assistant message (Gemini needs the function's name)");
      parts.push_back(json::object{
          {"functionResponse", json::object{{"name", it->second}, {"response", toolResponse(m)}}}});
    } else {
      for (const auto& p : m.content) {
        if (p.kind == ContentPart::Kind::kText) {
          parts.push_back(json::object{{"text", p.text}});
        } else if (!p.image.url.empty()) {
          return Error::badRequest("unsupported_parameter",
                                   "messages[" + std::to_string(i) +
                                       "]: image URLs are not supported by the gemini provider (the gateway does "
                                       "not fetch them); send the image as a data: URL");
        } else {
          parts.push_back(json::object{
              {"inlineData", json::object{{"mimeType", p.image.media_type}, {"data", p.image.base64}}}});
        }
      }
      for (const auto& call : m.tool_calls) {
        parts.push_back(json::object{{"functionCall", json::object{{"name", call.name}, {"args", call.arguments}}}});
        call_names[call.id] = call.name;
      }
    }
    if (parts.empty()) continue;  // Gemini refuses a turn without parts; an empty message says nothing
    std::string_view role = m.role == Message::Role::kAssistant ? "model" : "user";
    // All function responses to one turn's calls go in the next turn:
    // neighbours of the same role are merged.
    if (!contents.empty() && contents.back().as_object().at("role").as_string() == role) {
      auto& prev = contents.back().as_object()["parts"].as_array();
      for (auto& p : parts) prev.push_back(std::move(p));
    } else {
      contents.push_back(json::object{{"role", role}, {"parts", std::move(parts)}});
    }
  }
  for (auto& turn : contents) {
    auto& t = turn.as_object();
    if (t.at("role").as_string() != "model") continue;
    for (auto& part : t["parts"].as_array()) {
      auto& p = part.as_object();
      if (!p.contains("functionCall")) continue;
      p["thoughtSignature"] = kUnsignedCallSignature;
      break;  // of parallel calls Gemini signs the first
    }
  }

  json::object body;
  if (!system.empty()) body["systemInstruction"] = json::object{{"parts", std::move(system)}};
  body["contents"] = std::move(contents);
  if (!req.tools.empty()) {
    json::array declarations;
    for (const auto& t : req.tools) {
      json::object d{{"name", t.name}};
      if (!t.description.empty()) d["description"] = t.description;
      // parametersJsonSchema takes the JSON Schema as OpenAI clients write
      // it; "parameters" takes only Gemini's OpenAPI subset.
      if (!isEmptyObjectSchema(t.parameters)) d["parametersJsonSchema"] = t.parameters;
      declarations.push_back(std::move(d));
    }
    body["tools"] = json::array{json::object{{"functionDeclarations", std::move(declarations)}}};
    if (req.tool_choice.mode != ToolChoice::Mode::kUnset)
      body["toolConfig"] = json::object{{"functionCallingConfig", functionCallingConfig(req.tool_choice)}};
  }

  json::object config;
  if (req.temperature) config["temperature"] = *req.temperature;
  if (req.top_p) config["topP"] = *req.top_p;
  if (req.top_k) config["topK"] = *req.top_k;
  if (req.max_tokens) config["maxOutputTokens"] = *req.max_tokens;
  if (!req.stop.empty()) {
    json::array stops;
    for (const auto& s : req.stop) stops.emplace_back(s);
    config["stopSequences"] = std::move(stops);
  }
  if (req.n > 1) config["candidateCount"] = req.n;
  if (req.seed) config["seed"] = *req.seed;
  if (req.response_format.kind != ResponseFormat::Kind::kText) {
    config["responseMimeType"] = "application/json";
    if (req.response_format.kind == ResponseFormat::Kind::kJsonSchema && req.response_format.schema.is_object())
      config["responseJsonSchema"] = req.response_format.schema;
  }
  if (!config.empty()) body["generationConfig"] = std::move(config);
  return json::serialize(body);
}

std::string finishReason(std::string_view r) {
  if (r == "STOP") return "stop";
  if (r == "MAX_TOKENS") return "length";
  if (r == "SAFETY" || r == "RECITATION" || r == "BLOCKLIST" || r == "PROHIBITED_CONTENT" || r == "SPII" ||
      r == "IMAGE_SAFETY" || r == "IMAGE_PROHIBITED_CONTENT" || r == "IMAGE_RECITATION")
    return "content_filter";
  // LANGUAGE, OTHER, MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL,
  // TOO_MANY_TOOL_CALLS, FINISH_REASON_UNSPECIFIED and later additions.
  return "stop";
}

void readUsage(const json::object& u, Usage& out) {
  out = Usage{};
  auto prompt = intField(u, "promptTokenCount");
  auto tool_prompt = intField(u, "toolUsePromptTokenCount");
  auto candidates = intField(u, "candidatesTokenCount");
  auto thoughts = intField(u, "thoughtsTokenCount");
  auto cached = intField(u, "cachedContentTokenCount");
  out.input = saturatingAdd(prompt.value_or(0), tool_prompt.value_or(0));
  out.output = saturatingAdd(candidates.value_or(0), thoughts.value_or(0));
  out.total = saturatingAdd(*out.input, *out.output);
  if (cached) out.cached_input = cached;
  if (thoughts) out.reasoning = thoughts;
}

Result<std::string> translateResponse(std::string_view body, std::string_view fallback_id,
                                      std::string_view fallback_model, std::int64_t created, ResponseObservation& obs) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object())
    return malformed(kMalformedResponse, "the Gemini response is not a GenerateContentResponse");
  const auto& r = v.as_object();
  if (const auto* u = r.if_contains("usageMetadata"); u && u->is_object()) readUsage(u->as_object(), obs.usage);
  std::string_view model = stringField(r, "modelVersion");
  if (!model.empty()) obs.response_model = std::string(model);
  else model = fallback_model;
  std::string_view id = stringField(r, "responseId");
  if (id.empty()) id = fallback_id;

  const auto* cands = r.if_contains("candidates");
  if (cands != nullptr && !cands->is_null() && !cands->is_array())
    return malformed(kMalformedResponse, "the Gemini response's candidates is not an array");
  std::array<std::optional<Completion>, kMaxCandidates> slots;
  int count = 0;
  int next_call = 0;
  if (cands != nullptr && cands->is_array()) {
    int position = 0;
    for (const auto& cv : cands->as_array()) {
      if (!cv.is_object()) return malformed(kMalformedResponse, "a Gemini candidate is not an object");
      const auto& cand = cv.as_object();
      auto index = candidateIndex(cand, position++, kMalformedResponse);
      if (!index) return index.error();
      if (slots[*index]) return malformed(kMalformedResponse, "two Gemini candidates have the same index");
      auto parts = candidateParts(cand, kMalformedResponse);
      if (!parts) return parts.error();
      Completion c;
      if (*parts != nullptr) {
        for (const auto& pv : **parts) {
          if (!pv.is_object()) return malformed(kMalformedResponse, "a Gemini part is not an object");
          const auto& part = pv.as_object();
          if (isThought(part)) continue;  // reasoning has no Chat Completions form
          auto call = functionCall(part, kMalformedResponse);
          if (!call) return call.error();
          if (*call) {
            if (next_call >= kMaxToolCalls) return malformed(kMalformedResponse, "too many Gemini function calls");
            c.tool_calls_id_name.emplace_back(callId(next_call++), (*call)->name);
            c.tool_calls_arguments.push_back(std::move((*call)->arguments));
          } else if (const auto* text = part.if_contains("text"); text && text->is_string()) {
            c.text.append(text->as_string());
            c.has_text = true;
          }
        }
      }
      // A function call's companion part is often an empty text.
      if (c.text.empty() && !c.tool_calls_id_name.empty()) c.has_text = false;
      std::string_view reason = stringField(cand, "finishReason");
      c.finish_reason = finalReason(reason.empty() ? "" : finishReason(reason), !c.tool_calls_id_name.empty());
      slots[*index] = std::move(c);
      count = std::max(count, *index + 1);
    }
  }
  std::vector<Completion> choices;
  for (int i = 0; i < count; ++i) {
    if (!slots[i]) return malformed(kMalformedResponse, "the Gemini candidates' indexes have a gap");
    choices.push_back(std::move(*slots[i]));
  }
  if (choices.empty()) {
    if (!promptBlocked(r)) return malformed(kMalformedResponse, "the Gemini response has no candidates");
    Completion c;  // the prompt itself was blocked: no answer
    c.finish_reason = "content_filter";
    choices.push_back(std::move(c));
  }
  Completion& first = choices.front();
  first.id = std::string(id);
  first.model = std::string(model);
  first.created = created;
  first.usage = obs.usage;
  return openai_chat::completionJson(choices);
}

std::string translateError(int status, std::string_view body, ResponseObservation& obs) {
  std::string type = openai_chat::errorTypeForStatus(status);
  std::string gemini_status;
  std::string message;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  // Gemini's REST errors are one object; a streaming method without
  // alt=sse wraps it in an array.
  if (!ec && v.is_array() && !v.as_array().empty()) v = json::value(v.as_array().front());
  if (!ec && v.is_object()) {
    if (const auto* e = v.as_object().if_contains("error"); e && e->is_object()) {
      gemini_status = std::string(stringField(e->as_object(), "status"));
      message = std::string(stringField(e->as_object(), "message"));
    }
  }
  if (message.empty()) message = "Gemini returned HTTP " + std::to_string(status);
  obs.provider_error_type = gemini_status.empty() ? type : gemini_status;
  obs.provider_error_message = message;
  return openai_chat::upstreamErrorBody(status, type, gemini_status, message);
}

StreamTranslator::StreamTranslator(ResponseObservation& obs, std::size_t capture_budget, std::string fallback_id,
                                   std::string model, bool client_wants_usage, std::int64_t created,
                                   std::vector<std::string> secrets)
    : obs_(obs), writer_(obs, capture_budget), client_wants_usage_(client_wants_usage), secrets_(std::move(secrets)) {
  writer_.setId(std::move(fallback_id));
  writer_.setModel(std::move(model));
  writer_.setCreated(created);
}

Status StreamTranslator::feed(std::string_view bytes, std::string& out) {
  Status status = ok();
  bool parsed = parser_.feed(bytes, [&](const SseEvent& e) {
    if (ended_) return true;  // nothing follows an error event
    status = onEvent(e.data, out);
    return static_cast<bool>(status);
  });
  if (!status) return status;
  if (!parsed) return malformed(kMalformedStream, "a Gemini stream event is too large");
  return ok();
}

Status StreamTranslator::onEvent(std::string_view data, std::string& out) {
  boost::system::error_code ec;
  json::value v = json::parse(data, ec);
  if (ec || !v.is_object()) return malformed(kMalformedStream, "a Gemini stream event is not a JSON object");
  const auto& e = v.as_object();
  if (const auto* err = e.if_contains("error"); err && !err->is_null()) {
    static const json::object kNoDetail;
    onError(err->is_object() ? err->as_object() : kNoDetail, out);
    return ok();
  }
  // The first event names the response for every chunk.
  if (!has_id_) {
    has_id_ = true;
    if (auto id = stringField(e, "responseId"); !id.empty()) writer_.setId(std::string(id));
    if (auto model = stringField(e, "modelVersion"); !model.empty()) writer_.setModel(std::string(model));
  }
  if (auto model = stringField(e, "modelVersion"); !model.empty()) obs_.response_model = std::string(model);
  // Cumulative counts: the last event's replace the earlier ones.
  if (const auto* u = e.if_contains("usageMetadata"); u && u->is_object()) readUsage(u->as_object(), obs_.usage);
  if (promptBlocked(e)) blocked_ = true;
  const auto* cands = e.if_contains("candidates");
  if (cands == nullptr || cands->is_null()) return ok();
  if (!cands->is_array()) return malformed(kMalformedStream, "a Gemini stream event's candidates is not an array");
  for (const auto& cv : cands->as_array()) {
    if (!cv.is_object()) return malformed(kMalformedStream, "a Gemini candidate is not an object");
    if (auto st = onCandidate(cv.as_object(), out); !st) return st;
  }
  return ok();
}

Status StreamTranslator::onCandidate(const json::object& cand, std::string& out) {
  auto index = candidateIndex(cand, 0, kMalformedStream);
  if (!index) return index.error();
  Candidate& state = candidates_[*index];
  if (!state.seen) {
    state.seen = true;
    writer_.role(out, *index);
  }
  auto parts = candidateParts(cand, kMalformedStream);
  if (!parts) return parts.error();
  if (*parts != nullptr) {
    for (const auto& pv : **parts) {
      if (!pv.is_object()) return malformed(kMalformedStream, "a Gemini part is not an object");
      const auto& part = pv.as_object();
      if (isThought(part)) continue;  // reasoning has no Chat Completions form
      auto call = functionCall(part, kMalformedStream);
      if (!call) return call.error();
      if (*call) {
        if (next_call_id_ >= kMaxToolCalls) return malformed(kMalformedStream, "too many Gemini function calls");
        int tool_index = state.tool_calls++;
        state.has_function_call = true;
        // Gemini sends a call whole: its start, then all its arguments.
        writer_.toolCallStart(tool_index, callId(next_call_id_++), (*call)->name, out, *index);
        writer_.toolCallArguments(tool_index, (*call)->arguments, out, *index);
      } else if (const auto* text = part.if_contains("text"); text && text->is_string()) {
        writer_.content(text->as_string(), out, *index);
      }
    }
  }
  if (auto reason = stringField(cand, "finishReason"); !reason.empty()) state.finish_reason = finishReason(reason);
  return ok();
}

void StreamTranslator::onError(const json::object& err, std::string& out) {
  std::string gemini_status(stringField(err, "status"));
  std::string message(stringField(err, "message"));
  if (message.empty()) message = "the Gemini stream reported an error";
  redactSecrets(message, secrets_);
  auto code = intField(err, "code");
  int status = code && *code >= 400 && *code < 600 ? static_cast<int>(*code) : 502;
  std::string type = openai_chat::errorTypeForStatus(status);
  obs_.provider_error_type = gemini_status.empty() ? type : gemini_status;
  obs_.provider_error_message = message;
  writer_.error(Error(status, type, gemini_status, message), out);
  ended_ = true;
}

Status StreamTranslator::finish(std::string& out) {
  if (ended_) return ok();
  bool any = false;
  for (const auto& c : candidates_) {
    if (!c.seen) continue;
    any = true;
    if (c.finish_reason.empty())
      return malformed("upstream_stream_truncated", "the Gemini stream ended before a candidate's finishReason");
  }
  if (!any && !blocked_)
    return malformed("upstream_stream_truncated", "the Gemini stream ended without an answer");
  if (!any) writer_.finish("content_filter", out);  // the prompt itself was blocked
  for (int i = 0; i < kMaxCandidates; ++i) {
    const auto& c = candidates_[i];
    if (c.seen) writer_.finish(finalReason(c.finish_reason, c.has_function_call), out, i);
  }
  if (client_wants_usage_) writer_.usage(obs_.usage, out);
  writer_.done(out);
  ended_ = true;
  return ok();
}

void StreamTranslator::fail(const Error& error, std::string& out) {
  if (ended_) return;
  writer_.error(error, out);
  ended_ = true;
}

}  // namespace gw::providers::gemini
