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
// The file may also hold two structured sections, `providers:` (custom
// providers, docs/configuration.md) and `routes:` (docs/routing.md), kept
// as typed entries (ProviderEntry, RouteEntry); they have no environment
// form.
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

// One target of a route (RouteEntry::targets), as written.
struct RouteTargetEntry {
  std::string field;  // "routes[0].targets[1]"
  std::string provider;
  std::optional<std::string> model;        // absent: the model the client asked for
  std::optional<std::string> api_key_env;  // the variable holding this target's own key
  double weight = 1;                       // > 0, finite

  bool operator==(const RouteTargetEntry&) const = default;
};

// One entry of the config file's `routes:` list (docs/routing.md), as
// written. The parser checks its shape and values: known keys, types,
// ranges, a known strategy, a weight > 0, retry conditions that are HTTP
// statuses or connect_error/timeout, within the limits below; keys left out
// take the documented defaults. What the names mean (a known provider, a
// known fallback route, no cycle, a glob that matches some model) is
// checked where the routes are built (routing/route_table.h).
struct RouteEntry {
  std::string field;  // "routes[2]": every error about the entry starts with it
  std::string model;  // an exact model name, or a glob with '*' and '?'
  std::string strategy = "weighted";  // weighted | ordered | least_busy | lowest_latency
  std::vector<RouteTargetEntry> targets;
  // retry:
  std::int64_t attempts = 2;  // per target
  std::vector<int> retry_statuses{429, 500, 502, 503, 504};
  bool retry_connect_error = true;
  bool retry_timeout = true;
  std::int64_t backoff_ms = 100;
  std::int64_t max_retry_after_ms = 10000;  // a longer Retry-After moves on to the next target
  std::vector<std::string> fallbacks;       // route models, in order
  // cooldown:
  std::int64_t cooldown_failures = 3;
  std::int64_t cooldown_window_ms = 10000;
  std::int64_t cooldown_for_ms = 30000;

  bool operator==(const RouteEntry&) const = default;
};

// The bounds of the routes section.
inline constexpr std::size_t kMaxRouteEntries = 1024;
inline constexpr std::size_t kMaxRouteTargets = 64;
inline constexpr std::size_t kMaxRouteFallbacks = 16;

// A parsed config file.
struct ConfigFile {
  // Scalar keys, upper-cased, to their values (a list becomes its items
  // joined with commas).
  std::map<std::string, std::string> values;
  // The `providers:` list, in file order.
  std::vector<ProviderEntry> providers;
  // The `routes:` list, in file order.
  std::vector<RouteEntry> routes;
};

class ConfigSource {
 public:
  ConfigSource() = default;
  // `env` and `file` map variable names (upper case) to values; `providers`
  // is the file's providers list.
  ConfigSource(const std::map<std::string, std::string>& env, const std::map<std::string, std::string>& file,
               std::vector<ProviderEntry> providers = {}, std::vector<RouteEntry> routes = {})
      : env_(env.begin(), env.end()),
        file_(file.begin(), file.end()),
        providers_(std::move(providers)),
        routes_(std::move(routes)) {}

  // The process environment plus, when `yaml_path` is non-empty, that file.
  static Result<ConfigSource> load(const char* const* environ_vars, const std::string& yaml_path);
  // Parses YAML text: a mapping of keys to scalars or lists of scalars, the
  // `providers:` list (see ProviderEntry) and the `routes:` list (see
  // RouteEntry). Errors name the key, or the field of the list
  // ("providers[1].headers: ...", "routes[0].targets[2].weight: ...").
  static Result<ConfigFile> parseYaml(std::string_view text);

  // The file's custom providers, in file order (none without a file).
  const std::vector<ProviderEntry>& providers() const { return providers_; }
  // The file's routes, in file order (none without a file).
  const std::vector<RouteEntry>& routes() const { return routes_; }

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
  std::vector<RouteEntry> routes_;
};

// "VARIABLE: message" as a start-up error (http_status is irrelevant there).
Error configError(std::string_view variable, std::string_view message);

}  // namespace gw
