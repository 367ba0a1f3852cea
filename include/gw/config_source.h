// Configuration values by variable name: the environment first, then the
// optional YAML file (--config FILE) whose keys are the variable names in
// lower case. Read once at start-up; immutable and thread-safe afterwards.
//
// Typed getters return an Error whose message names the variable, so that
// start-up can print one clear line and exit with status 2. They are private:
// components read through DeclaredSettings (gw/setting_table.h), which
// only accepts the names their settings table declares, so that --help, made
// from those tables, lists every variable the gateway reads.
//
// The file may also hold one structured section, `providers:` (custom
// providers, docs/configuration.md), kept as typed entries (ProviderEntry);
// it has no environment form.
#pragma once

#include "gw/error.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gw {

template <const auto& Table>
class DeclaredSettings;
class ExporterRegistry;

// One entry of the config file's `providers:` list (a custom provider), as
// written. The parser checks its shape only: a mapping of the known keys,
// each value a string, `headers` a mapping of strings, within the limits
// below. What the values mean (a known type, a name no other provider has, a
// well-formed URL, headers a provider may carry) is checked where the
// providers are made (ProviderRegistry, providers/provider_registry.h).
struct ProviderEntry {
  std::string field;  // "providers[2]": every error about the entry starts with it
  std::string name;
  std::string type;
  std::string base_url;
  std::optional<std::string> api_key_env;       // the name of the variable holding the key
  std::optional<std::string> pricing_provider;  // LiteLLM's provider name, when the entry sets one
  std::vector<std::pair<std::string, std::string>> headers;  // in file order

  bool operator==(const ProviderEntry&) const = default;
};

// The bounds of the providers section: more entries, more headers in one
// entry or a longer string is an error naming the field.
inline constexpr std::size_t kMaxProviderEntries = 256;
inline constexpr std::size_t kMaxProviderHeaders = 64;
inline constexpr std::size_t kMaxProviderValueBytes = 8192;

// A parsed config file.
struct ConfigFile {
  // Scalar keys, upper-cased, to their values (a list becomes its items
  // joined with commas).
  std::map<std::string, std::string> values;
  // The `providers:` list, in file order.
  std::vector<ProviderEntry> providers;
};

class ConfigSource {
 public:
  ConfigSource() = default;
  // `env` and `file` map variable names (upper case) to values; `providers`
  // is the file's providers list.
  ConfigSource(const std::map<std::string, std::string>& env, const std::map<std::string, std::string>& file,
               std::vector<ProviderEntry> providers = {})
      : env_(env.begin(), env.end()), file_(file.begin(), file.end()), providers_(std::move(providers)) {}

  // The process environment plus, when `yaml_path` is non-empty, that file.
  static Result<ConfigSource> load(const char* const* environ_vars, const std::string& yaml_path);
  // Parses YAML text: a mapping of keys to scalars or lists of scalars, and
  // the `providers:` list (see ProviderEntry). Errors name the key, or the
  // field of the providers list ("providers[1].headers: ...").
  static Result<ConfigFile> parseYaml(std::string_view text);

  // The file's custom providers, in file order (none without a file).
  const std::vector<ProviderEntry>& providers() const { return providers_; }

  // The environment's value of `name`, never the file's (an empty value
  // counts as unset). Only for variables that the config file names, such
  // as a custom provider's api_key_env, which no settings table can
  // declare: every other variable is read through DeclaredSettings.
  std::optional<std::string> environmentVariable(std::string_view name) const;

 private:
  template <const auto& Table>
  friend class DeclaredSettings;
  // Reads the ENABLE_<NAME> switches that exporters' tables declare.
  friend class ExporterRegistry;

  // The raw value; an empty string in the environment counts as unset.
  std::optional<std::string> get(std::string_view name) const;
  std::string getString(std::string_view name, std::string_view fallback) const;
  Result<std::int64_t> getInt(std::string_view name, std::int64_t fallback, std::int64_t min,
                              std::int64_t max) const;
  Result<bool> getBool(std::string_view name, bool fallback) const;
  // Comma-separated list, trimmed, empty items removed.
  std::vector<std::string> getList(std::string_view name, std::string_view fallback) const;

  std::map<std::string, std::string, std::less<>> env_;
  std::map<std::string, std::string, std::less<>> file_;
  std::vector<ProviderEntry> providers_;
};

// "VARIABLE: message" as a start-up error (http_status is irrelevant there).
Error configError(std::string_view variable, std::string_view message);

}  // namespace gw
