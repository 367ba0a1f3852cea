// A JSON request body: checked (valid, an object, within limits) by a scan
// that builds no tree, parsed into a tree only when a provider needs one,
// and which endpoints require one. Pure functions; called from worker
// threads; unit-tested in tests/server/router_test.cc and fuzzed by
// fuzz_http_request.
#pragma once

#include "gw/error.h"

#include <boost/json/object.hpp>
#include <boost/json/storage_ptr.hpp>

#include <cstdint>

#include <optional>
#include <string>
#include <string_view>

namespace gw {

// What the proxy needs to know of a JSON request body before deciding
// whether to build its tree: the top-level "model" (when a string),
// "stream" and "stream_options"."include_usage" (when true). For a repeated
// key the last one counts, as in the tree boost::json::parse builds.
struct JsonBodyFacts {
  std::optional<std::string> model;
  bool stream = false;
  bool include_usage = false;
  bool has_stream_options = false;  // a top-level "stream_options" key, whatever its value
  // What the Messages API requires of a request: a top-level "messages"
  // array, and "max_tokens" (its value when an integer).
  bool messages_is_array = false;
  std::optional<std::int64_t> max_tokens;
};
// Checks the body as parseJsonBody does (valid JSON, an object at the top,
// the same depth limit and errors) with Boost.JSON's SAX parser, building
// no tree -- a fraction of the cost of parsing it into one, which is all an
// OpenAI-compatible passthrough request ever needs.
Result<JsonBodyFacts> scanJsonBody(std::string_view body);

// Whether the endpoint's request body is by definition a JSON object, so
// that an empty one is a malformed request (400 invalid_json) rather than
// something to forward: POST to chat/completions, completions, embeddings,
// responses, messages, messages/count_tokens, moderations,
// images/generations and audio/speech under /v1. Other POSTs (cancel
// actions, uploads) may have an empty body.
bool requiresJsonBody(std::string_view method, std::string_view path);

// Whether `path` is the Anthropic Messages API's (/v1/messages and below),
// whose clients expect Anthropic's error shape and whose requests go to a
// provider that serves that API.
bool isMessagesApiPath(std::string_view path);

// The Messages API's own checks of a scanned body, made before any
// provider is called: for POST /v1/messages and /v1/messages/count_tokens
// "model" a string and "messages" an array, and for /v1/messages
// "max_tokens" an integer of at least 1 (other paths below /v1/messages,
// such as batches, have other shapes and pass). A 400 naming the
// field, as Anthropic words it ("max_tokens: Field required").
Status checkMessagesBody(std::string_view path, const JsonBodyFacts& facts);

// Parses a request body as a JSON object, with a depth limit, its values
// allocated from `storage` (default: the heap). Returns an Error (400
// invalid_json) for malformed JSON or a non-object top level.
Result<boost::json::object> parseJsonBody(std::string_view body, boost::json::storage_ptr storage = {});

}  // namespace gw
