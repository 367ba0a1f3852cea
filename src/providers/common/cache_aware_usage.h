// Usage of the APIs that count cache reads and cache writes apart from the
// other input tokens (Anthropic Messages, Bedrock Converse), in the
// gateway's terms, where input includes both.
#pragma once

#include "common/saturating.h"
#include "gw/provider.h"

#include <cstdint>
#include <optional>

namespace gw::providers {

// Sets in `out` each count the provider gave: input = uncached input +
// cache reads + cache writes, cached_input = cache reads, cache_creation =
// cache writes, output, and total = input + output. A count that is absent
// leaves `out`'s as it is, so that a stream's later event, which may repeat
// any count cumulatively, replaces a count (the last value wins) and never
// adds to it.
inline void readCacheAwareUsage(std::optional<std::int64_t> uncached_input, std::optional<std::int64_t> cache_read,
                                std::optional<std::int64_t> cache_write, std::optional<std::int64_t> output,
                                Usage& out) {
  if (uncached_input)
    out.input = saturatingAdd(saturatingAdd(*uncached_input, cache_read.value_or(0)), cache_write.value_or(0));
  if (cache_read) out.cached_input = cache_read;
  if (cache_write) out.cache_creation = cache_write;
  if (output) out.output = output;
  if (out.input && out.output) out.total = saturatingAdd(*out.input, *out.output);
}

}  // namespace gw::providers
