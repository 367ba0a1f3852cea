// Aggregates a batch of request records into per-series sums, for exporters
// that send metrics as pre-aggregated points (Datadog, New Relic): one series
// per (provider, model, project, status code). Pure; header-only.
#pragma once

#include "exporters/common/record_mapping.h"
#include "common/saturating.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <tuple>

namespace gw::exporters {

struct SeriesKey {
  std::string provider, model, project_id;
  std::int64_t status_code = 0;
  auto operator<=>(const SeriesKey&) const = default;
};

struct SeriesValues {
  std::int64_t requests = 0, errors = 0, input_tokens = 0, output_tokens = 0;
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
