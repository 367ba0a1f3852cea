#include "telemetry/exporter_registry.h"

#include "common/config_source.h"

namespace gw {

void ExporterRegistry::add(std::string name, ExporterFactory factory) {
  if (factories_.contains(name)) {
    duplicates_.push_back(name);
    return;
  }
  factories_.emplace(std::move(name), std::move(factory));
}

const ExporterFactory* ExporterRegistry::find(std::string_view name) const {
  auto it = factories_.find(name);
  return it == factories_.end() ? nullptr : &it->second;
}

std::vector<std::string> ExporterRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, f] : factories_) out.push_back(name);
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
  std::vector<std::unique_ptr<Exporter>> out;
  for (std::size_t i = 0; i < enabled.size(); ++i) {
    const auto& name = enabled[i];
    bool seen = false;
    for (std::size_t j = 0; j < i; ++j) seen = seen || enabled[j] == name;
    if (seen) continue;  // "console,console" means console once
    const ExporterFactory* factory = find(name);
    if (!factory) {
      std::string known;
      for (const auto& n : names()) known += (known.empty() ? "" : ", ") + n;
      return configError("ENABLED_EXPORTERS", "unknown exporter '" + name + "' (known: " + known + ", none)");
    }
    auto exporter = (*factory)(context);
    if (!exporter) return exporter.error();
    out.push_back(std::move(*exporter));
  }
  return out;
}

}  // namespace gw
