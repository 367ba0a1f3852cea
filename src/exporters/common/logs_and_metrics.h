// The delivery shared by the exporters whose backend takes every record as
// a log entry and each batch's metrics as points aggregated per batch
// (datadog, newrelic). Per batch: the metrics requests first, then the log
// entries, split into as many requests as the logs intake's limits want. Each
// kind of request remembers the records it delivered (DeliveredIds), so when
// a later request fails and the pipeline retries the batch, what went
// through is neither sent nor counted twice. A log entry over the intake's
// size limit is rejected for good (rejected_indexes); its record still counts
// in the metrics.
//
// A subclass holds what differs per backend: the metrics requests
// (sendMetrics), the log wire format (logEntry, logsBody), and the logs URL,
// credential header and limits it passes to the constructor. Requests are
// JSON, gzip-compressed, with the credential header; answers are classified
// by http::resultForStatus (gw::classifyHttpStatus).
//
// Called only from the exporter's worker thread (gw/exporter.h).
#pragma once

#include "common/strings.h"
#include "exporters/common/delivered_ids.h"
#include "exporters/common/http_client.h"
#include "gw/exporter.h"
#include "gw/setting_table.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace gw::exporters {

// What a logs intake accepts in one request.
struct LogsLimits {
  std::size_t max_entries = SIZE_MAX;  // entries per request
  // Bytes per request, counted as framing_bytes plus every entry with one
  // byte for its separator.
  std::size_t max_bytes = SIZE_MAX;
  std::size_t framing_bytes = 0;
  // A longer entry is rejected; `max_entry_text` names the limit in the
  // rejection's message ("the 1 MB log limit").
  std::size_t max_entry_bytes = SIZE_MAX;
  std::string_view max_entry_text;
};

// The API key setting `name` of the exporter `exporter`: required, and
// sent as a header value, so without CR, LF or NUL. The error names the
// variable, never the value.
template <const auto& Table>
Result<std::string> readApiKey(const DeclaredSettings<Table>& config, typename DeclaredSettings<Table>::Name name,
                               std::string_view exporter) {
  auto key = config.get(name);
  if (!key) return configError(name, "required when the " + std::string(exporter) + " exporter is enabled");
  if (hasHeaderUnsafeBytes(*key)) return configError(name, "contains CR, LF or NUL");
  return *key;
}

// The entries separated by commas: the inside of a JSON array of them.
std::string joinEntries(std::span<const std::string> entries);

class LogsAndMetricsExporter : public Exporter {
 public:
  struct Setup {
    std::pair<std::string, std::string> credential;  // the header that carries the API key
    std::chrono::milliseconds timeout{10000};         // per request
    std::string logs_url;
    std::string logs_what;  // names the logs requests in messages ("datadog logs")
    LogsLimits logs_limits;
  };

  ExportResult exportBatch(std::span<const RecordPtr> batch) final;
  void shutdown() override { client_.close(); }

 protected:
  explicit LogsAndMetricsExporter(Setup setup);

  // Sends the metrics of the records of `batch` that each metrics request
  // has not delivered yet (sendUndelivered); anything but success ends the
  // attempt before the logs are sent.
  virtual ExportResult sendMetrics(std::span<const RecordPtr> batch) = 0;
  // One record's log entry, and the body of one logs request (`first` is
  // the record of entries.front()).
  virtual std::string logEntry(const TelemetryRecord& record) const = 0;
  virtual std::string logsBody(std::span<const std::string> entries, const TelemetryRecord& first) const = 0;

  // A request to `url` with the credential header and a JSON content type.
  http::Request jsonRequest(std::string url) const;
  // POSTs `body` gzip-compressed as jsonRequest(url); `what` names the call
  // in the result's message.
  ExportResult postJson(std::string url, std::string_view what, std::string body);
  http::Client& client() { return client_; }

 private:
  Setup setup_;
  http::Client client_;
  DeliveredIds logs_sent_;
};

}  // namespace gw::exporters
