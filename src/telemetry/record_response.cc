#include "telemetry/record_response.h"

#include "common/anthropic_usage.h"
#include "common/openai_usage.h"
#include "telemetry/record_body.h"
#include "telemetry/record_json.h"
#include "telemetry/stream_assembler.h"

#include <boost/json/object.hpp>

namespace gw {

namespace json = boost::json;

namespace {

// What stringAt reads from a value's text: a string, or an integer's digits.
std::optional<std::string> stringOrIntegerText(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text.front() == '"') return jsonTextString(text);
  const std::size_t digits_from = text.front() == '-' ? 1 : 0;
  if (digits_from == text.size()) return std::nullopt;
  for (std::size_t i = digits_from; i < text.size(); ++i)
    if (text[i] < '0' || text[i] > '9') return std::nullopt;  // a double, true, an object...
  return std::string(text);
}

// A non-empty string value's text, decoded.
std::optional<std::string> nonEmptyString(std::string_view text) {
  auto s = jsonTextString(text);
  if (s && s->empty()) s.reset();
  return s;
}

// The record's fields read from a response as the record holds it:
// attributes.response.model and .id (as stringAt reads them), and the
// finish reasons (finishReasonsOf).
void readResponseFields(const json::object& response, RecordFields& f) {
  f.response_model = stringAt(response, {"model"});
  f.response_id = stringAt(response, {"id"});
  f.finish_reasons = finishReasonsOf(response);
}

// The same fields from the text appendScrubbedJson wrote and its facts.
void readResponseFields(std::string_view text, const ScrubbedJsonFacts& facts, RecordFields& f) {
  if (!facts.is_object) return;
  auto member = [&](std::string_view name) -> std::optional<std::string_view> {
    const auto* span = facts.member(text, name);
    if (!span) return std::nullopt;
    return text.substr(span->offset, span->size);
  };
  if (auto model = member("model")) f.response_model = stringOrIntegerText(*model);
  if (auto id = member("id")) f.response_id = stringOrIntegerText(*id);
  // finishReasonsOf's order of places.
  if (facts.choices_is_array) {
    for (const auto& span : facts.choice_finish_reasons)
      if (auto reason = nonEmptyString(text.substr(span.offset, span.size)))
        f.finish_reasons.push_back(std::move(*reason));
    return;
  }
  if (auto stop = member("stop_reason")) {
    if (auto reason = nonEmptyString(*stop)) {
      f.finish_reasons.push_back(std::move(*reason));
      return;
    }
  }
  if (auto object = member("object"); object && nonEmptyString(*object) == "response") {
    std::optional<std::string> reason;
    if (auto details = member("incomplete_details"); details && details->front() == '{')
      if (auto tree = parseUntrustedJson(*details); tree && tree->is_object())
        if (const auto* r = tree->get_object().if_contains("reason"); r && r->is_string() && !r->get_string().empty())
          reason.emplace(r->get_string());
    if (!reason)
      if (auto status = member("status")) reason = nonEmptyString(*status);
    if (reason) f.finish_reasons.push_back(std::move(*reason));
  }
}

// Appends a tree's text; with `streamed_data`, a stream's chunks spliced
// in after the (assembled response) object's members: each listed chunk's
// own text (StreamAssembler), not a tree parsed from it and serialised
// again.
void appendStreamResponse(std::string& out, const json::object& assembled, const std::string& streamed_data,
                          std::uint64_t chunks_not_captured) {
  appendJsonValue(out, assembled);
  out.pop_back();
  if (!assembled.empty()) out += ',';
  appendLiteral(out, "\"streamed_data\":[");
  out += streamed_data;
  out += ']';
  if (chunks_not_captured > 0) {
    appendLiteral(out, ",\"_chunks_not_captured\":");
    appendJsonUint(out, chunks_not_captured);
  }
  out += '}';
}

}  // namespace

