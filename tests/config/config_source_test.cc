#include "common/config_source.h"

#include <gtest/gtest.h>

namespace gw {
namespace {

TEST(ConfigSource, EnvironmentWinsOverFile) {
  auto file = ConfigSource::parseYaml("port: 4000\nenabled_exporters: [console, prometheus]\nhost: 0.0.0.0\n");
  ASSERT_TRUE(file);
  ConfigSource c({{"PORT", "5000"}}, *file);
  EXPECT_EQ(*c.getInt("PORT", 3000, 0, 65535), 5000);
  EXPECT_EQ(c.getString("HOST", ""), "0.0.0.0");
  EXPECT_EQ(c.getList("ENABLED_EXPORTERS", ""), (std::vector<std::string>{"console", "prometheus"}));
}

TEST(ConfigSource, BadValuesNameTheVariable) {
  ConfigSource c({{"PORT", "30x"}, {"FLAG", "maybe"}}, {});
  auto port = c.getInt("PORT", 3000, 0, 65535);
  ASSERT_FALSE(port);
  EXPECT_EQ(port.error().message.rfind("PORT:", 0), 0u);
  ASSERT_FALSE(c.getBool("FLAG", false));
  ConfigSource big({{"PORT", "70000"}}, {});
  EXPECT_FALSE(big.getInt("PORT", 3000, 0, 65535));
}

TEST(ConfigSource, MalformedYamlIsAnError) {
  EXPECT_FALSE(ConfigSource::parseYaml("port: [unclosed"));
  EXPECT_FALSE(ConfigSource::parseYaml("- a\n- b\n"));
  EXPECT_FALSE(ConfigSource::parseYaml("a: {b: 1}\n"));
  EXPECT_TRUE(ConfigSource::parseYaml(""));
}

TEST(ConfigSource, EmptyEnvironmentValueCountsAsUnset) {
  ConfigSource c({{"HOST", ""}}, {{"HOST", "10.0.0.1"}});
  EXPECT_EQ(c.getString("HOST", "127.0.0.1"), "10.0.0.1");
}

}  // namespace
}  // namespace gw
