#include "exporters/otlp/otlp_genai.h"

#include <array>
#include <utility>

namespace gw::exporters::otlp {

std::optional<std::string_view> genAiOperationName(const std::optional<std::string>& method,
                                                   const std::optional<std::string>& path) {
  if (!method || !path || *method != "POST") return std::nullopt;
  std::string_view p(*path);
  p = p.substr(0, p.find('?'));
  if (p == "/v1/chat/completions" || p == "/v1/messages" || p == "/v1/responses") return "chat";
  if (p == "/v1/completions") return "text_completion";
  if (p == "/v1/embeddings") return "embeddings";
  if (p.starts_with("/v1/models/") && (p.ends_with(":generateContent") || p.ends_with(":streamGenerateContent")))
    return "generate_content";
  return std::nullopt;
}

std::string_view genAiProviderName(std::string_view provider) {
  // The gateway's providers that gen_ai.provider.name's registry names
  // (registry.yaml); the others keep their own name.
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kWellKnown{{
      {"openai", "openai"},
      {"anthropic", "anthropic"},
      {"bedrock", "aws.bedrock"},
      {"gemini", "gcp.gemini"},  // generativelanguage.googleapis.com, the AI Studio API
      {"azure", "azure.ai.openai"},
      {"groq", "groq"},
      {"mistral", "mistral_ai"},
      {"deepseek", "deepseek"},
      {"xai", "x_ai"},
      {"perplexity", "perplexity"},
  }};
  for (const auto& [name, value] : kWellKnown)
    if (name == provider) return value;
  return provider;
}

}  // namespace gw::exporters::otlp
