// The OpenAI passthrough: how a provider whose upstream speaks the OpenAI
// API itself (the openai_compatible providers, azure) relays a request and
// its response. Requests and responses pass unchanged, with these
// exceptions:
//  - a streamed chat/completions or completions request gets
//    stream_options.include_usage so that the record has token counts; the
//    extra usage-only chunk and the top-level "usage" members it causes are
//    then hidden from a client that did not ask for them (the usage chunk
//    is still kept, last, for the record);
//  - a "provider/model" prefix removed by the router is removed upstream too;
//  - an error body is read whole, so that the keys the gateway sent can be
//    redacted should the upstream echo them (and, for a provider that asks,
//    rewritten into the OpenAI error shape).
// The Responses API (/v1/responses and below) is relayed event by event; a
// stream that breaks ends with the Responses API's own error event.
//
// The caller owns what is its own: the upstream target, the credentials and
// the headers. Everything here is called on a request's worker thread;
// nothing is shared between requests.
#pragma once

#include "gw/provider.h"

#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gw::providers::openai_passthrough {

// --- The request ---------------------------------------------------------

// True when the upstream request gets stream_options.include_usage for the
// gateway's own use: a streamed chat/completions or completions request
// with a JSON body whose client did not ask for usage, when the response is
// read at all (ClientRequest::observed). The Responses API has no
// stream_options.
bool injectsUsage(const ClientRequest& request);

// Provider::wantsParsedBody of a passthrough provider: the body's tree is
// needed only to change it, when a provider prefix was taken off "model",
// or include_usage goes into a "stream_options" the body already has (else
// include_usage is spliced into the text: see withIncludeUsage).
bool needsParsedBody(const ClientRequest& request);

// Sets the body of `up`: the client's own bytes (forwards_client_body)
// unless the gateway changes them as described at the top of this file.
void setUpstreamBody(const ClientRequest& request, UpstreamRequest& up);

// The body (a JSON object without "stream_options") with
// "stream_options":{"include_usage":true} added as its first member; every
// other byte unchanged.
std::string withIncludeUsage(std::string_view body);

// --- The response ----------------------------------------------------------

// How the handler relays an error response (status >= 400).
struct ErrorRelay {
  // Replaced by "[REDACTED]" wherever the body holds them: the keys the
  // gateway sent upstream.
  std::vector<std::string> secrets;
  // When set, called with the whole (redacted) body, which it may rewrite
  // for the client, and the observation, where it may note the provider's
  // error (ResponseObservation::provider_error_type).
  std::function<void(int status, std::string& body, ResponseObservation& observation)> rewrite;
  // The API the observation is of.
  ResponseApi api = ResponseApi::kChatCompletions;
  // A larger error body is refused (502 upstream_response_too_large).
  std::size_t max_body_bytes = std::numeric_limits<std::size_t>::max();
};

// A response that is not a stream, relayed byte for byte (Framing::kRelay):
// JSON bodies, files, audio. `own_usage`: the body carries the request's
// own usage, which the proxy reads from what it captured.
std::unique_ptr<ResponseHandler> makeBodyPassthrough(const UpstreamResponseHead& head, ResponseApi api, bool own_usage);

// An error response, read whole (Framing::kBuffered) and relayed per
// `errors`: the keys redacted, rewritten when it asks for it.
std::unique_ptr<ResponseHandler> makeErrorPassthrough(const UpstreamResponseHead& head, ErrorRelay errors);

// The handler of one upstream response to `request`, as
// Provider::respond() returns it: a text/event-stream (2xx) is relayed
// event by event, an error body (>= 400) read whole and relayed per
// `errors`, anything else forwarded byte for byte. `capture_budget` bounds
// the bytes of stream chunks kept for the record.
std::unique_ptr<ResponseHandler> makeResponseHandler(const ClientRequest& request, const UpstreamResponseHead& head,
                                                     std::size_t capture_budget, ErrorRelay errors);

}  // namespace gw::providers::openai_passthrough
