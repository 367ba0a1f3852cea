// The provider registry (src/providers/provider_registry.h) with the
// built-in providers the build registers, and its start-up errors. Each
// provider's translation is tested in its own folder.
#include "providers/provider_registry.h"

#include "config/settings.h"
#include "gw/config_source.h"
#include "gw/setting_table.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace gw {
namespace {

ProviderRegistry builtins() {
  ProviderRegistry registry;
  registerBuiltinProviders(registry);
  return registry;
}

ProviderRegistry created(std::map<std::string, std::string> env, std::string_view default_provider = "openai") {
  ProviderRegistry registry = builtins();
  auto st = registry.create(ConfigSource(std::move(env), {}), default_provider);
  EXPECT_TRUE(st) << st.error().message;
  return registry;
}

std::string createError(ProviderRegistry& registry, std::map<std::string, std::string> env,
                        std::string_view default_provider = "openai") {
  auto st = registry.create(ConfigSource(std::move(env), {}), default_provider);
  return st ? std::string("(no error)") : st.error().message;
}

// A provider that serves nothing, for registrations made by the tests.
class NamedProvider final : public Provider {
 public:
  explicit NamedProvider(std::string name) : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  Result<UpstreamRequest> prepare(const ClientRequest&) const override {
    return Error::badRequest("test", "not a real provider");
  }
  std::unique_ptr<ResponseHandler> respond(const ClientRequest&, const UpstreamResponseHead&,
                                           std::size_t) const override {
    return nullptr;
  }

