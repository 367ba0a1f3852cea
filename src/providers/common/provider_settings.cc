#include "providers/common/provider_settings.h"

#include "common/strings.h"
#include "config/settings.h"
#include "gw/config_source.h"

namespace gw::providers {

namespace {

// A name the shell can export: a letter or '_', then letters, digits, '_'.
bool isVariableName(std::string_view name) {
  auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (name.empty() || !letter(name.front())) return false;
  for (char c : name)
    if (!letter(c) && !(c >= '0' && c <= '9')) return false;
  return true;
}

}  // namespace

Status checkBaseUrl(std::string_view variable, std::string_view url) {
  std::string check(url);
  if (auto pos = check.find("{region}"); pos != std::string::npos) check.replace(pos, 8, "us-east-1");
  if (auto endpoint = parseBaseUrl(check); !endpoint) return configError(variable, endpoint.error().message);
  return ok();
}

Result<std::string> readCustomApiKey(const ProviderEntry& entry, const ConfigSource& source) {
  if (!entry.api_key_env) return std::string();
  const std::string field = entry.field + ".api_key_env";
  if (!isVariableName(*entry.api_key_env))
    return configError(field, "'" + printableExcerpt(*entry.api_key_env) +
                                  "' is not a variable name (letters, digits and '_', not starting with a digit)");
  auto key = source.environmentVariable(*entry.api_key_env);
  if (!key) return configError(field, *entry.api_key_env + " is not set");
  return std::move(*key);
}

}  // namespace gw::providers
