// Fuzzes the pricing table (src/telemetry/pricing.*): PRICING_FILE is
// operator input, but a malformed or hostile table must be refused or
// tolerated, never crash the gateway. Every model key of the document is
// then looked up for every provider, and its cost computed for usage
// figures from the input (token counts come from upstream JSON, so any
// int64 is possible, negative and huge ones included).
//
// Input: 6 x 8 bytes of usage figures (and presence bits), then the JSON text.
#include "fuzz_support.h"
#include "telemetry/pricing.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gw::fuzz::FuzzInput in(data, size);
  std::uint8_t present = in.byte();
  gw::Usage usage;
  std::optional<std::int64_t>* fields[] = {&usage.input,          &usage.output,         &usage.total,
                                           &usage.cached_input,   &usage.cache_creation, &usage.reasoning};
  for (int i = 0; i < 6; ++i) {
    // Small figures most of the time, any int64 when the high bit says so.
    std::int64_t v = in.byte() & 0x80 ? in.i64() : static_cast<std::int64_t>(in.u64() % 100000);
    if (present & (1u << i)) *fields[i] = v;
  }
  std::string_view text = in.rest();

  auto table = gw::PricingTable::parse(text);
  if (!table) return 0;

  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(text, ec);
  if (ec || !doc.is_object()) std::abort();  // parse() accepted what is not a JSON object
  // LiteLLM provider names, as providers register them, and one no entry has.
  static constexpr std::string_view kProviders[] = {"openai", "anthropic", "bedrock", "groq",
                                                    "fireworks_ai", "together_ai", "unknown"};
  std::size_t looked_up = 0;
  for (const auto& [key, value] : doc.as_object()) {
    if (++looked_up > 64) break;
    std::string_view model = key;
    for (std::string_view provider : kProviders) {
      // As the gateway asks: the model as the client named it, and without
      // a "provider/" prefix the router would have removed.
      for (std::string_view m : {model, model.substr(model.find('/') == std::string_view::npos ? 0 : model.find('/') + 1)}) {
        const gw::ModelPrice* price = table->find(provider, m);
        auto cost = table->cost(provider, m, usage);
        if (cost && !price) std::abort();  // a cost for an unknown model is a guess
        if (cost && !std::isfinite(*cost)) std::abort();  // would make the record invalid JSON
      }
    }
  }
  return 0;
}
