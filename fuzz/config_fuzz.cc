// Fuzzes configuration parsing: the text of a `--config` YAML file and
// environment values, through ConfigSource (src/common/config_source.*) to
// the validated Settings (src/config/settings.*), every provider's settings
// and the custom providers of the file's `providers:` list (the provider
// registry's create()), the routes of its `routes:` list (parsed, then
// built against those providers by loadRoutingConfig, as start-up and a
// reload do), the telemetry pipeline's options and every exporter's
// options, as start-up reads them. Any input may be refused with
// an error (exit status 2 at start-up); none may crash. A custom provider
// that is made answers to its entry's name, with headers that cannot split
// an upstream request. A route that is built names targets that can serve,
// answers to its own model, and starts its chain of fallbacks with itself.
//
// Input: YAML text, then a NUL byte, then environment lines "NAME=value".
// Environment names are taken as written, so the fuzzer can hit every
// variable the gateway reads (the dictionary lists them).
#include "config/settings.h"
#include "exporters/console/console_exporter.h"
#include "exporters/datadog/datadog_exporter.h"
#include "exporters/elasticsearch/elasticsearch_options.h"
#include "exporters/file/file_exporter.h"
#include "exporters/newrelic/newrelic_exporter.h"
#include "exporters/otlp/otlp_options.h"
#include "gw/config_source.h"
#ifdef GW_FUZZ_HAVE_POSTGRES  // built only where libpq is installed
#include "exporters/postgres/postgres_options.h"
#endif
#include "common/strings.h"
#include "providers/provider_registry.h"
#include "routing/routing_config.h"
#include "telemetry/telemetry.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t nul = input.find('\0');
  std::string_view yaml = input.substr(0, nul);
  std::string_view env_text = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);

  gw::ConfigFile file;
  if (auto parsed = gw::ConfigSource::parseYaml(yaml)) {
    file = std::move(*parsed);
    for (const auto& [key, value] : file.values)
      for (char c : key)
        if (c >= 'a' && c <= 'z') std::abort();  // keys are upper-cased
    if (file.providers.size() > gw::kMaxProviderEntries) std::abort();
    for (const auto& entry : file.providers)
      if (entry.headers.size() > gw::kMaxProviderHeaders || entry.name.size() > gw::kMaxProviderValueBytes ||
          entry.base_url.size() > gw::kMaxProviderValueBytes)
        std::abort();
    if (file.routes.size() > gw::kMaxRouteEntries) std::abort();
    for (const auto& route : file.routes) {
      if (route.targets.empty() || route.targets.size() > gw::kMaxRouteTargets ||
          route.fallbacks.size() > gw::kMaxRouteFallbacks || route.attempts < 1 || route.attempts > 10)
        std::abort();
      for (const auto& target : route.targets)
        if (!(target.weight > 0) || target.provider.empty()) std::abort();
    }
  } else if (parsed.error().message.empty()) {
    std::abort();
  }

  // As the process environment would hold them: the first '=' separates.
  std::map<std::string, std::string> env;
  while (!env_text.empty()) {
    std::size_t end = env_text.find('\n');
    std::string_view line = env_text.substr(0, end);
    env_text = end == std::string_view::npos ? std::string_view() : env_text.substr(end + 1);
    std::size_t eq = line.find('=');
    if (eq != std::string_view::npos && eq > 0) env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }

  gw::ConfigSource config(env, file.values, file.providers, file.routes);
  if (auto settings = gw::loadSettings(config, 4)) {
    if (settings->worker_threads < 1) std::abort();
    gw::ProviderRegistry providers;
    gw::registerBuiltinProviders(providers);
    if (auto st = providers.create(config, settings->default_provider)) {
      if (!providers.find(settings->default_provider) || !providers.config(settings->default_provider)) std::abort();
      (void)gw::exposesEnvironmentKeys(*settings, providers.hasOperatorCredentials());
      for (const auto& entry : config.providers()) {
        const gw::Provider* made = providers.find(entry.name);
        const gw::ProviderConfig* made_config = providers.config(entry.name);
        if (!made || !made_config || made->name() != entry.name || made_config->pricing_provider.empty()) std::abort();
        for (const auto& [name, value] : made_config->upstream_headers)
          if (name.empty() || gw::hasHeaderUnsafeBytes(name) || gw::hasHeaderUnsafeBytes(value) ||
              name == "authorization" || name == "host" || name == "content-length")
            std::abort();  // a configured header must never split or take over an upstream request
      }
      auto routing = gw::routing::loadRoutingConfig(providers, config, settings->default_provider, nullptr, nullptr);
      if (routing) {
        for (const auto& entry : config.routes()) {
          const gw::routing::Route* route = (*routing)->routes.match(entry.model);
          if (!route || route->chain.empty() || route->chain.front() != route) std::abort();
          if (!route->glob && route->model != entry.model) std::abort();
          for (const auto& target : route->targets)
            if (!target.provider || !target.config || target.provider->name() != target.provider_name) std::abort();
        }
      } else if (routing.error().message.empty()) {
        std::abort();
      }
    } else if (st.error().message.empty()) {
      std::abort();
    }
  } else if (settings.error().message.empty()) {
    std::abort();  // start-up must say what is wrong
  }
  (void)gw::TelemetryOptions::fromConfig(config);
  (void)gw::exporters::console::ConsoleOptions::fromConfig(config);
  (void)gw::exporters::datadog::Options::fromConfig(config);
  (void)gw::exporters::elasticsearch::Options::fromConfig(config);
  (void)gw::exporters::file::Options::fromConfig(config);
  (void)gw::exporters::newrelic::Options::fromConfig(config);
  (void)gw::exporters::otlp::Options::fromConfig(config);
#ifdef GW_FUZZ_HAVE_POSTGRES
  (void)gw::exporters::postgres::Options::fromConfig(config);
#endif
  // parseBaseUrl is also what every *_BASE_URL goes through.
  (void)gw::parseBaseUrl(yaml);
  return 0;
}