 private:
  std::string name_;
};

ProviderRegistration named(std::string name, std::string provider_name) {
  return {name, {},
          [name, provider_name](const ConfigSource&) -> Result<ConfiguredProvider> {
            ProviderConfig config;
            config.name = name;
            return ConfiguredProvider{config, std::make_unique<NamedProvider>(provider_name)};
          },
          "openai"};
}

TEST(ProviderRegistry, FindsEveryBuiltInProviderByItsName) {
  ProviderRegistry registry = created({{"VLLM_BASE_URL", "http://127.0.0.1:8000/v1"},
                                       {"AZURE_OPENAI_ENDPOINT", "https://myres.openai.azure.com"}});
  EXPECT_EQ(registry.names(),
            (std::vector<std::string>{"anthropic", "azure", "bedrock", "cerebras", "deepseek", "fireworks", "gemini",
                                      "groq", "mistral", "ollama", "openai", "openrouter", "perplexity", "together",
                                      "vllm", "xai"}));
  for (const auto& name : registry.names()) {
    EXPECT_EQ(registry.notConfigured(name), "") << name;
    const Provider* provider = registry.find(name);
    ASSERT_NE(provider, nullptr) << name;
    EXPECT_EQ(provider->name(), name);
    ASSERT_NE(registry.config(name), nullptr) << name;
    EXPECT_EQ(registry.config(name)->name, name);
    EXPECT_FALSE(registry.settings(name).empty()) << name << " registered no settings table";
  }
  EXPECT_EQ(registry.find("nosuch"), nullptr);
  EXPECT_EQ(registry.config("nosuch"), nullptr);
  EXPECT_TRUE(registry.settings("nosuch").empty());
}

// A provider's base URL variable: {NAME}_BASE_URL, or Azure's
// AZURE_OPENAI_ENDPOINT (the name Azure's own tools use).
bool isBaseUrlVariable(std::string_view name) { return name.ends_with("_BASE_URL") || name == "AZURE_OPENAI_ENDPOINT"; }

// Each built-in provider's table: well-formed lines, each variable declared
// by one provider only, and a base URL variable whose default is the URL
// the provider uses when it is unset (--help shows what applies).
TEST(ProviderRegistry, EverySettingsTableIsWellFormedAndItsBaseUrlDefaultIsTheDefault) {
  ProviderRegistry registry = created({});
  // vllm and azure have no default base URL (their tables say so with an
  // empty default).
  EXPECT_EQ(registry.config("vllm")->base_url, "");
  EXPECT_EQ(registry.config("azure")->base_url, "");
  std::map<std::string_view, std::string> owner;
  for (const auto& name : registry.names()) {
    int base_urls = 0;
    for (const auto& s : registry.settings(name)) {
      EXPECT_TRUE(isSettingName(s.name)) << name << ": " << s.name;
      EXPECT_FALSE(s.description.empty()) << s.name;
      EXPECT_EQ(s.description.find('\n'), std::string_view::npos) << s.name;
      EXPECT_EQ(s.default_text.find('\n'), std::string_view::npos) << s.name;
      auto [it, fresh] = owner.emplace(s.name, name);
      EXPECT_TRUE(fresh) << s.name << " is declared by " << it->second << " and " << name;
      if (isBaseUrlVariable(s.name)) {
        ++base_urls;
        EXPECT_EQ(s.default_text, registry.config(name)->base_url) << s.name;
      }
    }
    EXPECT_EQ(base_urls, 1) << name;
  }
  EXPECT_EQ(registry.config("openai")->base_url, "https://api.openai.com/v1");
  EXPECT_EQ(registry.config("groq")->base_url, "https://api.groq.com/openai/v1");
  EXPECT_EQ(registry.config("bedrock")->base_url, "https://bedrock-runtime.{region}.amazonaws.com");
  EXPECT_EQ(registry.config("gemini")->base_url, "https://generativelanguage.googleapis.com");
  EXPECT_EQ(registry.config("mistral")->base_url, "https://api.mistral.ai/v1");
  EXPECT_EQ(registry.config("deepseek")->base_url, "https://api.deepseek.com/v1");
  EXPECT_EQ(registry.config("xai")->base_url, "https://api.x.ai/v1");
  EXPECT_EQ(registry.config("openrouter")->base_url, "https://openrouter.ai/api/v1");
  EXPECT_EQ(registry.config("cerebras")->base_url, "https://api.cerebras.ai/v1");
  EXPECT_EQ(registry.config("perplexity")->base_url, "https://api.perplexity.ai");
  EXPECT_EQ(registry.config("ollama")->base_url, "http://127.0.0.1:11434/v1");
}

// vLLM serves wherever its operator started it: without VLLM_BASE_URL the
// name is known but the provider cannot serve, and says what to set.
TEST(ProviderRegistry, VllmWithoutItsBaseUrlIsKnownButNotConfigured) {
  ProviderRegistry registry = created({});
  EXPECT_EQ(registry.find("vllm"), nullptr);
  ASSERT_NE(registry.config("vllm"), nullptr);
  EXPECT_EQ(registry.notConfigured("vllm"), "is not configured: set VLLM_BASE_URL");
  EXPECT_EQ(registry.notConfigured("openai"), "");
  ProviderRegistry as_default = builtins();
  EXPECT_EQ(createError(as_default, {}, "vllm"), "DEFAULT_PROVIDER: provider 'vllm' is not configured: set VLLM_BASE_URL");
  ProviderRegistry configured = builtins();
  EXPECT_EQ(createError(configured, {{"VLLM_BASE_URL", "http://127.0.0.1:8000/v1"}, {"VLLM_API_KEY", "k"}}, "vllm"),
            "(no error)");
  EXPECT_EQ(configured.config("vllm")->env_api_key, "k");
}

// Azure's endpoint is the resource's own: without it azure is known but
// cannot serve; its api-version has a default and is checked.
TEST(ProviderRegistry, AzureWithoutItsEndpointIsKnownButNotConfigured) {
  ProviderRegistry registry = created({});
  EXPECT_EQ(registry.find("azure"), nullptr);
  EXPECT_EQ(registry.notConfigured("azure"), "is not configured: set AZURE_OPENAI_ENDPOINT");
  ProviderRegistry configured = created({{"AZURE_OPENAI_ENDPOINT", "https://myres.openai.azure.com/"},
                                         {"AZURE_OPENAI_API_KEY", "k-azure"}});
  ASSERT_NE(configured.find("azure"), nullptr);
  EXPECT_EQ(configured.config("azure")->env_api_key, "k-azure");
  EXPECT_TRUE(configured.hasOperatorCredentials());
  ProviderRegistry bad = builtins();
  EXPECT_EQ(createError(bad, {{"AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com"},
                              {"AZURE_OPENAI_API_VERSION", "2024-10-21&x"}})
                .rfind("AZURE_OPENAI_API_VERSION: ", 0),
            0u);
}

TEST(ProviderRegistry, ProvidersReadTheirVariables) {
  ProviderRegistry registry = created({{"OPENAI_API_KEY", "sk-o"},
                                       {"GROQ_BASE_URL", "http://127.0.0.1:8080/v1"},
                                       {"ANTHROPIC_API_KEY", "sk-a"},
                                       {"GEMINI_API_KEY", "AIza-g"},
                                       {"AWS_ACCESS_KEY_ID", "AKID"},
                                       {"AWS_SECRET_ACCESS_KEY", "secret"},
                                       {"AWS_SESSION_TOKEN", "token"},
                                       {"AWS_DEFAULT_REGION", "eu-west-1"}});
  EXPECT_EQ(registry.config("openai")->env_api_key, "sk-o");
  EXPECT_EQ(registry.config("groq")->base_url, "http://127.0.0.1:8080/v1");
  EXPECT_EQ(registry.config("groq")->env_api_key, "");
  EXPECT_EQ(registry.config("anthropic")->env_api_key, "sk-a");
  EXPECT_EQ(registry.config("gemini")->env_api_key, "AIza-g");
  const ProviderConfig* bedrock = registry.config("bedrock");
  EXPECT_EQ(bedrock->env_api_key, "");
  EXPECT_EQ(bedrock->env_aws_access_key_id, "AKID");
  EXPECT_EQ(bedrock->env_aws_secret_access_key, "secret");
  EXPECT_EQ(bedrock->env_aws_session_token, "token");
  EXPECT_EQ(bedrock->env_aws_region, "eu-west-1") << "AWS_DEFAULT_REGION when AWS_REGION is unset";
  EXPECT_EQ(created({{"AWS_REGION", "us-west-2"}, {"AWS_DEFAULT_REGION", "eu-west-1"}}).config("bedrock")->env_aws_region,
            "us-west-2");
}

TEST(ProviderRegistry, OperatorCredentials) {
  EXPECT_FALSE(created({}).hasOperatorCredentials());
  EXPECT_TRUE(created({{"TOGETHER_API_KEY", "k"}}).hasOperatorCredentials());
  EXPECT_TRUE(created({{"AWS_SECRET_ACCESS_KEY", "s"}}).hasOperatorCredentials());
  EXPECT_FALSE(created({{"AWS_ACCESS_KEY_ID", "AKID"}}).hasOperatorCredentials()) << "a key id alone signs nothing";
}

// Every base URL variable of every provider, given a bad value, stops
// start-up with an error that starts with that variable's name.
TEST(ProviderRegistry, BadBaseUrlIsAnErrorNamingItsVariable) {
  std::vector<std::string> variables;
  for (const auto& name : builtins().names())
    for (const auto& s : builtins().settings(name))
      if (isBaseUrlVariable(s.name)) variables.emplace_back(s.name);
  ASSERT_EQ(variables.size(), builtins().names().size());
  for (const auto& variable : variables) {
    for (const char* bad : {"ftp://x", "not a url", "https://user:pw@host/", "https://host/v1?q=1", "http://:0/"}) {
      ProviderRegistry registry = builtins();
      std::string error = createError(registry, {{variable, bad}});
      EXPECT_EQ(error.rfind(variable + ": ", 0), 0u) << variable << "=" << bad << ": " << error;
    }
  }
  // Bedrock's "{region}" is filled per request: the URL is checked with a
  // sample region in its place.
  ProviderRegistry registry = builtins();
  EXPECT_EQ(createError(registry, {{"BEDROCK_BASE_URL", "http://127.0.0.1:9000/{region}"}}), "(no error)");
}

TEST(ProviderRegistry, UnknownDefaultProviderIsAStartUpErrorNamingIt) {
  ProviderRegistry registry = builtins();
  std::string error = createError(registry, {}, "nope");
  EXPECT_EQ(error.rfind("DEFAULT_PROVIDER: ", 0), 0u) << error;
  EXPECT_NE(error.find("'nope'"), std::string::npos) << error;

  // As start-up reads it: DEFAULT_PROVIDER is lower-cased by loadSettings().
  auto settings = loadSettings(ConfigSource({{"DEFAULT_PROVIDER", "Anthropic"}}, {}), 1);
  ASSERT_TRUE(settings);
  ProviderRegistry known = builtins();
  EXPECT_EQ(createError(known, {}, settings->default_provider), "(no error)");
}

TEST(ProviderRegistry, OneNameRegisteredTwiceIsAStartUpError) {
  ProviderRegistry registry;
  registry.add(named("twice", "twice"));
  registry.add(named("once", "once"));
  registry.add(named("twice", "twice"));
  EXPECT_EQ(registry.names(), (std::vector<std::string>{"once", "twice"}));
  std::string error = createError(registry, {}, "once");
  EXPECT_EQ(error.rfind("DEFAULT_PROVIDER: ", 0), 0u) << error;
  EXPECT_NE(error.find("two providers are registered as 'twice'"), std::string::npos) << error;

  // The built-in folders registered twice: every name is a duplicate.
  ProviderRegistry builtin_twice = builtins();
  registerBuiltinProviders(builtin_twice);
  EXPECT_NE(createError(builtin_twice, {}).find("two providers are registered as"), std::string::npos);
}

TEST(ProviderRegistry, NamesAreLowerCaseAndProvidersAnswerToTheirs) {
  for (const char* bad : {"OpenAI", "a/b", "", "sp ace"}) {
    ProviderRegistry registry;
    registry.add(named(bad, bad));
    std::string error = createError(registry, {}, bad);
    EXPECT_EQ(error.rfind("DEFAULT_PROVIDER: ", 0), 0u) << error;
    EXPECT_NE(error.find("lower case"), std::string::npos) << error;
  }
  ProviderRegistry ok;
  ok.add(named("team-llama.v2_x", "team-llama.v2_x"));
  EXPECT_EQ(createError(ok, {}, "team-llama.v2_x"), "(no error)");

  ProviderRegistry liar;
  liar.add(named("mine", "someone-else"));
  std::string error = createError(liar, {}, "mine");
  EXPECT_NE(error.find("names itself 'someone-else'"), std::string::npos) << error;
}

TEST(ProviderRegistry, AFactoryErrorStopsCreation) {
  ProviderRegistry registry;
  registry.add({"broken", {},
                [](const ConfigSource&) -> Result<ConfiguredProvider> {
                  return configError("BROKEN_URL", "scheme must be http or https");
                },
                "openai"});
  EXPECT_EQ(createError(registry, {}, "broken"), "BROKEN_URL: scheme must be http or https");
}


// Each provider's registration says which LiteLLM provider its prices are
// listed under; the registry hands it on in the provider's configuration.
TEST(ProviderRegistry, EveryBuiltInProviderDeclaresItsPricingName) {
  ProviderRegistry registry = created({{"VLLM_BASE_URL", "http://127.0.0.1:8000/v1"}});
  const std::map<std::string, std::string> expected = {
      {"anthropic", "anthropic"}, {"azure", "azure"},           {"bedrock", "bedrock"},
      {"cerebras", "cerebras"},
      {"deepseek", "deepseek"},   {"fireworks", "fireworks_ai"}, {"gemini", "gemini"},
      {"groq", "groq"},           {"mistral", "mistral"},       {"ollama", "ollama"},
      {"openai", "openai"},       {"openrouter", "openrouter"}, {"perplexity", "perplexity"},
      {"together", "together_ai"}, {"vllm", "hosted_vllm"},     {"xai", "xai"}};
  for (const auto& name : registry.names()) {
    ASSERT_TRUE(expected.contains(name)) << name << ": add its pricing name here";
    EXPECT_EQ(registry.config(name)->pricing_provider, expected.at(name)) << name;
    EXPECT_TRUE(registry.config(name)->upstream_headers.empty()) << name;
  }
  // Not configured, still priced the same way once it is.
  EXPECT_EQ(created({}).config("vllm")->pricing_provider, "hosted_vllm");
}

TEST(ProviderRegistry, APricingNameIsRequiredAndWellFormed) {
  for (const char* bad : {"", "Groq", "fireworks ai", "a/b"}) {
    ProviderRegistration r = named("p", "p");
    r.pricing_provider = bad;
    ProviderRegistry registry;
    registry.add(r);
    std::string error = createError(registry, {}, "p");
    EXPECT_EQ(error, "DEFAULT_PROVIDER: provider 'p' registers the pricing name '" + std::string(bad) +
                         "': it must be lower case (a-z, 0-9, '-', '_', '.'), at most 64 characters");
  }
}

// --- Custom providers: the config file's providers: list. -----------------

// The registry made from the built-ins and `yaml` (a config file), with
// `env` as the environment; or the one start-up error line, from the
// file's parser or from create().
struct Made {
  ProviderRegistry registry;
  std::string error;
};

Made fromFile(std::string_view yaml, std::map<std::string, std::string> env = {},
              std::string_view default_provider = "openai") {
  Made out{builtins(), ""};
  auto file = ConfigSource::parseYaml(yaml);
  if (!file) {
    out.error = file.error().message;
    return out;
  }
  auto st = out.registry.create(ConfigSource(std::move(env), file->values, file->providers), default_provider);
  if (!st) out.error = st.error().message;
  return out;
}

std::string fileError(std::string_view yaml, std::map<std::string, std::string> env = {}) {
  std::string error = fromFile(yaml, std::move(env)).error;
  return error.empty() ? "(no error)" : error;
}

constexpr std::string_view kTeamFile = R"(
port: 4000
providers:
  - name: team-llama
    type: openai_compatible
    base_url: http://10.0.0.5:8000/v1
    api_key_env: TEAM_LLAMA_KEY
    headers: {X-Team: research, x-budget: "42"}
  - name: fast-llama
    type: openai_compatible
    base_url: https://llama.example.com/openai/v1
    pricing_provider: groq
  - name: team-claude
    type: anthropic
    base_url: http://127.0.0.1:9100
    api_key_env: TEAM_CLAUDE_KEY
  - name: team-gemini
    type: gemini
    base_url: http://127.0.0.1:9200
  - name: eu-bedrock
    type: bedrock
    base_url: https://bedrock-runtime.{region}.example.com
  - name: team-azure
    type: azure
    base_url: https://team.openai.azure.com
    api_key_env: TEAM_AZURE_KEY
)";

