#include "gw/config_source.h"

#include "common/strings.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace gw {

Error configError(std::string_view variable, std::string_view message) {
  return Error{2, "config_error", std::string(variable),
               std::string(variable) + ": " + std::string(message)};
}

Result<std::map<std::string, std::string>> ConfigSource::parseYaml(std::string_view text) {
  std::map<std::string, std::string> out;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return configError("--config", std::string("invalid YAML: ") + e.what());
  }
  if (root.IsNull()) return out;
  if (!root.IsMap()) return configError("--config", "the file must be a mapping of keys to values");
  for (const auto& item : root) {
    std::string key;
    try {
      key = item.first.as<std::string>();
    } catch (const YAML::Exception&) {
      return configError("--config", "keys must be strings");
    }
    const YAML::Node& v = item.second;
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
    out[toUpper(key)] = std::move(value);
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
  std::map<std::string, std::string> file;
  if (!yaml_path.empty()) {
    std::ifstream in(yaml_path);
    if (!in) return configError("--config", "cannot read " + yaml_path);
    std::stringstream ss;
    ss << in.rdbuf();
    auto parsed = parseYaml(ss.str());
    if (!parsed) return parsed.error();
    file = std::move(*parsed);
  }
  return ConfigSource(std::move(env), std::move(file));
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
