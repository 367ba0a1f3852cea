// ExporterRegistry::create: ENABLED_EXPORTERS, the exporters' own
// ENABLE_<NAME> switches, and the errors of a bad list.
#include "fake_exporter.h"
#include "gw/config_source.h"
#include "gw/exporter_registry.h"
#include "gw/metrics.h"

#include <gtest/gtest.h>

namespace gw {
namespace {

constexpr SettingDoc kSwitchedSettings[] = {
    {"ENABLE_SWITCHED", "false", "true adds switched to ENABLED_EXPORTERS"},
};

class ExporterRegistryTest : public ::testing::Test {
 protected:
  ExporterRegistryTest() {
    for (const char* name : {"plain", "switched"})
      registry_.add(
          name,
          [name](const ExporterContext&) -> Result<std::unique_ptr<Exporter>> {
            return std::unique_ptr<Exporter>(std::make_unique<testing::FakeExporter>(name));
          },
          std::string_view(name) == "switched" ? std::span<const SettingDoc>(kSwitchedSettings)
                                               : std::span<const SettingDoc>());
  }

  Result<std::vector<std::string>> create(std::vector<std::string> enabled,
                                          std::map<std::string, std::string> env) {
    ConfigSource config(env, {});
    MetricsRegistry metrics;
    auto made = registry_.create(enabled, ExporterContext{config, metrics});
    if (!made) return made.error();
    std::vector<std::string> names;
    for (const auto& e : *made) names.emplace_back(e->name());
    return names;
  }

  ExporterRegistry registry_;
};

TEST_F(ExporterRegistryTest, AnExporterIsSwitchedOnByTheEnableVariableItDeclares) {
  EXPECT_EQ(*create({"plain"}, {}), (std::vector<std::string>{"plain"}));
  EXPECT_EQ(*create({"plain"}, {{"ENABLE_SWITCHED", "true"}}), (std::vector<std::string>{"plain", "switched"}));
  EXPECT_EQ(*create({}, {{"ENABLE_SWITCHED", "true"}}), (std::vector<std::string>{"switched"}));
  // Listed and switched on: created once.
  EXPECT_EQ(*create({"switched"}, {{"ENABLE_SWITCHED", "true"}}), (std::vector<std::string>{"switched"}));
  EXPECT_EQ(*create({"plain"}, {{"ENABLE_SWITCHED", "false"}}), (std::vector<std::string>{"plain"}));
  // A variable of that form that the exporter does not declare switches nothing.
  EXPECT_EQ(*create({"switched"}, {{"ENABLE_PLAIN", "true"}}), (std::vector<std::string>{"switched"}));
}

TEST_F(ExporterRegistryTest, ASwitchThatIsNotABooleanIsAStartUpErrorNamingIt) {
  auto bad = create({"plain"}, {{"ENABLE_SWITCHED", "perhaps"}});
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().message.starts_with("ENABLE_SWITCHED:")) << bad.error().message;
}

TEST_F(ExporterRegistryTest, AnUnknownNameListsTheKnownOnes) {
  auto bad = create({"plain", "nosuch"}, {});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "ENABLED_EXPORTERS: unknown exporter 'nosuch' (known: plain, switched, none)");
}

TEST(BuiltinExporters, ElasticsearchIsSwitchedOnByEnableElasticsearch) {
  ExporterRegistry registry;
  registerBuiltinExporters(registry);
  ConfigSource config({{"ENABLE_ELASTICSEARCH", "true"}, {"ELASTICSEARCH_URL", "http://127.0.0.1:9"}}, {});
  MetricsRegistry metrics;
  auto made = registry.create({"console"}, ExporterContext{config, metrics});
  ASSERT_TRUE(made) << made.error().message;
  ASSERT_EQ(made->size(), 2u);
  EXPECT_EQ((*made)[0]->name(), "console");
  EXPECT_EQ((*made)[1]->name(), "elasticsearch");
}

}  // namespace
}  // namespace gw
