#include "providers/provider_registry.h"

#include "common/strings.h"
#include "gw/config_source.h"

#include <algorithm>
#include <array>
#include <type_traits>
#include <variant>

namespace gw {

namespace {

constexpr std::size_t kMaxNameBytes = 64;

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// What ProviderRegistration::name allows: the router lower-cases the names
// it is given and splits a model prefix at the first '/', so a name with an
// upper-case letter or a '/' could never be selected.
bool isProviderName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return isLowerAlnum(c) || c == '-' || c == '_' || c == '.'; });
}
constexpr std::string_view kProviderNameRule = "lower case (a-z, 0-9, '-', '_', '.'), at most 64 characters";

// LiteLLM's provider names are written the same way ("fireworks_ai",
// "vertex_ai-language-models").
bool isPricingProviderName(std::string_view name) { return isProviderName(name); }

bool isTypeName(std::string_view type) {
  if (type.empty() || type.size() > kMaxNameBytes) return false;
  return std::all_of(type.begin(), type.end(), [](char c) { return isLowerAlnum(c) || c == '_'; });
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// RFC 9110 section 5.6.2: a header name is a token.
bool isHeaderName(std::string_view name) {
  static constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return isLowerAlnum(c) || (c >= 'A' && c <= 'Z') || kSymbols.find(c) != std::string_view::npos;
  });
}

// RFC 9110 section 5.5: visible characters, spaces and tabs (and bytes
// from 0x80 up, as obs-text); no other control character.
bool isHeaderValue(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return (b < 0x20 && b != '\t') || b == 0x7f;
  });
}

// Names a configured header may not have, lower case: what providers and
// the gateway write themselves for credentials (Authorization, x-api-key,
// Azure's api-key, Gemini's x-goog-api-key; the client's x-aws-* and
// x-gateway-key, which the gateway reads and never forwards), for the
// request's framing and connection (Host, Content-Length...), and for the
// body and answer formats a provider reads (Content-Type, Accept,
// Accept-Encoding). x-amz-* are AWS's own headers, which a SigV4 signature
// must cover.
bool isReservedHeader(std::string_view lower) {
  static constexpr std::array<std::string_view, 22> kReserved = {
      "authorization", "proxy-authorization", "x-api-key",        "api-key",          "x-goog-api-key",
      "x-gateway-key", "x-provider",          "cookie",           "host",             "content-length",
      "transfer-encoding", "connection",      "keep-alive",       "proxy-connection", "te",
      "trailer",       "upgrade",             "expect",           "content-type",     "content-encoding",
      "accept",        "accept-encoding"};
  if (lower.starts_with("x-amz-") || lower.starts_with("x-aws-")) return true;
  return std::find(kReserved.begin(), kReserved.end(), lower) != kReserved.end();
}

// The entry's headers as the proxy adds them: names lower-cased, each
// checked. Values are never shown in an error: an operator may put a token
// in one.
Result<std::vector<std::pair<std::string, std::string>>> upstreamHeaders(const ProviderEntry& entry) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(entry.headers.size());
  const std::string field = entry.field + ".headers";
  for (const auto& [name, value] : entry.headers) {
    if (!isHeaderName(name))
      return configError(field, "'" + printableExcerpt(name) + "' is not a header name (letters, digits and !#$%&'*+-.^_`|~)");
    std::string lower = toLower(name);
    if (isReservedHeader(lower))
      return configError(field + "." + name,
                         "the gateway or the provider sets this header itself (credentials, framing or "
                         "content negotiation): it cannot be configured");
    if (!isHeaderValue(value))
      return configError(field + "." + name, "the value holds a control character (such as CR, LF or NUL)");
    if (std::any_of(out.begin(), out.end(), [&](const auto& h) { return h.first == lower; }))
      return configError(field + "." + name, "given twice (header names are case-insensitive)");
    out.emplace_back(std::move(lower), value);
  }
  return out;
}

}  // namespace

