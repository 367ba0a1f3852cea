// magicapi-gateway: configuration, wiring and the process lifecycle.
#include "common/log.h"
#include "config/core_settings.h"
#include "config/settings.h"
#include "dashboard/dashboard.h"
#include "gw/config_source.h"
#include "gw/exporter_registry.h"
#include "providers/provider_registry.h"
#include "keys/key_service.h"
#include "routing/routing_config.h"
#include "server/gateway_server.h"
#include "telemetry/pricing.h"
#include "telemetry/telemetry.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>

extern char** environ;

namespace {

// --help is made from the settings tables, the same ones the code reads
// through (gw/setting_table.h): the core's, by section, each registered
// provider's after the core's provider section, then each registered
// exporter's. A variable cannot be read without being listed.
std::string helpText(const gw::ProviderRegistry& providers, const gw::ExporterRegistry& exporters) {
  std::string out = "magicapi-gateway " GW_VERSION R"( - an OpenAI-compatible LLM gateway with telemetry

Usage: magicapi-gateway [--config FILE] [--help] [--version]

Configuration comes from environment variables and, optionally, a YAML file
(--config FILE) whose keys are the variable names in lower case; an
environment variable wins over the file. The file may also hold a
providers: list (custom providers) and a routes: list (load balancing,
retries, fallbacks: docs/routing.md); SIGHUP reloads those two lists. Every
variable the gateway reads follows; docs/configuration.md and
docs/exporters.md explain them.
)";
  for (const auto& group : gw::kCoreSettings) {
    out += '\n';
    out += group.title;
    out += '\n';
    gw::appendSettingsHelp(out, group.settings);
    if (group.settings.data() != std::data(gw::kProviderSettings)) continue;
    for (const auto& name : providers.names()) {
      out += '\n';
      out += name;
      out += " provider\n";
      gw::appendSettingsHelp(out, providers.settings(name));
    }
  }
  out += "\nExporters (each reads its settings only when it is in ENABLED_EXPORTERS)\n";
  for (const auto& name : exporters.names()) {
    out += '\n';
    out += name;
    out += " exporter\n";
    gw::appendSettingsHelp(out, exporters.settings(name));
  }
  return out;
}

