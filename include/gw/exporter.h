// The exporter plugin interface.
//
// An exporter delivers finished request records to one backend. Each enabled
// exporter gets its own bounded queue and its own worker thread (the export
// pipeline, src/telemetry/export_processor.h); it does batching, retry with
// backoff, circuit breaking and spooling, so an exporter only has to turn a
// batch into its wire format and send it once.
//
// Threading contract: init(), exportBatch(), flush() and shutdown() are all
// called from the exporter's own worker thread, never concurrently, in that
// order of life: init() until it succeeds once, exportBatch()/flush() any
// number of times, shutdown() once; nothing is called after shutdown().
//
// Registration: an exporter folder registers its options and exporter with
// GW_REGISTER_EXPORTER_CLASS (or a factory of its own with
// GW_REGISTER_EXPORTER, gw/exporter_registry.h) and adds itself with
// gw_add_exporter() in its CMakeLists.txt. See docs/telemetry-plugins.md.
#pragma once

#include "gw/error.h"
#include "gw/record_fields.h"

#include <boost/json/object.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gw {

class ConfigSource;
class MetricsRegistry;

// One finished request record in the shape of docs/records.md. Immutable
// once made and shared by every exporter's queue; every member function is
// safe to call from any thread.
//
// What an exporter reads, cheapest first:
// - `fields`: the facts exporters index and tag on (ids, provider, model,
//   tokens, cost, timings, status), typed (gw/record_fields.h);
// - `serialized`: the whole record as compact JSON on one line, what most
//   backends are sent;
// - `json()`: the whole record as a tree, for exporters that map it
//   member by member (OTLP log bodies, pretty console output). The tree is
//   parsed from `serialized` on the first call (one parse per record, shared
//   by every exporter that asks) so that records nobody walks never pay for
//   one: the record builder writes `serialized` directly, splicing each
//   streamed chunk's own text in.
//   A subtree copied the Boost.JSON default way
//   (`json::value v = record.json().at("x")`) lives in the tree's memory,
//   so it is valid only while the record is (hold the RecordPtr); a copy
//   that must outlive the record needs storage of its own:
//   `json::value v(record.json().at("x"), json::storage_ptr())`.
class TelemetryRecord {
 public:
  // `serialized` must be a JSON object in the shape of docs/records.md and
  // `fields` what it holds (gw::fieldsFromJson); gw::recordFromJson makes
  // both from any record text.
  TelemetryRecord(std::string id, std::string serialized, RecordFields fields);
  ~TelemetryRecord();
  TelemetryRecord(const TelemetryRecord&) = delete;
  TelemetryRecord& operator=(const TelemetryRecord&) = delete;

  const std::string id;          // attributes.id: idempotency key at every backend
  const std::string serialized;  // the whole record, compact JSON, one line
  const RecordFields fields;

  // The whole record as a tree (an empty object if `serialized` is not a
  // JSON object, which the record builder never makes).
  const boost::json::object& json() const;

 private:
  struct ParsedTree;
  mutable std::once_flag parse_once_;
  mutable std::unique_ptr<ParsedTree> tree_;
};
using RecordPtr = std::shared_ptr<const TelemetryRecord>;

// What one export attempt achieved.
struct ExportResult {
  enum class Kind {
    kSuccess,    // every record accepted (or already present)
    kRetryable,  // transport error, 408, 429, 5xx: try again later
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

// The one rule for an HTTP backend's answer: 2xx success; 408, 429 and
// every 5xx retryable (a backend restarting, overloaded or behind a failing
// proxy answers again later), with `retry_after`; every other status (the
// backend refuses the data or the credentials) permanent.
ExportResult classifyHttpStatus(int status, std::string message,
                                std::optional<std::chrono::milliseconds> retry_after = std::nullopt);

// A Retry-After header value: delay-seconds or an HTTP-date (IMF-fixdate),
// relative to `now`. nullopt when malformed; a date in the past is 0; never
// more than one hour (the pipeline caps it further, docs/telemetry-plugins.md).
std::optional<std::chrono::milliseconds> parseRetryAfter(
    std::string_view value, std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// Makes a record from any record text (a spooled line, a test fixture; id
// from attributes.id). A text on one line is kept as it is; one that holds a
// line break is serialised again from the parsed value, so that the
// record's `serialized` is always on one line (exporters write NDJSON /
// JSON lines). nullptr when `serialized` is not a JSON object.
RecordPtr recordFromJson(std::string_view serialized);

class Exporter {
 public:
  virtual ~Exporter() = default;

  virtual std::string_view name() const = 0;

  // Connectivity check / schema setup, at the first export attempt (not at
  // start-up). A failure is logged and counts as a failed attempt; init()
  // is called again at the next attempt until it succeeds. It never stops
  // the gateway. A pull exporter's (wantsRecords() false) is called once,
  // at start-up, and a failure only logged.
  virtual Status init() { return ok(); }

  // Sends one batch (1..TELEMETRY_BATCH_SIZE records). Must return within
  // the pipeline's export timeout.
  virtual ExportResult exportBatch(std::span<const RecordPtr> batch) = 0;

  // Pushes anything the exporter buffers itself. Called at shutdown when
  // init() has succeeded, and while the gateway runs within one
  // TELEMETRY_FLUSH_INTERVAL_MS of a batch after which flushPending() was
  // true.
  virtual void flush() {}

  // Whether a batch reported exported left work for flush(): the file
  // exporter's fdatasync under FILE_EXPORTER_FSYNC=batch. Asked after each
  // export attempt and each flush().
  virtual bool flushPending() const { return false; }

  // Releases connections. Called once, whether or not init() succeeded.
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
