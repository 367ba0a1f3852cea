// The core's settings table: every variable the gateway itself reads
// (loadSettings() in settings.cc, TelemetryOptions::fromConfig() in
// src/telemetry/telemetry.cc), grouped as `--help` prints them. Exporters
// and providers declare theirs in their own folders (src/exporters/<name>/,
// src/providers/<folder>/), registered with their factories.
//
// Both readers go through CoreSettings, which refuses at compile time a name
// not declared here (gw/setting_table.h): a new core setting is added
// here first, then read. The tables are constexpr data, read from any thread.
#pragma once

#include "gw/setting_table.h"

namespace gw {

inline constexpr SettingDoc kServerSettings[] = {
    {"HOST", "127.0.0.1", "listen address"},
    {"PORT", "3000", "listen port; 0 picks a free port"},
    {"WORKER_THREADS", "number of cores", "event-loop threads"},
    {"LOG_LEVEL", "info", "debug, info, warn or error"},
    {"RUST_LOG", "", "alias of LOG_LEVEL when that is unset (its bare level)"},
    {"MAX_REQUEST_BODY_BYTES", "33554432", "request body limit; past it 413"},
    {"MAX_INFLIGHT_BODY_BYTES", "268435456", "request bodies held by all requests in flight; past it 503"},
    {"MAX_HEADER_BYTES", "65536", "request head limit; past it 431"},
    {"IDLE_TIMEOUT_MS", "60000", "idle keep-alive client connections are closed after this"},
    {"CLIENT_HEADER_TIMEOUT_MS", "30000", "time a client has to send a request's head and body"},
    {"UPSTREAM_TIMEOUT_MS", "600000", "the whole upstream response"},
    {"UPSTREAM_CONNECT_TIMEOUT_MS", "10000", "DNS + TCP + TLS connect"},
    {"UPSTREAM_MAX_CONNECTIONS_PER_HOST", "1024", "upstream connections per host, per worker thread; past it 503"},
    {"UPSTREAM_MAX_IDLE_CONNECTIONS_PER_HOST", "64", "idle upstream connections kept per host, per worker thread"},
    {"UPSTREAM_CA_FILE", "", "extra CA bundle for upstream TLS (verification is always on)"},
    {"SHUTDOWN_GRACE_MS", "10000", "time in-flight requests get on SIGTERM/SIGINT"},
    {"DEPLOYMENT_ENVIRONMENT", "development", "record resource attribute deployment.environment"},
    {"OTEL_SERVICE_NAME", "noveum_ai_gateway", "record service.name"},
    {"GATEWAY_API_KEYS", "", "comma-separated keys, one required in x-gateway-key (unset: none required)"},
    {"CORS_ALLOWED_ORIGINS", "", "'*' or comma-separated origins (unset: CORS off)"},
};

// What the core reads about providers; each provider's own variables are in
// its folder's table (--help prints them after this group).
inline constexpr SettingDoc kProviderSettings[] = {
    {"DEFAULT_PROVIDER", "openai", "provider of requests without x-provider or a known provider/ model prefix"},
};

inline constexpr SettingDoc kTelemetrySettings[] = {
    {"ENABLED_EXPORTERS", "console,prometheus", "comma-separated exporters, or none"},
    {"TELEMETRY_CAPTURE_BODIES", "true", "include request and response bodies in records"},
    {"TELEMETRY_MAX_BODY_BYTES", "1048576", "cap per captured body"},
    {"PRICING_FILE", "the shipped copy", "LiteLLM-format price table"},
    {"METRICS_MAX_SERIES", "10000", "label sets per metric; beyond, new ones are folded into 'other'"},
};

// The delivery pipeline, the same for every exporter (docs/telemetry-plugins.md).
inline constexpr SettingDoc kPipelineSettings[] = {
    {"TELEMETRY_BATCH_SIZE", "100", "records per batch"},
    {"TELEMETRY_FLUSH_INTERVAL_MS", "1000", "a partial batch is sent after this"},
    {"TELEMETRY_QUEUE_SIZE", "10000", "records queued per exporter; beyond, they go to the spool"},
    {"TELEMETRY_QUEUE_MAX_BYTES", "16777216",
     "memory bound of the records waiting in all exporter queues together, a record counted once"},
    {"TELEMETRY_INGEST_QUEUE_SIZE", "16384", "records waiting for the telemetry thread (max 65534); beyond, dropped"},
    {"TELEMETRY_INGEST_MAX_BYTES", "134217728", "the same hand-over's bound in memory"},
    {"TELEMETRY_MAX_RETRIES", "5", "retries of a batch before it is spooled"},
    {"TELEMETRY_RETRY_INITIAL_MS", "500", "first retry backoff (exponential, full jitter)"},
    {"TELEMETRY_RETRY_MAX_MS", "30000", "longest retry backoff"},
    {"TELEMETRY_BREAKER_FAILURES", "5", "consecutive failures that open the circuit breaker"},
    {"TELEMETRY_BREAKER_OPEN_MS", "30000", "the breaker's first open time (doubles while the backend stays down)"},
    {"TELEMETRY_SPOOL_DIR", "telemetry-spool",
     "on-disk spool, one sub-directory per exporter; one gateway per directory"},
    {"TELEMETRY_SPOOL_MAX_BYTES", "268435456", "spool bound per exporter; 0 turns spooling off"},
    {"TELEMETRY_SPOOL_FSYNC", "batch", "always, batch or never"},
};

// Virtual keys, rate limits and budgets (docs/keys-and-budgets.md), read by
// KeyServiceOptions::fromConfig (src/keys/key_service.cc).
inline constexpr SettingDoc kKeySettings[] = {
    {"GATEWAY_ADMIN_KEY", "", "bearer token of the admin API (/admin/keys, /admin/budgets); unset: no admin API"},
    {"REDIS_URL", "", "redis:// or rediss:// URL: keys, limits and budgets shared by every instance using it"},
    {"REDIS_TIMEOUT_MS", "50", "longest wait for Redis on the request path"},
    {"REDIS_FAILURE_MODE", "open", "open (serve with this instance's counts) or closed (503) while Redis is unavailable"},
    {"GATEWAY_STATE_DIR", "gateway-state", "keys and usage without REDIS_URL (keys.json, usage.json)"},
};

// The built-in dashboard (docs/dashboard.md), read by
// DashboardOptions::fromConfig (src/dashboard/dashboard.cc).
inline constexpr SettingDoc kDashboardSettings[] = {
    {"DASHBOARD_ENABLED", "true", "the dashboard at /ui and its rollups; false: neither"},
    {"DASHBOARD_RECENT_RECORDS", "1000", "recent records the dashboard keeps (0: none)"},
    {"DASHBOARD_RECENT_MAX_BYTES", "33554432", "the same ring's bound in memory"},
    {"DASHBOARD_MAX_VALUES", "200", "values per dimension in the rollups; beyond, new ones are folded into 'other'"},
};

inline constexpr SettingGroup kCoreSettings[] = {
    {"Server", kServerSettings},
    {"Providers (x-provider header, provider/model prefix, or DEFAULT_PROVIDER)", kProviderSettings},
    {"Virtual keys, rate limits and budgets (docs/keys-and-budgets.md)", kKeySettings},
    {"Telemetry", kTelemetrySettings},
    {"Delivery pipeline, per exporter (docs/telemetry-plugins.md)", kPipelineSettings},
    {"Dashboard (docs/dashboard.md)", kDashboardSettings},
};

using CoreSettings = DeclaredSettings<kCoreSettings>;

}  // namespace gw
