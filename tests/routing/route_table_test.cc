// The routes of the config file: the `routes:` section as parsed
// (src/common/route_entries.cc), the table built from it against the
// providers (src/routing/route_table.h): its start-up errors, matching,
// fallback chains, the order of each strategy, cooldowns and the moving
// average of time to first byte.
#include "routing/route_table.h"

#include "gw/config_source.h"
#include "providers/provider_registry.h"
#include "routing/routing_config.h"
#include "telemetry/pricing.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace gw::routing {
namespace {

const std::map<std::string, std::string> kEnv = {{"OPENAI_API_KEY", "sk-main"},
                                                 {"GROQ_API_KEY", "gsk-main"},
                                                 {"ANTHROPIC_API_KEY", "ak-main"},
                                                 {"OPENAI_KEY_2", "sk-second"}};

std::vector<RouteEntry> parse(const std::string& yaml) {
  auto file = ConfigSource::parseYaml(yaml);
  EXPECT_TRUE(file) << (file ? "" : file.error().message);
  return file ? file->routes : std::vector<RouteEntry>{};
}

std::string parseError(const std::string& yaml) {
  auto file = ConfigSource::parseYaml(yaml);
  return file ? std::string("(no error)") : file.error().message;
}

// A routing snapshot of `yaml` (routes and providers) on kEnv, as
// start-up makes it; the price table knows "gpt-4o" and "gpt-4o-mini".
Result<std::shared_ptr<const RoutingConfig>> load(const std::string& yaml,
                                                  std::map<std::string, std::string> env = kEnv) {
  auto file = ConfigSource::parseYaml(yaml);
  if (!file) return file.error();
  ConfigSource source(env, file->values, file->providers, file->routes);
  ProviderRegistry registrations;
  registerBuiltinProviders(registrations);
  static const PricingTable pricing = *PricingTable::parse(R"({
    "gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": 2.5e-6, "output_cost_per_token": 1e-5},
    "gpt-4o-mini": {"litellm_provider": "openai", "input_cost_per_token": 1.5e-7, "output_cost_per_token": 6e-7}})");
  return loadRoutingConfig(registrations, source, "openai", &pricing, nullptr);
}

std::string loadError(const std::string& yaml, std::map<std::string, std::string> env = kEnv) {
  auto c = load(yaml, std::move(env));
  return c ? std::string("(no error)") : c.error().message;
}

bool startsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// A client request without headers.
struct NoHeaders final : HeaderLookup {
  std::optional<std::string_view> get(std::string_view) const override { return std::nullopt; }
  void forEach(const std::function<void(std::string_view, std::string_view)>&) const override {}
};

TEST(RouteEntries, TheSpecExampleParsesWithEveryValue) {
  auto routes = parse(R"(
routes:
  - model: smart
    strategy: weighted
    targets:
      - {provider: openai, model: gpt-4o, weight: 3}
      - {provider: azure, model: gpt4o-prod, weight: 1}
      - {provider: openai, model: gpt-4o, api_key_env: OPENAI_KEY_2}
    retry: {attempts: 3, on: [429, 500, 502, 503, 504, connect_error, timeout], backoff_ms: 200}
    fallbacks: [claude]
    cooldown: {failures: 3, window_ms: 10000, for_ms: 30000}
  - model: claude
    targets: [{provider: anthropic, model: claude-sonnet-4-5}]
)");
  ASSERT_EQ(routes.size(), 2u);
  const RouteEntry& r = routes[0];
  EXPECT_EQ(r.field, "routes[0]");
  EXPECT_EQ(r.model, "smart");
  EXPECT_EQ(r.strategy, "weighted");
  ASSERT_EQ(r.targets.size(), 3u);
  EXPECT_EQ(r.targets[0].field, "routes[0].targets[0]");
  EXPECT_EQ(r.targets[0].provider, "openai");
  EXPECT_EQ(r.targets[0].model, "gpt-4o");
  EXPECT_EQ(r.targets[0].weight, 3);
  EXPECT_EQ(r.targets[2].api_key_env, "OPENAI_KEY_2");
  EXPECT_EQ(r.targets[2].weight, 1);
  EXPECT_EQ(r.attempts, 3);
  EXPECT_EQ(r.retry_statuses, (std::vector<int>{429, 500, 502, 503, 504}));
  EXPECT_TRUE(r.retry_connect_error);
  EXPECT_TRUE(r.retry_timeout);
  EXPECT_EQ(r.backoff_ms, 200);
  EXPECT_EQ(r.fallbacks, (std::vector<std::string>{"claude"}));
  EXPECT_EQ(r.cooldown_failures, 3);
  EXPECT_EQ(r.cooldown_window_ms, 10000);
  EXPECT_EQ(r.cooldown_for_ms, 30000);
}

