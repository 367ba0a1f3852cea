// What both Bedrock translations (OpenAI Chat Completions in
// bedrock_translate.h, Anthropic Messages in messages_translate.h) read
// from Converse the same way: its usage, its error responses and the
// messages of its event stream.
//
// Pure functions; called on a request's worker thread.
#pragma once

#include "gw/provider.h"
#include "providers/bedrock/event_stream.h"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::providers::bedrock {

// The member `key` of `o` when it is an object, else null.
const boost::json::object* objectField(const boost::json::object& o, std::string_view key);

// Reads a Converse "usage" object into the gateway's terms. inputTokens
// excludes cache reads and writes, which the gateway counts as input, so
// input = inputTokens + cacheReadInputTokens + cacheWriteInputTokens;
// cached_input and cache_creation are the cache counts when reported.
void readUsage(const boost::json::object& usage, Usage& out);

// What a Bedrock error response says.
struct UpstreamError {
  std::string code;     // the exception name ("ValidationException"), "" when unknown
  std::string message;  // "Bedrock returned HTTP N" when the body has none
};

// Reads an error response: the code from the x-amzn-ErrorType header
// ("ValidationException:http://..."; may be "") or the body's "__type",
// the message from the body's "message" (or "Message").
UpstreamError readUpstreamError(int status, std::string_view error_type_header, std::string_view body);

// An exception or error that a ConverseStream message reports instead of
// an event.
struct StreamError {
  std::string type;     // ":exception-type" / ":error-code", e.g. "throttlingException"
  std::string message;  // ":error-message", else the payload's "message"
};

// One ConverseStream message, read.
struct ConverseStreamMessage {
  std::optional<StreamError> error;  // set for an exception / error message
  std::string_view event_type;       // an event's ":event-type" (a view into the decoder's message)
  boost::json::value payload;        // an event's JSON payload (an object)

  // The event's fields: the payload, or the object it wraps when it has the
  // form {"<eventType>": {...}}.
  const boost::json::object& fields() const;
};

// Reads a decoded event-stream message. An Error (upstream_stream_malformed)
// for an unknown :message-type or an event whose payload is not a JSON
// object.
Result<ConverseStreamMessage> readStreamMessage(const eventstream::Message& message);

// A stream's exception, for the client and the record: `secrets` (the
// credentials the request was signed with) masked in its message, its type
// and message noted in `obs` (provider_error_type, _message).
void observeStreamError(StreamError& error, const std::vector<std::string>& secrets, ResponseObservation& obs);

}  // namespace gw::providers::bedrock
