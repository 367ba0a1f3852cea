// Configuration values by variable name: the environment first, then the
// optional YAML file (--config FILE) whose keys are the variable names in
// lower case. Read once at start-up; immutable and thread-safe afterwards.
//
// Typed getters return an Error whose message names the variable, so that
// start-up can print one clear line and exit with status 2. They are private:
// components read through DeclaredSettings (gw/setting_table.h), which
// only accepts the names their settings table declares, so that --help, made
// from those tables, lists every variable the gateway reads.
#pragma once

#include "gw/error.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw {

template <const auto& Table>
class DeclaredSettings;
class ExporterRegistry;

class ConfigSource {
 public:
  ConfigSource() = default;
  // `env` and `file` map variable names (upper case) to values.
  ConfigSource(const std::map<std::string, std::string>& env, const std::map<std::string, std::string>& file)
      : env_(env.begin(), env.end()), file_(file.begin(), file.end()) {}

  // The process environment plus, when `yaml_path` is non-empty, that file.
  static Result<ConfigSource> load(const char* const* environ_vars, const std::string& yaml_path);
  // Parses YAML text: a flat mapping of scalar keys to scalars (lists become
  // comma-separated values). Keys are upper-cased.
  static Result<std::map<std::string, std::string>> parseYaml(std::string_view text);

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
};

// "VARIABLE: message" as a start-up error (http_status is irrelevant there).
Error configError(std::string_view variable, std::string_view message);

}  // namespace gw
