// The OpenAI error body: {"error":{"message":"...","type":"...","code":"..."}}.
#pragma once

#include "gw/error.h"

#include <string>

namespace gw {
std::string openAiErrorBody(const Error& error);
}
