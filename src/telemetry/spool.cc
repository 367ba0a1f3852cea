#include "telemetry/spool.h"
#include "telemetry/record_json.h"

#include "common/log.h"
#include "gw/config_source.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
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

// Writes every byte of `iov` (one writev(2), more only after a partial
// write). Returns the bytes written; fewer than the total on an error (errno
// tells which).
std::size_t writevAll(int fd, std::vector<iovec>& iov, std::uint64_t& calls) {
  std::size_t written = 0, first = 0;
  while (first < iov.size()) {
    ssize_t n = ::writev(fd, iov.data() + first, static_cast<int>(iov.size() - first));
    ++calls;
    if (n < 0) {
      if (errno == EINTR) continue;
      return written;
    }
    written += static_cast<std::size_t>(n);
    auto left = static_cast<std::size_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (left > 0) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return written;
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

}  // namespace

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
  // A text on one line is kept as it is (a spooled record's text is what
  // the record builder wrote); one with a line break is serialised again,
  // compact: a raw newline would split a JSON-lines record.
  std::string text =
      serialized.find_first_of("\r\n") == std::string_view::npos ? std::string(serialized) : boost::json::serialize(v);
  return std::make_shared<TelemetryRecord>(std::string(id->as_string()), std::move(text),
                                           fieldsFromJson(v.as_object()));
}

// Reads a segment's frames one at a time through a small buffer (grown only
// for a frame larger than it), checking each frame's length and CRC.
class Spool::FrameReader {
 public:
  enum class Next { kFrame, kEnd, kCorrupt };
  explicit FrameReader(const fs::path& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~FrameReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  // The next good frame's payload (valid until the next call), the end of
  // the file, or a corrupt tail (a torn or damaged frame; a file that
  // cannot be read counts as one).
  Next next(std::string_view& payload) {
    if (done_) return result_;
    // The end of the file so far: a segment still being written may grow,
    // and the next call reads on from here.
    if (!fill(kHeaderBytes)) return tail_ == head_ && !failed_ ? Next::kEnd : finish(Next::kCorrupt);
    const std::uint32_t len = getU32(buf_.data() + head_);
    const std::uint32_t crc = getU32(buf_.data() + head_ + 4);
    if (len > kMaxFrameBytes || !fill(kHeaderBytes + len)) return finish(Next::kCorrupt);
    payload = std::string_view(buf_.data() + head_ + kHeaderBytes, len);
    if (crcOf(payload) != crc) return finish(Next::kCorrupt);
    head_ += kHeaderBytes + len;
    offset_ += kHeaderBytes + len;
    return Next::kFrame;
  }
  // Bytes of the good frames read so far.
  std::uint64_t offset() const { return offset_; }
  // Bytes after them (the corrupt tail, once next() said kCorrupt).
  std::uint64_t tailBytes() const {
    struct stat st {};
    return fd_ >= 0 && ::fstat(fd_, &st) == 0 && static_cast<std::uint64_t>(st.st_size) > offset_
               ? static_cast<std::uint64_t>(st.st_size) - offset_
               : 0;
  }
  bool finished() const { return done_; }

 private:
  static constexpr std::size_t kBufferBytes = 64 * 1024;
  Next finish(Next r) {
    done_ = true;
    result_ = r;
    buf_ = {};  // nothing more is read: give the buffer back
    head_ = tail_ = 0;
    return r;
  }
  // At least `n` unread bytes in the buffer; false at the end of the file.
  bool fill(std::size_t n) {
    if (fd_ < 0) {
      failed_ = true;
      return false;
    }
    if (tail_ - head_ >= n) return true;
    if (head_ > 0) {
      std::memmove(buf_.data(), buf_.data() + head_, tail_ - head_);
      tail_ -= head_;
      head_ = 0;
    }
    if (buf_.size() < n) buf_.resize(std::max(n, kBufferBytes));
    if (buf_.size() > kBufferBytes && n <= kBufferBytes && tail_ <= kBufferBytes) buf_.resize(kBufferBytes);
    while (tail_ < n) {
      const ssize_t got = ::read(fd_, buf_.data() + tail_, buf_.size() - tail_);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) failed_ = true;
      if (got <= 0) return false;
      tail_ += static_cast<std::size_t>(got);
    }
    return true;
  }

