// What requests are routed by, as one immutable snapshot: the providers
// (built-in and the config file's custom ones) and the routes. A reload of
// the config file (SIGHUP, src/app/main.cc) builds a new snapshot from the
// file with the same code as start-up and swaps it in whole; a request
// keeps the snapshot it started with to its end (it holds a shared_ptr).
//
// Threads: loadRoutingConfig() runs on main()'s thread; a snapshot is then
// read by every worker thread (its routes' TargetStats are atomics).
#pragma once

#include "gw/config_source.h"
#include "providers/provider_registry.h"
#include "routing/route_table.h"

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace gw {
class PricingTable;
}

namespace gw::routing {

struct RoutingConfig {
  ProviderRegistry providers;  // created
  RouteTable routes;
  // Called when a target's cooldown starts, with the target and the model
  // it was asked for (main() counts ai_gateway_target_cooldowns_total and
  // shares the cooldown through the state store); any worker thread.
  using CooldownHook = std::function<void(const Target& target, std::string_view model)>;
  CooldownHook on_cooldown;

  // What recordFailure() calls when a cooldown starts.
  void countCooldown(const Target& target, std::string_view requested_model) const {
    if (on_cooldown) on_cooldown(target, target.modelFor(requested_model));
  }
};

// Makes the providers of `source` from `registrations` (a registry with
// registrations only: ProviderRegistry::withRegistrationsOnly()), checks
// `default_provider` among them, and builds the routes of `source`, whose
// globs are checked against the models of `pricing` (may be null). Errors
// name the field, as at start-up.
Result<std::shared_ptr<const RoutingConfig>> loadRoutingConfig(const ProviderRegistry& registrations,
                                                                const ConfigSource& source,
                                                                std::string_view default_provider,
                                                                const PricingTable* pricing,
                                                                RoutingConfig::CooldownHook on_cooldown);

}  // namespace gw::routing