const std::map<std::string, std::string> kTeamEnv = {{"TEAM_LLAMA_KEY", "sk-llama-0123456789"},
                                                     {"TEAM_CLAUDE_KEY", "sk-ant-team-0123456789"},
                                                     {"TEAM_AZURE_KEY", "azure-team-0123456789"},
                                                     {"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
                                                     {"AWS_SECRET_ACCESS_KEY", "aws-secret"},
                                                     {"AWS_REGION", "eu-west-1"}};

TEST(CustomProviders, EachIsMadeByItsTypeAndSelectableByItsName) {
  Made made = fromFile(kTeamFile, kTeamEnv);
  ASSERT_EQ(made.error, "") << made.error;
  const ProviderRegistry& r = made.registry;
  EXPECT_EQ(r.types(), (std::vector<std::string>{"anthropic", "azure", "bedrock", "gemini", "openai_compatible"}));

  const ProviderConfig* llama = r.config("team-llama");
  ASSERT_NE(llama, nullptr);
  ASSERT_NE(r.find("team-llama"), nullptr);
  EXPECT_EQ(r.find("team-llama")->name(), "team-llama");
  EXPECT_EQ(llama->name, "team-llama");
  EXPECT_EQ(llama->base_url, "http://10.0.0.5:8000/v1");
  EXPECT_EQ(llama->env_api_key, "sk-llama-0123456789") << "read from the variable api_key_env names";
  EXPECT_EQ(llama->api_key_setting, "TEAM_LLAMA_KEY");
  EXPECT_EQ(llama->pricing_provider, "openai") << "the type's pricing name";
  EXPECT_EQ(llama->upstream_headers,
            (std::vector<std::pair<std::string, std::string>>{{"x-team", "research"}, {"x-budget", "42"}}));

  const ProviderConfig* fast = r.config("fast-llama");
  ASSERT_NE(fast, nullptr);
  EXPECT_EQ(fast->env_api_key, "") << "no api_key_env: no operator key";
  EXPECT_EQ(fast->api_key_setting, "providers[1].api_key_env");
  EXPECT_EQ(fast->pricing_provider, "groq") << "the entry's pricing_provider wins over the type's";
  EXPECT_TRUE(fast->upstream_headers.empty());

  const ProviderConfig* claude = r.config("team-claude");
  ASSERT_NE(claude, nullptr);
  EXPECT_EQ(r.find("team-claude")->name(), "team-claude");
  EXPECT_EQ(claude->env_api_key, "sk-ant-team-0123456789");
  EXPECT_EQ(claude->pricing_provider, "anthropic");
  EXPECT_EQ(r.config("anthropic")->env_api_key, "") << "the built-in anthropic keeps its own (unset) key";

  EXPECT_EQ(r.find("team-gemini")->name(), "team-gemini");
  EXPECT_EQ(r.config("team-gemini")->pricing_provider, "gemini");

  const ProviderConfig* bedrock = r.config("eu-bedrock");
  ASSERT_NE(bedrock, nullptr);
  EXPECT_EQ(r.find("eu-bedrock")->name(), "eu-bedrock");
  EXPECT_EQ(bedrock->base_url, "https://bedrock-runtime.{region}.example.com");
  EXPECT_EQ(bedrock->env_aws_access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(bedrock->env_aws_secret_access_key, "aws-secret");
  EXPECT_EQ(bedrock->env_aws_region, "eu-west-1");
  EXPECT_EQ(bedrock->pricing_provider, "bedrock");

  const ProviderConfig* azure = r.config("team-azure");
  ASSERT_NE(azure, nullptr);
  ASSERT_NE(r.find("team-azure"), nullptr) << "an endpoint of its own: configured";
  EXPECT_EQ(r.find("team-azure")->name(), "team-azure");
  EXPECT_EQ(azure->base_url, "https://team.openai.azure.com");
  EXPECT_EQ(azure->env_api_key, "azure-team-0123456789");
  EXPECT_EQ(azure->pricing_provider, "azure");

  // Selectable like a built-in one; --help (names()) lists built-ins only.
  auto selectable = r.providerNames();
  for (const char* name : {"team-llama", "fast-llama", "team-claude", "team-gemini", "eu-bedrock", "team-azure", "openai"})
    EXPECT_NE(std::find(selectable.begin(), selectable.end(), name), selectable.end()) << name;
  EXPECT_TRUE(std::is_sorted(selectable.begin(), selectable.end()));
  EXPECT_EQ(selectable.size(), r.names().size() + 6);
  auto builtin = r.names();
  EXPECT_EQ(std::find(builtin.begin(), builtin.end(), "team-llama"), builtin.end());
  EXPECT_TRUE(r.hasOperatorCredentials());
}

TEST(CustomProviders, ACustomProviderCanBeTheDefaultAndTheOperatorKeyCounts) {
  Made made = fromFile(R"(
providers:
  - {name: local, type: openai_compatible, base_url: "http://127.0.0.1:8000/v1"}
)",
                       {}, "local");
  EXPECT_EQ(made.error, "");
  EXPECT_FALSE(made.registry.hasOperatorCredentials()) << "a local model without a key spends nobody's";
  Made keyed = fromFile("providers: [{name: k, type: anthropic, base_url: 'http://h', api_key_env: K}]",
                        {{"K", "secret-key-123"}}, "k");
  EXPECT_EQ(keyed.error, "");
  EXPECT_TRUE(keyed.registry.hasOperatorCredentials());
  // Without the list, no custom provider; providers has no environment form.
  Made none = fromFile("port: 1\nproviders:\n", {{"PROVIDERS", "x"}});
  EXPECT_EQ(none.error, "");
  EXPECT_EQ(none.registry.providerNames(), none.registry.names());
}

// Every mistake in an entry stops start-up with one line that names the
// entry's field; a later entry's mistake names that entry.
TEST(CustomProviders, EveryBadEntryIsAnErrorNamingItsField) {
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::string known_keys = "(known: name, type, base_url, api_key_env, headers, pricing_provider)";
  const std::string name_rule = "it must be lower case (a-z, 0-9, '-', '_', '.'), at most 64 characters";
  const Case cases[] = {
      {"providers: {name: x}", "providers: must be a list of providers"},
      {"providers: x", "providers: must be a list of providers"},
      {"providers: [just-a-name]",
       "providers[0]: must be a mapping (name, type, base_url, api_key_env, headers, pricing_provider)"},
      {"providers: [[a, b]]",
       "providers[0]: must be a mapping (name, type, base_url, api_key_env, headers, pricing_provider)"},
      {"providers: [{type: openai_compatible, base_url: 'http://h'}]", "providers[0].name: missing"},
      {"providers: [{name: a, base_url: 'http://h'}]", "providers[0].type: missing"},
      {"providers: [{name: a, type: openai_compatible}]", "providers[0].base_url: missing"},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h', api_key: sk-live-123}]",
       "providers[0].api_key: unknown key " + known_keys},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h', header: {x: y}}]",
       "providers[0].header: unknown key " + known_keys},
      {"providers: [{name: [a], type: openai_compatible, base_url: 'http://h'}]", "providers[0].name: must be a string"},
      {"providers: [{name: , type: openai_compatible, base_url: 'http://h'}]", "providers[0].name: must be a string"},
      {"providers: [{name: a, type: {x: 1}, base_url: 'http://h'}]", "providers[0].type: must be a string"},
      {"providers: [{name: Team, type: openai_compatible, base_url: 'http://h'}]",
       "providers[0].name: 'Team' is not a provider name: " + name_rule},
      {"providers: [{name: 'a/b', type: openai_compatible, base_url: 'http://h'}]",
       "providers[0].name: 'a/b' is not a provider name: " + name_rule},
      {"providers: [{name: '', type: openai_compatible, base_url: 'http://h'}]",
       "providers[0].name: '' is not a provider name: " + name_rule},
      {"providers: [{name: " + std::string(65, 'a') + ", type: openai_compatible, base_url: 'http://h'}]",
       "providers[0].name: '" + std::string(64, 'a') + "...' is not a provider name: " + name_rule},
      {"providers: [{name: openai, type: openai_compatible, base_url: 'http://h'}]",
       "providers[0].name: 'openai' is a built-in provider: a custom provider needs a name of its own"},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h'}, "
       "{name: b, type: anthropic, base_url: 'http://h'}, {name: a, type: gemini, base_url: 'http://h'}]",
       "providers[2].name: 'a' is already the name of providers[0]"},
      {"providers: [{name: a, type: azure_openai, base_url: 'http://h'}]",
       "providers[0].type: unknown type 'azure_openai' (known: anthropic, azure, bedrock, gemini, openai_compatible)"},
      {"providers: [{name: a, type: OpenAI_Compatible, base_url: 'http://h'}]",
       "providers[0].type: unknown type 'OpenAI_Compatible' (known: anthropic, azure, bedrock, gemini, openai_compatible)"},
      {"providers: [{name: a, type: openai_compatible, base_url: 'ftp://h'}]",
       "providers[0].base_url: scheme must be http or https"},
      {"providers: [{name: a, type: anthropic, base_url: ''}]", "providers[0].base_url: not an absolute URL"},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h'}, {name: b, type: gemini, base_url: 'not a url'}]",
       "providers[1].base_url: not an absolute URL"},
      {"providers: [{name: a, type: bedrock, base_url: 'https://user:pw@h'}]",
       "providers[0].base_url: credentials in URLs are not allowed"},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h', api_key_env: UNSET_KEY}]",
       "providers[0].api_key_env: UNSET_KEY is not set"},
      {"providers: [{name: a, type: gemini, base_url: 'http://h', api_key_env: EMPTY_KEY}]",
       "providers[0].api_key_env: EMPTY_KEY is not set"},
      {"providers: [{name: a, type: anthropic, base_url: 'http://h', api_key_env: '1KEY'}]",
       "providers[0].api_key_env: '1KEY' is not a variable name (letters, digits and '_', not starting with a digit)"},
      {"providers: [{name: a, type: bedrock, base_url: 'http://h', api_key_env: SET_KEY}]",
       "providers[0].api_key_env: not used by type bedrock, which signs with AWS_ACCESS_KEY_ID and "
       "AWS_SECRET_ACCESS_KEY"},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h', pricing_provider: 'Groq!'}]",
       "providers[0].pricing_provider: 'Groq!' is not a LiteLLM provider name: " + name_rule},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h', pricing_provider: ''}]",
       "providers[0].pricing_provider: '' is not a LiteLLM provider name: " + name_rule},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h', headers: [x-a]}]",
       "providers[0].headers: must be a mapping of header names to strings"},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h', headers: x-a}]",
       "providers[0].headers: must be a mapping of header names to strings"},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h', headers: {x-a: {b: c}}}]",
       "providers[0].headers.x-a: must be a string"},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h', headers: {x-a: }}]",
       "providers[0].headers.x-a: must be a string"},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h', headers: {x-a: [1, 2]}}]",
       "providers[0].headers.x-a: must be a string"},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h', headers: {'bad name': v}}]",
       "providers[0].headers: 'bad name' is not a header name (letters, digits and !#$%&'*+-.^_`|~)"},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h', headers: {'': v}}]",
       "providers[0].headers: '' is not a header name (letters, digits and !#$%&'*+-.^_`|~)"},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h', headers: {\"x-a\\nx-b\": v}}]",
       "providers[0].headers: 'x-a?x-b' is not a header name (letters, digits and !#$%&'*+-.^_`|~)"},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h', headers: {x-a: \"v\\r\\nx-evil: 1\"}}]",
       "providers[0].headers.x-a: the value holds a control character (such as CR, LF or NUL)"},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h', headers: {x-a: \"v\\0\"}}]",
       "providers[0].headers.x-a: the value holds a control character (such as CR, LF or NUL)"},
      {"providers: [{name: a, type: openai_compatible, base_url: 'http://h', headers: {X-Team: a, x-team: b}}]",
       "providers[0].headers.x-team: given twice (header names are case-insensitive)"},
  };
  for (const auto& c : cases) {
    std::map<std::string, std::string> env = {{"EMPTY_KEY", ""}, {"SET_KEY", "secret-value-123"}};
    EXPECT_EQ(fileError(c.yaml, env), c.error) << c.yaml;
  }
  // A key given twice in one entry (YAML parsers differ on whether that is
  // an error; it never passes silently).
  EXPECT_EQ(fileError("providers: [{name: a, name: b, type: openai_compatible, base_url: 'http://h'}]"),
            "providers[0].name: given twice");
  // The value of a misspelt key (often a key itself) is never shown.
  EXPECT_EQ(fileError("providers: [{name: a, type: openai_compatible, base_url: 'http://h', api_key: sk-live-123}]")
                .find("sk-live-123"),
            std::string::npos);
}

