#include "providers/provider_registry.h"

#include "gw/config_source.h"

namespace gw {

namespace {

// What ProviderRegistration::name allows: the router lower-cases the names
// it is given and splits a model prefix at the first '/', so a name with an
// upper-case letter or a '/' could never be selected.
bool isProviderName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

}  // namespace

void registerProviders(ProviderRegistry& registry, std::initializer_list<ProviderRegistration> registrations) {
  for (const auto& r : registrations) registry.add(r);
}

void ProviderRegistry::add(ProviderRegistration registration) {
  if (registrations_.contains(registration.name)) {
    duplicates_.push_back(std::move(registration.name));
    return;
  }
  registrations_.emplace(std::move(registration.name),
                         Registration{registration.settings, std::move(registration.factory)});
}

std::vector<std::string> ProviderRegistry::names() const {
  std::vector<std::string> out;
  out.reserve(registrations_.size());
  for (const auto& [name, r] : registrations_) out.push_back(name);
  return out;
}

std::span<const SettingDoc> ProviderRegistry::settings(std::string_view name) const {
  auto it = registrations_.find(name);
  return it == registrations_.end() ? std::span<const SettingDoc>() : it->second.settings;
}

Status ProviderRegistry::create(const ConfigSource& source, std::string_view default_provider) {
  // These name DEFAULT_PROVIDER, the variable that selects among the
  // registered names, as two exporters with one name name ENABLED_EXPORTERS.
  if (!duplicates_.empty())
    return configError("DEFAULT_PROVIDER", "two providers are registered as '" + duplicates_.front() + "'");
  for (const auto& [name, registration] : registrations_) {
    if (!isProviderName(name))
      return configError("DEFAULT_PROVIDER", "a provider is registered as '" + name +
                                                 "': a provider name is lower case (a-z, 0-9, '-', '_', '.')");
    auto made = registration.factory(source);
    if (!made) return made.error();
    // Records, logs and routing name a provider by its registered name; a
    // provider that calls itself something else would be reported as
    // another provider than the one the client selected.
    if (!made->not_configured.empty() && !made->provider && made->config.name == name) {
      providers_.emplace(name, std::move(*made));
      continue;
    }
    if (!made->provider || made->provider->name() != name || made->config.name != name)
      return configError("DEFAULT_PROVIDER",
                         "provider '" + name + "' names itself '" +
                             std::string(made->provider ? made->provider->name() : std::string_view()) +
                             "': a provider's name() and config.name must be the name it registers");
    providers_.emplace(name, std::move(*made));
  }
  if (!registrations_.contains(default_provider))
    return configError("DEFAULT_PROVIDER", "unknown provider '" + std::string(default_provider) + "'");
  if (auto reason = notConfigured(default_provider); !reason.empty())
    return configError("DEFAULT_PROVIDER", "provider '" + std::string(default_provider) + "' " + std::string(reason));
  return ok();
}

const Provider* ProviderRegistry::find(std::string_view name) const {
  auto it = providers_.find(name);
  return it == providers_.end() ? nullptr : it->second.provider.get();
}

std::string_view ProviderRegistry::notConfigured(std::string_view name) const {
  auto it = providers_.find(name);
  return it == providers_.end() ? std::string_view() : std::string_view(it->second.not_configured);
}

const ProviderConfig* ProviderRegistry::config(std::string_view name) const {
  auto it = providers_.find(name);
  return it == providers_.end() ? nullptr : &it->second.config;
}

bool ProviderRegistry::hasOperatorCredentials() const {
  for (const auto& [name, p] : providers_)
    if (!p.config.env_api_key.empty() || !p.config.env_aws_secret_access_key.empty()) return true;
  return false;
}

}  // namespace gw