TEST(RouteEntries, LeftOutKeysTakeTheDocumentedDefaults) {
  auto routes = parse("routes:\n  - model: m\n    targets: [{provider: openai}]\n");
  ASSERT_EQ(routes.size(), 1u);
  const RouteEntry& r = routes[0];
  EXPECT_EQ(r.strategy, "weighted");
  EXPECT_EQ(r.targets[0].weight, 1);
  EXPECT_FALSE(r.targets[0].model);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(r.retry_statuses, (std::vector<int>{429, 500, 502, 503, 504}));
  EXPECT_TRUE(r.retry_connect_error && r.retry_timeout);
  EXPECT_EQ(r.backoff_ms, 100);
  EXPECT_EQ(r.max_retry_after_ms, 10000);
  EXPECT_TRUE(r.fallbacks.empty());
  EXPECT_EQ(r.cooldown_failures, 3);
  EXPECT_EQ(r.cooldown_window_ms, 10000);
  EXPECT_EQ(r.cooldown_for_ms, 30000);
}

TEST(RouteEntries, AnOnListReplacesTheDefaultConditions) {
  auto routes = parse("routes:\n  - model: m\n    targets: [{provider: openai}]\n    retry: {on: [503]}\n");
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].retry_statuses, (std::vector<int>{503}));
  EXPECT_FALSE(routes[0].retry_connect_error);
  EXPECT_FALSE(routes[0].retry_timeout);
}

TEST(RouteEntries, ShapeErrorsNameTheirField) {
  const std::string head = "routes:\n  - model: m\n    targets: [{provider: openai}]\n";
  struct Case {
    std::string yaml, field;
  } cases[] = {
      {"routes: {a: 1}\n", "routes: must be a list"},
      {"routes: [5]\n", "routes[0]: must be a mapping"},
      {"routes:\n  - targets: [{provider: openai}]\n", "routes[0].model: missing"},
      {"routes:\n  - model: m\n", "routes[0].targets: missing"},
      {"routes:\n  - model: m\n    targets: []\n", "routes[0].targets: must be a non-empty list"},
      {"routes:\n  - model: m\n    targets: [{model: x}]\n", "routes[0].targets[0].provider: missing"},
      {"routes:\n  - model: m\n    targets: [{provider: openai, weight: 0}]\n",
       "routes[0].targets[0].weight: must be a number greater than 0"},
      {"routes:\n  - model: m\n    targets: [{provider: openai, weight: -2}]\n",
       "routes[0].targets[0].weight: must be a number greater than 0"},
      {"routes:\n  - model: m\n    targets: [{provider: openai, weight: heavy}]\n",
       "routes[0].targets[0].weight: must be a number"},
      {"routes:\n  - model: m\n    targets: [{provider: openai, wieght: 2}]\n",
       "routes[0].targets[0].wieght: unknown key"},
      {head + "    strategy: fastest\n", "routes[0].strategy: unknown strategy 'fastest'"},
      {head + "    retri: {attempts: 2}\n", "routes[0].retri: unknown key"},
      {head + "    retry: {attempts: 0}\n", "routes[0].retry.attempts: must be an integer from 1 to 10"},
      {head + "    retry: {attempts: two}\n", "routes[0].retry.attempts: must be an integer from 1 to 10"},
      {head + "    retry: {on: [200]}\n", "routes[0].retry.on[0]: must be an HTTP error status"},
      {head + "    retry: {on: [sometimes]}\n", "routes[0].retry.on[0]: must be an HTTP error status"},
      {head + "    retry: {backoff_ms: -1}\n", "routes[0].retry.backoff_ms: must be an integer"},
      {head + "    cooldown: {failures: 0}\n", "routes[0].cooldown.failures: must be an integer"},
      {head + "    fallbacks: claude\n", "routes[0].fallbacks: must be a list"},
      {head + "    model: again\n", "routes[0].model: given twice"},
      {head + "routes: []\n", "routes: given twice"},
  };
  for (const auto& c : cases) {
    const std::string error = parseError(c.yaml);
    EXPECT_TRUE(startsWith(error, c.field)) << c.yaml << "\n-> " << error;
  }
}

