#include "gw/config_source.h"

#include "common/route_entries.h"
#include "common/strings.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>
#include <sstream>

namespace gw {

Error configError(std::string_view variable, std::string_view message) {
  return Error{2, "config_error", std::string(variable),
               std::string(variable) + ": " + std::string(message)};
}

namespace {

// The key of the structured section; every other key is a variable.
constexpr std::string_view kProvidersKey = "providers";
constexpr std::string_view kEntryKeys[] = {"name", "type", "base_url", "api_key_env", "headers", "pricing_provider"};
constexpr std::string_view kEntryKeyList = "name, type, base_url, api_key_env, headers, pricing_provider";

Result<std::string> stringValue(const YAML::Node& node, const std::string& field) {
  if (!node.IsScalar()) return configError(field, "must be a string");
  if (node.Scalar().size() > kMaxProviderValueBytes)
    return configError(field, "longer than " + std::to_string(kMaxProviderValueBytes) + " bytes");
  return node.Scalar();
}

Status parseHeaders(const YAML::Node& node, const std::string& field, ProviderEntry& entry) {
  if (!node.IsMap()) return configError(field, "must be a mapping of header names to strings");
  if (node.size() > kMaxProviderHeaders)
    return configError(field, "more than " + std::to_string(kMaxProviderHeaders) + " headers");
  for (const auto& header : node) {
    if (!header.first.IsScalar()) return configError(field, "header names must be strings");
    const std::string& name = header.first.Scalar();
    if (name.size() > kMaxProviderValueBytes)
      return configError(field, "a header name is longer than " + std::to_string(kMaxProviderValueBytes) + " bytes");
    auto value = stringValue(header.second, field + "." + printableExcerpt(name));
    if (!value) return value.error();
    entry.headers.emplace_back(name, std::move(*value));
  }
  return ok();
}

Result<ProviderEntry> parseProviderEntry(const YAML::Node& node, std::size_t index) {
  ProviderEntry entry;
  entry.field = "providers[" + std::to_string(index) + "]";
  if (!node.IsMap()) return configError(entry.field, "must be a mapping (" + std::string(kEntryKeyList) + ")");
  std::vector<std::string_view> seen;
  for (const auto& item : node) {
    if (!item.first.IsScalar()) return configError(entry.field, "keys must be strings");
    const std::string& key = item.first.Scalar();
    const auto* known = std::find(std::begin(kEntryKeys), std::end(kEntryKeys), key);
    if (known == std::end(kEntryKeys))
      return configError(entry.field + "." + printableExcerpt(key), "unknown key (known: " + std::string(kEntryKeyList) + ")");
    const std::string field = entry.field + "." + key;
    if (std::find(seen.begin(), seen.end(), *known) != seen.end()) return configError(field, "given twice");
    seen.push_back(*known);
    if (key == "headers") {
      if (auto st = parseHeaders(item.second, field, entry); !st) return st.error();
      continue;
    }
    auto value = stringValue(item.second, field);
    if (!value) return value.error();
    if (key == "name") entry.name = std::move(*value);
    else if (key == "type") entry.type = std::move(*value);
    else if (key == "base_url") entry.base_url = std::move(*value);
    else if (key == "api_key_env") entry.api_key_env = std::move(*value);
    else entry.pricing_provider = std::move(*value);
  }
  for (std::string_view required : {"name", "type", "base_url"})
    if (std::find(seen.begin(), seen.end(), required) == seen.end())
      return configError(entry.field + "." + std::string(required), "missing");
  return entry;
}

Status parseProviders(const YAML::Node& node, std::vector<ProviderEntry>& out) {
  if (node.IsNull()) return ok();
  if (!node.IsSequence()) return configError(kProvidersKey, "must be a list of providers");
  if (node.size() > kMaxProviderEntries)
    return configError(kProvidersKey, "more than " + std::to_string(kMaxProviderEntries) + " providers");
  for (std::size_t i = 0; i < node.size(); ++i) {
    auto entry = parseProviderEntry(node[i], i);
    if (!entry) return entry.error();
    out.push_back(std::move(*entry));
  }
  return ok();
}

}  // namespace

Result<ConfigFile> ConfigSource::parseYaml(std::string_view text) {
  ConfigFile out;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return configError("--config", std::string("invalid YAML: ") + e.what());
  }
  if (root.IsNull()) return out;
  if (!root.IsMap()) return configError("--config", "the file must be a mapping of keys to values");
  bool have_providers = false;
  bool have_routes = false;
  for (const auto& item : root) {
    std::string key;
    try {
      key = item.first.as<std::string>();
    } catch (const YAML::Exception&) {
      return configError("--config", "keys must be strings");
    }
    const YAML::Node& v = item.second;
    if (toLower(key) == "routes") {
      if (have_routes) return configError("routes", "given twice");
      have_routes = true;
      if (auto st = parseRoutes(v, out.routes); !st) return st.error();
      continue;
    }
    if (toLower(key) == kProvidersKey) {
      if (have_providers) return configError(kProvidersKey, "given twice");
      have_providers = true;
      if (auto st = parseProviders(v, out.providers); !st) return st.error();
      continue;
    }
    std::string value;
    if (v.IsScalar()) {
      value = v.Scalar();
    } else if (v.IsSequence()) {
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (!v[i].IsScalar()) return configError(toUpper(key), "list items must be scalars");
        if (i) value += ',';
        value += v[i].Scalar();
      }
    } else if (v.IsNull()) {
      continue;
    } else {
      return configError(toUpper(key), "value must be a scalar or a list");
    }
    out.values[toUpper(key)] = std::move(value);
  }
  return out;
}

