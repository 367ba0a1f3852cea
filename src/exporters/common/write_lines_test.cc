#include "exporters/common/write_lines.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

namespace gw::exporters {
namespace {

// A writev that takes at most a few bytes per call, fails with EINTR every
// third call, and records what it was given: the caller must go on from the
// exact byte where each call stopped.
std::string g_out;
int g_calls = 0;
std::size_t g_max_iovcnt = 0;
ssize_t tricklingWritev(int, const iovec* iov, int iovcnt) {
  g_max_iovcnt = std::max(g_max_iovcnt, static_cast<std::size_t>(iovcnt));
  if (++g_calls % 3 == 0) {
    errno = EINTR;
    return -1;
  }
  std::size_t budget = 1 + static_cast<std::size_t>(g_calls) % 7;
  std::size_t wrote = 0;
  for (int i = 0; i < iovcnt && budget > 0; ++i) {
    const std::size_t n = std::min(budget, iov[i].iov_len);
    g_out.append(static_cast<const char*>(iov[i].iov_base), n);
    budget -= n;
    wrote += n;
  }
  return static_cast<ssize_t>(wrote);
}

TEST(WriteLines, PartialWritesAndEintrResumeAtTheRightByte) {
  g_out.clear();
  g_calls = 0;
  std::vector<std::string> texts = {R"({"a":1})", "", std::string(100, 'x'), R"({"b":"two"})"};
  std::vector<std::string_view> lines(texts.begin(), texts.end());
  std::size_t written = 0;
  EXPECT_EQ(writeLines(-1, lines, &written, tricklingWritev), 0);
  const std::string expected = texts[0] + "\n\n" + texts[2] + "\n" + texts[3] + "\n";
  EXPECT_EQ(g_out, expected);
  EXPECT_EQ(written, expected.size());
}

TEST(WriteLines, MoreLinesThanIovMaxGoInSeveralCalls) {
  g_out.clear();
  g_calls = 1;  // no EINTR in the first calls
  std::vector<std::string> texts;
  std::string expected;
  for (int i = 0; i < IOV_MAX; ++i) {  // 2 * IOV_MAX iovecs
    texts.push_back(std::to_string(i));
    expected += texts.back() + "\n";
  }
  std::vector<std::string_view> lines(texts.begin(), texts.end());
  g_max_iovcnt = 0;
  EXPECT_EQ(writeLines(-1, lines, nullptr, tricklingWritev), 0);
  EXPECT_EQ(g_out, expected);
  EXPECT_LE(g_max_iovcnt, static_cast<std::size_t>(IOV_MAX));
}

TEST(WriteLines, AFailedWriteReturnsItsErrnoAndWhatWasWritten) {
  std::vector<std::string_view> lines = {"one", "two"};
  std::size_t written = 99;
  EXPECT_EQ(writeLines(-1, lines, &written), EBADF);
  EXPECT_EQ(written, 0u);
  // A real file: every byte arrives.
  char path[] = "/tmp/gw-write-lines-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(writeLines(fd, lines, &written), 0);
  EXPECT_EQ(written, 8u);
  char buf[16] = {};
  EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 8);
  EXPECT_STREQ(buf, "one\ntwo\n");
  close(fd);
  unlink(path);
}

}  // namespace
}  // namespace gw::exporters
