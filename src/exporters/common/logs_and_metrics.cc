#include "exporters/common/logs_and_metrics.h"

#include <vector>

namespace gw::exporters {

std::string joinEntries(std::span<const std::string> entries) {
  std::string out;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i) out += ',';
    out += entries[i];
  }
  return out;
}

LogsAndMetricsExporter::LogsAndMetricsExporter(Setup setup)
    : setup_(std::move(setup)), client_(http::ClientOptions::withTimeout(setup_.timeout)) {}

http::Request LogsAndMetricsExporter::jsonRequest(std::string url) const {
  http::Request req;
  req.url = std::move(url);
  req.headers = {setup_.credential, {"Content-Type", "application/json"}};
  return req;
}

ExportResult LogsAndMetricsExporter::postJson(std::string url, std::string_view what, std::string body) {
  http::Request req = jsonRequest(std::move(url));
  req.body = std::move(body);
  req.gzip_body = true;
  auto res = client_.send(req);
  if (!res) return http::resultForTransportError(res.error(), what);
  return http::resultForStatus(*res, what);
}

ExportResult LogsAndMetricsExporter::exportBatch(std::span<const RecordPtr> batch) {
  if (auto metrics = sendMetrics(batch); metrics.kind != ExportResult::Kind::kSuccess) return metrics;

  const LogsLimits& limits = setup_.logs_limits;
  std::vector<std::string> entries;
  std::vector<std::size_t> indexes;  // entries[k] is the entry of batch[indexes[k]]
  std::vector<std::size_t> rejected;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (logs_sent_.contains(batch[i]->id)) continue;
    std::string entry = logEntry(*batch[i]);
    if (entry.size() > limits.max_entry_bytes) {
      rejected.push_back(i);  // the intake would truncate or refuse it: say so instead
      continue;
    }
    entries.push_back(std::move(entry));
    indexes.push_back(i);
  }
  // A request takes entries while the limits allow, and always at least one.
  for (std::size_t next = 0; next < entries.size();) {
    std::size_t end = next, bytes = limits.framing_bytes;
    while (end < entries.size() && end - next < limits.max_entries &&
           (end == next || bytes + entries[end].size() + 1 <= limits.max_bytes)) {
      bytes += entries[end].size() + 1;
      ++end;
    }
    const std::span<const std::string> chunk(entries.data() + next, end - next);
    auto sent = postJson(setup_.logs_url, setup_.logs_what, logsBody(chunk, *batch[indexes[next]]));
    if (sent.kind != ExportResult::Kind::kSuccess) return sent;
    for (std::size_t k = next; k < end; ++k) logs_sent_.add(batch[indexes[k]]->id);
    next = end;
  }
  if (rejected.empty()) return ExportResult::success();
  auto result = ExportResult::permanent(setup_.logs_what + ": " + std::to_string(rejected.size()) +
                                        " record(s) over " + std::string(limits.max_entry_text));
  result.rejected_indexes = std::move(rejected);
  return result;
}

}  // namespace gw::exporters
