// The file exporter: one JSON record per line, appended to FILE_EXPORTER_PATH,
// with size-based rotation. The zero-dependency durable sink.
//
// fsync policy (FILE_EXPORTER_FSYNC): every batch is written with write(2)
// before exportBatch() reports success, so a record reported exported
// survives the gateway's crash. What survives a power loss depends on when
// the file is synced with fdatasync(2):
// - batch (default): within one TELEMETRY_FLUSH_INTERVAL_MS of the first
//   batch written since the last sync (the pipeline calls flush(), as for
//   the spool's own "batch" policy): at most one sync per interval under
//   load, whatever the batch rate;
// - always: after every batch, before it is reported exported;
// - never: when the OS likes.
// A failed or short write is rolled back (ftruncate to the previous size),
// so the file never holds a partial line and a retried record is not
// written twice.
//
// Rotation: when the next record would push the file past
// FILE_EXPORTER_MAX_BYTES, PATH is renamed PATH.1 (PATH.1 -> PATH.2, ...,
// keeping FILE_EXPORTER_MAX_FILES rotated files) and a new PATH is started,
// so a batch may be split across files, between records. No file passes the
// limit unless one record alone does: that record gets a file of its own.
// The part of a batch written to a file is flushed before that file is
// rotated; if a later part fails, exportBatch() reports the records already
// written as exported and only the rest as retryable (retry_indexes).
//
// Called only from the exporter's worker thread.
#pragma once

#include "gw/exporter.h"
#include "gw/setting_table.h"
#include "telemetry/fsync_policy.h"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace gw::exporters::file {

struct Options {
  std::string path = "magicapi-gateway-records.jsonl";  // FILE_EXPORTER_PATH
  std::uint64_t max_bytes = 100ull * 1024 * 1024;      // FILE_EXPORTER_MAX_BYTES (0: never rotate)
  int max_files = 5;                                    // FILE_EXPORTER_MAX_FILES: rotated files kept
  FsyncPolicy fsync = FsyncPolicy::kBatch;              // FILE_EXPORTER_FSYNC

  static Result<Options> fromConfig(const ConfigSource& config);
  // The variables fromConfig() reads, for --help (registered with the factory).
  static std::span<const SettingDoc> settings();
};

// JSON lines for a batch (the pure serializer): each record's compact JSON
// and '\n'. Records without a serialized form are skipped and their indexes
// returned in `rejected`.
std::string serializeLines(std::span<const RecordPtr> batch, std::vector<std::size_t>* rejected);

class FileExporter final : public Exporter {
 public:
  explicit FileExporter(Options options);
  ~FileExporter() override;

  std::string_view name() const override { return "file"; }
  Status init() override;
  ExportResult exportBatch(std::span<const RecordPtr> batch) override;
  // Syncs what was written since the last sync (the "batch" policy); a
  // failure is logged and tried again at the next call.
  void flush() override;
  bool flushPending() const override { return unsynced_; }
  void shutdown() override;

  // fdatasync calls made so far (tests read it).
  std::uint64_t syncs() const { return syncs_; }

 private:
  void dropTornTail();
  Status openFile();
  Status rotate();
  Status appendFlushed(std::span<const std::string_view> lines, std::size_t bytes);
  void closeFile();
  int sync();

  Options options_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  bool unsynced_ = false;  // written since the last sync of the open file
  std::uint64_t syncs_ = 0;
};

}  // namespace gw::exporters::file