// A header a provider writes for credentials or framing can never be
// configured, whatever its case.
TEST(CustomProviders, CredentialAndFramingHeadersAreRefused) {
  for (const char* name : {"authorization", "Authorization", "proxy-authorization", "x-api-key", "api-key",
                           "X-Goog-Api-Key", "host", "Host", "content-length", "transfer-encoding", "connection",
                           "keep-alive", "te", "trailer", "upgrade", "expect", "content-type", "content-encoding",
                           "accept", "accept-encoding", "cookie", "x-amz-date", "X-Amz-Security-Token",
                           "x-amz-content-sha256", "x-aws-access-key-id", "x-gateway-key", "x-provider"}) {
    std::string yaml = "providers: [{name: a, type: anthropic, base_url: 'http://h', headers: {'" + std::string(name) +
                       "': 'secret-value'}}]";
    std::string error = fileError(yaml);
    EXPECT_EQ(error, "providers[0].headers." + std::string(name) +
                         ": the gateway or the provider sets this header itself (credentials, framing or content "
                         "negotiation): it cannot be configured")
        << name;
    EXPECT_EQ(error.find("secret-value"), std::string::npos) << "a header's value is never shown";
  }
  // Other names are the operator's, including a provider's own optional ones.
  Made made = fromFile("providers: [{name: a, type: anthropic, base_url: 'http://h', headers: "
                       "{anthropic-beta: 'tools-2024', x-amzn-trace-id: t, OpenAI-Organization: org-1, X-Tab: \"a\\tb\"}}]");
  ASSERT_EQ(made.error, "");
  EXPECT_EQ(made.registry.config("a")->upstream_headers,
            (std::vector<std::pair<std::string, std::string>>{
                {"anthropic-beta", "tools-2024"}, {"x-amzn-trace-id", "t"}, {"openai-organization", "org-1"}, {"x-tab", "a\tb"}}));
}

