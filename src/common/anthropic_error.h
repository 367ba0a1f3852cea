// The Anthropic Messages API's error shapes, for the errors the gateway
// itself produces on /v1/messages and below:
//   body:         {"type":"error","error":{"type":"...","message":"..."}}
//   stream event: event: error\ndata: <the same body>\n\n
// The error type is chosen by status, as Anthropic's own API does (400
// invalid_request_error, 401 authentication_error, 403 permission_error,
// 404 not_found_error, 413 request_too_large, 429 rate_limit_error,
// 503/529 overloaded_error, 504 timeout_error, other 5xx api_error). The
// shape has no place for the gateway's error code ("invalid_json"): the
// message says what happened.
#pragma once

#include "gw/error.h"

#include <string>
#include <string_view>

namespace gw {

// Anthropic's error "type" for an HTTP status.
std::string_view anthropicErrorType(int http_status);

// {"type":"error","error":{"type":anthropicErrorType(status),"message":...}}
std::string anthropicErrorBody(const Error& error);

// The SSE event that ends a Messages stream with `error`.
std::string anthropicErrorEvent(const Error& error);

}  // namespace gw
