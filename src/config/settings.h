// The gateway's typed, validated settings (docs/configuration.md). Built once at
// start-up from a ConfigSource; read-only and shared by all threads after.
// Exporters and providers read their own settings from the ConfigSource
// (include/gw/exporter.h, include/gw/provider_plugin.h); this struct holds
// what the core needs. Every variable read here is declared in
// config/core_settings.h (--help).
#pragma once

#include "gw/config_source.h"
#include "gw/error.h"
#include "gw/provider.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace gw {

struct Settings {
  std::string host = "127.0.0.1";
  std::uint16_t port = 3000;
  int worker_threads = 1;
  std::string log_level = "info";
  std::uint64_t max_request_body_bytes = 32ull << 20;
  std::uint64_t max_inflight_body_bytes = 256ull << 20;  // request bodies held by all requests in flight
  std::uint32_t max_header_bytes = 64 * 1024;
  std::chrono::milliseconds upstream_timeout{600000};
  std::chrono::milliseconds upstream_connect_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};          // keep-alive idle client connections
  std::chrono::milliseconds client_header_timeout{30000};  // slowloris guard
  std::chrono::milliseconds shutdown_grace{10000};
  std::uint32_t max_connections_per_host = 1024;  // upstream, per worker thread
  std::uint32_t max_idle_connections_per_host = 64;
  std::string deployment_environment = "development";
  std::string service_name = "noveum_ai_gateway";

  // Lower case. Checked against the registered providers where they are
  // made (ProviderRegistry::create()).
  std::string default_provider = "openai";

  std::vector<std::string> gateway_api_keys;
  std::vector<std::string> cors_allowed_origins;  // empty = CORS off

  // Telemetry (the pipeline reads batching/spool options itself).
  // ENABLED_EXPORTERS, lower case; empty for "none". An exporter may also be
  // switched on by its own ENABLE_<NAME> (ExporterRegistry::create).
  std::vector<std::string> enabled_exporters;
  bool capture_bodies = true;
  std::size_t telemetry_max_body_bytes = 1 << 20;
  std::string pricing_file;  // "" = the shipped table

  // Upstream TLS: verification is always on; a CA bundle may be added for
  // private upstreams (UPSTREAM_CA_FILE).
  std::string upstream_ca_file;
};

// Validates everything; the Error message names the variable.
Result<Settings> loadSettings(const ConfigSource& config, unsigned hardware_threads);

// Parses an http(s) base URL. `{region}` placeholders must be substituted first.
Result<UpstreamEndpoint> parseBaseUrl(std::string_view url);

// The start-up warning of docs/configuration.md applies: provider keys from
// the gateway's configuration (`provider_keys_configured`:
// ProviderRegistry::hasOperatorCredentials()), no GATEWAY_API_KEYS, and a
// non-loopback HOST.
bool exposesEnvironmentKeys(const Settings& settings, bool provider_keys_configured);

}  // namespace gw
