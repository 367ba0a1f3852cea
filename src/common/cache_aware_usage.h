// Usage of the APIs that count cache reads and cache writes apart from the
// other input tokens (Anthropic Messages, Bedrock Converse), in the
// gateway's terms, where input includes both. Pure functions, any thread.
#pragma once

#include "common/saturating.h"
#include "gw/provider.h"

#include <algorithm>
#include <cstdint>
#include <optional>

namespace gw {

// Sets in `out` each count the provider gave: input = uncached input +
// cache reads + cache writes, cached_input = cache reads, cache_creation =
// cache writes, output, and total = input + output. A count that is absent
// keeps the value `out` has, so that a stream's later event, which may
// repeat any count cumulatively or give only some of them, replaces each
// count it gives (the last value wins) and never adds to it.
inline void readCacheAwareUsage(std::optional<std::int64_t> uncached_input, std::optional<std::int64_t> cache_read,
                                std::optional<std::int64_t> cache_write, std::optional<std::int64_t> output,
                                Usage& out) {
  // The uncached input this event leaves: its own count, else the one an
  // earlier event gave (what out.input holds beyond the cache counts).
  std::optional<std::int64_t> uncached = uncached_input;
  if (!uncached && out.input)
    uncached = std::max<std::int64_t>(0, *out.input - out.cached_input.value_or(0) - out.cache_creation.value_or(0));
  if (cache_read) out.cached_input = cache_read;
  if (cache_write) out.cache_creation = cache_write;
  if (uncached)
    out.input = saturatingAdd(saturatingAdd(*uncached, out.cached_input.value_or(0)), out.cache_creation.value_or(0));
  if (output) out.output = output;
  if (out.input && out.output) out.total = saturatingAdd(*out.input, *out.output);
}

}  // namespace gw
