// The HTTP server: WORKER_THREADS threads, each with its own io_context,
// its own SO_REUSEPORT listener and its own upstream connection pool, so no
// lock is shared between connections on the request path.
//
// Lifecycle (all from the main thread): start() binds and starts the
// workers; shutdown() stops accepting, lets in-flight requests finish within
// the grace period, closes what is left and joins the workers.
#pragma once

#include "gw/error.h"

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace gw {

struct Settings;
class TelemetrySink;
namespace routing {
struct RoutingConfig;
}
namespace keys {
class KeyService;
}
namespace dashboard {
class Dashboard;
}

struct ServerDeps {
  const Settings* settings = nullptr;
  // The providers and routes requests start with (reload() swaps them).
  std::shared_ptr<const routing::RoutingConfig> routing;
  TelemetrySink* telemetry = nullptr;
  // /health "exporters" object; called from worker threads.
  std::function<boost::json::object()> exporter_health;
  // Virtual keys, limits, budgets and the admin API; null: none (tests).
  keys::KeyService* keys = nullptr;
  // /metrics body, or nullopt when the prometheus exporter is off (404).
  std::function<std::optional<std::string>()> metrics_text;
  // /ui and /ui/api (docs/dashboard.md); null: DASHBOARD_ENABLED=false (404).
  // Its API is called from worker threads.
  dashboard::Dashboard* dashboard = nullptr;
};

class GatewayServer {
 public:
  explicit GatewayServer(ServerDeps deps);
  ~GatewayServer();
  GatewayServer(const GatewayServer&) = delete;
  GatewayServer& operator=(const GatewayServer&) = delete;

  // Binds HOST:PORT (PORT 0 picks a free port) and starts the workers.
  Status start();
  std::uint16_t port() const;

  // Idempotent. Returns once every worker thread has stopped.
  void shutdown(std::chrono::milliseconds grace);

  // Makes `config` the providers and routes of the requests that start
  // from now on, on every worker; requests in flight finish with the one
  // they started with. From main()'s thread; returns at once (each worker
  // takes it between two of its events).
  void reload(std::shared_ptr<const routing::RoutingConfig> config);

  // Requests being proxied right now (all workers).
  std::size_t inFlight() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace gw
