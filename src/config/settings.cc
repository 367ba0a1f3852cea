#include "config/settings.h"

#include "common/strings.h"
#include "config/core_settings.h"

#include <boost/url/parse.hpp>

#include <algorithm>

namespace gw {

namespace {

bool isLoopbackHost(std::string_view host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.starts_with("127.");
}

}  // namespace

Result<UpstreamEndpoint> parseBaseUrl(std::string_view url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return Error::badRequest("invalid_url", "not an absolute URL");
  const auto& u = *parsed;
  UpstreamEndpoint ep;
  std::string scheme = toLower(u.scheme());
  if (scheme == "https") ep.tls = true;
  else if (scheme == "http") ep.tls = false;
  else return Error::badRequest("invalid_url", "scheme must be http or https");
  if (!u.has_authority() || u.host().empty()) return Error::badRequest("invalid_url", "missing host");
  if (u.has_userinfo()) return Error::badRequest("invalid_url", "credentials in URLs are not allowed");
  if (u.has_query() || u.has_fragment())
    return Error::badRequest("invalid_url", "a base URL has no query or fragment");
  ep.host = u.encoded_host_address();
  if (!ep.host.empty() && ep.host.front() == '[') ep.host = ep.host.substr(1, ep.host.size() - 2);
  if (u.has_port()) {
    auto port = u.port_number();
    if (port == 0) return Error::badRequest("invalid_url", "invalid port");
    ep.port = port;
  } else {
    ep.port = ep.tls ? 443 : 80;
  }
  std::string path(u.encoded_path());
  while (!path.empty() && path.back() == '/') path.pop_back();
  ep.base_path = path;
  return ep;
}

Result<Settings> loadSettings(const ConfigSource& source, unsigned hardware_threads) {
  const CoreSettings config(source);
  Settings s;
  s.host = config.getString("HOST", "127.0.0.1");
  auto port = config.getInt("PORT", 3000, 0, 65535);
  if (!port) return port.error();
  s.port = static_cast<std::uint16_t>(*port);
  auto threads = config.getInt("WORKER_THREADS", std::max(1u, hardware_threads), 1, 1024);
  if (!threads) return threads.error();
  s.worker_threads = static_cast<int>(*threads);

  std::string level = toLower(config.getString("LOG_LEVEL", ""));
  if (level.empty()) {
    // RUST_LOG may be a directive list ("info,hyper=warn"); take the bare level.
    for (const auto& part : config.getList("RUST_LOG", ""))
      if (part.find('=') == std::string::npos) level = toLower(part);
    if (level.empty()) level = "info";
  }
  if (level == "trace") level = "debug";
  if (level == "warning") level = "warn";
  if (level != "debug" && level != "info" && level != "warn" && level != "error")
    return configError(config.get("LOG_LEVEL") ? "LOG_LEVEL" : "RUST_LOG",
                       "must be one of debug, info, warn, error");
  s.log_level = level;

  auto body = config.getInt("MAX_REQUEST_BODY_BYTES", 32ll << 20, 1, 1ll << 32);
  if (!body) return body.error();
  s.max_request_body_bytes = static_cast<std::uint64_t>(*body);
  auto inflight = config.getInt("MAX_INFLIGHT_BODY_BYTES", 256ll << 20, 1, 1ll << 40);
  if (!inflight) return inflight.error();
  s.max_inflight_body_bytes = static_cast<std::uint64_t>(*inflight);
  // A body the gateway accepts must fit the budget when nothing else is in
  // flight, or such a request could never be served.
  if (s.max_inflight_body_bytes < s.max_request_body_bytes)
    return configError("MAX_INFLIGHT_BODY_BYTES", "must be at least MAX_REQUEST_BODY_BYTES (" +
                                                      std::to_string(s.max_request_body_bytes) + ")");
  auto header = config.getInt("MAX_HEADER_BYTES", 64 * 1024, 1024, 1 << 20);
  if (!header) return header.error();
  s.max_header_bytes = static_cast<std::uint32_t>(*header);

  auto ms = [&](CoreSettings::Name name, std::int64_t def, std::chrono::milliseconds& out) -> Status {
    auto v = config.getInt(name, def, 1, 24ll * 3600 * 1000);
    if (!v) return v.error();
    out = std::chrono::milliseconds(*v);
    return ok();
  };
  if (auto st = ms("UPSTREAM_TIMEOUT_MS", 600000, s.upstream_timeout); !st) return st.error();
  if (auto st = ms("UPSTREAM_CONNECT_TIMEOUT_MS", 10000, s.upstream_connect_timeout); !st) return st.error();
  if (auto st = ms("IDLE_TIMEOUT_MS", 60000, s.idle_timeout); !st) return st.error();
  if (auto st = ms("CLIENT_HEADER_TIMEOUT_MS", 30000, s.client_header_timeout); !st) return st.error();
  {
    auto v = config.getInt("SHUTDOWN_GRACE_MS", 10000, 0, 3600 * 1000);
    if (!v) return v.error();
    s.shutdown_grace = std::chrono::milliseconds(*v);
  }
  auto conns = config.getInt("UPSTREAM_MAX_CONNECTIONS_PER_HOST", 1024, 1, 100000);
  if (!conns) return conns.error();
  s.max_connections_per_host = static_cast<std::uint32_t>(*conns);
  auto idle = config.getInt("UPSTREAM_MAX_IDLE_CONNECTIONS_PER_HOST", 64, 0, 100000);
  if (!idle) return idle.error();
  s.max_idle_connections_per_host = static_cast<std::uint32_t>(*idle);

  s.deployment_environment = config.getString("DEPLOYMENT_ENVIRONMENT", "development");
  s.service_name = config.getString("OTEL_SERVICE_NAME", "noveum_ai_gateway");

  // Each provider reads its own variables (its factory, registered from its
  // folder); which names exist is the provider registry's to say.
  s.default_provider = toLower(config.getString("DEFAULT_PROVIDER", "openai"));

  s.gateway_api_keys = config.getList("GATEWAY_API_KEYS", "");
  s.cors_allowed_origins = config.getList("CORS_ALLOWED_ORIGINS", "");

  s.enabled_exporters = config.getList("ENABLED_EXPORTERS", "console,prometheus");
  for (auto& e : s.enabled_exporters) e = toLower(e);
  if (s.enabled_exporters.size() == 1 && s.enabled_exporters[0] == "none") s.enabled_exporters.clear();
  for (const auto& e : s.enabled_exporters)
    if (e == "none") return configError("ENABLED_EXPORTERS", "'none' cannot be combined with other exporters");

  auto capture = config.getBool("TELEMETRY_CAPTURE_BODIES", true);
  if (!capture) return capture.error();
  s.capture_bodies = *capture;
  auto cap = config.getInt("TELEMETRY_MAX_BODY_BYTES", 1 << 20, 0, 1ll << 30);
  if (!cap) return cap.error();
  s.telemetry_max_body_bytes = static_cast<std::size_t>(*cap);
  s.pricing_file = config.getString("PRICING_FILE", "");
  s.upstream_ca_file = config.getString("UPSTREAM_CA_FILE", "");
  return s;
}

bool exposesEnvironmentKeys(const Settings& s, bool provider_keys_configured) {
  return provider_keys_configured && s.gateway_api_keys.empty() && !isLoopbackHost(s.host);
}

}  // namespace gw
