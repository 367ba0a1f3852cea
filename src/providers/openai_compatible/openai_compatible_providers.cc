// The OpenAI-compatible providers. Each is one settings table (its
// {NAME}_API_KEY, then its {NAME}_BASE_URL whose default is the provider's
// public base URL) and one entry of GW_REGISTER_PROVIDER at the end of this
// file, with its LiteLLM name; they all share OpenAiCompatibleProvider, as
// do the config file's custom providers of type openai_compatible.
#include "providers/openai_compatible/openai_compatible_provider.h"

#include "gw/config_source.h"
#include "gw/provider_plugin.h"
#include "gw/setting_table.h"
#include "providers/common/provider_settings.h"

#include <iterator>
#include <memory>
#include <string>
#include <string_view>

namespace gw::providers::openai_compatible {

namespace {

constexpr std::string_view kApiKey = "used when the client sends no key";
constexpr std::string_view kBaseUrl = "upstream base URL";

constexpr SettingDoc kOpenAi[] = {
    {"OPENAI_API_KEY", "", kApiKey},
    {"OPENAI_BASE_URL", "https://api.openai.com/v1", kBaseUrl},
};
constexpr SettingDoc kGroq[] = {
    {"GROQ_API_KEY", "", kApiKey},
    {"GROQ_BASE_URL", "https://api.groq.com/openai/v1", kBaseUrl},
};
constexpr SettingDoc kFireworks[] = {
    {"FIREWORKS_API_KEY", "", kApiKey},
    {"FIREWORKS_BASE_URL", "https://api.fireworks.ai/inference/v1", kBaseUrl},
};
constexpr SettingDoc kTogether[] = {
    {"TOGETHER_API_KEY", "", kApiKey},
    {"TOGETHER_BASE_URL", "https://api.together.xyz/v1", kBaseUrl},
};
constexpr SettingDoc kMistral[] = {
    {"MISTRAL_API_KEY", "", kApiKey},
    {"MISTRAL_BASE_URL", "https://api.mistral.ai/v1", kBaseUrl},
};
constexpr SettingDoc kDeepSeek[] = {
    {"DEEPSEEK_API_KEY", "", kApiKey},
    {"DEEPSEEK_BASE_URL", "https://api.deepseek.com/v1", kBaseUrl},
};
constexpr SettingDoc kXai[] = {
    {"XAI_API_KEY", "", kApiKey},
    {"XAI_BASE_URL", "https://api.x.ai/v1", kBaseUrl},
};
constexpr SettingDoc kOpenRouter[] = {
    {"OPENROUTER_API_KEY", "", kApiKey},
    {"OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1", kBaseUrl},
};
constexpr SettingDoc kCerebras[] = {
    {"CEREBRAS_API_KEY", "", kApiKey},
    {"CEREBRAS_BASE_URL", "https://api.cerebras.ai/v1", kBaseUrl},
};
constexpr SettingDoc kPerplexity[] = {
    {"PERPLEXITY_API_KEY", "", kApiKey},
    {"PERPLEXITY_BASE_URL", "https://api.perplexity.ai", kBaseUrl},
};
// Local servers: Ollama needs no key (one is sent when set, for a proxy in
// front of it); vLLM has no address anyone could guess, so it serves only
// once VLLM_BASE_URL is set.
constexpr SettingDoc kOllama[] = {
    {"OLLAMA_API_KEY", "", "sent when set (Ollama itself needs none)"},
    {"OLLAMA_BASE_URL", "http://127.0.0.1:11434/v1", kBaseUrl},
};
constexpr SettingDoc kVllm[] = {
    {"VLLM_API_KEY", "", "sent when set (vllm serve --api-key)"},
    {"VLLM_BASE_URL", "", "upstream base URL, e.g. http://127.0.0.1:8000/v1 (required to use vllm)"},
};

// The registration of the OpenAI-compatible provider `name` whose settings
// table is `Table` and whose LiteLLM name is `pricing_provider`.
template <const auto& Table>
ProviderRegistration openAiCompatible(std::string name, std::string pricing_provider,
                                      ApiKey api_key = ApiKey::kRequired) {
  ProviderFactory factory = [name, api_key](const ConfigSource& source) {
    return configureKeyedProvider<Table>(source, name, [api_key](const ProviderConfig& config) {
      return std::make_unique<OpenAiCompatibleProvider>(config, api_key);
    });
  };
  return ProviderRegistration{std::move(name), Table, std::move(factory), std::move(pricing_provider)};
}

// A custom provider of type openai_compatible. Its key is optional, as for
// a local server: without api_key_env the client's Authorization is
// forwarded when it sends one, and nothing when it does not.
Result<ConfiguredProvider> makeCustomProvider(const ProviderEntry& entry, const ConfigSource& source) {
  return configureCustomKeyedProvider(entry, source, [](const ProviderConfig& config) {
    return std::make_unique<OpenAiCompatibleProvider>(config, ApiKey::kOptional);
  });
}

}  // namespace

}  // namespace gw::providers::openai_compatible

GW_REGISTER_PROVIDER(openai_compatible,
                     openAiCompatible<kOpenAi>("openai", "openai"),
                     openAiCompatible<kGroq>("groq", "groq"),
                     openAiCompatible<kFireworks>("fireworks", "fireworks_ai"),
                     openAiCompatible<kTogether>("together", "together_ai"),
                     openAiCompatible<kMistral>("mistral", "mistral"),
                     openAiCompatible<kDeepSeek>("deepseek", "deepseek"),
                     openAiCompatible<kXai>("xai", "xai"),
                     openAiCompatible<kOpenRouter>("openrouter", "openrouter"),
                     openAiCompatible<kCerebras>("cerebras", "cerebras"),
                     openAiCompatible<kPerplexity>("perplexity", "perplexity"),
                     openAiCompatible<kOllama>("ollama", "ollama", ApiKey::kOptional),
                     openAiCompatible<kVllm>("vllm", "hosted_vllm", ApiKey::kOptional),
                     ProviderTypeRegistration{"openai_compatible", "openai", makeCustomProvider})
