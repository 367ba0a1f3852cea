// The built-in dashboard (docs/dashboard.md): rollups and the ring of recent
// records, fed by the telemetry thread, and the JSON API (/ui/api/...) and
// page (/ui) the server serves from them. No Beast here: the server asks
// for a status, a content type and a body, and writes them.
//
// Threads: observe() runs on the telemetry thread (a record observer,
// Telemetry::addRecordObserver); the API and page are called from worker
// threads. They share one mutex, held by observe() for a few hash lookups,
// increments and a slot of the ring of recent records (with the copy of the
// record's text), and by a reader for one query (a few thousand buckets at
// most, or the copy of one record's text). Nothing else takes it.
#pragma once

#include "dashboard/recent_records.h"
#include "dashboard/rollups.h"

#include "gw/config_source.h"
#include "gw/error.h"
#include "gw/exporter.h"
#include "gw/request_record.h"
#include "telemetry/record_builder.h"

#include <boost/json/object.hpp>

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace gw::dashboard {

// DASHBOARD_* settings (config/core_settings.h) and what main adds.
struct DashboardOptions {
  bool enabled = true;                          // DASHBOARD_ENABLED
  std::size_t recent_records = 1000;            // DASHBOARD_RECENT_RECORDS (0: no ring)
  std::size_t recent_max_bytes = 32u << 20;     // DASHBOARD_RECENT_MAX_BYTES
  std::size_t max_values = 200;                 // DASHBOARD_MAX_VALUES, per dimension
  std::string admin_key;                        // GATEWAY_ADMIN_KEY ("" = the API is open)
  bool telemetry_on = true;                     // false: ENABLED_EXPORTERS=none, no record reaches observe()
  std::function<boost::json::object()> exporter_health;  // /health's "exporters"; any thread

  // Errors are configuration errors whose message starts with the variable.
  static Result<DashboardOptions> fromConfig(const ConfigSource& config);
};

// An answer for the server to write.
struct ApiResponse {
  int status = 200;
  std::string_view content_type = "application/json";
  std::string body;
};

class Dashboard {
 public:
  // `clock_ms`: unix milliseconds now (tests pass their own).
  explicit Dashboard(DashboardOptions options, std::function<std::int64_t()> clock_ms = {});

  // One finished request. Telemetry thread; `built` is the record when one
  // was built (null otherwise): the ring of recent records keeps a copy of
  // its text, not the record.
  void observe(const RequestRecord& record, const RecordSummary& summary, const RecordPtr& built);

  // nullopt when `authorization` may use the API (no admin key set, or
  // "Bearer <admin key>", compared in constant time); else the 401.
  std::optional<ApiResponse> refuse(std::string_view authorization) const;
  bool adminKeySet() const { return !options_.admin_key.empty(); }

  // GET/HEAD /ui/api/<name>?<query>: every endpoint but keys, which the
  // server answers with the key service after refuse(). Every endpoint but
  // auth (whether a key is needed and whether `authorization` holds it, so
  // that the page can ask for one without a 401) checks `authorization`.
  // Worker threads.
  ApiResponse handleApi(std::string_view method, std::string_view path, std::string_view query,
                        std::string_view authorization) const;

  // The page (GET /ui): HTML with its CSS and JavaScript inline.
  static std::string_view page();

  // Test hooks.
  std::size_t rollupBytes() const;

 private:
  ApiResponse summary(std::string_view query) const;
  ApiResponse breakdown(std::string_view query) const;
  ApiResponse timeseries(std::string_view query) const;
  ApiResponse records(std::string_view query) const;
  ApiResponse record(std::string_view id) const;
  ApiResponse exporters() const;
  std::int64_t nowMs() const { return clock_ms_(); }

  DashboardOptions options_;
  std::function<std::int64_t()> clock_ms_;
  mutable std::mutex mutex_;  // guards rollups_ and recent_
  Rollups rollups_;
  RecentRecords recent_;
};

// An error answer in the OpenAI error shape.
ApiResponse errorResponse(const Error& error);

}  // namespace gw::dashboard
