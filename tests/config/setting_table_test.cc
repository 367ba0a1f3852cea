// The settings tables (gw/setting_table.h) and the core's
// (config/core_settings.h): lookup, the --help lines, and the core table
// against what loadSettings() does. That a read of an undeclared variable
// does not compile is checked by the config_undeclared_setting_does_not_compile
// test (undeclared_setting.cc).
#include "config/core_settings.h"
#include "config/settings.h"
#include "gw/setting_table.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace gw {
namespace {

constexpr SettingDoc kFirst[] = {{"ALPHA_URL", "http://a", "alpha"}, {"ALPHA_KEY", "", "alpha key"}};
constexpr SettingDoc kSecond[] = {{"BETA", "2", "beta"}};
constexpr SettingGroup kGroups[] = {{"First", kFirst}, {"Second", kSecond}};

// Evaluated by the compiler, as SettingName's check is.
static_assert(findSetting(kFirst, "ALPHA_KEY")->description == kFirst[1].description);
static_assert(!findSetting(kFirst, "ALPHA"));
static_assert(findSetting(kGroups, "BETA")->description == kSecond[0].description);
static_assert(!findSetting(kGroups, "GAMMA"));
static_assert(findSetting(kCoreSettings, "MAX_INFLIGHT_BODY_BYTES").has_value());
static_assert(findSetting(kCoreSettings, "TELEMETRY_SPOOL_FSYNC").has_value());
static_assert(isSettingName("MAX_REQUEST_BODY_BYTES") && isSettingName("X2"));
static_assert(!isSettingName("") && !isSettingName("_X") && !isSettingName("Port") && !isSettingName("A-B"));

TEST(SettingTable, NamesCarryTheirEntry) {
  constexpr DeclaredSettings<kGroups>::Name name = "ALPHA_URL";
  EXPECT_EQ(name.view(), "ALPHA_URL");
  EXPECT_EQ(name.doc().default_text, "http://a");
  EXPECT_EQ(std::string_view(name), "ALPHA_URL");
}

TEST(SettingTable, ReadsGoToTheConfigSource) {
  ConfigSource source({{"BETA", "7"}}, {{"ALPHA_KEY", "k"}});
  const DeclaredSettings<kGroups> config(source);
  EXPECT_EQ(*config.getInt("BETA", 2, 0, 10), 7);
  EXPECT_EQ(config.get("ALPHA_KEY"), "k");
  EXPECT_EQ(config.getString("ALPHA_URL", "http://a"), "http://a");
  auto bad = config.getInt("BETA", 2, 8, 10);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.rfind("BETA:", 0), 0u) << bad.error().message;
}

TEST(SettingTable, HelpLines) {
  constexpr SettingDoc table[] = {
      {"SHORT", "1", "a short one"},
      {"NO_DEFAULT", "", "nothing when unset"},
      {"TWENTY_EIGHT_CHARACTERS_LONG", "", "fits the column"},
      {"TWENTY_NINE_CHARACTERS_LONG_X", "", "two spaces still"},
      {"A_NAME_LONGER_THAN_THE_DESCRIPTION_COLUMN", "x", "still one line"},
  };
  std::string out;
  appendSettingsHelp(out, table);
  EXPECT_EQ(out,
            "  SHORT                         a short one (default: 1)\n"
            "  NO_DEFAULT                    nothing when unset\n"
            "  TWENTY_EIGHT_CHARACTERS_LONG  fits the column\n"
            "  TWENTY_NINE_CHARACTERS_LONG_X  two spaces still\n"
            "  A_NAME_LONGER_THAN_THE_DESCRIPTION_COLUMN  still one line (default: x)\n");
  std::string none;
  appendSettingsHelp(none, {});
  EXPECT_EQ(none, "  (no settings)\n");
}


// Each line of --help is one variable: a name, a one-line description, and
// the name once in the whole table.
TEST(CoreSettings, EveryEntryIsOneWellFormedLine) {
  std::set<std::string_view> seen;
  for (const auto& group : kCoreSettings) {
    EXPECT_FALSE(group.title.empty());
    EXPECT_FALSE(group.settings.empty()) << group.title;
    for (const auto& s : group.settings) {
      EXPECT_TRUE(isSettingName(s.name)) << s.name;
      EXPECT_TRUE(seen.insert(s.name).second) << s.name << " is declared twice";
      EXPECT_FALSE(s.description.empty()) << s.name;
      for (std::string_view text : {s.description, s.default_text})
        EXPECT_EQ(text.find('\n'), std::string_view::npos) << s.name;
    }
  }
}

// The defaults --help shows are the ones loadSettings() applies.
TEST(CoreSettings, DocumentedDefaultsAreTheDefaults) {
  auto s = loadSettings(ConfigSource({}, {}), 4);
  ASSERT_TRUE(s);
  auto documented = [](std::string_view name) {
    auto doc = findSetting(kCoreSettings, name);
    return doc ? std::string(doc->default_text) : "(not declared)";
  };
  EXPECT_EQ(documented("HOST"), s->host);
  EXPECT_EQ(documented("PORT"), std::to_string(s->port));
  EXPECT_EQ(documented("LOG_LEVEL"), s->log_level);
  EXPECT_EQ(documented("MAX_REQUEST_BODY_BYTES"), std::to_string(s->max_request_body_bytes));
  EXPECT_EQ(documented("MAX_INFLIGHT_BODY_BYTES"), std::to_string(s->max_inflight_body_bytes));
  EXPECT_EQ(documented("MAX_HEADER_BYTES"), std::to_string(s->max_header_bytes));
  EXPECT_EQ(documented("IDLE_TIMEOUT_MS"), std::to_string(s->idle_timeout.count()));
  EXPECT_EQ(documented("CLIENT_HEADER_TIMEOUT_MS"), std::to_string(s->client_header_timeout.count()));
  EXPECT_EQ(documented("UPSTREAM_TIMEOUT_MS"), std::to_string(s->upstream_timeout.count()));
  EXPECT_EQ(documented("UPSTREAM_CONNECT_TIMEOUT_MS"), std::to_string(s->upstream_connect_timeout.count()));
  EXPECT_EQ(documented("UPSTREAM_MAX_CONNECTIONS_PER_HOST"), std::to_string(s->max_connections_per_host));
  EXPECT_EQ(documented("UPSTREAM_MAX_IDLE_CONNECTIONS_PER_HOST"), std::to_string(s->max_idle_connections_per_host));
  EXPECT_EQ(documented("SHUTDOWN_GRACE_MS"), std::to_string(s->shutdown_grace.count()));
  EXPECT_EQ(documented("DEPLOYMENT_ENVIRONMENT"), s->deployment_environment);
  EXPECT_EQ(documented("OTEL_SERVICE_NAME"), s->service_name);
  EXPECT_EQ(documented("DEFAULT_PROVIDER"), s->default_provider);
  EXPECT_EQ(documented("ENABLED_EXPORTERS"), "console,prometheus");
  EXPECT_EQ(s->enabled_exporters, (std::vector<std::string>{"console", "prometheus"}));
  EXPECT_EQ(documented("TELEMETRY_CAPTURE_BODIES"), s->capture_bodies ? "true" : "false");
  EXPECT_EQ(documented("TELEMETRY_MAX_BODY_BYTES"), std::to_string(s->telemetry_max_body_bytes));
}

}  // namespace
}  // namespace gw
