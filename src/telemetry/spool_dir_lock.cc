// SpoolDirLock (spool.h): the flock that makes a spool directory belong to
// one running gateway.
#include "telemetry/spool.h"

#include "common/log.h"
#include "gw/config_source.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <charconv>
#include <utility>

namespace gw {

namespace fs = std::filesystem;

namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("spool");
  return l;
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
    logger()->error(
        "spool {}: cannot create the directory ({}): it is not locked, and records that need the "
        "spool will be dropped (counted)",
        dir.string(), ec.message());
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
    logger()->error(
        "spool {}: cannot open the lock file {} ({}): the directory is not locked, and this gateway "
        "cannot tell whether another one uses it",
        dir.string(), path.string(), std::strerror(err));
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
    logger()->error(
        "spool {}: cannot lock {} ({}): the directory is not locked, and this gateway cannot tell "
        "whether another one uses it",
        dir.string(), path.string(), std::strerror(err));
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

}  // namespace gw