RecordResponse readRecordResponse(const RequestRecord& in, bool with_record, const RecordBuilderOptions& options,
                                  RecordFields& f, json::storage_ptr sp) {
  const ResponseObservation& obs = in.observation;
  Usage usage = obs.own_usage ? obs.usage : Usage{};
  auto readUsage = [&](const json::object& u) {
    if (!obs.own_usage) return;  // a stored response's usage is not this request's
    switch (obs.api) {
      case ResponseApi::kResponses:
        readResponsesUsage(u, usage);
        break;
      case ResponseApi::kMessages:
        readMessagesUsage(u, usage);
        break;
      case ResponseApi::kChatCompletions:
        readOpenAiUsage(u, usage);
        break;
    }
  };
  std::optional<std::string> response_model = obs.response_model;

  // Response: read once, for the record, usage and error type. Its text
  // (attributes.response) stays empty for null.
  std::string response_text;
  bool has_parsed_response = false;  // non-stream, full body, JSON
  std::optional<std::string> response_error_type;
  // Without a record, the response is read only for usage the request path
  // did not observe (the summary's error type never comes from the body:
  // an error always has the gateway's own error type).
  const bool read_response = with_record || (!usage.input && !usage.output);
  const bool capture_response = with_record && options.capture_bodies;
  if (read_response && in.streamed) {
    // The assembled response is built from every chunk the request path
    // kept (its own, larger, memory bound); TELEMETRY_MAX_BODY_BYTES caps
    // only the chunks listed in streamed_data: their own text,
    // comma-separated, spliced in after the assembled response's members.
    std::string streamed_data;
    if (capture_response) streamed_data.reserve(obs.chunk_bytes + obs.chunks.size());
    StreamAssembler assembler(sp, false, obs.api);
    std::size_t bytes = 0, listed = 0;
    std::uint64_t chunks_not_captured = obs.chunks_not_captured;
    bool budget_left = true;
    for (const auto& chunk : obs.chunks) {
      bool listed_here = false;
      if (budget_left && bytes + chunk.size() <= options.max_body_bytes) {
        bytes += chunk.size();
        listed_here = capture_response;
        if (listed_here && listed++ > 0) streamed_data += ',';
      } else {
        budget_left = false;  // keep streamed_data a prefix, in order
        ++chunks_not_captured;
      }
      assembler.add(chunk, listed_here ? &streamed_data : nullptr);
    }
    json::object assembled = assembler.finish();
    response_error_type = assembler.errorType();
    // A stream's usage is in its last usage chunk (Responses API: its final
    // response), when the handler did not report it itself.
    if (!obs.usage_from_handler && !usage.input && !usage.output)
      if (const auto* u = assembled.if_contains("usage"); u && u->is_object()) readUsage(u->as_object());
    if (capture_response) {
      readResponseFields(assembled, f);
      response_text.reserve(1024 + streamed_data.size());
      appendStreamResponse(response_text, assembled, streamed_data, chunks_not_captured);
    }
  } else if (read_response && (!in.response_body.empty() || in.response_body_truncated)) {
    const std::string_view body = in.response_body;
    const bool full_body = !in.response_body_truncated;
    // The usual case: one pass writes the scrubbed body and finds what
    // the tree would give.
    ScrubbedJsonFacts facts;
    std::optional<ScrubbedJsonResult> scanned;
    if (full_body && capture_response && body.size() <= options.max_body_bytes)
      scanned = appendScrubbedJson(body, response_text, &facts, false, obs.own_usage ? usageKeysFor(obs.api) : nullptr);
    if (scanned == ScrubbedJsonResult::kWritten) {
      has_parsed_response = true;
      const std::string_view text = response_text;
      auto member = [&](std::string_view name) -> std::optional<std::string_view> {
        const auto* span = facts.member(text, name);
        if (!span) return std::nullopt;
        return text.substr(span->offset, span->size);
      };
      // A secret's value is the only change scrubbing makes to this text
      // (a number out of range, or a repeated key, takes the tree path):
      // error.type, the usage counts and model are none.
      if (auto error = member("error"); error && error->front() == '{')
        if (auto tree = parseUntrustedJson(*error, sp)) response_error_type = errorTypeOfMember(*tree);
      if (!obs.usage_from_handler && !usage.input && !usage.output) {
        if (facts.usage) {
          // Read by the pass itself (the request path leaves it to this pass:
          // server/proxy.cc).
          if (obs.own_usage) mergeUsage(*facts.usage, usage, obs.api == ResponseApi::kChatCompletions);
        } else if (auto u = member("usage"); u && u->front() == '{') {
          if (auto tree = parseUntrustedJson(*u, sp); tree && tree->is_object()) readUsage(tree->get_object());
        }
      }
      if (!response_model)
        if (auto m = member("model")) response_model = nonEmptyString(*m);
      readResponseFields(text, facts, f);
    } else {
      std::optional<json::value> parsed;
      if (full_body && scanned != ScrubbedJsonResult::kNotJson) parsed = parseUntrustedJson(body, sp);
      if (parsed) {
        has_parsed_response = true;
        response_error_type = errorTypeOf(*parsed);
        // Tokens: what the provider's handler observed, else the response's usage.
        if (!obs.usage_from_handler && !usage.input && !usage.output && parsed->is_object())
          if (const auto* u = parsed->as_object().if_contains("usage"); u && u->is_object()) readUsage(u->as_object());
        // The model that answered, for pricing, as a stream's chunks give it.
        if (!response_model && parsed->is_object())
          if (const auto* m = parsed->as_object().if_contains("model"); m && m->is_string() && !m->as_string().empty())
            response_model.emplace(m->as_string());
      }
      if (capture_response) {
        if (parsed && body.size() <= options.max_body_bytes) {
          scrubForRecord(*parsed);
          if (parsed->is_object()) readResponseFields(parsed->get_object(), f);
          appendJsonValue(response_text, *parsed);
        } else {
          appendCapturedBody(
              response_text, body, options.max_body_bytes, in.response_body_truncated,
              in.response_body_truncated ? std::optional<std::uint64_t>(in.response_size) : std::nullopt);
        }
      }
    }
  }

  return {usage, std::move(response_model), std::move(response_text), has_parsed_response,
          std::move(response_error_type)};
}

}  // namespace gw