void registerProviders(ProviderRegistry& registry, std::initializer_list<ProviderPluginEntry> entries) {
  // The folder's type, if it registers one, is the type of its names.
  std::string type;
  for (const auto& e : entries)
    if (const auto* t = std::get_if<ProviderTypeRegistration>(&e.entry())) type = t->type;
  for (const auto& e : entries)
    std::visit(
        [&registry, &type](const auto& registration) {
          if constexpr (std::is_same_v<std::decay_t<decltype(registration)>, ProviderRegistration>)
            registry.add(registration, type);
          else
            registry.addType(registration);
        },
        e.entry());
}

void ProviderRegistry::add(ProviderRegistration registration, std::string type) {
  if (registrations_.contains(registration.name)) {
    duplicates_.push_back("two providers are registered as '" + registration.name + "'");
    return;
  }
  registrations_.emplace(std::move(registration.name),
                         Registration{registration.settings, std::move(registration.factory),
                                      std::move(registration.pricing_provider), std::move(type)});
}

ProviderRegistry ProviderRegistry::withRegistrationsOnly() const {
  ProviderRegistry copy;
  copy.registrations_ = registrations_;
  copy.types_ = types_;
  copy.duplicates_ = duplicates_;
  return copy;
}

Result<ConfiguredProvider> ProviderRegistry::makeWithOwnKey(std::string_view name, const std::string& api_key_env,
                                                            const std::string& field, const ConfigSource& source) const {
  auto made = providers_.find(name);
  auto type_name = provider_types_.find(name);
  if (made == providers_.end() || !made->second.provider)
    return configError(field + ".provider", "provider '" + std::string(name) + "' cannot serve");
  auto type = type_name == provider_types_.end() ? types_.end() : types_.find(type_name->second);
  if (type == types_.end())
    return configError(field + ".api_key_env", "provider '" + std::string(name) + "' cannot take a key of its own");
  const ProviderConfig& config = made->second.config;
  ProviderEntry entry;
  entry.field = field;
  entry.name = std::string(name);
  entry.type = type->first;
  entry.base_url = config.base_url;
  entry.api_key_env = api_key_env;
  entry.headers = config.upstream_headers;
  auto provider = type->second.factory(entry, source);
  if (!provider) return provider.error();
  if (!provider->provider || provider->provider->name() != name)
    return configError(field + ".provider", "the factory of type '" + entry.type + "' made another provider");
  provider->config.pricing_provider = config.pricing_provider;
  provider->config.upstream_headers = config.upstream_headers;
  return provider;
}

