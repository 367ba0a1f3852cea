// console exporter: registry + options, serializer against golden output,
// exporter writing to a pipe.
#include "exporters/console/console_exporter.h"

#include "gw/config_source.h"
#include "gw/exporter_registry.h"
#include "gw/metrics.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>

namespace gw::exporters::console {
namespace {

RecordPtr record(std::string_view json) {
  auto r = recordFromJson(json);
  EXPECT_NE(r, nullptr) << json;
  return r;
}

TEST(ConsoleExporter, IsRegisteredAndReadsConsolePretty) {
  ExporterRegistry registry;
  registerBuiltinExporters(registry);
  ASSERT_NE(registry.find("console"), nullptr);
  MetricsRegistry metrics;
  ConfigSource config({{"CONSOLE_PRETTY", "true"}}, {});
  auto exporter = (*registry.find("console"))(ExporterContext{config, metrics});
  ASSERT_TRUE(exporter);
  EXPECT_EQ((*exporter)->name(), "console");
  EXPECT_TRUE((*exporter)->wantsRecords());

  auto pretty = ConsoleOptions::fromConfig(config);
  ASSERT_TRUE(pretty);
  EXPECT_TRUE(pretty->pretty);
  auto fallback = ConsoleOptions::fromConfig(ConfigSource());
  ASSERT_TRUE(fallback);
  EXPECT_FALSE(fallback->pretty);
  auto bad = (*registry.find("console"))(ExporterContext{ConfigSource({{"CONSOLE_PRETTY", "maybe"}}, {}), metrics});
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().message.starts_with("CONSOLE_PRETTY")) << bad.error().message;
}

TEST(ConsoleExporter, CompactBatchIsOneLinePerRecord) {
  std::vector<RecordPtr> batch{record(R"({"attributes":{"id":"a","n":[1,2]},"name":"x"})"),
                               record(R"({"attributes":{"id":"b"}})")};
  EXPECT_EQ(serializeConsoleBatch(batch, false),
            "{\"attributes\":{\"id\":\"a\",\"n\":[1,2]},\"name\":\"x\"}\n"
            "{\"attributes\":{\"id\":\"b\"}}\n");
}

TEST(ConsoleExporter, PrettyBatchIsIndented) {
  std::vector<RecordPtr> batch{record(R"({"attributes":{"id":"a","e":{},"l":[],"n":[1,"x\n"]},"v":null})")};
  EXPECT_EQ(serializeConsoleBatch(batch, true),
            "{\n"
            "  \"attributes\": {\n"
            "    \"id\": \"a\",\n"
            "    \"e\": {},\n"
            "    \"l\": [],\n"
            "    \"n\": [\n"
            "      1,\n"
            "      \"x\\n\"\n"
            "    ]\n"
            "  },\n"
            "  \"v\": null\n"
            "}\n");
}

TEST(ConsoleExporter, WritesTheBatchToItsFileDescriptor) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ConsoleExporter exporter(ConsoleOptions{}, fds[1]);
  std::vector<RecordPtr> batch{record(R"({"attributes":{"id":"1"}})"), record(R"({"attributes":{"id":"2"}})")};
  auto result = exporter.exportBatch(batch);
  EXPECT_EQ(result.kind, ExportResult::Kind::kSuccess);
  close(fds[1]);
  std::string got;
  char buf[256];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  EXPECT_EQ(got, "{\"attributes\":{\"id\":\"1\"}}\n{\"attributes\":{\"id\":\"2\"}}\n");
}

TEST(ConsoleExporter, ClosedOutputIsAPermanentFailure) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  signal(SIGPIPE, SIG_IGN);
  ConsoleExporter exporter(ConsoleOptions{}, fds[1]);
  std::vector<RecordPtr> batch{record(R"({"attributes":{"id":"1"}})")};
  EXPECT_EQ(exporter.exportBatch(batch).kind, ExportResult::Kind::kPermanent);
  close(fds[1]);
}

}  // namespace
}  // namespace gw::exporters::console
