#include "telemetry/spool.h"
#include "telemetry/record_json.h"

#include "common/log.h"
#include "gw/config_source.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <utility>

namespace gw {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kHeaderBytes = 8;
// A frame longer than this is corruption, not a record (records are capped
// by TELEMETRY_MAX_BODY_BYTES per body; 1 GiB is far above any real one).
constexpr std::uint32_t kMaxFrameBytes = 1u << 30;

void putU32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
std::uint32_t getU32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
std::uint32_t crcOf(std::string_view payload) {
  return static_cast<std::uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())));
}

bool parseSegmentName(const std::string& name, std::uint64_t& seq) {
  static constexpr std::string_view kPrefix = "segment-", kSuffix = ".spool";
  if (name.size() != kPrefix.size() + 20 + kSuffix.size() || !name.starts_with(kPrefix) || !name.ends_with(kSuffix))
    return false;
  seq = 0;
  for (std::size_t i = kPrefix.size(); i < kPrefix.size() + 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    seq = seq * 10 + static_cast<std::uint64_t>(name[i] - '0');
  }
  return true;
}

bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void syncDirectory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("spool");
  return l;
}

// The highest segment sequence number among the names in `dir` (0: none),
// whatever the entries are.
std::uint64_t highestSequenceIn(const fs::path& dir) {
  std::uint64_t highest = 0, seq = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (parseSegmentName(it->path().filename().string(), seq)) highest = std::max(highest, seq);
  return highest;
}

// "pid N" from a lock file's content, or "" when it holds none (its holder
// may not have written it yet).
std::string lockHolder(int fd) {
  char buf[32];
  const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  if (n <= 0) return "";
  long long pid = 0;
  auto [end, err] = std::from_chars(buf, buf + n, pid);
  if (err != std::errc() || pid <= 0 || end == buf) return "";
  return "pid " + std::to_string(pid);
}

}  // namespace

SpoolDirLock::SpoolDirLock(SpoolDirLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

SpoolDirLock& SpoolDirLock::operator=(SpoolDirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

SpoolDirLock::~SpoolDirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the only descriptor of the open file description releases the flock
}

Result<SpoolDirLock> SpoolDirLock::acquire(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    logger()->error("spool {}: cannot create the directory ({}): it is not locked, and records that need the "
                    "spool will be dropped (counted)", dir.string(), ec.message());
    return SpoolDirLock{};
  }
  const fs::path path = dir / kFileName;
  // O_NOFOLLOW: the pid is written into the file, never through a symlink
  // planted in its place.
  bool writable = true;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 && (errno == EACCES || errno == EROFS)) {
    // A directory this gateway may read but not write: an existing lock
    // file still locks (flock needs no write access).
    writable = false;
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  }
  if (fd < 0) {
    const int err = errno;
    logger()->error("spool {}: cannot open the lock file {} ({}): the directory is not locked, and this gateway "
                    "cannot tell whether another one uses it", dir.string(), path.string(), std::strerror(err));
    return SpoolDirLock{};
  }
  SpoolDirLock lock;
  lock.fd_ = fd;  // closed on every return below that does not hand the lock out
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EWOULDBLOCK) {
      // Absolute: two gateways started in one working directory share the
      // relative default, and the operator needs to see which directory.
      const fs::path shown = fs::absolute(path, ec).lexically_normal();
      const std::string where = (ec ? dir : shown.parent_path()).string(), file = (ec ? path : shown).string();
      const std::string holder = lockHolder(fd);
      return configError("TELEMETRY_SPOOL_DIR", "'" + where + "' is in use by another running gateway (" +
                                                    (holder.empty() ? "" : holder + ", ") + "lock file " + file +
                                                    "): give each gateway its own spool directory");
    }
    logger()->error("spool {}: cannot lock {} ({}): the directory is not locked, and this gateway cannot tell "
                    "whether another one uses it", dir.string(), path.string(), std::strerror(err));
    return SpoolDirLock{};
  }
  if (writable) {
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
      // Only the message another gateway prints would lack the pid.
    }
  }
  return lock;
}

