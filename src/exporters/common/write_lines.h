// Writing records as lines (NDJSON) to a file descriptor without copying
// them into one buffer first: writev of each record's own text and a
// newline. Used by the console and file exporters on their worker thread.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <string_view>

namespace gw::exporters {

// The system call writeLines makes; tests pass one that writes little at a
// time or fails.
using WritevFunction = ssize_t (*)(int fd, const iovec* iov, int iovcnt);

// Writes every line of `lines`, each followed by '\n', to `fd`, in order,
// IOV_MAX iovecs per writev, going on after a partial write (from the byte
// where it stopped) and after EINTR. Returns 0 when every byte is written,
// else the errno of the failed call (EIO for a call that wrote nothing
// without an error); `written` (if given) receives the bytes written
// either way.
int writeLines(int fd, std::span<const std::string_view> lines, std::size_t* written = nullptr,
               WritevFunction writev_function = ::writev);

}  // namespace gw::exporters
