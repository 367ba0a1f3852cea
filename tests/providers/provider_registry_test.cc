// The provider registry (src/providers/provider_registry.h) with the
// built-in providers the build registers, and its start-up errors. Each
// provider's translation is tested in its own folder.
#include "providers/provider_registry.h"

#include "config/settings.h"
#include "gw/config_source.h"
#include "gw/setting_table.h"

#include <gtest/gtest.h>

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
  return {name, {}, [name, provider_name](const ConfigSource&) -> Result<ConfiguredProvider> {
            ProviderConfig config;
            config.name = name;
            return ConfiguredProvider{config, std::make_unique<NamedProvider>(provider_name)};
          }};
}

TEST(ProviderRegistry, FindsEveryBuiltInProviderByItsName) {
  ProviderRegistry registry = created({{"VLLM_BASE_URL", "http://127.0.0.1:8000/v1"}});
  EXPECT_EQ(registry.names(),
            (std::vector<std::string>{"anthropic", "bedrock", "cerebras", "deepseek", "fireworks", "gemini", "groq",
                                      "mistral", "ollama", "openai", "openrouter", "perplexity", "together", "vllm",
                                      "xai"}));
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

// Each built-in provider's table: well-formed lines, each variable declared
// by one provider only, and a base URL variable whose default is the URL
// the provider uses when it is unset (--help shows what applies).
TEST(ProviderRegistry, EverySettingsTableIsWellFormedAndItsBaseUrlDefaultIsTheDefault) {
  ProviderRegistry registry = created({});
  // vllm has no default base URL (its table says so with an empty default).
  EXPECT_EQ(registry.config("vllm")->base_url, "");
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
      if (s.name.ends_with("_BASE_URL")) {
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
      if (s.name.ends_with("_BASE_URL")) variables.emplace_back(s.name);
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
  registry.add({"broken", {}, [](const ConfigSource&) -> Result<ConfiguredProvider> {
                  return configError("BROKEN_URL", "scheme must be http or https");
                }});
  EXPECT_EQ(createError(registry, {}, "broken"), "BROKEN_URL: scheme must be http or https");
}

}  // namespace
}  // namespace gw
