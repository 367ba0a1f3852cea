// Turns what the request path observed (gw::RequestRecord) into the request
// record (gw::TelemetryRecord) that docs/records.md documents field by
// field.
//
// Runs on the telemetry thread only, never on the request path: it parses
// bodies, scrubs secrets, caps bodies, assembles streams and looks up prices.
// The record's text is written directly (json_text.h), each captured body
// copied in one scrubbing pass; a tree is built only for a stream's
// assembled response and for the rare body that pass leaves to it.
// A RecordBuilder is immutable after construction; build() is const and may
// be called from any thread.
#pragma once

#include "telemetry/json_text.h"
#include "telemetry/record_body.h"
#include "telemetry/secret_scrub.h"

#include "gw/exporter.h"
#include "gw/request_record.h"
#include "telemetry/pricing.h"

#include <boost/json/value.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw {

struct RecordBuilderOptions {
  std::string service_name = "noveum_ai_gateway";
  std::string service_version = GW_VERSION;
  std::string deployment_environment = "development";
  bool capture_bodies = true;            // TELEMETRY_CAPTURE_BODIES
  std::size_t max_body_bytes = 1 << 20;  // TELEMETRY_MAX_BODY_BYTES
};

// Whether and why a record has a cost (metadata.cost_status, docs/records.md;
// the status label of ai_gateway_cost_lookups_total).
enum class CostStatus {
  kPriced,    // the cost was computed from the price table
  kUnpriced,  // token counts, but no price for the model (or no table): cost null
  kNoUsage,   // an answer without token counts: cost null
  kError,     // no answer to price (failed or cancelled, no token counts): cost null
};
inline constexpr std::size_t kCostStatusCount = static_cast<std::size_t>(CostStatus::kError) + 1;

constexpr std::string_view toString(CostStatus status) {
  switch (status) {
    case CostStatus::kPriced:
      return "priced";
    case CostStatus::kUnpriced:
      return "unpriced";
    case CostStatus::kNoUsage:
      return "no_usage";
    case CostStatus::kError:
      return "error";
  }
  return "error";
}

// The facts the metrics need, so they are not read back from the JSON.
struct RecordSummary {
  std::string provider;  // "unknown" when no provider was chosen
  std::string model;     // "unknown" when no model is known
  int status_code = 0;
  RequestOutcome outcome = RequestOutcome::kSuccess;
  std::optional<double> latency_s, ttfb_s, provider_latency_s;  // exact, not rounded
  std::optional<std::int64_t> input_tokens, output_tokens, cached_input_tokens, cache_creation_tokens, reasoning_tokens;
  std::optional<double> cost;
  CostStatus cost_status = CostStatus::kNoUsage;
  bool is_error = false;
  std::string error_type;  // gateway error_type, else provider error type, else "http_<status>"
  // A routed request's attempts: provider, model and outcome ("success",
  // "error" for the one that answered, else "retried").
  struct Attempt {
    std::string provider, model, outcome;
  };
  std::vector<Attempt> attempts;
};

struct BuiltRecord {
  RecordPtr record;
  RecordSummary summary;
};

class RecordBuilder {
 public:
  RecordBuilder(RecordBuilderOptions options, std::shared_ptr<const PricingTable> pricing);

  // With `with_record` false only the summary is made (BuiltRecord::record
  // stays null): for when no exporter consumes records.
  BuiltRecord build(const RequestRecord& in, bool with_record = true) const;

  const RecordBuilderOptions& options() const { return options_; }

 private:
  RecordBuilderOptions options_;
  std::shared_ptr<const PricingTable> pricing_;
};

// --- Pieces of build(), public for tests and for exporters that need them.

// "2026-11-26T20:01:02.345Z"
std::string formatRfc3339Millis(std::chrono::system_clock::time_point t);

}  // namespace gw