Result<ConfigSource> ConfigSource::load(const char* const* environ_vars, const std::string& yaml_path) {
  std::map<std::string, std::string> env;
  for (auto p = environ_vars; p && *p; ++p) {
    std::string_view kv(*p);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  ConfigFile file;
  if (!yaml_path.empty()) {
    std::ifstream in(yaml_path);
    if (!in) return configError("--config", "cannot read " + yaml_path);
    std::stringstream ss;
    ss << in.rdbuf();
    auto parsed = parseYaml(ss.str());
    if (!parsed) return parsed.error();
    file = std::move(*parsed);
  }
  return ConfigSource(std::move(env), std::move(file.values), std::move(file.providers), std::move(file.routes));
}

std::optional<std::string> ConfigSource::environmentVariable(std::string_view name) const {
  if (auto it = env_.find(name); it != env_.end() && !it->second.empty()) return it->second;
  return std::nullopt;
}

std::optional<std::string> ConfigSource::get(std::string_view name) const {
  if (auto it = env_.find(name); it != env_.end() && !it->second.empty()) return it->second;
  if (auto it = file_.find(name); it != file_.end() && !it->second.empty()) return it->second;
  return std::nullopt;
}

std::string ConfigSource::getString(std::string_view name, std::string_view fallback) const {
  auto v = get(name);
  return v ? *v : std::string(fallback);
}

Result<std::int64_t> ConfigSource::getInt(std::string_view name, std::int64_t fallback, std::int64_t min,
                                          std::int64_t max) const {
  auto v = get(name);
  if (!v) return fallback;
  std::string_view s = trim(*v);
  std::int64_t out = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || ptr != s.data() + s.size())
    return configError(name, "expected an integer, got '" + *v + "'");
  if (out < min || out > max)
    return configError(name, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  return out;
}

Result<bool> ConfigSource::getBool(std::string_view name, bool fallback) const {
  auto v = get(name);
  if (!v) return fallback;
  std::string s = toLower(trim(*v));
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  return configError(name, "expected true or false, got '" + *v + "'");
}

std::vector<std::string> ConfigSource::getList(std::string_view name, std::string_view fallback) const {
  auto v = get(name);
  return splitList(v ? std::string_view(*v) : fallback, ',');
}

}  // namespace gw
