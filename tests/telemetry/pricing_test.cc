#include "telemetry/pricing.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace gw {
namespace {

const PricingTable& shipped() {
  static const PricingTable table = [] {
    auto t = PricingTable::load(std::string(GW_SOURCE_DIR) + "/data/model_prices_and_context_window.json");
    EXPECT_TRUE(t) << (t ? "" : t.error().message);
    return t ? std::move(*t) : PricingTable();
  }();
  return table;
}

Usage usage(std::int64_t in, std::int64_t out) {
  Usage u;
  u.input = in;
  u.output = out;
  u.total = in + out;
  return u;
}

TEST(Pricing, ShippedTableLoads) { EXPECT_GT(shipped().size(), 1000u); }

TEST(Pricing, OpenAiModelByBareName) {
  // gpt-4o: $2.50 / 1M input, $10 / 1M output.
  auto c = shipped().cost("openai", "gpt-4o", usage(1000, 500));
  ASSERT_TRUE(c);
  EXPECT_NEAR(*c, 1000 * 2.5e-6 + 500 * 1e-5, 1e-12);
}

TEST(Pricing, CachedInputTokensUseTheCacheReadPrice) {
  Usage u = usage(1000, 0);
  u.cached_input = 400;  // included in input
  auto c = shipped().cost("openai", "gpt-4o", u);
  ASSERT_TRUE(c);
  EXPECT_NEAR(*c, 600 * 2.5e-6 + 400 * 1.25e-6, 1e-12);
}

TEST(Pricing, GroqModelByProviderPrefix) {
  ASSERT_NE(shipped().find("groq", "llama-3.1-8b-instant"), nullptr);
  auto c = shipped().cost("groq", "llama-3.1-8b-instant", usage(1'000'000, 1'000'000));
  ASSERT_TRUE(c);
  EXPECT_NEAR(*c, 0.05 + 0.08, 1e-9);
}

TEST(Pricing, AnthropicModelWithCacheCreation) {
  // claude-sonnet-4-20250514: $3 in, $15 out, cache read $0.30, cache write $3.75 per 1M.
  Usage u = usage(10'000, 1'000);
  u.cached_input = 2'000;
  u.cache_creation = 3'000;
  auto c = shipped().cost("anthropic", "claude-sonnet-4-20250514", u);
  ASSERT_TRUE(c);
  EXPECT_NEAR(*c, 5'000 * 3e-6 + 2'000 * 3e-7 + 3'000 * 3.75e-6 + 1'000 * 1.5e-5, 1e-12);
}

TEST(Pricing, ReasoningTokensUseTheirOwnPriceWhenListed) {
  // gemini-2.5-flash lists output_cost_per_reasoning_token; gpt-4o does not.
  Usage u = usage(0, 100);
  u.reasoning = 40;
  const ModelPrice* p = shipped().find("gemini", "gemini-2.5-flash");
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(p->reasoning);
  auto c = shipped().cost("gemini", "gemini-2.5-flash", u);
  ASSERT_TRUE(c);
  EXPECT_NEAR(*c, 60 * p->output + 40 * *p->reasoning, 1e-12);
  auto o = shipped().cost("openai", "gpt-4o", u);
  EXPECT_NEAR(*o, 100 * 1e-5, 1e-12);
}

TEST(Pricing, UnknownModelIsNullNeverAGuess) {
  EXPECT_FALSE(shipped().cost("openai", "gpt-does-not-exist", usage(10, 10)));
  EXPECT_FALSE(shipped().cost("groq", "", usage(10, 10)));
  EXPECT_FALSE(shipped().cost("openai", "gpt-4o", Usage{}));  // no tokens known
}

TEST(Pricing, LookupOrder) {
  auto table = PricingTable::parse(R"({
    "sample_spec": {"input_cost_per_token": 9, "output_cost_per_token": 9},
    "m": {"litellm_provider": "openai", "input_cost_per_token": 1, "output_cost_per_token": 1},
    "together_ai/m": {"litellm_provider": "together_ai", "input_cost_per_token": 2, "output_cost_per_token": 2},
    "us-east-1/x": {"litellm_provider": "bedrock_converse", "input_cost_per_token": 3, "output_cost_per_token": 3},
    "x": {"litellm_provider": "vertex_ai", "input_cost_per_token": 4, "output_cost_per_token": 4},
    "noprice": {"litellm_provider": "openai", "mode": "chat"}
  })");
  ASSERT_TRUE(table);
  // Looked up by LiteLLM's provider name, which each provider registers
  // (together's is together_ai: tests/providers/provider_registry_test.cc).
  EXPECT_DOUBLE_EQ(table->find("together_ai", "m")->input, 2);  // {prefix}/{model} first
  EXPECT_DOUBLE_EQ(table->find("openai", "m")->input, 1);
  // {model} whose litellm_provider matches (also "{region}/{model}") beats a bare {model} of another provider.
  EXPECT_DOUBLE_EQ(table->find("bedrock", "x")->input, 3);
  EXPECT_DOUBLE_EQ(table->find("openai", "x")->input, 4);
  EXPECT_DOUBLE_EQ(table->find("groq", "m")->input, 1);  // then {model} whatever its provider
  EXPECT_EQ(table->find("openai", "sample_spec"), nullptr);
  EXPECT_EQ(table->find("openai", "noprice"), nullptr);
  EXPECT_DOUBLE_EQ(table->find("", "m")->input, 1) << "no provider: {model} alone";
}

// Token counts come from the upstream's JSON (fuzz_pricing feeds any int64):
// input - cached_input used to overflow int64 (UB) for extreme values.
TEST(Pricing, ExtremeTokenCountsDoNotOverflow) {
  Usage u;
  u.input = std::numeric_limits<std::int64_t>::min();
  u.cached_input = std::numeric_limits<std::int64_t>::max();
  u.output = std::numeric_limits<std::int64_t>::max();
  u.reasoning = std::numeric_limits<std::int64_t>::min();
  auto c = shipped().cost("openai", "gpt-4o", u);
  ASSERT_TRUE(c);
  EXPECT_TRUE(std::isfinite(*c));
  EXPECT_GT(*c, 0);
  // Negative counts count as zero.
  auto none = shipped().cost("openai", "gpt-4o", usage(-5, -7));
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 0);
}

TEST(Pricing, NonFiniteCostIsUnknownNotInfinity) {
  // PRICING_FILE is operator input: a typo such as 1e308 must not put
  // Infinity (invalid JSON) into the record.
  auto t = PricingTable::parse(R"({"m":{"input_cost_per_token":1e308,"output_cost_per_token":1e308}})");
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->cost("openai", "m", usage(1'000'000, 1'000'000)));
  EXPECT_TRUE(t->cost("openai", "m", usage(0, 0)));
}

TEST(Pricing, MalformedTableIsAConfigError) {
  auto bad = PricingTable::parse("[1,2");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().message.starts_with("PRICING_FILE")) << bad.error().message;
  auto missing = PricingTable::load("/nonexistent/prices.json");
  ASSERT_FALSE(missing);
  EXPECT_TRUE(missing.error().message.starts_with("PRICING_FILE")) << missing.error().message;
}

TEST(Pricing, DefaultPathIsFoundWithoutTheWorkingDirectory) {
  auto path = PricingTable::defaultPath();
  ASSERT_FALSE(path.empty());
  EXPECT_TRUE(path.ends_with("model_prices_and_context_window.json")) << path;
}

}  // namespace
}  // namespace gw
