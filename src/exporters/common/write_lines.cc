#include "exporters/common/write_lines.h"

#include <limits.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace gw::exporters {

namespace {
#ifdef IOV_MAX
constexpr std::size_t kMaxIovecs = IOV_MAX;
#else
constexpr std::size_t kMaxIovecs = 1024;
#endif
char kNewline[] = "\n";
}  // namespace

int writeLines(int fd, std::span<const std::string_view> lines, std::size_t* written, WritevFunction writev_function) {
  std::size_t total = 0;
  const auto finish = [&](int error) {
    if (written) *written = total;
    return error;
  };
  // Two iovecs per line (its text, then the newline), built one window of
  // at most kMaxIovecs at a time.
  std::vector<iovec> window;
  window.reserve(std::min(kMaxIovecs, 2 * lines.size()));
  std::size_t next_part = 0;  // the next part (2 per line) not yet in a window
  const std::size_t parts = 2 * lines.size();
  while (next_part < parts) {
    window.clear();
    for (; next_part < parts && window.size() < kMaxIovecs; ++next_part) {
      if (next_part % 2 == 1) {
        window.push_back({kNewline, 1});
        continue;
      }
      const std::string_view line = lines[next_part / 2];
      if (!line.empty()) window.push_back({const_cast<char*>(line.data()), line.size()});
    }
    std::size_t first = 0;  // the first iovec of the window not yet fully written
    while (first < window.size()) {
      const ssize_t n = writev_function(fd, window.data() + first, static_cast<int>(window.size() - first));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return finish(n < 0 ? errno : EIO);
      auto left = static_cast<std::size_t>(n);
      total += left;
      while (first < window.size() && left >= window[first].iov_len) left -= window[first++].iov_len;
      if (left > 0) {  // a partial write stopped inside this iovec
        window[first].iov_base = static_cast<char*>(window[first].iov_base) + left;
        window[first].iov_len -= left;
      }
    }
  }
  return finish(0);
}

}  // namespace gw::exporters
