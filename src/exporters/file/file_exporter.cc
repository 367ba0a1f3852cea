#include "exporters/file/file_exporter.h"

#include "common/log.h"
#include "exporters/common/write_lines.h"
#include "gw/exporter_registry.h"
#include "gw/setting_table.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace gw::exporters::file {
namespace {
std::string errnoText(const std::string& what, int err) { return what + ": " + std::strerror(err); }
}  // namespace

namespace {
constexpr SettingDoc kSettings[] = {
    {"FILE_EXPORTER_PATH", "magicapi-gateway-records.jsonl",
     "file the records are appended to (its directory must exist)"},
    {"FILE_EXPORTER_MAX_BYTES", "104857600", "rotate past this size; 0 never rotates"},
    {"FILE_EXPORTER_MAX_FILES", "5", "rotated files kept"},
    {"FILE_EXPORTER_FSYNC", "batch",
     "when fdatasync runs: batch (within one TELEMETRY_FLUSH_INTERVAL_MS of a write), always (every batch, before "
     "it counts as exported) or never; true and false mean always and never"},
};
}  // namespace

std::span<const SettingDoc> Options::settings() { return kSettings; }

Result<Options> Options::fromConfig(const ConfigSource& source) {
  const DeclaredSettings<kSettings> config(source);
  Options o;
  o.path = config.getString("FILE_EXPORTER_PATH", o.path);
  auto max_bytes = config.getInt("FILE_EXPORTER_MAX_BYTES", static_cast<std::int64_t>(o.max_bytes), 0,
                                 std::int64_t{1} << 50);
  if (!max_bytes) return max_bytes.error();
  o.max_bytes = static_cast<std::uint64_t>(*max_bytes);
  auto max_files = config.getInt("FILE_EXPORTER_MAX_FILES", o.max_files, 1, 1000);
  if (!max_files) return max_files.error();
  o.max_files = static_cast<int>(*max_files);
  // true and false are accepted too, as always and never.
  std::string fsync = config.getString("FILE_EXPORTER_FSYNC", "batch");
  if (fsync == "true") fsync = "always";
  if (fsync == "false") fsync = "never";
  auto policy = parseFsyncPolicy("FILE_EXPORTER_FSYNC", fsync);
  if (!policy) return policy.error();
  o.fsync = *policy;
  // The directory must exist: a typo should stop start-up, not drop records later.
  auto slash = o.path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : o.path.substr(0, slash));
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return configError("FILE_EXPORTER_PATH", "directory " + dir + " does not exist");
  return o;
}

namespace {
// The lines of a batch: the text of each record written (a view of the
// record's own string: nothing is copied) and where its line ends, counted
// in bytes from the batch's first line: rotation splits a batch only
// between lines.
struct Lines {
  std::vector<std::string_view> texts;
  std::vector<std::size_t> indexes;  // into the batch, in order
  std::vector<std::size_t> ends;     // offset just past each line's '\n'
};

Lines selectLines(std::span<const RecordPtr> batch, std::vector<std::size_t>* rejected) {
  Lines out;
  out.texts.reserve(batch.size());
  out.indexes.reserve(batch.size());
  out.ends.reserve(batch.size());
  std::size_t end = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const std::string_view s = batch[i]->serialized;
    // A line must be one record: compact JSON never holds a raw newline.
    if (s.empty() || s.find('\n') != std::string_view::npos) {
      if (rejected) rejected->push_back(i);
      continue;
    }
    end += s.size() + 1;
    out.texts.push_back(s);
    out.indexes.push_back(i);
    out.ends.push_back(end);
  }
  return out;
}
}  // namespace

std::string serializeLines(std::span<const RecordPtr> batch, std::vector<std::size_t>* rejected) {
  const Lines lines = selectLines(batch, rejected);
  std::string out;
  out.reserve(lines.ends.empty() ? 0 : lines.ends.back());
  for (const auto text : lines.texts) {
    out += text;
    out += '\n';
  }
  return out;
}

FileExporter::FileExporter(Options options) : options_(std::move(options)) {}
FileExporter::~FileExporter() { closeFile(); }

// Closing a file with unsynced lines syncs them first: rotation renames
// the file, and the "batch" policy's flush() syncs only the open one.
void FileExporter::closeFile() {
  if (fd_ < 0) return;
  if (const int err = unsynced_ ? sync() : 0; err != 0)
    log::get("file")->warn("fdatasync {}: {}", options_.path, std::strerror(err));
  ::close(fd_);
  fd_ = -1;
  unsynced_ = false;
}

int FileExporter::sync() {
  ++syncs_;
  if (::fdatasync(fd_) != 0) return errno;
  unsynced_ = false;
  return 0;
}

void FileExporter::flush() {
  if (fd_ < 0 || !unsynced_) return;
  if (const int err = sync(); err != 0)
    log::get("file")->warn("fdatasync {}: {} (tried again in one flush interval)", options_.path, std::strerror(err));
}

void FileExporter::shutdown() { closeFile(); }

