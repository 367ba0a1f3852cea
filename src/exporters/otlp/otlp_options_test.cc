#include "gw/config_source.h"
#include "exporters/otlp/otlp_options.h"
#include "gw/exporter_registry.h"

#include <gtest/gtest.h>

namespace gw::exporters::otlp {
namespace {

ConfigSource env(std::map<std::string, std::string> vars) { return ConfigSource(vars, {}); }

TEST(OtlpOptions, RegisteredUnderItsName) {
  ExporterRegistry registry;
  registerBuiltinExporters(registry);
  EXPECT_NE(registry.find("otlp"), nullptr);
}

TEST(OtlpOptions, DefaultsAndSignalUrls) {
  auto o = Options::fromConfig(env({}));
  ASSERT_TRUE(o);
  EXPECT_EQ(o->logs_url, "http://localhost:4318/v1/logs");
  EXPECT_EQ(o->metrics_url, "http://localhost:4318/v1/metrics");
  EXPECT_EQ(o->traces_url, "http://localhost:4318/v1/traces");
  EXPECT_FALSE(o->gzip);
  EXPECT_EQ(o->protocol, Protocol::kHttpProtobuf);  // the OTLP default
  auto c = Options::fromConfig(env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318/prefix/"},
                                 {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://tempo:4318/custom/traces"},
                                 {"OTEL_EXPORTER_OTLP_HEADERS", "api-key=abc%20def, x-tenant = t1"},
                                 {"OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"},
                                 {"OTEL_EXPORTER_OTLP_TIMEOUT", "3000"},
                                 {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"},
                                 {"OTEL_RESOURCE_ATTRIBUTES", "service.namespace=llm,host.name=gw-1"}}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->logs_url, "https://collector:4318/prefix/v1/logs");
  EXPECT_EQ(c->traces_url, "http://tempo:4318/custom/traces");
  ASSERT_EQ(c->headers.size(), 2u);
  EXPECT_EQ(c->headers[0], (std::pair<std::string, std::string>{"api-key", "abc def"}));
  EXPECT_EQ(c->headers[1], (std::pair<std::string, std::string>{"x-tenant", "t1"}));
  EXPECT_TRUE(c->gzip);
  EXPECT_EQ(c->protocol, Protocol::kHttpJson);
  EXPECT_EQ(c->timeout.count(), 3000);
  ASSERT_EQ(c->resource_attributes.size(), 2u);
  EXPECT_EQ(c->resource_attributes[1].second, "gw-1");
}

TEST(OtlpOptions, ProtocolIsProtobufOrJson) {
  auto protobuf = Options::fromConfig(env({{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"}}));
  ASSERT_TRUE(protobuf);
  EXPECT_EQ(protobuf->protocol, Protocol::kHttpProtobuf);
  auto grpc = Options::fromConfig(env({{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}}));
  ASSERT_FALSE(grpc);
  EXPECT_NE(grpc.error().message.find("use http/protobuf or http/json"), std::string::npos) << grpc.error().message;
}

TEST(OtlpOptions, ErrorsNameTheVariable) {
  auto check = [](std::map<std::string, std::string> vars, const std::string& variable) {
    auto o = Options::fromConfig(env(vars));
    ASSERT_FALSE(o) << variable;
    EXPECT_EQ(o.error().message.rfind(variable + ": ", 0), 0u) << o.error().message;
  };
  check({{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"}}, "OTEL_EXPORTER_OTLP_ENDPOINT");
  check({{"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "nope"}}, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT");
  check({{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}}, "OTEL_EXPORTER_OTLP_PROTOCOL");
  check({{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml"}}, "OTEL_EXPORTER_OTLP_PROTOCOL");
  check({{"OTEL_EXPORTER_OTLP_PROTOCOL", "HTTP/JSON"}}, "OTEL_EXPORTER_OTLP_PROTOCOL");
  check({{"OTEL_EXPORTER_OTLP_HEADERS", "novalue"}}, "OTEL_EXPORTER_OTLP_HEADERS");
  check({{"OTEL_EXPORTER_OTLP_HEADERS", "a=%zz"}}, "OTEL_EXPORTER_OTLP_HEADERS");
  check({{"OTEL_EXPORTER_OTLP_HEADERS", "a=x%0D%0AInjected: 1"}}, "OTEL_EXPORTER_OTLP_HEADERS");
  check({{"OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"}}, "OTEL_EXPORTER_OTLP_COMPRESSION");
  check({{"OTEL_RESOURCE_ATTRIBUTES", "=x"}}, "OTEL_RESOURCE_ATTRIBUTES");
}

}  // namespace
}  // namespace gw::exporters::otlp
