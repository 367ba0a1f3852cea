// Provider plugins: how a provider folder makes its providers known.
//
// Every folder under src/providers/ but common/ is one plugin. Its
// CMakeLists.txt calls gw_add_provider() (cmake/Providers.cmake), and one of
// its source files defines, with GW_REGISTER_PROVIDER, the function that
// registers what the folder serves:
//  - each provider name (one folder may serve several: openai_compatible
//    serves openai, groq, fireworks, ...): a ProviderRegistration, with the
//    provider's settings table, its factory and its pricing name;
//  - optionally, its provider type (a ProviderTypeRegistration): the factory
//    that makes a custom provider, an entry of the config file's
//    `providers:` list whose `type:` names it (openai_compatible,
//    anthropic, ...).
// The build generates registerBuiltinProviders() from the folders, and
// main() calls it once at start-up, before any other thread exists: no
// central list of providers, no static-initialisation order.
//
// Each registration carries the provider's settings table (every variable
// its factory reads, gw/setting_table.h), which `--help` prints, and its
// factory, which reads those variables through DeclaredSettings<the table>
// (a name the table does not declare does not compile). docs/providers.md,
// "Adding a provider", walks through a folder.
#pragma once

#include "gw/provider.h"

#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <variant>

namespace gw {

class ConfigSource;       // gw/config_source.h
struct ProviderEntry;     // gw/config_source.h
struct SettingDoc;        // gw/setting_table.h
class ProviderRegistry;   // providers/provider_registry.h

// What a factory makes: the provider and the configuration it was made
// from. The core keeps the configuration next to the provider: it hands it
// to prepare() in ClientRequest::config and reads the operator's
// credentials from it (so that an upstream never echoes them to a client).
struct ConfiguredProvider {
  ProviderConfig config;  // config.name is the registered name
  std::unique_ptr<Provider> provider;
  // Non-empty when the provider cannot serve until the operator sets
  // something it has no default for (vllm's VLLM_BASE_URL): why, naming the
  // variable. The provider is then null; its name stays known, a request
  // that selects it gets 400 provider_not_configured with this text, and a
  // DEFAULT_PROVIDER naming it stops start-up with it.
  std::string not_configured{};
};

// Reads the provider's settings from `source` and makes it. Called once, at
// start-up, on main()'s thread. A bad value is an Error whose message starts
// with the variable's name (configError(), gw/config_source.h): start-up
// prints it and exits with status 2.
using ProviderFactory = std::function<Result<ConfiguredProvider>(const ConfigSource& source)>;

// One provider name, as a folder registers it.
struct ProviderRegistration {
  // What selects it: the x-provider header, a "name/" model prefix,
  // DEFAULT_PROVIDER. Lower case: letters, digits, '-', '_', '.'; at most
  // 64 characters.
  std::string name;
  // Every variable the factory reads (a static table: it outlives the
  // registry); --help lists them under the provider's name.
  std::span<const SettingDoc> settings;
  ProviderFactory factory;
  // LiteLLM's name for the provider (the litellm_provider of the price
  // table's entries, the prefix of its keys: "groq", "fireworks_ai"), under
  // which the record's cost is looked up. Lower case: letters, digits, '-',
  // '_', '.'. The registry copies it into ProviderConfig::pricing_provider.
  std::string pricing_provider;
};

// Makes a custom provider of a type from its entry in the config file's
// `providers:` list. Called by the registry at start-up, on main()'s
// thread, once per entry of the type; it depends on its arguments only, so
// that a reload of the configuration can call it again. The registry has
// already checked the entry's name (lower case, no other provider's), its
// type, its headers and its pricing name, and applies the last two itself:
// the factory makes the provider named entry.name from entry.base_url and,
// for a type that takes one, the key in the variable entry.api_key_env
// names (read now). It may read variables its folder's settings table
// declares (bedrock's AWS credentials) from `source`. Errors name the
// entry's field, "providers[2].base_url: ..." (configError(entry.field +
// ".base_url", ...)); providers/common/provider_settings.h has the usual
// factory.
using CustomProviderFactory =
    std::function<Result<ConfiguredProvider>(const ProviderEntry& entry, const ConfigSource& source)>;

// A provider type, as the folder that implements it registers it.
struct ProviderTypeRegistration {
  // What an entry's `type:` names: lower case letters, digits and '_'.
  std::string type;
  // The pricing name (ProviderRegistration::pricing_provider) of its custom
  // providers, unless an entry sets its own `pricing_provider:`.
  std::string pricing_provider;
  CustomProviderFactory factory;
};

// One argument of GW_REGISTER_PROVIDER: a provider name or a provider type.
// Braces {name, settings, factory, pricing_provider} make a
// ProviderRegistration; a type is written ProviderTypeRegistration{...}.
class ProviderPluginEntry {
 public:
  ProviderPluginEntry(ProviderRegistration provider) : entry_(std::move(provider)) {}
  ProviderPluginEntry(ProviderTypeRegistration type) : entry_(std::move(type)) {}
  ProviderPluginEntry(std::string name, std::span<const SettingDoc> settings, ProviderFactory factory,
                      std::string pricing_provider)
      : entry_(ProviderRegistration{std::move(name), settings, std::move(factory), std::move(pricing_provider)}) {}

  const std::variant<ProviderRegistration, ProviderTypeRegistration>& entry() const { return entry_; }

 private:
  std::variant<ProviderRegistration, ProviderTypeRegistration> entry_;
};

// Adds each entry to `registry`: the body of the function
// GW_REGISTER_PROVIDER defines. Defined in providers/provider_registry.cc.
void registerProviders(ProviderRegistry& registry, std::initializer_list<ProviderPluginEntry> entries);

}  // namespace gw

// Defines gw::gw_register_provider_FOLDER(ProviderRegistry&), the function
// the generated registerBuiltinProviders() calls for provider folder
// FOLDER (src/providers/FOLDER, its code in namespace gw::providers::FOLDER).
// Use once per folder, at global namespace scope, after that namespace is
// declared; every further argument is one ProviderPluginEntry (a provider
// name in braces or as an expression, or a ProviderTypeRegistration), e.g.
//
//   GW_REGISTER_PROVIDER(anthropic,
//                        {"anthropic", kSettings, makeProvider, "anthropic"},
//                        ProviderTypeRegistration{"anthropic", "anthropic", makeCustomProvider})
//
// The arguments are read inside the function with the folder's namespace in
// scope (a using-directive), so they name the folder's own tables and
// factories unqualified, anonymous-namespace ones included. They come as
// the variadic part so that braces and lambdas whose bodies hold commas
// outside parentheses are passed whole.
#define GW_REGISTER_PROVIDER(FOLDER, ...)                                \
  namespace gw {                                                         \
  void gw_register_provider_##FOLDER(ProviderRegistry& registry) {      \
    using namespace ::gw::providers::FOLDER;                             \
    registerProviders(registry, {__VA_ARGS__});                          \
  }                                                                      \
  }
