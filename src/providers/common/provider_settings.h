// What provider factories share in reading their settings (the factory
// contracts are in gw/provider_plugin.h): a base URL variable, read and
// checked at start-up, and the usual factories of a keyed provider, named
// and custom. Called from factories, on main()'s thread.
#pragma once

#include "gw/config_source.h"
#include "gw/error.h"
#include "gw/provider_plugin.h"
#include "gw/setting_table.h"

#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

namespace gw::providers {

// Checks a base URL as the provider will parse it (parseBaseUrl(),
// config/settings.h), with a "{region}" placeholder filled with a sample
// region first. The error's message starts with `variable`.
Status checkBaseUrl(std::string_view variable, std::string_view url);

// The value of the base URL variable `name`, or, when it is unset, the
// default its table shows (so --help shows the value in use), checked with
// checkBaseUrl() so that a typo stops start-up.
template <const auto& Table>
Result<std::string> readBaseUrl(const DeclaredSettings<Table>& settings,
                                std::type_identity_t<SettingName<Table>> name) {
  std::string url = settings.getString(name, name.doc().default_text);
  if (auto st = checkBaseUrl(name.view(), url); !st) return st.error();
  return url;
}

// The factory of a provider configured by an API key and a base URL, whose
// settings `Table` declares as {NAME}_API_KEY, then {NAME}_BASE_URL: reads
// both (the URL checked with readBaseUrl()) into a ProviderConfig named
// `name` and makes the provider with `make(config)`. A base URL without a
// default (a local server nobody can guess the address of) that is unset
// makes the provider "not configured", naming the variable to set.
template <const auto& Table, class Make>
Result<ConfiguredProvider> configureKeyedProvider(const ConfigSource& source, std::string name, Make make) {
  static_assert(std::size(Table) == 2 && Table[0].name.ends_with("_API_KEY") && Table[1].name.ends_with("_BASE_URL"),
                "the table of a keyed provider is its {NAME}_API_KEY, then its {NAME}_BASE_URL");
  using Settings = DeclaredSettings<Table>;
  constexpr typename Settings::Name api_key_name(Table[0].name);
  constexpr typename Settings::Name base_url_name(Table[1].name);
  const Settings settings(source);
  ProviderConfig config;
  config.name = std::move(name);
  if (base_url_name.doc().default_text.empty() && !settings.get(base_url_name))
    return ConfiguredProvider{std::move(config), nullptr, "is not configured: set " + std::string(base_url_name.view())};
  auto base_url = readBaseUrl(settings, base_url_name);
  if (!base_url) return base_url.error();
  config.base_url = std::move(*base_url);
  config.env_api_key = settings.getString(api_key_name, "");
  config.api_key_setting = std::string(api_key_name.view());
  std::unique_ptr<Provider> provider = make(config);
  return ConfiguredProvider{std::move(config), std::move(provider)};
}

// A custom provider's key: the value of the variable its entry's
// api_key_env names, read now, or "" when the entry names none. A named
// variable that is unset (or empty) is an error naming
// providers[i].api_key_env: naming one says the upstream needs the key, and
// a deployment that forgot to set it must not start without it.
Result<std::string> readCustomApiKey(const ProviderEntry& entry, const ConfigSource& source);

// The factory of a custom provider of a keyed type (gw/provider_plugin.h,
// CustomProviderFactory): its base URL checked (checkBaseUrl(), errors
// naming providers[i].base_url), its key from readCustomApiKey(), made
// with `make(config)`.
template <class Make>
Result<ConfiguredProvider> configureCustomKeyedProvider(const ProviderEntry& entry, const ConfigSource& source,
                                                        Make make) {
  if (auto st = checkBaseUrl(entry.field + ".base_url", entry.base_url); !st) return st.error();
  auto api_key = readCustomApiKey(entry, source);
  if (!api_key) return api_key.error();
  ProviderConfig config;
  config.name = entry.name;
  config.base_url = entry.base_url;
  config.env_api_key = std::move(*api_key);
  config.api_key_setting = entry.api_key_env ? *entry.api_key_env : entry.field + ".api_key_env";
  std::unique_ptr<Provider> provider = make(config);
  return ConfiguredProvider{std::move(config), std::move(provider)};
}

}  // namespace gw::providers