TEST(RouteEntries, TheSectionIsBounded) {
  std::string yaml = "routes:\n";
  for (std::size_t i = 0; i <= kMaxRouteEntries; ++i)
    yaml += "  - {model: m" + std::to_string(i) + ", targets: [{provider: openai}]}\n";
  EXPECT_TRUE(startsWith(parseError(yaml), "routes: more than 1024 routes"));
}

TEST(RouteTable, ReferencesAreCheckedAtStartUpNamingTheField) {
  EXPECT_TRUE(startsWith(
      loadError(
          "routes:\n  - {model: a, targets: [{provider: openai}]}\n  - {model: b, targets: [{provider: opnai}]}\n"),
      "routes[1].targets[0].provider: unknown provider \"opnai\" (known: "));
  EXPECT_TRUE(startsWith(loadError("routes:\n  - {model: a, targets: [{provider: openai}], fallbacks: [nowhere]}\n"),
                         "routes[0].fallbacks[0]: unknown route 'nowhere'"));
  EXPECT_TRUE(startsWith(loadError("routes:\n  - {model: a, targets: [{provider: openai}], fallbacks: [b]}\n"
                                   "  - {model: b, targets: [{provider: groq}], fallbacks: [a]}\n"),
                         "routes[1].fallbacks[0]: a cycle of fallbacks: a -> b -> a"));
  EXPECT_TRUE(startsWith(loadError("routes:\n  - {model: a, targets: [{provider: openai}], fallbacks: [a]}\n"),
                         "routes[0].fallbacks[0]: a cycle of fallbacks: a -> a"));
  EXPECT_TRUE(startsWith(loadError("routes:\n  - {model: a, targets: [{provider: openai}]}\n"
                                   "  - {model: a, targets: [{provider: groq}]}\n"),
                         "routes[1].model: 'a' is already the model of routes[0]"));
  EXPECT_TRUE(startsWith(loadError("routes:\n  - {model: 'claude-9*', targets: [{provider: anthropic}]}\n"),
                         "routes[0].model: the glob 'claude-9*' matches no model"));
  EXPECT_TRUE(startsWith(loadError("routes:\n  - {model: a, targets: [{provider: openai, api_key_env: UNSET_KEY}]}\n"),
                         "routes[0].targets[0].api_key_env: UNSET_KEY is not set"));
  EXPECT_TRUE(
      startsWith(loadError("routes:\n  - {model: a, targets: [{provider: bedrock, api_key_env: OPENAI_KEY_2}]}\n"),
                 "routes[0].targets[0].api_key_env: not used by type bedrock"));
  EXPECT_TRUE(startsWith(loadError("routes:\n  - {model: a, targets: [{provider: vllm}]}\n"),
                         "routes[0].targets[0].provider: provider 'vllm' is not configured"));
}

TEST(RouteTable, AGlobMayMatchAPricedModelOrATargetModel) {
  EXPECT_EQ(loadError("routes:\n  - {model: 'gpt-4o*', targets: [{provider: openai}]}\n"), "(no error)");
  EXPECT_EQ(loadError("routes:\n  - {model: 'team-?', targets: [{provider: openai, model: team-a}]}\n"), "(no error)");
  EXPECT_EQ(loadError("routes:\n  - {model: '*', targets: [{provider: openai}]}\n"), "(no error)");
}

