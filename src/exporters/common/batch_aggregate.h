// Aggregates a batch of request records into per-series sums, for exporters
// that send metrics as pre-aggregated points (Datadog, New Relic): one series
// per (provider, model, project, status code). Pure; header-only.
#pragma once

#include "exporters/common/record_mapping.h"
#include "common/saturating.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>

namespace gw::exporters {

struct SeriesKey {
  std::string provider, model, project_id;
  std::int64_t status_code = 0;
  auto operator<=>(const SeriesKey&) const = default;
};

// A part of the input or output tokens (cache reads, cache writes,
// reasoning): summed over the records that report it; `reported` is false
// when none did, so that a provider without the detail sends no zero.
struct TokenPart {
  std::int64_t sum = 0;
  bool reported = false;
  void add(const std::optional<std::int64_t>& v) {
    if (!v) return;
    sum = saturatingAdd(sum, *v);
    reported = true;
  }
};

struct SeriesValues {
  std::int64_t requests = 0, errors = 0, input_tokens = 0, output_tokens = 0;
  TokenPart cached_input_tokens, cache_creation_tokens, reasoning_tokens;
  double cost_usd = 0;
  std::int64_t latency_count = 0;
  double latency_sum_ms = 0, latency_min_ms = 0, latency_max_ms = 0;
};

struct BatchAggregate {
  std::map<SeriesKey, SeriesValues> series;  // ordered: deterministic payloads
  std::int64_t first_unix_ms = 0, last_unix_ms = 0;
};

inline BatchAggregate aggregate(std::span<const RecordPtr> batch) {
  BatchAggregate out;
  bool first = true;
  for (const auto& r : batch) {
    const auto& f = r->fields;
    if (!f.unix_nanos) continue;
    const std::int64_t ms = *f.unix_nanos / 1000000;
    out.first_unix_ms = first ? ms : std::min(out.first_unix_ms, ms);
    out.last_unix_ms = first ? ms : std::max(out.last_unix_ms, ms);
    first = false;
    SeriesKey key{f.provider.value_or("unknown"), f.model.value_or("unknown"), f.project_id.value_or("none"),
                  f.status_code.value_or(0)};
    auto& v = out.series[key];
    ++v.requests;
    if (f.status && *f.status != "success") ++v.errors;
    v.input_tokens = saturatingAdd(v.input_tokens, f.input_tokens.value_or(0));
    v.output_tokens = saturatingAdd(v.output_tokens, f.output_tokens.value_or(0));
    v.cached_input_tokens.add(f.cached_input_tokens);
    v.cache_creation_tokens.add(f.cache_creation_tokens);
    v.reasoning_tokens.add(f.reasoning_tokens);
    v.cost_usd += f.cost.value_or(0);
    if (f.latency_ms) {
      v.latency_min_ms = v.latency_count ? std::min(v.latency_min_ms, *f.latency_ms) : *f.latency_ms;
      v.latency_max_ms = v.latency_count ? std::max(v.latency_max_ms, *f.latency_ms) : *f.latency_ms;
      ++v.latency_count;
      v.latency_sum_ms += *f.latency_ms;
    }
  }
  return out;
}

}  // namespace gw::exporters