TEST(CustomProviders, TheSectionIsBounded) {
  std::string many = "providers:\n";
  for (std::size_t i = 0; i <= kMaxProviderEntries; ++i)
    many += "  - {name: p" + std::to_string(i) + ", type: openai_compatible, base_url: 'http://h'}\n";
  EXPECT_EQ(fileError(many), "providers: more than 256 providers");

  std::string headers = "providers: [{name: a, type: openai_compatible, base_url: 'http://h', headers: {";
  for (std::size_t i = 0; i <= kMaxProviderHeaders; ++i) headers += (i ? ", " : "") + ("x-h" + std::to_string(i)) + ": v";
  EXPECT_EQ(fileError(headers + "}}]"), "providers[0].headers: more than 64 headers");

  const std::string long_value(kMaxProviderValueBytes + 1, 'v');
  EXPECT_EQ(fileError("providers: [{name: a, type: openai_compatible, base_url: 'http://h', headers: {x-a: " +
                      long_value + "}}]"),
            "providers[0].headers.x-a: longer than 8192 bytes");
  EXPECT_EQ(fileError("providers: [{name: a, type: openai_compatible, base_url: 'http://" + long_value + "'}]"),
            "providers[0].base_url: longer than 8192 bytes");
  // At the bounds: accepted.
  std::string most = "providers:\n";
  for (std::size_t i = 0; i < kMaxProviderEntries; ++i)
    most += "  - {name: p" + std::to_string(i) + ", type: openai_compatible, base_url: 'http://h'}\n";
  EXPECT_EQ(fileError(most), "(no error)");
}

