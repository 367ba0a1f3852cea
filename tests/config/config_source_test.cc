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
  ConfigSource source({{"PORT", "5000"}}, *file);
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

}  // namespace
}  // namespace gw
