#include "gw/config_source.h"
#include "exporters/postgres/postgres_options.h"
#include "gw/exporter_registry.h"

#include <gtest/gtest.h>

namespace gw::exporters::postgres {
namespace {

ConfigSource env(std::map<std::string, std::string> vars) { return ConfigSource(vars, {}); }

TEST(PostgresOptions, RegisteredUnderItsName) {
  ExporterRegistry registry;
  registerBuiltinExporters(registry);
  EXPECT_NE(registry.find("postgres"), nullptr);
}

TEST(PostgresOptions, UrlIsRequired) {
  auto o = Options::fromConfig(env({}));
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message.rfind("POSTGRES_URL: ", 0), 0u) << o.error().message;
}

TEST(PostgresOptions, ReadsSettings) {
  auto o = Options::fromConfig(env({{"POSTGRES_URL", "postgresql://gw:pw@db:5432/logs?sslmode=require"},
                                 {"POSTGRES_TABLE", "telemetry.llm_logs"},
                                 {"POSTGRES_CONNECT_TIMEOUT_MS", "3000"},
                                 {"POSTGRES_STATEMENT_TIMEOUT_MS", "9000"}}));
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->table, "telemetry.llm_logs");
  EXPECT_EQ(o->connect_timeout.count(), 3000);
  EXPECT_EQ(o->statement_timeout.count(), 9000);
  auto d = Options::fromConfig(env({{"POSTGRES_URL", "host=localhost dbname=x"}}));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->table, "ai_gateway_logs");
}

TEST(PostgresOptions, ErrorsNameTheVariableAndHideThePassword) {
  auto bad = Options::fromConfig(env({{"POSTGRES_URL", "postgresql://gw:hunter2@db:5432/x?bogus_option=1"}}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.rfind("POSTGRES_URL: ", 0), 0u);
  EXPECT_EQ(bad.error().message.find("hunter2"), std::string::npos) << bad.error().message;
  auto table = Options::fromConfig(env({{"POSTGRES_URL", "postgresql://db/x"}, {"POSTGRES_TABLE", "logs; DROP TABLE x"}}));
  ASSERT_FALSE(table);
  EXPECT_EQ(table.error().message.rfind("POSTGRES_TABLE: ", 0), 0u);
}

TEST(PostgresOptions, TableNameRules) {
  EXPECT_TRUE(isValidTableName("ai_gateway_logs"));
  EXPECT_TRUE(isValidTableName("s1.t_2"));
  EXPECT_FALSE(isValidTableName("1abc"));
  EXPECT_FALSE(isValidTableName("a.b.c"));
  EXPECT_FALSE(isValidTableName("a\"b"));
  EXPECT_FALSE(isValidTableName(std::string(64, 'a')));
}

}  // namespace
}  // namespace gw::exporters::postgres
