// Settings tables: the one list of the variables a component reads.
//
// Each component declares every variable it reads, once, in a constexpr
// table of SettingDoc: the core in src/config/core_settings.h, each exporter
// and each provider in its own folder (registered with its factory, see
// gw/exporter_registry.h and gw/provider_plugin.h).
// `magicapi-gateway --help` prints those tables, and nothing else lists
// settings.
//
// A component reads its variables only through DeclaredSettings<its table>
// (ConfigSource's getters are private to it), and every name it passes is
// checked against the table at compile time: reading a variable the table
// does not declare does not compile, the error naming
// setting_is_not_declared_in_the_components_table. The check is done at
// compile time rather than when the value is read because some reads only
// run on rare paths (a variable looked up again to name it in an error
// message), which no test might reach; a compile-time check covers them all.
// So --help cannot miss a variable the code reads. The compiler does not see
// the rest: that the docs name the same variables
// (tests/integration/test_settings_docs.py), that a default shown is the one
// applied (tests/config/setting_table_test.cc,
// tests/telemetry/setting_tables_test.cc,
// tests/providers/provider_registry_test.cc), and that every entry is still read
// (review: an entry nothing reads only makes --help list a no-op).
#pragma once

#include "gw/config_source.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gw {

// One variable as --help shows it.
struct SettingDoc {
  std::string_view name;          // the variable; the YAML key is the same in lower case
  // What applies when it is unset, as people read it; "" when nothing does
  // (the feature is off, or the variable is required).
  std::string_view default_text;
  std::string_view description;   // one line
};

// A titled part of a table, for tables long enough to be read in sections
// (the core's).
struct SettingGroup {
  std::string_view title;
  std::span<const SettingDoc> settings;
};

// Whether `name` is written as a variable name must be: an upper-case
// letter, then upper-case letters, digits and '_' (what --help lists and
// the docs test reads as a setting).
constexpr bool isSettingName(std::string_view name) {
  if (name.empty() || name.front() < 'A' || name.front() > 'Z') return false;
  for (char c : name)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

// The entry of `table` named `name`, if it has one. A copy, not a
// pointer: GCC's -fsanitize=undefined instruments a pointer's comparison
// with null, which then is no constant expression, and these run at
// compile time (SettingName).
constexpr std::optional<SettingDoc> findSetting(std::span<const SettingDoc> table, std::string_view name) {
  for (const auto& s : table)
    if (s.name == name) return s;
  return std::nullopt;
}
constexpr std::optional<SettingDoc> findSetting(std::span<const SettingGroup> groups, std::string_view name) {
  for (const auto& g : groups)
    if (auto s = findSetting(g.settings, name)) return s;
  return std::nullopt;
}

// Declared and never defined: SettingName's constructor calls it, at
// compile time, for a name its table does not declare. A call to a function
// that is not constexpr cannot be a constant expression, so that read does
// not compile, and the compiler's message names this function.
void setting_is_not_declared_in_the_components_table();

// A variable name that `Table` (an array of SettingDoc or of SettingGroup
// with static storage duration) declares. Made only at compile time, from a
// string literal: `DeclaredSettings<kTable>::Name n = "MY_URL";`.
template <const auto& Table>
class SettingName {
 public:
  template <std::size_t N>
  consteval SettingName(const char (&name)[N])  // implicit: a literal is the natural spelling of a name
      : doc_(declared(std::string_view(name, N - 1))) {}
  // From a constant that is not a literal: code written once for every
  // table of one shape names an entry as `Name(Table[1].name)`. Checked
  // the same way.
  consteval explicit SettingName(std::string_view name) : doc_(declared(name)) {}

  constexpr std::string_view view() const { return doc_.name; }
  constexpr operator std::string_view() const { return doc_.name; }  // for configError()
  // The table's entry: its default_text serves as the value where the two
  // are the same string (the providers' base URLs), so they cannot differ.
  constexpr const SettingDoc& doc() const { return doc_; }

 private:
  static consteval SettingDoc declared(std::string_view name) {
    auto doc = findSetting(Table, name);
    if (!doc) setting_is_not_declared_in_the_components_table();
    return *doc;
  }

  SettingDoc doc_;
};

// Reads the variables `Table` declares from a ConfigSource. The getters are
// ConfigSource's (same fallbacks, ranges and error messages naming the
// variable); only the name type differs.
//
// Used at start-up by loadSettings(), TelemetryOptions::fromConfig() and the
// exporter and provider factories, on the thread that calls them (main()'s); it holds a
// reference to an immutable ConfigSource, so it is as thread-safe as that.
template <const auto& Table>
class DeclaredSettings {
 public:
  using Name = SettingName<Table>;

  explicit DeclaredSettings(const ConfigSource& source) : source_(source) {}

  std::optional<std::string> get(Name name) const { return source_.get(name.view()); }
  std::string getString(Name name, std::string_view fallback) const {
    return source_.getString(name.view(), fallback);
  }
  Result<std::int64_t> getInt(Name name, std::int64_t fallback, std::int64_t min, std::int64_t max) const {
    return source_.getInt(name.view(), fallback, min, max);
  }
  Result<bool> getBool(Name name, bool fallback) const { return source_.getBool(name.view(), fallback); }
  std::vector<std::string> getList(Name name, std::string_view fallback) const {
    return source_.getList(name.view(), fallback);
  }

 private:
  const ConfigSource& source_;
};

// Appends `settings` as --help prints them: one line each, two spaces, the
// name padded to a column (at least two spaces after it), the description and
// "(default: X)" when there is a default; "(no settings)" for an empty table.
// Called by main() for --help.
void appendSettingsHelp(std::string& out, std::span<const SettingDoc> settings);

}  // namespace gw