Status FileExporter::openFile() {
  if (fd_ >= 0) return ok();
  fd_ = ::open(options_.path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);  // read: dropTornTail
  if (fd_ < 0) return Error::internal(errnoText("file exporter: open " + options_.path, errno));
  struct stat st{};
  if (::fstat(fd_, &st) != 0) {
    int err = errno;
    closeFile();
    return Error::internal(errnoText("file exporter: stat " + options_.path, err));
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
  dropTornTail();
  return ok();
}

// A process killed in the middle of a write() leaves part of a line at the
// end of the file; the next batch would be glued to it. Cut the file back
// to its last complete line (the torn records come back from the spool, or
// were never acknowledged).
void FileExporter::dropTornTail() {
  std::uint64_t end = size_;
  char buf[4096];
  while (end > 0) {
    const std::uint64_t start = end > sizeof buf ? end - sizeof buf : 0;
    const auto want = static_cast<std::size_t>(end - start);
    if (::pread(fd_, buf, want, static_cast<off_t>(start)) != static_cast<ssize_t>(want)) return;  // leave it be
    for (std::size_t i = want; i > 0; --i) {
      if (buf[i - 1] != '\n') continue;
      const std::uint64_t keep = start + i;
      if (keep != size_ && ::ftruncate(fd_, static_cast<off_t>(keep)) == 0) size_ = keep;
      return;
    }
    end = start;
  }
  if (size_ > 0 && ::ftruncate(fd_, 0) == 0) size_ = 0;  // not one complete line
}

Status FileExporter::rotate() {
  closeFile();
  const std::string& p = options_.path;
  ::unlink((p + "." + std::to_string(options_.max_files)).c_str());
  for (int i = options_.max_files - 1; i >= 1; --i)
    ::rename((p + "." + std::to_string(i)).c_str(), (p + "." + std::to_string(i + 1)).c_str());
  if (::rename(p.c_str(), (p + ".1").c_str()) != 0 && errno != ENOENT)
    return Error::internal(errnoText("file exporter: rotate " + p, errno));
  return openFile();
}

Status FileExporter::init() { return openFile(); }

// Writes `lines`, each followed by '\n' (`bytes` in all), at the end of
// the open file with writev and flushes them (the fsync policy). On failure
// the file is cut back to its size before, so it never holds part of this
// run.
Status FileExporter::appendFlushed(std::span<const std::string_view> lines, std::size_t bytes) {
  const std::uint64_t before = size_;
  if (const int err = writeLines(fd_, lines); err != 0) {
    if (::ftruncate(fd_, static_cast<off_t>(before)) != 0) closeFile();
    return Error::internal(errnoText("file exporter: write " + options_.path, err));
  }
  if (options_.fsync == FsyncPolicy::kAlways) {
    if (const int err = sync(); err != 0) {
      if (::ftruncate(fd_, static_cast<off_t>(before)) != 0) closeFile();
      return Error::internal(errnoText("file exporter: fdatasync " + options_.path, err));
    }
  } else if (options_.fsync == FsyncPolicy::kBatch) {
    unsynced_ = true;
  }
  size_ = before + bytes;
  return ok();
}

// The batch goes out in runs, one per file: a run takes lines while the
// file stays within max_bytes, and the file is rotated before the line that
// would pass it (a line longer than max_bytes gets a file of its own). Each
// run is written and flushed before the file is rotated, so when a later
// run fails, the earlier ones are on disk for good: they are reported
// exported and only the records from the failed run on are retried.
ExportResult FileExporter::exportBatch(std::span<const RecordPtr> batch) {
  std::vector<std::size_t> rejected;
  const Lines lines = selectLines(batch, &rejected);
  const std::size_t count = lines.indexes.size();
  std::size_t done = 0;  // lines written and flushed
  std::size_t offset = 0;
  const auto failed = [&](const Error& error) {
    auto r = ExportResult::retryable(error.message);
    r.rejected_indexes = rejected;
    // Nothing written: every record but the rejected ones is retried, and
    // the attempt counts as a failure for the circuit breaker. Otherwise
    // only the records not yet written are retried.
    if (done > 0)
      r.retry_indexes.assign(lines.indexes.begin() + static_cast<std::ptrdiff_t>(done), lines.indexes.end());
    return r;
  };
  // Whether the file can take the unwritten lines up to and including `line`.
  const auto fits = [&](std::size_t line) {
    return options_.max_bytes == 0 || size_ + (lines.ends[line] - offset) <= options_.max_bytes;
  };
  while (done < count) {
    if (auto st = openFile(); !st) return failed(st.error());
    if (size_ > 0 && !fits(done)) {
      if (auto st = rotate(); !st) return failed(st.error());
    }
    std::size_t end = done + 1;  // a fresh file takes at least one line
    while (end < count && fits(end)) ++end;
    const std::size_t run_end = lines.ends[end - 1];
    const auto run = std::span<const std::string_view>(lines.texts).subspan(done, end - done);
    if (auto st = appendFlushed(run, run_end - offset); !st) return failed(st.error());
    done = end;
    offset = run_end;
  }
  if (rejected.empty()) return ExportResult::success();
  auto r = ExportResult::permanent("file exporter: " + std::to_string(rejected.size()) + " record(s) without JSON");
  r.rejected_indexes = std::move(rejected);
  return r;
}

}  // namespace gw::exporters::file

GW_REGISTER_EXPORTER_CLASS(file, gw::exporters::file::Options, gw::exporters::file::FileExporter)
