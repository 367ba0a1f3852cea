#include "routing/routing_config.h"

#include "telemetry/pricing.h"

namespace gw::routing {

Result<std::shared_ptr<const RoutingConfig>> loadRoutingConfig(const ProviderRegistry& registrations,
                                                                const ConfigSource& source,
                                                                std::string_view default_provider,
                                                                const PricingTable* pricing,
                                                                RoutingConfig::CooldownHook on_cooldown) {
  auto config = std::make_shared<RoutingConfig>();
  config->providers = registrations.withRegistrationsOnly();
  if (auto st = config->providers.create(source, default_provider); !st) return st.error();
  auto known_model = [pricing](const std::function<bool(std::string_view)>& matches) {
    return pricing && pricing->anyModel(matches);
  };
  auto routes = RouteTable::build(source.routes(), config->providers, source, known_model);
  if (!routes) return routes.error();
  config->routes = std::move(*routes);
  config->on_cooldown = std::move(on_cooldown);
  return std::shared_ptr<const RoutingConfig>(std::move(config));
}

}  // namespace gw::routing
