// Model prices from a LiteLLM-format table (model_prices_and_context_window.json)
// and the cost of one request.
//
// Loaded once at start-up (PRICING_FILE, else the shipped table found next to
// the executable); immutable and safe to read from any thread afterwards.
// Only the per-token prices are kept (a hash map of a few thousand entries),
// not the 1.5 MB document.
#pragma once

#include "gw/error.h"
#include "gw/provider.h"

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gw {

struct ModelPrice {
  std::string litellm_provider;
  double input = 0;   // USD per input token
  double output = 0;  // USD per output token
  std::optional<double> cache_read;      // per cached input token
  std::optional<double> cache_creation;  // per input token written to the cache
  std::optional<double> reasoning;       // per reasoning token
};

class PricingTable {
 public:
  PricingTable() = default;

  // Parses LiteLLM JSON text. Entries without a numeric input or output
  // price (and "sample_spec") are skipped. Error when the text is not a JSON
  // object.
  static Result<PricingTable> parse(std::string_view json_text);
  // Reads and parses `path`; errors name PRICING_FILE.
  static Result<PricingTable> load(const std::string& path);
  // The shipped table's path: PRICING_FILE's default. Looks, in order, at
  // <exe dir>/../share/magicapi-gateway/, <exe dir>/../../data/,
  // <exe dir>/../../../data/ (build trees), <exe dir>/data/, the installed
  // path and the source tree compiled in; "" when none exists.
  static std::string defaultPath();

  // The price entry for `model` served by the provider LiteLLM calls
  // `litellm_provider` (openai, groq, fireworks_ai, together_ai, anthropic,
  // bedrock, ...: each provider's registration declares its own,
  // ProviderConfig::pricing_provider): "{litellm_provider}/{model}" first,
  // then "{model}" whose litellm_provider matches, then "{model}". nullptr
  // when unknown.
  const ModelPrice* find(std::string_view litellm_provider, std::string_view model) const;

  // Cost in USD of `usage`, or nullopt when the model is unknown or no token
  // count is known. Usage.input includes cached and cache-creation tokens and
  // Usage.output includes reasoning tokens (OpenAI's convention; providers
  // that report them separately add them up when filling Usage).
  std::optional<double> cost(std::string_view litellm_provider, std::string_view model, const Usage& usage) const;

  std::size_t size() const { return prices_.size(); }

  // Whether `matches` holds for some model the table prices: a key as
  // written ("gpt-4o", "bedrock/anthropic.claude-...") or a key's part
  // after its provider prefix. For checking a route's glob at start-up.
  template <class Predicate>
  bool anyModel(Predicate matches) const {
    for (const auto& [key, price] : prices_) {
      if (matches(std::string_view(key))) return true;
      if (auto slash = key.find('/'); slash != std::string::npos && matches(std::string_view(key).substr(slash + 1)))
        return true;
    }
    return false;
  }

 private:
  std::unordered_map<std::string, ModelPrice> prices_;
  // "{model}" -> keys "{prefix}/{model}", for step 2 of find().
  std::unordered_map<std::string, std::vector<std::string>> by_suffix_;
};

}  // namespace gw
