// A scriptable exporter for pipeline tests: records every batch it is given
// and answers what the test says.
#pragma once

#include "gw/exporter.h"
#include "telemetry/spool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace gw::testing {

class FakeExporter final : public Exporter {
 public:
  using Behaviour = std::function<ExportResult(std::span<const RecordPtr>)>;
  explicit FakeExporter(std::string name = "fake") : name_(std::move(name)) {}

  std::string_view name() const override { return name_; }
  Status init() override {
    std::lock_guard lock(mutex_);
    ++init_calls;
    if (init_fails) return Error::internal("init refused");
    return ok();
  }
  ExportResult exportBatch(std::span<const RecordPtr> batch) override {
    Behaviour b;
    {
      std::lock_guard lock(mutex_);
      std::vector<std::string> ids;
      for (const auto& r : batch) ids.push_back(r->id);
      batches.push_back(std::move(ids));
      b = behaviour;
    }
    return b ? b(batch) : ExportResult::success();
  }
  void flush() override { ++flush_calls; }
  void shutdown() override { ++shutdown_calls; }

  std::vector<std::vector<std::string>> batchesSnapshot() const {
    std::lock_guard lock(mutex_);
    return batches;
  }
  std::vector<std::string> allIds() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& b : batches) out.insert(out.end(), b.begin(), b.end());
    return out;
  }

  mutable std::mutex mutex_;
  Behaviour behaviour;
  bool init_fails = false;
  int init_calls = 0;
  std::vector<std::vector<std::string>> batches;
  std::atomic<int> flush_calls{0}, shutdown_calls{0};

 private:
  std::string name_;
};

// An empty directory of the system's temporary one, named after the suite
// (`prefix`), the process, `tag` and the running test.
inline std::filesystem::path tempDir(const std::string& prefix, const std::string& tag) {
  auto d = std::filesystem::temp_directory_path() / (prefix + "-" + std::to_string(getpid()) + "-" + tag + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(d);
  return d;
}

inline RecordPtr makeRecord(const std::string& id) {
  return recordFromJson(R"({"name":"ai_gateway_request_log","attributes":{"id":")" + id + R"("}})");
}

}  // namespace gw::testing
