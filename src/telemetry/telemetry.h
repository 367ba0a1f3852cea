// The telemetry pipeline: the TelemetrySink the request path hands records
// to, and everything behind it.
//
//   request threads --submit()--> bounded lock-free MPSC queue (pointers)
//       --> telemetry thread: RecordBuilder (JSON, scrubbing, cost) + metrics
//       --> one ExporterWorker per exporter that wants records (own bounded
//           queue, batching, retry, circuit breaker, spool, own thread)
//       --> on overflow, one Spooler thread writes the records a queue
//           cannot take to that exporter's spool, in batches
//           (telemetry/spooler.h)
// Every record waiting in an exporter queue or for the spool is charged once
// to one QueueBudget (TELEMETRY_QUEUE_MAX_BYTES), however many exporters it
// waits for.
//
// submit() is lock-free (the queue's CAS loop): no lock, no allocation, no
// I/O, no syscall (the telemetry thread polls; see Telemetry::run). When the ingest queue is full the record is
// dropped, counted (ai_gateway_telemetry_dropped_total) and logged, rate-limited.
#pragma once

#include "config/settings.h"
#include "gw/config_source.h"
#include "gw/exporter_registry.h"
#include "gw/metrics.h"
#include "telemetry/clock.h"
#include "telemetry/export_processor.h"
#include "telemetry/pricing.h"
#include "telemetry/record_builder.h"
#include "telemetry/telemetry_sink.h"

#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace gw {

// The pipeline's own settings (read from the ConfigSource, declared in
// config/core_settings.h; see docs/records.md and docs/telemetry-plugins.md
// for the documented defaults).
struct TelemetryOptions {
  ExportOptions exporter;
  std::size_t ingest_capacity = 16384;            // TELEMETRY_INGEST_QUEUE_SIZE (max 65534)
  std::size_t ingest_max_bytes = 128u << 20;      // TELEMETRY_INGEST_MAX_BYTES
  std::size_t metrics_max_series = 10000;         // METRICS_MAX_SERIES
  std::string spool_dir = "telemetry-spool";      // TELEMETRY_SPOOL_DIR (relative: to the working directory)
  std::uint64_t spool_max_bytes = 256ull << 20;   // TELEMETRY_SPOOL_MAX_BYTES (0: spooling off)
  FsyncPolicy spool_fsync = FsyncPolicy::kBatch;  // TELEMETRY_SPOOL_FSYNC=always|batch|never

  static Result<TelemetryOptions> fromConfig(const ConfigSource& config);
};

class Telemetry final : public TelemetrySink {
 public:
  // Called once by main; starts the telemetry thread and exporter workers.
  // Errors are config errors (message starts with the variable name): bad
  // pipeline settings, PRICING_FILE, an unknown exporter, a failing
  // exporter factory, or a TELEMETRY_SPOOL_DIR locked by another running
  // gateway (SpoolDirLock; the lock is held until the Telemetry is destroyed).
  static Result<std::unique_ptr<Telemetry>> start(const Settings& settings, const ConfigSource& config,
                                                  const ExporterRegistry& registry);
  // The price table of PRICING_FILE, or the shipped one when it is unset
  // (null, with a warning, when none is found). An error only for a
  // PRICING_FILE that cannot be read. Called once by main, which gives the
  // table to start() and to the routes (their globs are checked against it).
  static Result<std::shared_ptr<const PricingTable>> loadPricing(const Settings& settings);
  // The same with a pricing table given (tests, benchmarks; nullptr: no costs).
  static Result<std::unique_ptr<Telemetry>> start(const Settings& settings, const ConfigSource& config,
                                                  const ExporterRegistry& registry,
                                                  std::shared_ptr<const PricingTable> pricing);
  ~Telemetry() override;

  // Request path, any thread: never block, never throw.
  void requestStarted() noexcept override;
  void requestEnded() noexcept override;
  void submit(std::unique_ptr<RequestRecord> record) noexcept override;
  bool recordsWanted() const noexcept override;
  bool observationsWanted() const noexcept override;

  // {NAME:{"state":"healthy|degraded|down","queue_depth","spooled","dropped"}}, any thread.
  boost::json::object exporterHealth() const;
  // The /metrics body, rendered by the enabled exporter that serves it
  // (gw::MetricsEndpoint, e.g. prometheus); nullopt when none is. Any thread.
  std::optional<std::string> metricsText() const;
  MetricsRegistry& metrics();

  // Called for every record with usage_accounted set, once built (the
  // summary holds its tokens and cost): on the telemetry thread, or with
  // ENABLED_EXPORTERS=none on the request's own thread, from submit(). Set
  // once by main before requests start; must be thread-safe and must not
  // block.
  using UsageObserver = std::function<void(const RequestRecord& record, const RecordSummary& summary)>;
  void setUsageObserver(UsageObserver observer);

  // Called on the telemetry thread for every record once built, in the
  // order added, with the record itself when one was built (an enabled
  // exporter receives records; null otherwise), which an observer may keep
  // (it is immutable and shared with the exporters). Added by main before
  // requests start; must not block. None is called with
  // ENABLED_EXPORTERS=none (no telemetry thread runs).
  using RecordObserver =
      std::function<void(const RequestRecord& record, const RecordSummary& summary, const RecordPtr& built)>;
  void addRecordObserver(RecordObserver observer);

  // Builds every record already submitted, delivers what each exporter can
  // within `budget`, spools the rest, and shuts the exporters down. Records
  // submitted afterwards are dropped (counted). Idempotent; call from one
  // thread (main).
  void shutdown(std::chrono::milliseconds budget);

  // Records built so far (tests and benchmarks wait on it).
  std::uint64_t recordsBuilt() const { return built_.load(std::memory_order_acquire); }
  std::uint64_t recordsDropped() const;

 private:
  struct Impl;
  explicit Telemetry(std::unique_ptr<Impl> impl);
  void run();
  void process(std::unique_ptr<RequestRecord> record);
  // ENABLED_EXPORTERS=none: a keyed record's summary to the usage observer,
  // on the caller's thread.
  void observeUsageOnly(const RequestRecord& record) noexcept;
  void updateMetrics(const RecordSummary& s);

  std::unique_ptr<Impl> impl_;  // owns the MetricsRegistry, destroyed last
  std::atomic<std::uint64_t> built_{0};
};

}  // namespace gw
