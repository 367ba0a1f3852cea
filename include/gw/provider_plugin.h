// Provider plugins: how a provider folder makes its providers known.
//
// Every folder under src/providers/ but common/ is one plugin. Its
// CMakeLists.txt calls gw_add_provider() (cmake/Providers.cmake), and one of
// its source files defines, with GW_REGISTER_PROVIDER, the function that
// registers each provider name the folder serves (one folder may serve
// several: openai_compatible serves openai, groq, fireworks and together).
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

namespace gw {

class ConfigSource;       // gw/config_source.h
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
  // DEFAULT_PROVIDER. Lower case: letters, digits, '-', '_', '.'.
  std::string name;
  // Every variable the factory reads (a static table: it outlives the
  // registry); --help lists them under the provider's name.
  std::span<const SettingDoc> settings;
  ProviderFactory factory;
};

// Adds each registration to `registry`: the body of the function
// GW_REGISTER_PROVIDER defines. Defined in providers/provider_registry.cc.
void registerProviders(ProviderRegistry& registry, std::initializer_list<ProviderRegistration> registrations);

}  // namespace gw

// Defines gw::gw_register_provider_FOLDER(ProviderRegistry&), the function
// the generated registerBuiltinProviders() calls for provider folder
// FOLDER (src/providers/FOLDER, its code in namespace gw::providers::FOLDER).
// Use once per folder, at global namespace scope, after that namespace is
// declared; every further argument is one ProviderRegistration, in braces
// or as an expression, e.g.
//
//   GW_REGISTER_PROVIDER(anthropic, {"anthropic", kSettings, makeProvider})
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
