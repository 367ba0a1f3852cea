// The provider registry: provider name -> factory and settings table,
// provider type -> factory of custom providers, then, once created, name ->
// Provider and the configuration it was made from.
//
// Built-in provider folders register through GW_REGISTER_PROVIDER
// (gw/provider_plugin.h); the build generates registerBuiltinProviders()
// from the folders (cmake/Providers.cmake). main() calls it, then create(),
// once at start-up before any other thread exists. After create() the
// registry is read-only and shared by all worker threads: find(), config(),
// notConfigured(), names() and providerNames() may be called from any of
// them.
#pragma once

#include "gw/provider.h"
#include "gw/provider_plugin.h"
#include "gw/setting_table.h"

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gw {

class ConfigSource;

class ProviderRegistry {
 public:
  // Registers one provider name with its settings table, factory and
  // pricing name. A second registration of the same name is remembered and
  // reported by create(): two providers with one name stop start-up.
  // `type` is the provider type registered by the same folder ("" when it
  // registers none): a route target with a key of its own is made by that
  // type's factory (makeWithOwnKey()).
  void add(ProviderRegistration registration, std::string type = {});
  // Registers the factory of a provider type's custom providers. A type
  // registered twice is reported by create() the same way.
  void addType(ProviderTypeRegistration type);

  // Every registered name, sorted: the built-in providers, whose settings
  // --help lists.
  std::vector<std::string> names() const;
  // The settings table `name` registered; empty for an unknown name.
  std::span<const SettingDoc> settings(std::string_view name) const;
  // Every registered provider type, sorted: what a custom provider's
  // `type:` may name.
  std::vector<std::string> types() const;

  // Makes every registered provider from its settings in `source`, so that
  // a bad value of any provider's variable stops start-up (the error names
  // the variable), then the custom providers of `source` (its `providers:`
  // list, makeCustomProviders()), then checks that `default_provider`
  // (DEFAULT_PROVIDER, lower case) names one of them. Also an error: a name
  // or type registered twice, a name or pricing name not written as
  // ProviderRegistration says, and a factory whose provider answers to
  // another name than it registered. Called once.
  Status create(const ConfigSource& source, std::string_view default_provider);

  // The custom providers of `source`'s `providers:` list, each made by its
  // type's factory, with its pricing name and upstream headers set. An
  // error names the entry's field ("providers[1].type: unknown type ...").
  // A function of `source` and the registrations only, so that it can run
  // again on a reload; create() calls it once at start-up.
  Result<std::vector<ConfiguredProvider>> makeCustomProviders(const ConfigSource& source) const;

  // A registry with this one's registrations and types but no provider
  // made yet: what a reload of the configuration calls create() on.
  ProviderRegistry withRegistrationsOnly() const;

  // After create(): the provider `name` again, with the key the variable
  // `api_key_env` holds instead of its own: a route target's second key
  // (routing/route_table.h). Made by the factory of the provider's type
  // from its base URL and headers, as a custom provider of that name would
  // be; errors name `field` ("routes[0].targets[1].api_key_env: ...").
  Result<ConfiguredProvider> makeWithOwnKey(std::string_view name, const std::string& api_key_env,
                                            const std::string& field, const ConfigSource& source) const;

  // After create(): the provider registered as `name` and its configuration,
  // or nullptr for an unknown name.
  const Provider* find(std::string_view name) const;
  const ProviderConfig* config(std::string_view name) const;
  // Why the provider `name` cannot serve (its factory's
  // ConfiguredProvider::not_configured), or "" when it can or is unknown.
  std::string_view notConfigured(std::string_view name) const;
  // After create(): every name a request may select, built-in and custom,
  // sorted.
  std::vector<std::string> providerNames() const;

  // After create(): whether a provider has credentials from the gateway's
  // own configuration (an API key, or an AWS secret key), which a client
  // that sends none spends (exposesEnvironmentKeys(), config/settings.h).
  bool hasOperatorCredentials() const;

 private:
  struct Registration {
    std::span<const SettingDoc> settings;
    ProviderFactory factory;
    std::string pricing_provider;
    std::string type;  // the type its folder registers, "" for none
  };
  std::map<std::string, Registration, std::less<>> registrations_;
  std::map<std::string, ProviderTypeRegistration, std::less<>> types_;
  std::vector<std::string> duplicates_;  // names and types registered twice

  // Looked up by a string_view on every request: hashed, without making a
  // key string.
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
  };
  std::unordered_map<std::string, ConfiguredProvider, NameHash, std::equal_to<>> providers_;
  // The type of every provider made (its registration's, or its entry's).
  std::map<std::string, std::string, std::less<>> provider_types_;
};

// Generated by the build: registers every provider folder under
// src/providers (cmake/Providers.cmake).
void registerBuiltinProviders(ProviderRegistry& registry);

}  // namespace gw
