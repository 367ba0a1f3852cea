#include "gw/config_source.h"
#include "exporters/elasticsearch/elasticsearch_options.h"
#include "gw/exporter_registry.h"

#include <gtest/gtest.h>

namespace gw::exporters::elasticsearch {
namespace {

ConfigSource env(std::map<std::string, std::string> vars) { return ConfigSource(vars, {}); }

TEST(ElasticsearchOptions, RegisteredUnderItsName) {
  ExporterRegistry registry;
  registerBuiltinExporters(registry);
  EXPECT_NE(registry.find("elasticsearch"), nullptr);
  EXPECT_TRUE(registry.validate());
}

TEST(ElasticsearchOptions, Defaults) {
  auto o = Options::fromConfig(env({}));
  ASSERT_TRUE(o);
  EXPECT_EQ(o->url, "http://localhost:9200");
  EXPECT_EQ(o->index, "noveum-metrics");
  EXPECT_FALSE(o->index_date_suffix);
  EXPECT_TRUE(o->install_template);
  EXPECT_TRUE(o->api_key.empty());
}

TEST(ElasticsearchOptions, ReadsEverySetting) {
  auto o = Options::fromConfig(env({{"ELASTICSEARCH_URL", "https://es.internal:9243"},
                                 {"ELASTICSEARCH_INDEX", "llm-logs"},
                                 {"ELASTICSEARCH_INDEX_DATE_SUFFIX", "true"},
                                 {"ELASTICSEARCH_USERNAME", "elastic"},
                                 {"ELASTICSEARCH_PASSWORD", "pw"},
                                 {"ELASTICSEARCH_INSTALL_TEMPLATE", "false"},
                                 {"ELASTICSEARCH_TIMEOUT_MS", "2500"}}));
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->url, "https://es.internal:9243");
  EXPECT_EQ(o->index, "llm-logs");
  EXPECT_TRUE(o->index_date_suffix);
  EXPECT_EQ(o->username, "elastic");
  EXPECT_FALSE(o->install_template);
  EXPECT_EQ(o->timeout.count(), 2500);
}

TEST(ElasticsearchOptions, ErrorsNameTheVariable) {
  auto bad_url = Options::fromConfig(env({{"ELASTICSEARCH_URL", "localhost:9200"}}));
  ASSERT_FALSE(bad_url);
  EXPECT_EQ(bad_url.error().message.rfind("ELASTICSEARCH_URL: ", 0), 0u) << bad_url.error().message;
  auto bad_index = Options::fromConfig(env({{"ELASTICSEARCH_INDEX", "Upper Case"}}));
  ASSERT_FALSE(bad_index);
  EXPECT_EQ(bad_index.error().message.rfind("ELASTICSEARCH_INDEX: ", 0), 0u);
  auto half_auth = Options::fromConfig(env({{"ELASTICSEARCH_USERNAME", "elastic"}}));
  ASSERT_FALSE(half_auth);
  EXPECT_EQ(half_auth.error().message.rfind("ELASTICSEARCH_PASSWORD: ", 0), 0u);
  auto both = Options::fromConfig(
      env({{"ELASTICSEARCH_USERNAME", "u"}, {"ELASTICSEARCH_PASSWORD", "secretpw"}, {"ELASTICSEARCH_API_KEY", "k"}}));
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error().message.rfind("ELASTICSEARCH_API_KEY: ", 0), 0u);
  EXPECT_EQ(both.error().message.find("secretpw"), std::string::npos);
  auto ca = Options::fromConfig(env({{"ELASTICSEARCH_CA_FILE", "/nonexistent/ca.pem"}}));
  ASSERT_FALSE(ca);
  EXPECT_EQ(ca.error().message.rfind("ELASTICSEARCH_CA_FILE: ", 0), 0u);
  auto timeout = Options::fromConfig(env({{"ELASTICSEARCH_TIMEOUT_MS", "abc"}}));
  ASSERT_FALSE(timeout);
  EXPECT_EQ(timeout.error().message.rfind("ELASTICSEARCH_TIMEOUT_MS", 0), 0u);
}

TEST(ElasticsearchOptions, IndexNameRules) {
  EXPECT_TRUE(isValidIndexName("noveum-metrics"));
  EXPECT_FALSE(isValidIndexName("_hidden"));
  EXPECT_FALSE(isValidIndexName("a/b"));
  EXPECT_FALSE(isValidIndexName("a b"));
  EXPECT_FALSE(isValidIndexName(".."));
  EXPECT_FALSE(isValidIndexName(""));
}

}  // namespace
}  // namespace gw::exporters::elasticsearch
