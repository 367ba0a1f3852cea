// Request ids: random UUIDv4 strings. Cheap (a thread-local PRNG seeded once
// from the OS), safe to call from any thread.
#pragma once

#include <string>

namespace gw {
std::string newRequestId();
}
