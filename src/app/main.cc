// magicapi-gateway: configuration, wiring and the process lifecycle.
#include "common/config_source.h"
#include "common/log.h"
#include "config/settings.h"
#include "providers/provider_registry.h"
#include "server/gateway_server.h"
#include "telemetry/exporter_registry.h"
#include "telemetry/telemetry.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

extern char** environ;

namespace {

constexpr const char* kHelp = R"(magicapi-gateway )" GW_VERSION R"( - an OpenAI-compatible LLM gateway with telemetry

Usage: magicapi-gateway [--config FILE] [--help] [--version]

Configuration comes from environment variables and, optionally, a YAML file
(--config FILE) whose keys are the variable names in lower case; an
environment variable wins over the file.

Server
  HOST                        listen address (default 127.0.0.1)
  PORT                        listen port (default 3000; 0 picks a free port)
  WORKER_THREADS              worker threads (default: number of cores)
  LOG_LEVEL                   debug|info|warn|error (default info; RUST_LOG is an alias)
  MAX_REQUEST_BODY_BYTES      request body limit (default 33554432)
  MAX_INFLIGHT_BODY_BYTES     request bodies held by all requests in flight; past it 503 (default 268435456)
  MAX_HEADER_BYTES            request header limit (default 65536)
  IDLE_TIMEOUT_MS             idle keep-alive client connections (default 60000)
  CLIENT_HEADER_TIMEOUT_MS    time to send a request's head/body (default 30000)
  UPSTREAM_TIMEOUT_MS         whole upstream response (default 600000)
  UPSTREAM_CONNECT_TIMEOUT_MS DNS + TCP + TLS connect (default 10000)
  UPSTREAM_MAX_CONNECTIONS_PER_HOST       per worker thread (default 1024)
  UPSTREAM_MAX_IDLE_CONNECTIONS_PER_HOST  per worker thread (default 64)
  UPSTREAM_CA_FILE            extra CA bundle for upstream TLS (verification is always on)
  SHUTDOWN_GRACE_MS           time for in-flight requests on SIGTERM (default 10000)
  DEPLOYMENT_ENVIRONMENT      record resource attribute (default development)
  OTEL_SERVICE_NAME           record service.name (default noveum_ai_gateway)
  GATEWAY_API_KEYS            comma-separated keys required in x-gateway-key
  CORS_ALLOWED_ORIGINS        '*' or comma-separated origins (default: CORS off)

Providers (x-provider header, provider/model prefix, or DEFAULT_PROVIDER)
  DEFAULT_PROVIDER            default openai
  OPENAI_API_KEY, ANTHROPIC_API_KEY, GROQ_API_KEY, FIREWORKS_API_KEY, TOGETHER_API_KEY
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION
  OPENAI_BASE_URL, ANTHROPIC_BASE_URL, GROQ_BASE_URL, FIREWORKS_BASE_URL,
  TOGETHER_BASE_URL, BEDROCK_BASE_URL

Telemetry
  ENABLED_EXPORTERS           comma-separated exporters, or none (default console,prometheus)
  ENABLE_ELASTICSEARCH        true adds elasticsearch
  TELEMETRY_CAPTURE_BODIES    include request/response bodies (default true)
  TELEMETRY_MAX_BODY_BYTES    cap per body (default 1048576)
  TELEMETRY_BATCH_SIZE, TELEMETRY_FLUSH_INTERVAL_MS, TELEMETRY_QUEUE_SIZE,
  TELEMETRY_QUEUE_MAX_BYTES, TELEMETRY_INGEST_QUEUE_SIZE, TELEMETRY_INGEST_MAX_BYTES,
  TELEMETRY_MAX_RETRIES, TELEMETRY_RETRY_INITIAL_MS, TELEMETRY_RETRY_MAX_MS,
  TELEMETRY_BREAKER_FAILURES, TELEMETRY_BREAKER_OPEN_MS, TELEMETRY_SPOOL_DIR,
  TELEMETRY_SPOOL_MAX_BYTES, TELEMETRY_SPOOL_FSYNC
                              delivery pipeline (see docs/telemetry-plugins.md)
  PRICING_FILE                LiteLLM-format price table (default: the shipped copy)
  Exporter settings: see docs/exporters.md.
)";

int configFailure(const std::string& message) {
  std::fprintf(stderr, "magicapi-gateway: configuration error: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Block SIGTERM/SIGINT before any thread exists (threads inherit the
  // mask), so only the main thread's sigwait() sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  std::string config_file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kHelp, stdout);
      return 0;
    }
    if (arg == "--version" || arg == "-V") {
      std::printf("magicapi-gateway %s\n", GW_VERSION);
      return 0;
    }
    if (arg == "--config" && i + 1 < argc) {
      config_file = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_file = arg.substr(9);
    } else {
      std::fprintf(stderr, "magicapi-gateway: unknown argument '%s' (see --help)\n", arg.c_str());
      return 2;
    }
  }

  auto config = gw::ConfigSource::load(environ, config_file);
  if (!config) return configFailure(config.error().message);
  auto settings = gw::loadSettings(*config, std::thread::hardware_concurrency());
  if (!settings) return configFailure(settings.error().message);
  gw::log::setLevel(settings->log_level);
  auto logger = gw::log::get("main");

  gw::ExporterRegistry registry;
  gw::registerBuiltinExporters(registry);
  if (auto st = registry.validate(); !st) return configFailure(st.error().message);

  auto telemetry = gw::Telemetry::start(*settings, *config, registry);
  if (!telemetry) return configFailure(telemetry.error().message);

  auto providers = gw::ProviderRegistry::create(settings->providers);

  if (gw::exposesEnvironmentKeys(*settings))
    logger->warn("HOST={} is not a loopback address, GATEWAY_API_KEYS is unset and provider keys come from the "
                 "environment: anyone who can reach port {} spends those keys",
                 settings->host, settings->port);

  gw::ServerDeps deps;
  deps.settings = &*settings;
  deps.providers = &providers;
  deps.telemetry = telemetry->get();
  deps.exporter_health = [t = telemetry->get()] { return t->exporterHealth(); };
  deps.metrics_text = [t = telemetry->get()] { return t->prometheusText(); };
  gw::GatewayServer server(deps);

  if (auto st = server.start(); !st) return configFailure(st.error().message);
  logger->info("magicapi-gateway {} listening on {}:{} ({} worker threads)", GW_VERSION, settings->host,
               server.port(), settings->worker_threads);
  // Machine-readable line for tests and scripts that start on PORT=0.
  std::fprintf(stderr, "listening on port %u\n", static_cast<unsigned>(server.port()));
  std::fflush(stderr);

  int sig = 0;
  sigwait(&signals, &sig);
  logger->info("received {}, shutting down (grace {} ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               settings->shutdown_grace.count());
  auto started = std::chrono::steady_clock::now();
  server.shutdown(settings->shutdown_grace);
  // Exporters get what is left of the grace period, and at least 2 s, to
  // deliver; what they cannot deliver goes to their spools.
  auto left = settings->shutdown_grace - std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::steady_clock::now() - started);
  (*telemetry)->shutdown(std::max(left, std::chrono::milliseconds(2000)));
  logger->info("stopped");
  return 0;
}