TEST(RouteTable, GlobMatching) {
  EXPECT_TRUE(globMatch("gpt-4o*", "gpt-4o"));
  EXPECT_TRUE(globMatch("gpt-4o*", "gpt-4o-mini"));
  EXPECT_FALSE(globMatch("gpt-4o*", "gpt-4"));
  EXPECT_TRUE(globMatch("*-mini", "gpt-4o-mini"));
  EXPECT_TRUE(globMatch("g?t-*o", "gpt-4o"));
  EXPECT_FALSE(globMatch("g?t", "gt"));
  EXPECT_TRUE(globMatch("*", ""));
  EXPECT_TRUE(globMatch("a*b*c", "axxbyyc"));
  EXPECT_FALSE(globMatch("a*b*c", "axxbyy"));
  EXPECT_TRUE(globMatch("exact", "exact"));
  EXPECT_FALSE(globMatch("exact", "exactly"));
  // Long runs of stars stay linear.
  EXPECT_FALSE(globMatch(std::string(200, '*') + "b", std::string(10000, 'a')));
}

TEST(RouteTable, AnExactNameWinsOverGlobsAndTheFirstGlobWins) {
  auto config = load(
      "routes:\n"
      "  - {model: 'gpt-4o*', targets: [{provider: openai}]}\n"
      "  - {model: 'gpt-*', targets: [{provider: groq}]}\n"
      "  - {model: gpt-4o-mini, targets: [{provider: anthropic}]}\n");
  ASSERT_TRUE(config) << config.error().message;
  const RouteTable& routes = (*config)->routes;
  EXPECT_EQ(routes.match("gpt-4o-mini")->field, "routes[2]");
  EXPECT_EQ(routes.match("gpt-4o")->field, "routes[0]");
  EXPECT_EQ(routes.match("gpt-3.5")->field, "routes[1]");
  EXPECT_EQ(routes.match("claude"), nullptr);
}

TEST(RouteTable, FallbacksChainDepthFirstEachRouteOnce) {
  auto config = load(
      "routes:\n"
      "  - {model: a, targets: [{provider: openai}], fallbacks: [b, c]}\n"
      "  - {model: b, targets: [{provider: groq}], fallbacks: [c]}\n"
      "  - {model: c, targets: [{provider: anthropic}]}\n");
  ASSERT_TRUE(config) << config.error().message;
  const Route* a = (*config)->routes.match("a");
  ASSERT_EQ(a->chain.size(), 3u);
  EXPECT_EQ(a->chain[0]->model, "a");
  EXPECT_EQ(a->chain[1]->model, "b");
  EXPECT_EQ(a->chain[2]->model, "c");
}

TEST(RouteTable, ATargetWithItsOwnKeyIsItsOwnProvider) {
  auto config = load(
      "routes:\n  - {model: a, strategy: ordered, targets: [{provider: openai}, {provider: openai, api_key_env: "
      "OPENAI_KEY_2}]}\n");
  ASSERT_TRUE(config) << config.error().message;
  const Route* a = (*config)->routes.match("a");
  ASSERT_EQ(a->targets.size(), 2u);
  EXPECT_EQ(a->targets[0].config->env_api_key, "sk-main");
  EXPECT_EQ(a->targets[1].config->env_api_key, "sk-second");
  EXPECT_EQ(a->targets[1].config->base_url, a->targets[0].config->base_url);
  EXPECT_EQ(a->targets[1].config->pricing_provider, "openai");
  EXPECT_NE(a->targets[0].provider, a->targets[1].provider);
  // The second target's requests carry its own key.
  ClientRequest creq;
  creq.method = "POST";
  creq.target = creq.path = "/v1/chat/completions";
  creq.body = R"({"model":"a","messages":[]})";
  creq.json_body = true;
  creq.model = "a";
  creq.config = a->targets[1].config;
  NoHeaders no_headers;
  creq.headers = &no_headers;
  auto up = a->targets[1].provider->prepare(creq);
  ASSERT_TRUE(up) << up.error().message;
  bool found = false;
  for (const auto& [name, value] : up->headers)
    if (name == "authorization") found = value == "Bearer sk-second";
  EXPECT_TRUE(found);
}