int configFailure(const std::string& message) {
  std::fprintf(stderr, "magicapi-gateway: configuration error: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Block SIGTERM/SIGINT/SIGHUP before any thread exists (threads inherit the
  // mask), so only the main thread's sigwait() sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // Registration only records factories and settings tables: nothing runs
  // yet, and --help needs the tables.
  gw::ProviderRegistry providers;
  gw::registerBuiltinProviders(providers);
  gw::ExporterRegistry exporters;
  gw::registerBuiltinExporters(exporters);

  std::string config_file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(helpText(providers, exporters).c_str(), stdout);
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

  auto pricing = gw::Telemetry::loadPricing(*settings);
  if (!pricing) return configFailure(pricing.error().message);
  // Every provider reads and checks its settings now, and the routes are
  // checked against them, before anything is started: a bad value stops
  // start-up like the core's own. A reload (SIGHUP) makes them again the
  // same way. Cooldowns are counted once telemetry has started, and shared
  // once the key service has (no request runs before either).
  struct CooldownShare {
    gw::Counter counter;
    gw::keys::KeyService* keys = nullptr;
  };
  auto cooldowns = std::make_shared<CooldownShare>();
  auto onCooldown = [cooldowns](const gw::routing::Target& target, std::string_view model) {
    cooldowns->counter.add({target.provider_name, model});
    // The same end in wall-clock time, for the other instances.
    const auto left = std::chrono::nanoseconds(target.stats->cooldown_until_ns.load(std::memory_order_relaxed) -
                                               std::chrono::steady_clock::now().time_since_epoch().count());
    const auto until = std::chrono::system_clock::now() + left;
    if (cooldowns->keys)
      cooldowns->keys->shareCooldown(
          gw::routing::sharedTargetId(target),
          std::chrono::duration_cast<std::chrono::milliseconds>(until.time_since_epoch()).count());
  };
  auto routing = gw::routing::loadRoutingConfig(providers, *config, settings->default_provider, pricing->get(),
                                                onCooldown);
  if (!routing) return configFailure(routing.error().message);
  if (auto st = exporters.validate(); !st) return configFailure(st.error().message);
  auto key_options = gw::keys::KeyServiceOptions::fromConfig(*config);
  auto dashboard_options = gw::dashboard::DashboardOptions::fromConfig(*config);
  if (!dashboard_options) return configFailure(dashboard_options.error().message);
  // Declared before the telemetry, whose thread calls it until it is destroyed.
  std::unique_ptr<gw::dashboard::Dashboard> dashboard;
  if (!key_options) return configFailure(key_options.error().message);

  auto telemetry = gw::Telemetry::start(*settings, *config, exporters, *pricing);
  if (!telemetry) return configFailure(telemetry.error().message);
  cooldowns->counter = (*telemetry)->metrics().counter("ai_gateway_target_cooldowns_total",
                                               "Cooldowns started: a route target skipped after repeated failures",
                                               "1", {"provider", "model"});
  const gw::Counter reloads = (*telemetry)->metrics().counter(
      "ai_gateway_config_reloads_total", "Reloads of the config file on SIGHUP, by outcome (success, failure)", "1",
      {"outcome"});

  // Virtual keys, limits and budgets: each record of a keyed (or budgeted)
  // request adds its tokens and cost to the counters.
  auto keys = gw::keys::KeyService::start(std::move(*key_options), (*telemetry)->metrics());
  if (!keys) return configFailure(keys.error().message);
  cooldowns->keys = keys->get();
  // Cooldowns other instances started apply to the routes in use now.
  auto current_routing = std::make_shared<std::pair<std::mutex, std::shared_ptr<const gw::routing::RoutingConfig>>>();
  current_routing->second = *routing;
  (*keys)->setCooldownSink([current_routing](std::string_view target_id, std::int64_t until_unix_ms) {
    std::shared_ptr<const gw::routing::RoutingConfig> in_use;
    {
      std::lock_guard lock(current_routing->first);
      in_use = current_routing->second;
    }
    const gw::routing::Target* target = in_use->routes.findTarget(target_id);
    if (!target) return;
    const auto left = std::chrono::milliseconds(until_unix_ms) -
                      std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch());
    gw::routing::applySharedCooldown(*target, std::chrono::steady_clock::now() + left);
  });
  (*telemetry)->setUsageObserver([k = keys->get()](const gw::RequestRecord& record, const gw::RecordSummary& summary) {
    gw::keys::UsageEvent event;
    event.key_id = record.virtual_key_id;
    event.project_id = record.project_id.value_or("");
    event.user_id = record.user_id.value_or("");
    event.input_tokens = summary.input_tokens.value_or(0);
    event.output_tokens = summary.output_tokens.value_or(0);
    event.cost_picos = summary.cost ? gw::keys::usdToPicos(*summary.cost) : 0;
    event.unix_seconds = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    k->account(std::move(event));
  });

  // The dashboard's rollups and recent records, fed by the telemetry thread.
  if (dashboard_options->enabled) {
    dashboard_options->telemetry_on = (*telemetry)->observationsWanted();
    dashboard_options->exporter_health = [t = telemetry->get()] { return t->exporterHealth(); };
    dashboard = std::make_unique<gw::dashboard::Dashboard>(std::move(*dashboard_options));
    (*telemetry)->addRecordObserver([d = dashboard.get()](const gw::RequestRecord& record,
                                                          const gw::RecordSummary& summary,
                                                          const gw::RecordPtr& built) {
      d->observe(record, summary, built);
    });
  }

  if (gw::exposesEnvironmentKeys(*settings, (*routing)->providers.hasOperatorCredentials()))
    logger->warn("HOST={} is not a loopback address, GATEWAY_API_KEYS is unset and provider keys come from the "
                 "environment: anyone who can reach port {} spends those keys",
                 settings->host, settings->port);

  gw::ServerDeps deps;
  deps.settings = &*settings;
  deps.routing = *routing;
  deps.telemetry = telemetry->get();
  deps.keys = keys->get();
  deps.exporter_health = [t = telemetry->get()] { return t->exporterHealth(); };
  deps.metrics_text = [t = telemetry->get()] { return t->metricsText(); };
  deps.dashboard = dashboard.get();
  gw::GatewayServer server(deps);

  if (auto st = server.start(); !st) return configFailure(st.error().message);
  logger->info("magicapi-gateway {} listening on {}:{} ({} worker threads)", GW_VERSION, settings->host,
               server.port(), settings->worker_threads);
  // Machine-readable line for tests and scripts that start on PORT=0.
  std::fprintf(stderr, "listening on port %u\n", static_cast<unsigned>(server.port()));
  std::fflush(stderr);

  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    // A reload: the file's providers and routes, made as at start-up, swap
    // in whole; any error keeps the running ones. Other settings are read
    // at start-up only.
    auto reloaded = gw::ConfigSource::load(environ, config_file);
    gw::Result<std::shared_ptr<const gw::routing::RoutingConfig>> next =
        reloaded ? gw::routing::loadRoutingConfig(providers, *reloaded, settings->default_provider, pricing->get(),
                                                  onCooldown)
                 : gw::Result<std::shared_ptr<const gw::routing::RoutingConfig>>(reloaded.error());
    if (!next) {
      reloads.add({"failure"});
      logger->error("reload of {} failed, the running configuration stays: {}",
                    config_file.empty() ? "the configuration" : config_file, next.error().message);
      continue;
    }
    server.reload(*next);
    {
      std::lock_guard lock(current_routing->first);
      current_routing->second = *next;
    }
    reloads.add({"success"});
    logger->info("reloaded {}: {} routes, {} providers", config_file.empty() ? "the configuration" : config_file,
                 (*next)->routes.size(), (*next)->providers.providerNames().size());
  }
  logger->info("received {}, shutting down (grace {} ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               settings->shutdown_grace.count());
  auto started = std::chrono::steady_clock::now();
  server.shutdown(settings->shutdown_grace);
  // Exporters get what is left of the grace period, and at least 2 s, to
  // deliver; what they cannot deliver goes to their spools.
  auto left = settings->shutdown_grace - std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::steady_clock::now() - started);
  (*telemetry)->shutdown(std::max(left, std::chrono::milliseconds(2000)));
  // Accounting of the last records reaches the state store.
  (*keys)->stop(std::chrono::milliseconds(1000));
  logger->info("stopped");
  return 0;
}