void ProviderRegistry::addType(ProviderTypeRegistration type) {
  if (types_.contains(type.type)) {
    duplicates_.push_back("two provider types are registered as '" + type.type + "'");
    return;
  }
  std::string key = type.type;
  types_.emplace(std::move(key), std::move(type));
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

std::vector<std::string> ProviderRegistry::types() const {
  std::vector<std::string> out;
  out.reserve(types_.size());
  for (const auto& [type, r] : types_) out.push_back(type);
  return out;
}

Status ProviderRegistry::create(const ConfigSource& source, std::string_view default_provider) {
  // These name DEFAULT_PROVIDER, the variable that selects among the
  // registered names, as two exporters with one name name ENABLED_EXPORTERS.
  if (!duplicates_.empty()) return configError("DEFAULT_PROVIDER", duplicates_.front());
  for (const auto& [type, registration] : types_) {
    if (!isTypeName(type))
      return configError("DEFAULT_PROVIDER", "a provider type is registered as '" + type +
                                                 "': a type is lower case (a-z, 0-9, '_')");
    if (!isPricingProviderName(registration.pricing_provider))
      return configError("DEFAULT_PROVIDER", "provider type '" + type + "' registers the pricing name '" +
                                                 registration.pricing_provider + "': it must be " +
                                                 std::string(kProviderNameRule));
  }
  for (const auto& [name, registration] : registrations_) {
    if (!isProviderName(name))
      return configError("DEFAULT_PROVIDER",
                         "a provider is registered as '" + name + "': a provider name is " + std::string(kProviderNameRule));
    if (!isPricingProviderName(registration.pricing_provider))
      return configError("DEFAULT_PROVIDER", "provider '" + name + "' registers the pricing name '" +
                                                 registration.pricing_provider + "': it must be " +
                                                 std::string(kProviderNameRule));
    auto made = registration.factory(source);
    if (!made) return made.error();
    made->config.pricing_provider = registration.pricing_provider;
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
    provider_types_.emplace(name, registration.type);
  }
  auto custom = makeCustomProviders(source);
  if (!custom) return custom.error();
  for (auto& made : *custom) {
    std::string name = made.config.name;
    providers_.emplace(std::move(name), std::move(made));
  }
  for (const ProviderEntry& entry : source.providers()) provider_types_.emplace(entry.name, entry.type);
  if (!providers_.contains(default_provider))
    return configError("DEFAULT_PROVIDER", "unknown provider '" + std::string(default_provider) + "'");
  if (auto reason = notConfigured(default_provider); !reason.empty())
    return configError("DEFAULT_PROVIDER", "provider '" + std::string(default_provider) + "' " + std::string(reason));
  return ok();
}

Result<std::vector<ConfiguredProvider>> ProviderRegistry::makeCustomProviders(const ConfigSource& source) const {
  std::vector<ConfiguredProvider> made;
  made.reserve(source.providers().size());
  for (const ProviderEntry& entry : source.providers()) {
    const std::string name_field = entry.field + ".name";
    if (!isProviderName(entry.name))
      return configError(name_field, "'" + printableExcerpt(entry.name) + "' is not a provider name: it must be " +
                                         std::string(kProviderNameRule));
    if (registrations_.contains(entry.name))
      return configError(name_field, "'" + entry.name + "' is a built-in provider: a custom provider needs a name of its own");
    auto same_name = std::find_if(source.providers().begin(), source.providers().end(),
                                  [&](const ProviderEntry& other) { return other.name == entry.name; });
    if (&*same_name != &entry)
      return configError(name_field, "'" + entry.name + "' is already the name of " + same_name->field);

    auto type = types_.find(entry.type);
    if (type == types_.end())
      return configError(entry.field + ".type",
                         "unknown type '" + printableExcerpt(entry.type) + "' (known: " + joined(types()) + ")");
    std::string pricing_provider = entry.pricing_provider.value_or(type->second.pricing_provider);
    if (!isPricingProviderName(pricing_provider))
      return configError(entry.field + ".pricing_provider", "'" + printableExcerpt(pricing_provider) +
                                                                "' is not a LiteLLM provider name: it must be " +
                                                                std::string(kProviderNameRule));
    auto headers = upstreamHeaders(entry);
    if (!headers) return headers.error();

    auto provider = type->second.factory(entry, source);
    if (!provider) return provider.error();
    // As for built-in providers (create()): records and routing name the
    // provider by its entry's name.
    if (!provider->provider || provider->provider->name() != entry.name || provider->config.name != entry.name)
      return configError(entry.field + ".type", "the factory of type '" + entry.type +
                                                    "' made a provider that does not answer to '" + entry.name + "'");
    provider->config.pricing_provider = std::move(pricing_provider);
    provider->config.upstream_headers = std::move(*headers);
    made.push_back(std::move(*provider));
  }
  return made;
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

std::vector<std::string> ProviderRegistry::providerNames() const {
  std::vector<std::string> out;
  out.reserve(providers_.size());
  for (const auto& [name, p] : providers_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

bool ProviderRegistry::hasOperatorCredentials() const {
  for (const auto& [name, p] : providers_)
    if (!p.config.env_api_key.empty() || !p.config.env_aws_secret_access_key.empty()) return true;
  return false;
}

}  // namespace gw