// Creating the custom providers is a function of the configuration: run
// again on another configuration, it makes that configuration's providers
// and leaves the registry as it was.
TEST(CustomProviders, MakingThemAgainDependsOnTheConfigurationOnly) {
  Made made = fromFile(kTeamFile, kTeamEnv);
  ASSERT_EQ(made.error, "");
  auto file = ConfigSource::parseYaml("providers: [{name: other, type: gemini, base_url: 'http://10.1.1.1'}]");
  ASSERT_TRUE(file);
  auto again = made.registry.makeCustomProviders(ConfigSource({}, file->values, file->providers));
  ASSERT_TRUE(again) << again.error().message;
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].config.name, "other");
  EXPECT_EQ((*again)[0].provider->name(), "other");
  EXPECT_EQ((*again)[0].config.pricing_provider, "gemini");
  EXPECT_EQ(made.registry.find("other"), nullptr);
  EXPECT_NE(made.registry.find("team-llama"), nullptr);
  auto same = made.registry.makeCustomProviders(ConfigSource(kTeamEnv, {}, ConfigSource::parseYaml(kTeamFile)->providers));
  ASSERT_TRUE(same);
  EXPECT_EQ(same->size(), 6u);
}

// A folder's type registration: a type registered twice, a malformed type
// name or pricing name, and a factory whose provider answers to another
// name all stop start-up.
TEST(CustomProviders, TypeRegistrationsAreChecked) {
  auto type = [](std::string name, std::string pricing, std::string answers_to) {
    return ProviderTypeRegistration{
        std::move(name), std::move(pricing),
        [answers_to](const ProviderEntry& entry, const ConfigSource&) -> Result<ConfiguredProvider> {
          ProviderConfig config;
          config.name = entry.name;
          return ConfiguredProvider{config, std::make_unique<NamedProvider>(answers_to.empty() ? entry.name : answers_to)};
        }};
  };
  auto create = [](ProviderRegistry& registry, std::string_view yaml) {
    auto file = ConfigSource::parseYaml(yaml);
    EXPECT_TRUE(file);
    auto st = registry.create(ConfigSource({}, file->values, file->providers), "base");
    return st ? std::string("(no error)") : st.error().message;
  };
  constexpr std::string_view kOne = "providers: [{name: mine, type: local, base_url: 'http://h'}]";
  {
    ProviderRegistry registry;
    registry.add(named("base", "base"));
    registerProviders(registry, {type("local", "openai", ""), type("local", "openai", "")});
    EXPECT_EQ(create(registry, kOne), "DEFAULT_PROVIDER: two provider types are registered as 'local'");
  }
  {
    ProviderRegistry registry;
    registry.add(named("base", "base"));
    registry.addType(type("Local", "openai", ""));
    EXPECT_EQ(create(registry, kOne),
              "DEFAULT_PROVIDER: a provider type is registered as 'Local': a type is lower case (a-z, 0-9, '_')");
  }
  {
    ProviderRegistry registry;
    registry.add(named("base", "base"));
    registry.addType(type("local", "", ""));
    EXPECT_NE(create(registry, kOne).find("provider type 'local' registers the pricing name ''"), std::string::npos);
  }
  {
    ProviderRegistry registry;
    registry.add(named("base", "base"));
    registry.addType(type("local", "openai", "someone-else"));
    EXPECT_EQ(create(registry, kOne),
              "providers[0].type: the factory of type 'local' made a provider that does not answer to 'mine'");
  }
  {
    // Braces and expressions in one GW_REGISTER_PROVIDER list.
    ProviderRegistry registry;
    registerProviders(registry, {{"base", {}, [](const ConfigSource&) -> Result<ConfiguredProvider> {
                                    ProviderConfig config;
                                    config.name = "base";
                                    return ConfiguredProvider{config, std::make_unique<NamedProvider>("base")};
                                  }, "openai"},
                                 type("local", "openai", "")});
    EXPECT_EQ(create(registry, kOne), "(no error)");
    EXPECT_EQ(registry.find("mine")->name(), "mine");
    EXPECT_EQ(registry.types(), (std::vector<std::string>{"local"}));
  }
}

}  // namespace
}  // namespace gw
