// The OpenAI error body, {"error":{"message":"...","type":"...","code":"..."}},
// and the Responses API's error event.
#pragma once

#include "gw/error.h"

#include <cstdint>
#include <string>

namespace gw {
std::string openAiErrorBody(const Error& error);

// The data of the Responses API's "error" stream event:
// {"type":"error","code":...,"message":...,"param":null,"sequence_number":N}
// (code null when the error has none).
std::string responsesErrorEvent(const Error& error, std::int64_t sequence_number);
}