std::vector<Candidate> plan(const Route& route, std::minstd_rand& rng, Clock::time_point now = Clock::now()) {
  return planAttempts(route, now, rng, [](const Target&) { return true; });
}

TEST(RouteTable, OrderedTriesTargetsInFileOrderThenFallbacks) {
  auto config = load(
      "routes:\n"
      "  - {model: a, strategy: ordered, targets: [{provider: openai}, {provider: groq}], fallbacks: [b]}\n"
      "  - {model: b, targets: [{provider: anthropic}]}\n");
  ASSERT_TRUE(config) << config.error().message;
  std::minstd_rand rng(1);
  auto p = plan(*(*config)->routes.match("a"), rng);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].target->provider_name, "openai");
  EXPECT_EQ(p[1].target->provider_name, "groq");
  EXPECT_EQ(p[2].target->provider_name, "anthropic");
  EXPECT_EQ(p[2].route->model, "b");
}

TEST(RouteTable, WeightedFirstPicksFollowTheWeights) {
  auto config =
      load("routes:\n  - {model: a, targets: [{provider: openai, weight: 3}, {provider: groq, weight: 1}]}\n");
  ASSERT_TRUE(config) << config.error().message;
  const Route& a = *(*config)->routes.match("a");
  std::minstd_rand rng(42);
  const int n = 100000;
  int first_openai = 0;
  for (int i = 0; i < n; ++i) {
    auto p = plan(a, rng);
    ASSERT_EQ(p.size(), 2u);
    EXPECT_NE(p[0].target, p[1].target);
    if (p[0].target->provider_name == "openai") ++first_openai;
  }
  // Binomial(n, 0.75): 5 standard deviations.
  const double sd = std::sqrt(n * 0.75 * 0.25);
  EXPECT_NEAR(first_openai, n * 0.75, 5 * sd);
}

TEST(RouteTable, LeastBusyAndLowestLatencyPreferTheIdleAndTheFast) {
  auto config = load(
      "routes:\n"
      "  - {model: busy, strategy: least_busy, targets: [{provider: openai}, {provider: groq}]}\n"
      "  - {model: fast, strategy: lowest_latency, targets: [{provider: openai}, {provider: groq}]}\n");
  ASSERT_TRUE(config) << config.error().message;
  std::minstd_rand rng(7);
  const Route& busy = *(*config)->routes.match("busy");
  busy.targets[0].stats->in_flight = 5;
  for (int i = 0; i < 100; ++i) EXPECT_EQ(plan(busy, rng)[0].target->provider_name, "groq");
  // Equally busy: both get picked.
  busy.targets[0].stats->in_flight = 0;
  int openai_first = 0;
  for (int i = 0; i < 1000; ++i) openai_first += plan(busy, rng)[0].target->provider_name == "openai";
  EXPECT_GT(openai_first, 350);
  EXPECT_LT(openai_first, 650);

  const Route& fast = *(*config)->routes.match("fast");
  // Unmeasured first: a target is measured before it can be judged.
  recordTimeToFirstByte(fast.targets[0], std::chrono::milliseconds(10));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(plan(fast, rng)[0].target->provider_name, "groq");
  recordTimeToFirstByte(fast.targets[1], std::chrono::milliseconds(500));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(plan(fast, rng)[0].target->provider_name, "openai");
  // The average follows the target: after a few slow answers it is slower.
  for (int i = 0; i < 20; ++i) recordTimeToFirstByte(fast.targets[0], std::chrono::seconds(2));
  EXPECT_EQ(plan(fast, rng)[0].target->provider_name, "groq");
}

