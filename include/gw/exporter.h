// The exporter plugin interface.
//
// An exporter delivers finished request records to one backend. Each enabled
// exporter gets its own bounded queue and its own worker thread (see
// src/telemetry/export_pipeline.h); the pipeline does batching, retry with
// backoff, circuit breaking and spooling, so an exporter only has to turn a
// batch into its wire format and send it once.
//
// Threading contract: init(), exportBatch(), flush() and shutdown() are all
// called from the exporter's own worker thread, never concurrently, in that
// order of life: init() once, exportBatch()/flush() any number of times,
// shutdown() once; nothing is called after shutdown().
//
// Registration: an exporter folder defines its factory with
// GW_REGISTER_EXPORTER (src/telemetry/exporter_registry.h) and adds itself
// with gw_add_exporter() in its CMakeLists.txt. See docs/telemetry-plugins.md.
#pragma once

#include "gw/error.h"

#include <boost/json/object.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace gw {

class ConfigSource;
class MetricsRegistry;

// One finished request record in the shape of SPEC section 5. Immutable and
// shared by every exporter's queue.
//
// The record builder makes `json` in one arena owned by `arena` (declared
// first, so that it outlives the tree). The tree is read-only. A subtree
// copied the Boost.JSON default way (`json::value v = record.json.at("x")`)
// lives in that arena too, so it is valid only while the record is (hold
// the RecordPtr); a copy that must outlive the record needs storage of its
// own: `json::value v(record.json.at("x"), json::storage_ptr())`.
struct TelemetryRecord {
  std::shared_ptr<void> arena;     // owns json's memory when the builder made it; may be null
  std::string id;                  // attributes.id: idempotency key at every backend
  boost::json::object json;        // the whole record
  std::string serialized;          // json serialised once, compact
};
using RecordPtr = std::shared_ptr<const TelemetryRecord>;

// What one export attempt achieved.
struct ExportResult {
  enum class Kind {
    kSuccess,    // every record accepted (or already present)
    kRetryable,  // transport error, 429, 502, 503, 504: try again later
    kPermanent,  // the backend rejected the batch: retrying cannot help
  };
  Kind kind = Kind::kSuccess;
  std::string message;  // for logs; never contains a secret
  std::optional<std::chrono::milliseconds> retry_after;  // from Retry-After
  // For partial failures: indexes (into the batch) of records to retry and
  // of records permanently rejected. Empty means "the whole batch" per kind.
  std::vector<std::size_t> retry_indexes;
  std::vector<std::size_t> rejected_indexes;

  static ExportResult success() { return {}; }
  static ExportResult retryable(std::string message,
                                std::optional<std::chrono::milliseconds> after = std::nullopt) {
    ExportResult r;
    r.kind = Kind::kRetryable;
    r.message = std::move(message);
    r.retry_after = after;
    return r;
  }
  static ExportResult permanent(std::string message) {
    ExportResult r;
    r.kind = Kind::kPermanent;
    r.message = std::move(message);
    return r;
  }
};

class Exporter {
 public:
  virtual ~Exporter() = default;

  virtual std::string_view name() const = 0;

  // Connectivity check / schema setup. A failure is logged and retried by the
  // pipeline later; it never stops the gateway.
  virtual Status init() { return ok(); }

  // Sends one batch (1..TELEMETRY_BATCH_SIZE records). Must return within
  // the pipeline's export timeout.
  virtual ExportResult exportBatch(std::span<const RecordPtr> batch) = 0;

  // Pushes anything the exporter buffers itself.
  virtual void flush() {}

  // Releases connections. Called once.
  virtual void shutdown() {}

  // False for exporters that deliver nothing per record (prometheus serves
  // /metrics from the metrics registry instead): they get no queue.
  virtual bool wantsRecords() const { return true; }
};

// Everything a factory may use to build its exporter.
struct ExporterContext {
  const ConfigSource& config;
  MetricsRegistry& metrics;
};

}  // namespace gw
