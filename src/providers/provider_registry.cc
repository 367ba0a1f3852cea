#include "providers/provider_registry.h"

#include "providers/anthropic/anthropic_provider.h"
#include "providers/bedrock/bedrock_provider.h"
#include "providers/openai_compatible/openai_compatible_provider.h"

namespace gw {

ProviderRegistry ProviderRegistry::create(const std::map<std::string, ProviderConfig>& configs) {
  ProviderRegistry r;
  for (const auto& [name, config] : configs) {
    std::unique_ptr<Provider> p;
    if (name == "openai" || name == "groq" || name == "fireworks" || name == "together")
      p = std::make_unique<OpenAiCompatibleProvider>(config);
    else if (name == "anthropic")
      p = std::make_unique<AnthropicProvider>(config);
    else if (name == "bedrock")
      p = std::make_unique<BedrockProvider>(config);
    if (p) r.providers_.emplace(name, std::move(p));
    r.configs_.emplace(name, config);
  }
  return r;
}

const Provider* ProviderRegistry::find(std::string_view name) const {
  auto it = providers_.find(name);
  return it == providers_.end() ? nullptr : it->second.get();
}

const ProviderConfig* ProviderRegistry::config(std::string_view name) const {
  auto it = configs_.find(name);
  return it == configs_.end() ? nullptr : &it->second;
}

}  // namespace gw
