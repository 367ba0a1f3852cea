// Where the request path hands finished request records.
//
// Called from every worker thread, concurrently. Both calls are wait-free or
// lock-free in the real implementation, never block, never throw, and never
// allocate unboundedly: when the pipeline is full the record is counted as
// dropped (and logged, rate-limited).
#pragma once

#include "gw/request_record.h"

#include <memory>

namespace gw {

class TelemetrySink {
 public:
  virtual ~TelemetrySink() = default;
  // A request started / ended (the ai_gateway_active_requests gauge).
  virtual void requestStarted() noexcept {}
  virtual void requestEnded() noexcept {}
  // Hands over one finished record.
  virtual void submit(std::unique_ptr<RequestRecord> record) noexcept = 0;
  // Whether any exporter consumes whole records. When none does (only
  // metrics exporters such as prometheus, or none at all), the request path
  // keeps no bodies or stream chunks: the metrics need only what the
  // handlers observe as the response passes (usage, model, status).
  // Constant after start-up; any thread.
  virtual bool recordsWanted() const noexcept { return true; }
  // Whether anything at all reads what the request path observes of a
  // response (usage, model, status, timings). False only when telemetry is
  // off altogether (ENABLED_EXPORTERS=none): the proxy then looks into no
  // response. Constant after start-up; any thread.
  virtual bool observationsWanted() const noexcept { return true; }
};

// Discards records (ENABLED_EXPORTERS=none and unit tests).
class NullTelemetrySink final : public TelemetrySink {
 public:
  void submit(std::unique_ptr<RequestRecord>) noexcept override {}
  bool recordsWanted() const noexcept override { return false; }
  bool observationsWanted() const noexcept override { return false; }
};

}  // namespace gw
