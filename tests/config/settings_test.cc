#include "config/settings.h"

#include <gtest/gtest.h>

namespace gw {
namespace {

Result<Settings> load(std::map<std::string, std::string> env) {
  return loadSettings(ConfigSource(std::move(env), {}), 4);
}

TEST(Settings, DefaultsFollowTheSpec) {
  auto s = load({});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->host, "127.0.0.1");
  EXPECT_EQ(s->port, 3000);
  EXPECT_EQ(s->worker_threads, 4);
  EXPECT_EQ(s->log_level, "info");
  EXPECT_EQ(s->max_request_body_bytes, 32u << 20);
  EXPECT_EQ(s->upstream_timeout.count(), 600000);
  EXPECT_EQ(s->upstream_connect_timeout.count(), 10000);
  EXPECT_EQ(s->shutdown_grace.count(), 10000);
  EXPECT_EQ(s->deployment_environment, "development");
  EXPECT_EQ(s->default_provider, "openai");
  EXPECT_EQ(s->enabled_exporters, (std::vector<std::string>{"console", "prometheus"}));
}

// DEFAULT_PROVIDER is read here, lower-cased; whether it names a provider is
// checked where the providers are made (tests/providers).
TEST(Settings, DefaultProviderIsLowerCased) {
  auto s = load({{"DEFAULT_PROVIDER", "Anthropic"}});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->default_provider, "anthropic");
}

TEST(Settings, RustLogIsAnAlias) {
  auto s = load({{"RUST_LOG", "debug"}});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->log_level, "debug");
  auto t = load({{"RUST_LOG", "warn,hyper=info"}, {"LOG_LEVEL", "error"}});
  ASSERT_TRUE(t);
  EXPECT_EQ(t->log_level, "error");
}

TEST(Settings, ErrorsNameTheVariable) {
  struct Case {
    const char* var;
    const char* value;
  } cases[] = {{"PORT", "abc"},
               {"LOG_LEVEL", "loud"},
               {"WORKER_THREADS", "0"},
               {"MAX_REQUEST_BODY_BYTES", "-1"},
               {"TELEMETRY_CAPTURE_BODIES", "perhaps"},
               {"ENABLED_EXPORTERS", "none,console"}};
  for (const auto& c : cases) {
    auto s = load({{c.var, c.value}});
    ASSERT_FALSE(s) << c.var;
    EXPECT_EQ(s.error().message.rfind(std::string(c.var) + ":", 0), 0u) << s.error().message;
  }
}

TEST(Settings, EnabledExporters) {
  auto none = load({{"ENABLED_EXPORTERS", "none"}});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->enabled_exporters.empty());
  auto some = load({{"ENABLED_EXPORTERS", "Console, prometheus"}});
  ASSERT_TRUE(some);
  EXPECT_EQ(some->enabled_exporters, (std::vector<std::string>{"console", "prometheus"}));
  EXPECT_FALSE(load({{"ENABLED_EXPORTERS", "none,console"}}));
}

TEST(Settings, BaseUrls) {
  auto ep = parseBaseUrl("http://127.0.0.1:8080/v1/");
  ASSERT_TRUE(ep);
  EXPECT_FALSE(ep->tls);
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, 8080);
  EXPECT_EQ(ep->base_path, "/v1");
  auto v6 = parseBaseUrl("https://[::1]/");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 443);
  EXPECT_EQ(v6->base_path, "");
  EXPECT_FALSE(parseBaseUrl("https://user:pw@host/"));
  EXPECT_FALSE(parseBaseUrl("https://host/v1?q=1"));
}

// Whether providers have keys from the configuration is the provider
// registry's to say (ProviderRegistry::hasOperatorCredentials(), tested in
// tests/providers).
TEST(Settings, WarnsWhenEnvironmentKeysAreExposed) {
  auto local = load({});
  EXPECT_FALSE(exposesEnvironmentKeys(*local, true));
  auto open = load({{"HOST", "0.0.0.0"}});
  EXPECT_TRUE(exposesEnvironmentKeys(*open, true));
  EXPECT_FALSE(exposesEnvironmentKeys(*open, false));
  auto guarded = load({{"HOST", "0.0.0.0"}, {"GATEWAY_API_KEYS", "k1"}});
  EXPECT_FALSE(exposesEnvironmentKeys(*guarded, true));
}

}  // namespace
}  // namespace gw