  int fd_;
  std::vector<char> buf_;
  std::size_t head_ = 0, tail_ = 0;
  std::uint64_t offset_ = 0;
  bool done_ = false, failed_ = false;
  Next result_ = Next::kEnd;
};

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
    scanSegmentLocked(s);  // counts and cuts a corrupt tail
    next_seq_ = std::max(next_seq_, s.seq + 1);
    if (s.records == 0) {
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

void Spool::scanSegmentLocked(Segment& segment) {
  FrameReader reader(segment.path);
  std::string_view payload;
  std::uint64_t records = 0;
  FrameReader::Next next;
  while ((next = reader.next(payload)) == FrameReader::Next::kFrame) ++records;
  if (next == FrameReader::Next::kCorrupt) {
    ++corrupt_tails_;
    logger()->warn("spool segment {}: corrupt tail of {} bytes after {} good records skipped", segment.path.string(),
                   reader.tailBytes(), records);
    if (::truncate(segment.path.c_str(), static_cast<off_t>(reader.offset())) != 0)
      logger()->warn("spool segment {}: cannot cut the corrupt tail: {}", segment.path.string(), std::strerror(errno));
  }
  segment.bytes = reader.offset();
  segment.records = records;
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
  const auto frameBytes = [&](std::size_t i) { return kHeaderBytes + records[i]->serialized.size(); };
  std::vector<std::array<char, kHeaderBytes>> headers;
  std::vector<iovec> iov;
  std::size_t stored = 0;
  while (stored < records.size()) {
    if (total_bytes_ + frameBytes(stored) > options_.max_bytes) break;
    if (writer_fd_ >= 0 && segments_.back().bytes >= options_.segment_bytes) closeWriterLocked();
    if (writer_fd_ < 0 && !openWriterLocked()) break;
    Segment& seg = segments_.back();
    // The frames of one write: those that fit in the spool, while the
    // segment is below its size (the first always: a new segment or one
    // below its size was made sure of above).
    std::size_t end = stored, group_bytes = 0;
    while (end < records.size() && end - stored < kMaxFramesPerWrite &&
           total_bytes_ + group_bytes + frameBytes(end) <= options_.max_bytes &&
           (end == stored || seg.bytes + group_bytes < options_.segment_bytes))
      group_bytes += frameBytes(end++);
    headers.resize(end - stored);
    iov.clear();
    for (std::size_t i = stored; i < end; ++i) {
      const std::string& payload = records[i]->serialized;
      auto& header = headers[i - stored];
      putU32(header.data(), static_cast<std::uint32_t>(payload.size()));
      putU32(header.data() + 4, crcOf(payload));
      iov.push_back({header.data(), kHeaderBytes});
      iov.push_back({const_cast<char*>(payload.data()), payload.size()});
    }
    const std::size_t written = writevAll(writer_fd_, iov, write_calls_);
    // The frames written whole (all of them, unless the write failed).
    std::size_t whole = 0, whole_bytes = 0;
    while (stored + whole < end && whole_bytes + frameBytes(stored + whole) <= written)
      whole_bytes += frameBytes(stored + whole++);
    seg.bytes += whole_bytes;
    seg.records += whole;
    total_bytes_ += whole_bytes;
    total_records_ += whole;
    stored += whole;
    if (whole > 0) dirty_ = true;
    if (stored < end) {  // the write failed
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

bool Spool::openReaderLocked() {
  if (reader_) return true;
  if (segments_.empty()) return false;
  // The segment may still be being written: the reader reads the frames
  // appended so far, and more at the next peek(). Appends and reads hold the
  // mutex, so the reader never sees half a frame.
  reader_ = std::make_unique<FrameReader>(segments_.front().path);
  return true;
}

bool Spool::writingOldestLocked() const { return writer_fd_ >= 0 && segments_.size() == 1; }

void Spool::dropOldestLocked() {
  Segment& oldest = segments_.front();
  std::error_code ec;
  fs::remove(oldest.path, ec);
  if (ec) logger()->error("spool: cannot remove {}: {}", oldest.path.string(), ec.message());
  total_bytes_ -= std::min(total_bytes_, oldest.bytes);
  total_records_ -= std::min(total_records_, oldest.records);
  segments_.pop_front();
  reader_.reset();
  replay_.clear();
}

std::vector<RecordPtr> Spool::peek(std::size_t n) {
  std::lock_guard lock(mutex_);
  while (openReaderLocked()) {
    Segment& oldest = segments_.front();
    const bool growing = writingOldestLocked();
    std::string_view payload;
    while (replay_.size() < n && !reader_->finished()) {
      const auto next = reader_->next(payload);
      if (next == FrameReader::Next::kEnd && growing) break;  // what is written so far is read
      if (next == FrameReader::Next::kFrame) {
        if (auto r = recordFromJson(payload)) {
          replay_.push_back(std::move(r));
          continue;
        }
        ++unreadable_;
      } else if (next == FrameReader::Next::kCorrupt) {
        // Damaged since the scan: what follows the last good frame is lost.
        ++corrupt_tails_;
        logger()->warn("spool segment {}: corrupt frame at offset {}: the rest of the segment is skipped",
                       oldest.path.string(), reader_->offset());
        // Nothing more is read from it: new records go to a new segment.
        if (growing) closeWriterLocked();
      }
      if (next != FrameReader::Next::kFrame) {
        // Fewer records than counted: forget the missing ones.
        const std::uint64_t lost = oldest.records - std::min<std::uint64_t>(oldest.records, replay_.size());
        oldest.records -= lost;
        total_records_ -= std::min(total_records_, lost);
        break;
      }
      // An unreadable record (a good CRC but not a record's JSON): skipped.
      if (oldest.records > 0) --oldest.records;
      if (total_records_ > 0) --total_records_;
    }
    if (!replay_.empty()) {
      const std::size_t end = std::min(replay_.size(), n);
      return std::vector<RecordPtr>(replay_.begin(), replay_.begin() + static_cast<std::ptrdiff_t>(end));
    }
    if (n == 0 || writingOldestLocked()) break;  // nothing more written yet
    dropOldestLocked();                          // every record of it consumed, or none left to read
  }
  return {};
}

void Spool::consume(std::size_t n) {
  std::lock_guard lock(mutex_);
  if (!reader_ || segments_.empty()) return;
  n = std::min(n, replay_.size());
  replay_.erase(replay_.begin(), replay_.begin() + static_cast<std::ptrdiff_t>(n));
  Segment& oldest = segments_.front();
  oldest.records -= std::min<std::uint64_t>(oldest.records, n);
  total_records_ -= std::min<std::uint64_t>(total_records_, n);
  // The last record of the segment: delete it now, not at the next peek(),
  // so that a restart does not replay what was delivered (a segment being
  // written is closed first; new records go to a new one).
  if (oldest.records == 0 && replay_.empty()) {
    if (writingOldestLocked()) closeWriterLocked();
    dropOldestLocked();
  }
}

std::size_t Spool::replayBuffered() const {
  std::lock_guard lock(mutex_);
  return replay_.size();
}

std::uint64_t Spool::writeCalls() const {
  std::lock_guard lock(mutex_);
  return write_calls_;
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
