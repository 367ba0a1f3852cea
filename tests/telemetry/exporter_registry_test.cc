// ExporterRegistry::create: ENABLED_EXPORTERS, the exporters' own
// ENABLE_<NAME> switches, and the errors of a bad list; exporterFactory.
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

constexpr SettingDoc kLabelSettings[] = {
    {"LABEL", "plain", "the exporter's label"},
};

struct LabelOptions {
  std::string label;
  static Result<LabelOptions> fromConfig(const ConfigSource& source) {
    const DeclaredSettings<kLabelSettings> config(source);
    LabelOptions o{config.getString("LABEL", "plain")};
    if (o.label.empty() || o.label == "bad") return configError("LABEL", "not a label");
    return o;
  }
  static std::span<const SettingDoc> settings() { return kLabelSettings; }
};

class OptionsOnlyExporter final : public Exporter {
 public:
  explicit OptionsOnlyExporter(LabelOptions options) : options_(std::move(options)) {}
  std::string_view name() const override { return options_.label; }
  ExportResult exportBatch(std::span<const RecordPtr>) override { return ExportResult::success(); }

 private:
  LabelOptions options_;
};

class WithContextExporter final : public Exporter {
 public:
  WithContextExporter(LabelOptions options, const ExporterContext& context)
      : options_(std::move(options)),
        made_(context.metrics.counter("with_context_made_total", "Exporters made", "1", {})) {
    made_.add({});
  }
  std::string_view name() const override { return options_.label; }
  ExportResult exportBatch(std::span<const RecordPtr>) override { return ExportResult::success(); }

 private:
  LabelOptions options_;
  Counter made_;
};

TEST(ExporterFactory, BuildsTheExporterFromItsOptionsWithOrWithoutTheContext) {
  MetricsRegistry metrics;
  ConfigSource config({{"LABEL", "from-config"}}, {});
  const ExporterContext context{config, metrics};

  auto plain = exporterFactory<LabelOptions, OptionsOnlyExporter>()(context);
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_NE(dynamic_cast<OptionsOnlyExporter*>(plain->get()), nullptr);
  EXPECT_EQ((*plain)->name(), "from-config");

  auto with_context = exporterFactory<LabelOptions, WithContextExporter>()(context);
  ASSERT_TRUE(with_context) << with_context.error().message;
  EXPECT_NE(dynamic_cast<WithContextExporter*>(with_context->get()), nullptr);
  EXPECT_EQ((*with_context)->name(), "from-config");
  bool counted = false;
  for (const auto& family : metrics.snapshot())
    if (family.name == "with_context_made_total") counted = family.series.size() == 1 && family.series[0].value == 1;
  EXPECT_TRUE(counted);
}

TEST(ExporterFactory, ABadOptionIsTheFactorysError) {
  MetricsRegistry metrics;
  ConfigSource config({{"LABEL", "bad"}}, {});
  auto made = exporterFactory<LabelOptions, OptionsOnlyExporter>()(ExporterContext{config, metrics});
  ASSERT_FALSE(made);
  EXPECT_TRUE(made.error().message.starts_with("LABEL:")) << made.error().message;
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