std::string Spool::frame(std::string_view payload) {
  std::string out(kHeaderBytes + payload.size(), '\0');
  putU32(out.data(), static_cast<std::uint32_t>(payload.size()));
  putU32(out.data() + 4, crcOf(payload));
  std::memcpy(out.data() + kHeaderBytes, payload.data(), payload.size());
  return out;
}

RecordPtr recordFromJson(std::string_view serialized) {
  boost::system::error_code ec;
  boost::json::parse_options options;
  options.max_depth = kMaxRecordDepth;  // the default (32) would refuse records with deep bodies
  boost::json::value v =
      boost::json::parse(boost::json::string_view(serialized.data(), serialized.size()), ec, {}, options);
  if (ec || !v.is_object()) return nullptr;
  const auto* attrs = v.as_object().if_contains("attributes");
  if (!attrs || !attrs->is_object()) return nullptr;
  const auto* id = attrs->as_object().if_contains("id");
  if (!id || !id->is_string()) return nullptr;
  // Serialised again, compact: the text read back may hold whitespace (a
  // raw newline would split a JSON-lines record).
  return std::make_shared<TelemetryRecord>(std::string(id->as_string()), boost::json::serialize(v),
                                           fieldsFromJson(v.as_object()));
}

Spool::Spool(SpoolOptions options) : options_(std::move(options)) {
  options_.segment_bytes = std::max<std::uint64_t>(options_.segment_bytes, 4096);
}

Spool::~Spool() {
  std::lock_guard lock(mutex_);
  closeWriterLocked();
}

Result<std::unique_ptr<Spool>> Spool::open(SpoolOptions options) {
  std::unique_ptr<Spool> spool(new Spool(std::move(options)));
  std::lock_guard lock(spool->mutex_);
  if (auto st = spool->scanLocked(); !st) return st.error();
  return spool;
}

Status Spool::scanLocked() {
  std::error_code ec;
  if (!fs::exists(options_.dir, ec)) return ok();
  std::vector<Segment> found;
  for (fs::directory_iterator it(options_.dir, ec), end; !ec && it != end; it.increment(ec)) {
    Segment s;
    if (!parseSegmentName(it->path().filename().string(), s.seq)) continue;
    // New segments are numbered past every segment name, even one that is
    // not a file: creating a segment never meets a name already taken.
    next_seq_ = std::max(next_seq_, s.seq + 1);
    if (!it->is_regular_file()) continue;
    s.path = it->path();
    found.push_back(std::move(s));
  }
  if (ec) return configError("TELEMETRY_SPOOL_DIR", "cannot read '" + options_.dir.string() + "': " + ec.message());
  std::sort(found.begin(), found.end(), [](const Segment& a, const Segment& b) { return a.seq < b.seq; });
  for (auto& s : found) {
    auto frames = readFramesLocked(s);  // counts and cuts a corrupt tail
    next_seq_ = std::max(next_seq_, s.seq + 1);
    if (frames.empty()) {
      fs::remove(s.path, ec);
      continue;
    }
    total_bytes_ += s.bytes;
    total_records_ += s.records;
    segments_.push_back(std::move(s));
  }
  if (total_records_ > 0)
    logger()->info("spool {}: {} records in {} segments to replay", options_.dir.string(), total_records_,
                   segments_.size());
  return ok();
}

