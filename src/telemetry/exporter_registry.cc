#include "gw/exporter_registry.h"

#include "gw/config_source.h"

#include <cctype>

namespace gw {

void ExporterRegistry::add(std::string name, ExporterFactory factory, std::span<const SettingDoc> settings) {
  if (exporters_.contains(name)) {
    duplicates_.push_back(name);
    return;
  }
  exporters_.emplace(std::move(name), Entry{std::move(factory), settings});
}

const ExporterFactory* ExporterRegistry::find(std::string_view name) const {
  auto it = exporters_.find(name);
  return it == exporters_.end() ? nullptr : &it->second.factory;
}

std::span<const SettingDoc> ExporterRegistry::settings(std::string_view name) const {
  auto it = exporters_.find(name);
  return it == exporters_.end() ? std::span<const SettingDoc>() : it->second.settings;
}

std::vector<std::string> ExporterRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, e] : exporters_) out.push_back(name);
  return out;
}

Status ExporterRegistry::validate() const {
  if (!duplicates_.empty())
    return configError("ENABLED_EXPORTERS", "two exporters are registered as '" + duplicates_.front() + "'");
  return ok();
}

Result<std::vector<std::unique_ptr<Exporter>>> ExporterRegistry::create(
    const std::vector<std::string>& enabled, const ExporterContext& context) const {
  if (auto st = validate(); !st) return st.error();
  std::vector<std::string> wanted = enabled;
  for (const auto& [name, entry] : exporters_) {
    std::string variable = "ENABLE_" + name;
    for (auto& c : variable) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!findSetting(entry.settings, variable)) continue;
    auto on = context.config.getBool(variable, false);
    if (!on) return on.error();
    if (*on) wanted.push_back(name);
  }
  std::vector<std::unique_ptr<Exporter>> out;
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    const auto& name = wanted[i];
    bool seen = false;
    for (std::size_t j = 0; j < i; ++j) seen = seen || wanted[j] == name;
    if (seen) continue;  // "console,console" means console once
    const ExporterFactory* factory = find(name);
    if (!factory) {
      std::string known;
      for (const auto& n : names()) known += (known.empty() ? "" : ", ") + n;
      return configError("ENABLED_EXPORTERS", "unknown exporter '" + name + "' (known: " + known + ", none)");
    }
    auto exporter = (*factory)(context);
    if (!exporter) return exporter.error();
    // Metrics, logs and /health name an exporter by name(): a plugin that
    // answers to another name than it registered would be reported as
    // something else than what the operator enabled.
    if ((*exporter)->name() != name)
      return configError("ENABLED_EXPORTERS", "exporter '" + name + "' names itself '" +
                                                  std::string((*exporter)->name()) +
                                                  "': a plugin's name() must be the name it registers");
    out.push_back(std::move(*exporter));
  }
  return out;
}

}  // namespace gw
