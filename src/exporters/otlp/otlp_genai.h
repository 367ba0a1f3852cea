// The OpenTelemetry GenAI semantic-convention values the otlp exporter
// derives from a record (docs/exporters.md, "otlp"). Pure functions,
// callable from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gw::exporters::otlp {

// gen_ai.operation.name of a request, from its method and path: POST
// /v1/chat/completions, /v1/messages and /v1/responses are "chat",
// /v1/completions "text_completion", /v1/embeddings "embeddings", a Gemini
// generateContent path ("/v1/models/{model}:generateContent" or
// ":streamGenerateContent") "generate_content". Any other request (GET
// /v1/models, /v1/messages/count_tokens, a stored response...) is no GenAI
// operation: nullopt, and its telemetry carries no gen_ai.* attribute.
std::optional<std::string_view> genAiOperationName(const std::optional<std::string>& method,
                                                   const std::optional<std::string>& path);

// gen_ai.provider.name of a gateway provider: the conventions' well-known
// value when they have one for it ("bedrock" -> "aws.bedrock", "gemini" ->
// "gcp.gemini", "azure" -> "azure.ai.openai", "mistral" -> "mistral_ai",
// "xai" -> "x_ai", ...), else the gateway's own name (fireworks, together,
// openrouter, cerebras, ollama, vllm, custom providers): the registry
// allows custom values.
std::string_view genAiProviderName(std::string_view provider);

}  // namespace gw::exporters::otlp