std::vector<std::string> Spool::readFramesLocked(Segment& segment) {
  std::vector<std::string> frames;
  std::ifstream in(segment.path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t pos = 0;
  while (pos < data.size()) {
    if (data.size() - pos < kHeaderBytes) break;
    std::uint32_t len = getU32(data.data() + pos);
    std::uint32_t crc = getU32(data.data() + pos + 4);
    if (len > kMaxFrameBytes || data.size() - pos - kHeaderBytes < len) break;
    std::string_view payload(data.data() + pos + kHeaderBytes, len);
    if (crcOf(payload) != crc) break;
    frames.emplace_back(payload);
    pos += kHeaderBytes + len;
  }
  if (pos < data.size()) {
    ++corrupt_tails_;
    logger()->warn("spool segment {}: corrupt tail of {} bytes after {} good records skipped",
                   segment.path.string(), data.size() - pos, frames.size());
    if (::truncate(segment.path.c_str(), static_cast<off_t>(pos)) != 0)
      logger()->warn("spool segment {}: cannot cut the corrupt tail: {}", segment.path.string(), std::strerror(errno));
  }
  segment.bytes = pos;
  segment.records = frames.size();
  return frames;
}

bool Spool::openWriterLocked() {
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  Segment s;
  // A name can still be taken when the segment is created: something other
  // than this gateway wrote into the directory after the scan (a gateway
  // that could not lock it, a hand copy). Such a file is left alone (it is
  // replayed at the next start) and the sequence moves past every name now
  // in the directory, rather than the records being dropped.
  constexpr int kAttempts = 4;
  for (int attempt = 1;; ++attempt) {
    s.seq = next_seq_++;
    char name[64];
    std::snprintf(name, sizeof name, "segment-%020llu.spool", static_cast<unsigned long long>(s.seq));
    s.path = options_.dir / name;
    writer_fd_ = ::open(s.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (writer_fd_ >= 0) break;
    const int err = errno;
    if (err != EEXIST || attempt == kAttempts) {
      writeErrorLocked("cannot create " + s.path.string() + ": " + std::strerror(err));
      return false;
    }
    logger()->warn("spool {}: {} exists but was not written by this gateway; it is left for the next start",
                   options_.dir.string(), s.path.filename().string());
    next_seq_ = std::max(next_seq_, highestSequenceIn(options_.dir) + 1);
  }
  if (options_.fsync != FsyncPolicy::kNever) syncDirectory(options_.dir);
  segments_.push_back(std::move(s));
  return true;
}

void Spool::closeWriterLocked() {
  if (writer_fd_ < 0) return;
  if (dirty_ && options_.fsync != FsyncPolicy::kNever) ::fdatasync(writer_fd_);
  dirty_ = false;
  ::close(writer_fd_);
  writer_fd_ = -1;
}

std::size_t Spool::append(std::span<const RecordPtr> records) {
  std::lock_guard lock(mutex_);
  std::size_t stored = 0;
  for (const auto& r : records) {
    std::string f = frame(r->serialized);
    if (total_bytes_ + f.size() > options_.max_bytes) break;
    if (writer_fd_ >= 0 && segments_.back().bytes >= options_.segment_bytes) closeWriterLocked();
    if (writer_fd_ < 0 && !openWriterLocked()) break;
    Segment& seg = segments_.back();
    if (!writeAll(writer_fd_, f)) {
      writeErrorLocked("write to " + seg.path.string() + " failed: " + std::strerror(errno));
      // Cut a partial frame so the segment stays well-formed, and start a
      // fresh segment next time.
      if (::ftruncate(writer_fd_, static_cast<off_t>(seg.bytes)) != 0) {
        // The reader's CRC check skips whatever remains.
      }
      closeWriterLocked();
      if (seg.records == 0) {
        // A segment that never got a record (a full disk fails the first
        // write of every new segment): remove it, or each failed append
        // would leave one more empty file and Segment behind.
        std::error_code ec;
        fs::remove(seg.path, ec);
        segments_.pop_back();
      }
      break;
    }
    seg.bytes += f.size();
    ++seg.records;
    total_bytes_ += f.size();
    ++total_records_;
    dirty_ = true;
    ++stored;
  }
  if (stored > 0 && options_.fsync == FsyncPolicy::kAlways && writer_fd_ >= 0) {
    ::fdatasync(writer_fd_);
    dirty_ = false;
  }
  return stored;
}

void Spool::writeErrorLocked(const std::string& message) {
  constexpr std::chrono::seconds kInterval{10};
  const auto now = std::chrono::steady_clock::now();
  if (last_write_error_ != std::chrono::steady_clock::time_point{} && now - last_write_error_ < kInterval) {
    ++suppressed_write_errors_;
    return;
  }
  last_write_error_ = now;
  if (suppressed_write_errors_ > 0)
    logger()->error("spool: {} ({} similar errors in the last {} s; the records are dropped and counted)", message,
                    suppressed_write_errors_, kInterval.count());
  else
    logger()->error("spool: {} (the records are dropped and counted)", message);
  suppressed_write_errors_ = 0;
}

void Spool::sync() {
  std::lock_guard lock(mutex_);
  if (writer_fd_ >= 0 && dirty_ && options_.fsync != FsyncPolicy::kNever) ::fdatasync(writer_fd_);
  dirty_ = false;
}

void Spool::loadOldestLocked() {
  while (!loaded_ && !segments_.empty()) {
    // Never read the segment still being written: close it, so that new
    // records go to a new segment.
    if (segments_.size() == 1 && writer_fd_ >= 0) closeWriterLocked();
    Segment& oldest = segments_.front();
    const std::uint64_t counted = oldest.records;
    const std::uint64_t bytes_before = oldest.bytes;
    auto frames = readFramesLocked(oldest);
    // Bytes and records may shrink if the file was damaged since the scan.
    total_bytes_ -= bytes_before - std::min(bytes_before, oldest.bytes);
    total_records_ -= counted - std::min(counted, oldest.records);
    loaded_records_.clear();
    for (const auto& f : frames) {
      if (auto r = recordFromJson(f)) {
        loaded_records_.push_back(std::move(r));
      } else {
        ++unreadable_;
        --oldest.records;
        --total_records_;
      }
    }
    consumed_ = 0;
    if (loaded_records_.empty()) {
      std::error_code ec;
      fs::remove(oldest.path, ec);
      total_bytes_ -= oldest.bytes;
      total_records_ -= oldest.records;
      segments_.pop_front();
      continue;
    }
    loaded_ = true;
  }
}

std::vector<RecordPtr> Spool::peek(std::size_t n) {
  std::lock_guard lock(mutex_);
  loadOldestLocked();
  std::vector<RecordPtr> out;
  if (!loaded_) return out;
  const std::size_t end = std::min(loaded_records_.size(), consumed_ + n);
  out.assign(loaded_records_.begin() + static_cast<std::ptrdiff_t>(consumed_),
             loaded_records_.begin() + static_cast<std::ptrdiff_t>(end));
  return out;
}

void Spool::consume(std::size_t n) {
  std::lock_guard lock(mutex_);
  if (!loaded_) return;
  n = std::min(n, loaded_records_.size() - consumed_);
  consumed_ += n;
  Segment& oldest = segments_.front();
  oldest.records -= std::min<std::uint64_t>(oldest.records, n);
  total_records_ -= std::min<std::uint64_t>(total_records_, n);
  if (consumed_ < loaded_records_.size()) return;
  std::error_code ec;
  fs::remove(oldest.path, ec);
  if (ec) logger()->error("spool: cannot remove {}: {}", oldest.path.string(), ec.message());
  total_bytes_ -= std::min(total_bytes_, oldest.bytes);
  total_records_ -= std::min(total_records_, oldest.records);
  segments_.pop_front();
  loaded_ = false;
  loaded_records_.clear();
  consumed_ = 0;
}

bool Spool::dirty() const {
  std::lock_guard lock(mutex_);
  return dirty_ && writer_fd_ >= 0 && options_.fsync == FsyncPolicy::kBatch;
}

std::uint64_t Spool::records() const {
  std::lock_guard lock(mutex_);
  return total_records_;
}
std::uint64_t Spool::bytes() const {
  std::lock_guard lock(mutex_);
  return total_bytes_;
}
std::uint64_t Spool::corruptTails() const {
  std::lock_guard lock(mutex_);
  return corrupt_tails_;
}
std::uint64_t Spool::unreadableRecords() const {
  std::lock_guard lock(mutex_);
  return unreadable_;
}

}  // namespace gw
