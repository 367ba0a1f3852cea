// The Responses API side of StreamAssembler: which event's "response" is
// the final one, and that response at finish(). Its events are not folded
// (each carries whole objects, not deltas), so this is all the assembly a
// Responses stream needs.
#include "common/openai_usage.h"
#include "telemetry/record_builder.h"
#include "telemetry/stream_assembler.h"

#include <boost/json/monotonic_resource.hpp>

namespace gw {

namespace json = boost::json;

void StreamAssembler::noteResponsesTree(std::string_view chunk, const json::value& parsed) {
  const json::object& event = parsed.as_object();
  std::string_view type;
  if (const auto* t = event.if_contains("type"); t && t->is_string()) type = t->as_string();
  if (type == "error" && !error_type_) {
    if (const auto* c = event.if_contains("code"); c && c->is_string() && !c->as_string().empty())
      error_type_.emplace(c->as_string());
    else
      error_type_ = errorTypeOf(parsed).value_or("stream_error");
  }
  const auto* r = event.if_contains("response");
  noteResponsesEvent(chunk, type, r && r->is_object());
}

void StreamAssembler::noteResponsesEvent(std::string_view chunk, std::string_view type, bool has_response) {
  // A terminal event's response is the final one; a later event that is not
  // terminal does not replace it.
  const bool terminal = isTerminalResponsesEvent(type);
  if (!has_response || (terminal_seen_ && !terminal)) return;
  response_event_.assign(chunk);
  response_event_type_.assign(type);
  terminal_seen_ = terminal_seen_ || terminal;
}

json::object StreamAssembler::finishResponses() {
  json::object out(sp_);
  if (response_event_.empty()) return out;
  json::monotonic_resource scratch;
  std::optional<json::value> event = parseUntrustedJson(response_event_, &scratch);
  if (!event || !event->is_object()) return out;
  const auto* r = event->as_object().if_contains("response");
  if (!r || !r->is_object()) return out;
  if (response_event_type_ == "response.failed" && !error_type_) {
    const json::value* code = nullptr;
    if (const auto* e = r->as_object().if_contains("error"); e && e->is_object()) code = e->as_object().if_contains("code");
    if (code && code->is_string() && !code->as_string().empty()) error_type_.emplace(code->as_string());
    else error_type_ = "response_failed";
  }
  json::value response(*r, sp_);
  scrubForRecord(response);
  return std::move(response.as_object());
}

}  // namespace gw
