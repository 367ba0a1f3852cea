#include "gw/config_source.h"

#include "gw/setting_table.h"

#include <gtest/gtest.h>

namespace gw {
namespace {

// ConfigSource's getters are reached through DeclaredSettings only.
constexpr SettingDoc kTestSettings[] = {
    {"PORT", "3000", "a port"},
    {"HOST", "127.0.0.1", "a host"},
    {"ENABLED_EXPORTERS", "", "a list"},
    {"FLAG", "false", "a flag"},
};
using TestSettings = DeclaredSettings<kTestSettings>;

TEST(ConfigSource, EnvironmentWinsOverFile) {
  auto file = ConfigSource::parseYaml("port: 4000\nenabled_exporters: [console, prometheus]\nhost: 0.0.0.0\n");
  ASSERT_TRUE(file);
  ConfigSource source({{"PORT", "5000"}}, file->values, file->providers);
  const TestSettings c(source);
  EXPECT_EQ(*c.getInt("PORT", 3000, 0, 65535), 5000);
  EXPECT_EQ(c.getString("HOST", ""), "0.0.0.0");
  EXPECT_EQ(c.getList("ENABLED_EXPORTERS", ""), (std::vector<std::string>{"console", "prometheus"}));
}

TEST(ConfigSource, BadValuesNameTheVariable) {
  ConfigSource source({{"PORT", "30x"}, {"FLAG", "maybe"}}, {});
  const TestSettings c(source);
  auto port = c.getInt("PORT", 3000, 0, 65535);
  ASSERT_FALSE(port);
  EXPECT_EQ(port.error().message.rfind("PORT:", 0), 0u);
  ASSERT_FALSE(c.getBool("FLAG", false));
  ConfigSource big_source({{"PORT", "70000"}}, {});
  const TestSettings big(big_source);
  EXPECT_FALSE(big.getInt("PORT", 3000, 0, 65535));
}

TEST(ConfigSource, MalformedYamlIsAnError) {
  EXPECT_FALSE(ConfigSource::parseYaml("port: [unclosed"));
  EXPECT_FALSE(ConfigSource::parseYaml("- a\n- b\n"));
  EXPECT_FALSE(ConfigSource::parseYaml("a: {b: 1}\n"));
  EXPECT_TRUE(ConfigSource::parseYaml(""));
}

TEST(ConfigSource, EmptyEnvironmentValueCountsAsUnset) {
  ConfigSource source({{"HOST", ""}}, {{"HOST", "10.0.0.1"}});
  const TestSettings c(source);
  EXPECT_EQ(c.getString("HOST", "127.0.0.1"), "10.0.0.1");
  EXPECT_EQ(c.get("HOST"), "10.0.0.1");
  EXPECT_EQ(c.get("PORT"), std::nullopt);
}


// The providers: list is kept as typed entries; the rest of the file reads
// as before, and an environment variable still wins over a file key.
TEST(ConfigSource, ProvidersListIsKeptBesideTheVariables) {
  auto file = ConfigSource::parseYaml(R"(
port: 4000
providers:
  - name: team-llama
    type: openai_compatible
    base_url: http://10.0.0.5:8000/v1
    api_key_env: TEAM_LLAMA_KEY
    headers: {x-team: research, X-Budget: 42}
  - {name: claude, type: anthropic, base_url: "http://h", pricing_provider: anthropic}
enabled_exporters: [console]
)");
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ(file->values, (std::map<std::string, std::string>{{"PORT", "4000"}, {"ENABLED_EXPORTERS", "console"}}));
  ASSERT_EQ(file->providers.size(), 2u);
  ProviderEntry llama;
  llama.field = "providers[0]";
  llama.name = "team-llama";
  llama.type = "openai_compatible";
  llama.base_url = "http://10.0.0.5:8000/v1";
  llama.api_key_env = "TEAM_LLAMA_KEY";
  llama.headers = {{"x-team", "research"}, {"X-Budget", "42"}};  // as written: the registry checks them
  EXPECT_EQ(file->providers[0], llama);
  EXPECT_EQ(file->providers[1].field, "providers[1]");
  EXPECT_EQ(file->providers[1].pricing_provider, "anthropic");
  EXPECT_FALSE(file->providers[1].api_key_env);
  EXPECT_TRUE(file->providers[1].headers.empty());

  ConfigSource source({{"PORT", "5000"}, {"TEAM_LLAMA_KEY", "sk-team"}}, file->values, file->providers);
  const TestSettings c(source);
  EXPECT_EQ(*c.getInt("PORT", 3000, 0, 65535), 5000);
  EXPECT_EQ(source.providers(), file->providers);
  EXPECT_TRUE(ConfigSource().providers().empty());
}

TEST(ConfigSource, ProvidersSectionShapeErrorsNameTheField) {
  auto error = [](std::string_view yaml) {
    auto file = ConfigSource::parseYaml(yaml);
    return file ? std::string("(no error)") : file.error().message;
  };
  EXPECT_EQ(error("providers:\n"), "(no error)");
  EXPECT_EQ(error("providers: []\n"), "(no error)");
  EXPECT_EQ(error("providers: 3"), "providers: must be a list of providers");
  EXPECT_EQ(error("providers: [1]"),
            "providers[0]: must be a mapping (name, type, base_url, api_key_env, headers, pricing_provider)");
  EXPECT_EQ(error("providers: [{name: a, type: t, base_url: u}, {name: b}]"), "providers[1].type: missing");
  EXPECT_EQ(error("providers: [{name: a, type: t, base_url: u, nmae: b}]"),
            "providers[0].nmae: unknown key (known: name, type, base_url, api_key_env, headers, pricing_provider)");
  EXPECT_EQ(error("providers: [{[k]: v, name: a, type: t, base_url: u}]"), "providers[0]: keys must be strings");
  EXPECT_EQ(error("providers: [{name: a, type: t, base_url: u, headers: {[k]: v}}]"),
            "providers[0].headers: header names must be strings");
  EXPECT_EQ(error("providers: [{name: a, type: t, base_url: u, api_key_env: [A]}]"),
            "providers[0].api_key_env: must be a string");
  EXPECT_EQ(error("providers: [{name: a, type: t, base_url: u}]\nProviders: []"), "providers: given twice");
  // An unknown key is shown printable and short, whatever it holds.
  EXPECT_EQ(error("providers: [{\"k\\ney\": v}]"),
            "providers[0].k?ey: unknown key (known: name, type, base_url, api_key_env, headers, pricing_provider)");
  // A list of maps anywhere else is still not a value.
  EXPECT_EQ(error("enabled_exporters: [{a: b}]"), "ENABLED_EXPORTERS: list items must be scalars");
  // Aliases expand to the same checks.
  EXPECT_EQ(error("base: &b {name: a, type: t, base_url: u}\nproviders: [*b, *b]"),
            "BASE: value must be a scalar or a list");
  auto aliased = ConfigSource::parseYaml("providers: [&b {name: a, type: t, base_url: u}, *b]");
  ASSERT_TRUE(aliased);
  EXPECT_EQ(aliased->providers.size(), 2u) << "same name twice: the registry refuses it";
}

// api_key_env names a variable of the environment; the file's keys are not
// looked at (they are the gateway's own variables).
TEST(ConfigSource, EnvironmentVariableReadsTheEnvironmentOnly) {
  ConfigSource source({{"TEAM_KEY", "sk-team"}, {"EMPTY", ""}}, {{"FILE_KEY", "from-file"}});
  EXPECT_EQ(source.environmentVariable("TEAM_KEY"), "sk-team");
  EXPECT_EQ(source.environmentVariable("EMPTY"), std::nullopt);
  EXPECT_EQ(source.environmentVariable("FILE_KEY"), std::nullopt);
  EXPECT_EQ(source.environmentVariable("NOPE"), std::nullopt);
}

}  // namespace
}  // namespace gw
