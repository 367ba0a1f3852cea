#include "backend_http/testing/test_records.h"
#include "common/config_source.h"
#include "exporters/file/file_exporter.h"
#include "telemetry/exporter_registry.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <filesystem>

namespace gw::exporters::file {
namespace {
using namespace gw::exporters::testing;
namespace fs = std::filesystem;
using Kind = ExportResult::Kind;

class FileExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gw-file-exporter-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name = "records.jsonl") const { return (dir_ / name).string(); }
  static std::vector<std::string> lines(const std::string& file) {
    std::vector<std::string> out;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  fs::path dir_;
};

TEST_F(FileExporterTest, RegisteredAndOptions) {
  ExporterRegistry registry;
  registerBuiltinExporters(registry);
  EXPECT_NE(registry.find("file"), nullptr);
  ConfigSource env({{"FILE_EXPORTER_PATH", path()}, {"FILE_EXPORTER_MAX_BYTES", "4096"},
                    {"FILE_EXPORTER_MAX_FILES", "3"}, {"FILE_EXPORTER_FSYNC", "false"}}, {});
  auto o = Options::fromEnv(env);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->path, path());
  EXPECT_EQ(o->max_bytes, 4096u);
  EXPECT_EQ(o->max_files, 3);
  EXPECT_FALSE(o->fsync);
  auto bad_dir = Options::fromEnv(ConfigSource({{"FILE_EXPORTER_PATH", "/nonexistent-dir/x.jsonl"}}, {}));
  ASSERT_FALSE(bad_dir);
  EXPECT_EQ(bad_dir.error().message.rfind("FILE_EXPORTER_PATH: ", 0), 0u);
  auto bad_size = Options::fromEnv(ConfigSource({{"FILE_EXPORTER_MAX_BYTES", "-5"}}, {}));
  ASSERT_FALSE(bad_size);
  EXPECT_EQ(bad_size.error().message.rfind("FILE_EXPORTER_MAX_BYTES", 0), 0u);
}

TEST_F(FileExporterTest, SerializerMatchesGolden) {
  std::vector<RecordPtr> batch{makeRecord(), makeRecordWith([](RecordSpec& s) { s.id = "req-2"; })};
  expectGolden(serializeLines(batch, nullptr), "file/records.jsonl");
}

TEST_F(FileExporterTest, AppendsOneParsableLinePerRecord) {
  Options o;
  o.path = path();
  FileExporter exporter(o);
  ASSERT_TRUE(exporter.init());
  auto batch = makeRecords(7);
  EXPECT_EQ(exporter.exportBatch(batch).kind, Kind::kSuccess);
  EXPECT_EQ(exporter.exportBatch(makeRecords(3, "more")).kind, Kind::kSuccess);
  auto got = lines(path());
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(boost::json::parse(got[4]).at("attributes").at("id").as_string(), "req-4");
}

TEST_F(FileExporterTest, RotatesBySizeKeepingMaxFiles) {
  Options o;
  o.path = path();
  const auto one = makeRecords(1)[0]->serialized.size() + 1;
  o.max_bytes = one * 3;  // three records per file
  o.max_files = 2;
  FileExporter exporter(o);
  auto batch = makeRecords(11);
  for (const auto& r : batch) ASSERT_EQ(exporter.exportBatch(std::span(&r, 1)).kind, Kind::kSuccess);
  EXPECT_EQ(lines(path()).size(), 2u);        // records 9, 10
  EXPECT_EQ(lines(path() + ".1").size(), 3u);  // 6..8
  EXPECT_EQ(lines(path() + ".2").size(), 3u);  // 3..5
  EXPECT_FALSE(fs::exists(path() + ".3"));
  EXPECT_LE(fs::file_size(path() + ".1"), o.max_bytes);
  EXPECT_NE(lines(path() + ".1")[0].find("\"req-6\""), std::string::npos);
}

TEST_F(FileExporterTest, ReopensExistingFileAndCountsItsSize) {
  Options o;
  o.path = path();
  o.max_bytes = (makeRecords(1)[0]->serialized.size() + 1) * 2;
  {
    FileExporter first(o);
    ASSERT_EQ(first.exportBatch(makeRecords(2)).kind, Kind::kSuccess);
  }
  FileExporter second(o);
  ASSERT_EQ(second.exportBatch(makeRecords(1, "next")).kind, Kind::kSuccess);
  EXPECT_EQ(lines(path()).size(), 1u);
  EXPECT_EQ(lines(path() + ".1").size(), 2u);
}

// A write torn by kill -9 leaves half a line: the next start cuts it off
// instead of gluing the next record to it.
TEST_F(FileExporterTest, TornLastLineIsCutAtStart) {
  Options o;
  o.path = path();
  {
    FileExporter first(o);
    ASSERT_EQ(first.exportBatch(makeRecords(2)).kind, Kind::kSuccess);
  }
  { std::ofstream(path(), std::ios::app) << R"({"timestamp":"2026-11-27T00:00:00.000Z","resou)"; }
  FileExporter second(o);
  ASSERT_EQ(second.exportBatch(makeRecords(1, "next")).kind, Kind::kSuccess);
  auto got = lines(path());
  ASSERT_EQ(got.size(), 3u);
  for (const auto& line : got) EXPECT_NO_THROW(boost::json::parse(line)) << line;
}

TEST_F(FileExporterTest, RecordWithoutJsonIsRejectedOthersWritten) {
  Options o;
  o.path = path();
  FileExporter exporter(o);
  auto batch = makeRecords(3);
  auto broken = std::make_shared<TelemetryRecord>("broken", "", RecordFields{});
  batch.insert(batch.begin() + 1, broken);
  auto r = exporter.exportBatch(batch);
  EXPECT_EQ(r.kind, Kind::kPermanent);
  EXPECT_EQ(r.rejected_indexes, (std::vector<std::size_t>{1}));
  EXPECT_EQ(lines(path()).size(), 3u);
}

TEST_F(FileExporterTest, UnwritableLocationIsRetryable) {
  Options o;
  o.path = (dir_ / "missing-subdir" / "x.jsonl").string();
  FileExporter exporter(o);
  EXPECT_FALSE(exporter.init());
  EXPECT_EQ(exporter.exportBatch(makeRecords(1)).kind, Kind::kRetryable);
  fs::create_directories(dir_ / "missing-subdir");
  EXPECT_EQ(exporter.exportBatch(makeRecords(1)).kind, Kind::kSuccess);
}

TEST_F(FileExporterTest, DiskFullRollsBackPartialBatch) {
  ASSERT_TRUE(fs::exists("/dev/full")) << "/dev/full (a full disk) is needed for this test";
  Options o;
  o.path = "/dev/full";
  o.max_bytes = 0;
  o.fsync = false;
  FileExporter exporter(o);
  auto r = exporter.exportBatch(makeRecords(2));
  EXPECT_EQ(r.kind, Kind::kRetryable);
  EXPECT_NE(r.message.find("No space left"), std::string::npos) << r.message;
}

}  // namespace
}  // namespace gw::exporters::file
