// The settings tables --help prints, across components: the core's
// (config/core_settings.h) and every built-in provider's and exporter's,
// registered with its factory. The docs side (every name in
// docs/configuration.md and docs/exporters.md is in --help and the reverse)
// is tests/integration/test_settings_docs.py.
#include "config/core_settings.h"
#include "gw/exporter_registry.h"
#include "providers/provider_registry.h"
#include "telemetry/telemetry.h"

#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <string>

namespace gw {
namespace {

// A variable declared by two components would be listed twice and read by
// both; each line of an exporter's table is as well formed as the core's
// (a provider's is checked in tests/providers).
TEST(SettingTables, EveryVariableIsDeclaredOnceAcrossTheCoreTheProvidersAndTheExporters) {
  std::map<std::string, std::string> owner;  // variable -> the table declaring it
  for (const auto& group : kCoreSettings)
    for (const auto& s : group.settings) owner.emplace(s.name, "core");
  ProviderRegistry providers;
  registerBuiltinProviders(providers);
  for (const auto& name : providers.names()) {
    for (const auto& s : providers.settings(name)) {
      auto [it, fresh] = owner.emplace(s.name, name + " provider");
      EXPECT_TRUE(fresh) << s.name << " is declared by " << it->second << " and the " << name << " provider";
    }
  }
  ExporterRegistry registry;
  registerBuiltinExporters(registry);
  ASSERT_TRUE(registry.validate());
  for (const auto& name : registry.names()) {
    for (const auto& s : registry.settings(name)) {
      EXPECT_TRUE(isSettingName(s.name)) << name << ": " << s.name;
      EXPECT_FALSE(s.description.empty()) << name << ": " << s.name;
      EXPECT_EQ(s.description.find('\n'), std::string_view::npos) << s.name;
      EXPECT_EQ(s.default_text.find('\n'), std::string_view::npos) << s.name;
      auto [it, fresh] = owner.emplace(s.name, name);
      EXPECT_TRUE(fresh) << s.name << " is declared by " << it->second << " and " << name;
    }
  }
  EXPECT_TRUE(registry.settings("nosuch").empty());
}

// Every built-in exporter but prometheus (which serves /metrics on the
// gateway's own port) has settings: an empty table there means a factory
// registered without its table.
TEST(SettingTables, EveryExporterWithSettingsRegistersThem) {
  ExporterRegistry registry;
  registerBuiltinExporters(registry);
  for (const auto& name : registry.names()) {
    if (name == "prometheus") EXPECT_TRUE(registry.settings(name).empty());
    else EXPECT_FALSE(registry.settings(name).empty()) << name;
  }
}

// The defaults --help shows for the delivery pipeline are the ones
// TelemetryOptions::fromConfig() applies.
TEST(SettingTables, DocumentedPipelineDefaultsAreTheDefaults) {
  auto o = TelemetryOptions::fromConfig(ConfigSource({}, {}));
  ASSERT_TRUE(o) << o.error().message;
  auto documented = [](std::string_view name) {
    auto doc = findSetting(kCoreSettings, name);
    return doc ? std::string(doc->default_text) : "(not declared)";
  };
  const auto& e = o->exporter;
  EXPECT_EQ(documented("TELEMETRY_BATCH_SIZE"), std::to_string(e.batch_size));
  EXPECT_EQ(documented("TELEMETRY_FLUSH_INTERVAL_MS"), std::to_string(e.flush_interval.count()));
  EXPECT_EQ(documented("TELEMETRY_QUEUE_SIZE"), std::to_string(e.queue_capacity));
  EXPECT_EQ(documented("TELEMETRY_QUEUE_MAX_BYTES"), std::to_string(e.queue_max_bytes));
  EXPECT_EQ(documented("TELEMETRY_INGEST_QUEUE_SIZE"), std::to_string(o->ingest_capacity));
  EXPECT_EQ(documented("TELEMETRY_INGEST_MAX_BYTES"), std::to_string(o->ingest_max_bytes));
  EXPECT_EQ(documented("TELEMETRY_MAX_RETRIES"), std::to_string(e.retry.max_retries));
  EXPECT_EQ(documented("TELEMETRY_RETRY_INITIAL_MS"), std::to_string(e.retry.initial_backoff.count()));
  EXPECT_EQ(documented("TELEMETRY_RETRY_MAX_MS"), std::to_string(e.retry.max_backoff.count()));
  EXPECT_EQ(documented("TELEMETRY_BREAKER_FAILURES"), std::to_string(e.breaker_failures));
  EXPECT_EQ(documented("TELEMETRY_BREAKER_OPEN_MS"), std::to_string(e.breaker_open.count()));
  EXPECT_EQ(documented("TELEMETRY_SPOOL_DIR"), o->spool_dir);
  EXPECT_EQ(documented("TELEMETRY_SPOOL_MAX_BYTES"), std::to_string(o->spool_max_bytes));
  EXPECT_EQ(documented("TELEMETRY_SPOOL_FSYNC"), "batch");
  EXPECT_EQ(o->spool_fsync, FsyncPolicy::kBatch);
}

}  // namespace
}  // namespace gw