TEST(RouteTable, RepeatedFailuresStartACooldownThatSkipsTheTarget) {
  auto config = load(
      "routes:\n  - {model: a, strategy: ordered, targets: [{provider: openai}, {provider: groq}],"
      " cooldown: {failures: 3, window_ms: 1000, for_ms: 5000}}\n");
  ASSERT_TRUE(config) << config.error().message;
  const Route& a = *(*config)->routes.match("a");
  const Target& openai = a.targets[0];
  std::vector<std::string> cooled;
  auto count = [&](const Target& t) { cooled.push_back(t.provider_name); };
  const auto t0 = Clock::now();
  // Failures spread wider than the window do not add up.
  recordFailure(openai, a.cooldown, t0, count);
  recordFailure(openai, a.cooldown, t0 + std::chrono::milliseconds(600), count);
  recordFailure(openai, a.cooldown, t0 + std::chrono::milliseconds(1200), count);
  EXPECT_FALSE(openai.coolingDown(t0 + std::chrono::milliseconds(1200)));
  EXPECT_TRUE(cooled.empty());
  // Three within the window do.
  recordFailure(openai, a.cooldown, t0 + std::chrono::milliseconds(1300), count);
  const auto when = t0 + std::chrono::milliseconds(1300);
  EXPECT_TRUE(openai.coolingDown(when));
  EXPECT_EQ(cooled, (std::vector<std::string>{"openai"}));
  std::minstd_rand rng(3);
  auto p = plan(a, rng, when + std::chrono::seconds(1));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].target->provider_name, "groq");
  // A failure while cooling down starts no second cooldown.
  recordFailure(openai, a.cooldown, when + std::chrono::seconds(1), count);
  recordFailure(openai, a.cooldown, when + std::chrono::seconds(1), count);
  EXPECT_EQ(cooled.size(), 1u);
  // It ends after for_ms.
  EXPECT_EQ(plan(a, rng, when + std::chrono::milliseconds(5001)).size(), 2u);
  // Every target cooling down: all are tried rather than none.
  const auto later = when + std::chrono::seconds(10);
  for (const Target& t : a.targets)
    for (int i = 0; i < 3; ++i) recordFailure(t, a.cooldown, later, count);
  EXPECT_EQ(plan(a, rng, later).size(), 2u);
}

TEST(RouteTable, TargetsThatCannotServeTheRequestAreLeftOut) {
  auto config = load("routes:\n  - {model: a, targets: [{provider: openai}, {provider: anthropic}]}\n");
  ASSERT_TRUE(config) << config.error().message;
  std::minstd_rand rng(5);
  auto p = planAttempts(*(*config)->routes.match("a"), Clock::now(), rng,
                        [](const Target& t) { return t.provider->servesMessagesApi(); });
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].target->provider_name, "anthropic");
}

TEST(RoutingConfig, CustomProvidersAreTargetsAndAReloadIsANewSnapshot) {
  const std::string yaml =
      "providers:\n  - {name: team, type: openai_compatible, base_url: 'http://127.0.0.1:9/v1'}\n"
      "routes:\n  - {model: a, targets: [{provider: team}]}\n";
  auto first = load(yaml);
  ASSERT_TRUE(first) << first.error().message;
  auto second = load(yaml);
  ASSERT_TRUE(second);
  EXPECT_NE(&(*first)->routes.match("a")->targets[0], &(*second)->routes.match("a")->targets[0]);
  EXPECT_EQ((*first)->routes.match("a")->targets[0].provider_name, "team");
}

}  // namespace
}  // namespace gw::routing

TEST(RetryPolicy, TheBackoffDoublesUpToItsCap) {
  using std::chrono::milliseconds;
  gw::routing::RetryPolicy p;
  p.backoff = milliseconds(100);
  EXPECT_EQ(p.backoffAfter(1), milliseconds(100));
  EXPECT_EQ(p.backoffAfter(2), milliseconds(200));
  EXPECT_EQ(p.backoffAfter(4), milliseconds(800));
  // The largest backoff_ms with the most attempts waits a minute, not hours.
  p.backoff = milliseconds(60000);
  for (int failed = 1; failed < 10; ++failed) EXPECT_EQ(p.backoffAfter(failed), milliseconds(60000)) << failed;
  p.backoff = milliseconds(40000);
  EXPECT_EQ(p.backoffAfter(1), milliseconds(40000));
  EXPECT_EQ(p.backoffAfter(2), gw::routing::RetryPolicy::kMaxBackoff);
  EXPECT_EQ(p.backoffAfter(9), gw::routing::RetryPolicy::kMaxBackoff);
  p.backoff = milliseconds(0);
  EXPECT_EQ(p.backoffAfter(9), milliseconds(0));
}
