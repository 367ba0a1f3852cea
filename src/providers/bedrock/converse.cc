#include "providers/bedrock/converse.h"

#include "common/strings.h"
#include "common/cache_aware_usage.h"
#include "providers/common/openai_chat.h"

#include <boost/json/parse.hpp>

namespace gw::providers::bedrock {
namespace json = boost::json;
using openai_chat::intField;
using openai_chat::stringField;

const json::object* objectField(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_object() ? &v->as_object() : nullptr;
}

void readUsage(const json::object& u, Usage& out) {
  readCacheAwareUsage(intField(u, "inputTokens"), intField(u, "cacheReadInputTokens"),
                      intField(u, "cacheWriteInputTokens"), intField(u, "outputTokens"), out);
}

UpstreamError readUpstreamError(int status, std::string_view error_type_header, std::string_view body) {
  UpstreamError e;
  e.code = std::string(error_type_header.substr(0, error_type_header.find(':')));
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    const auto& o = v.as_object();
    e.message = std::string(stringField(o, "message"));
    if (e.message.empty()) e.message = std::string(stringField(o, "Message"));
    if (e.code.empty()) {
      std::string_view t = stringField(o, "__type");
      if (auto hash = t.rfind('#'); hash != std::string_view::npos) t.remove_prefix(hash + 1);
      e.code = std::string(t.substr(0, t.find(':')));
    }
  }
  if (e.message.empty()) e.message = "Bedrock returned HTTP " + std::to_string(status);
  return e;
}

const json::object& ConverseStreamMessage::fields() const {
  const json::object& event = payload.as_object();
  if (event.size() == 1)
    if (const auto* inner = objectField(event, event_type)) return *inner;
  return event;
}

void observeStreamError(StreamError& error, const std::vector<std::string>& secrets, ResponseObservation& obs) {
  redactSecrets(error.message, secrets);
  obs.provider_error_type = error.type;
  obs.provider_error_message = error.message;
}

Result<ConverseStreamMessage> readStreamMessage(const eventstream::Message& m) {
  ConverseStreamMessage out;
  std::string_view message_type = m.stringHeader(":message-type");
  if (message_type == "exception" || message_type == "error") {
    // Header values are any bytes; what is kept goes into JSON text.
    StreamError error;
    error.type =
        toValidUtf8(message_type == "exception" ? m.stringHeader(":exception-type") : m.stringHeader(":error-code"));
    error.message = toValidUtf8(m.stringHeader(":error-message"));
    if (error.message.empty()) {
      boost::system::error_code ec;
      json::value v = json::parse(m.payload, ec);
      if (!ec && v.is_object()) {
        error.message = std::string(stringField(v.as_object(), "message"));
        if (error.message.empty()) error.message = std::string(stringField(v.as_object(), "Message"));
      }
    }
    if (error.type.empty()) error.type = "stream_error";
    if (error.message.empty()) error.message = "the Bedrock stream reported " + error.type;
    out.error = std::move(error);
    return out;
  }
  if (message_type != "event")
    return Error::badGateway("upstream_stream_malformed", "event stream message without a known :message-type");
  out.event_type = m.stringHeader(":event-type");
  boost::system::error_code ec;
  out.payload = json::parse(m.payload, ec);
  if (ec || !out.payload.is_object())
    return Error::badGateway("upstream_stream_malformed", "a Bedrock stream event is not a JSON object");
  return out;
}

}  // namespace gw::providers::bedrock
