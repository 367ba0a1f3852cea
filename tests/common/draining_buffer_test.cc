// DrainingBuffer: reads through it give exactly what plain reads give, and
// after a read that emptied the socket the next read waits for readiness
// instead of first trying a recv() that fails.
#include "common/draining_buffer.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <dlfcn.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <optional>
#include <string>

// Counts the recv() calls Asio makes (socket_ops::recv1, a header-only
// function compiled into this binary, calls ::recv); forwards to the next
// definition (libc's, or a sanitizer's interceptor).
namespace {
std::atomic<int> g_recv_calls{0};
}
extern "C" ssize_t recv(int fd, void* buf, size_t len, int flags) {
  using Recv = ssize_t (*)(int, void*, size_t, int);
  static Recv next = reinterpret_cast<Recv>(dlsym(RTLD_NEXT, "recv"));
  g_recv_calls.fetch_add(1, std::memory_order_relaxed);
  return next(fd, buf, len, flags);
}

namespace gw {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

struct SocketPair {
  net::io_context io;
  tcp::socket reader{io};
  tcp::socket writer{io};
  SocketPair() {
    tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    writer.connect(acceptor.local_endpoint());
    acceptor.accept(reader);
  }
  void send(std::string_view bytes) { net::write(writer, net::buffer(bytes)); }
};

struct ReadResult {
  boost::system::error_code ec;
  std::size_t n = 0;
};

// Starts one asynchronous read and runs the loop until it completes,
// calling `before_run` after the read was started.
template <class Buffers, class BeforeRun>
std::optional<ReadResult> readOnce(SocketPair& p, const Buffers& buffers, BeforeRun before_run) {
  std::optional<ReadResult> result;
  p.reader.async_read_some(buffers, [&](boost::system::error_code ec, std::size_t n) { result = ReadResult{ec, n}; });
  before_run();
  p.io.restart();
  p.io.run_for(std::chrono::seconds(5));
  return result;
}

TEST(DrainingBuffer, ReadsWhatAPlainReadReads) {
  SocketPair p;
  std::array<char, 64> buf{};
  p.send("hello");
  auto r = readOnce(p, DrainingBuffer{net::buffer(buf)}, [] {});
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ec);
  EXPECT_EQ(std::string(buf.data(), r->n), "hello");

  // A read that fills the buffer leaves the rest for the next read.
  p.send("0123456789");
  std::array<char, 4> small{};
  r = readOnce(p, DrainingBuffer{net::buffer(small)}, [] {});
  ASSERT_TRUE(r);
  EXPECT_EQ(std::string(small.data(), r->n), "0123");
  r = readOnce(p, DrainingBuffer{net::buffer(buf)}, [] {});
  ASSERT_TRUE(r);
  EXPECT_EQ(std::string(buf.data(), r->n), "456789");
}

TEST(DrainingBuffer, BytesArrivingAfterAShortReadAreRead) {
  SocketPair p;
  std::array<char, 64> buf{};
  p.send("first");
  auto r = readOnce(p, DrainingBuffer{net::buffer(buf)}, [] {});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->n, 5u);
  // Sent after the next read is queued...
  r = readOnce(p, DrainingBuffer{net::buffer(buf)}, [&] { p.send("second"); });
  ASSERT_TRUE(r) << "the read after a short read must wake up when bytes arrive";
  EXPECT_EQ(std::string(buf.data(), r->n), "second");
  // ...and before it is started (the readiness event may be handled first).
  p.send("third");
  r = readOnce(p, DrainingBuffer{net::buffer(buf)}, [] {});
  ASSERT_TRUE(r);
  EXPECT_EQ(std::string(buf.data(), r->n), "third");
  // End of stream after a short read.
  p.writer.shutdown(tcp::socket::shutdown_send);
  r = readOnce(p, DrainingBuffer{net::buffer(buf)}, [] {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ec, net::error::eof);
}

TEST(DrainingBuffer, ManyExchangesOnOneSocketAllComplete) {
  SocketPair p;
  std::array<char, 256> buf{};
  for (int i = 0; i < 200; ++i) {
    std::string msg = "request " + std::to_string(i);
    auto r = readOnce(p, DrainingBuffer{net::buffer(buf)}, [&] { p.send(msg); });
    ASSERT_TRUE(r) << "exchange " << i;
    ASSERT_FALSE(r->ec);
    ASSERT_EQ(std::string(buf.data(), r->n), msg);
  }
}

// The point of the type: the read that follows a short read makes one
// recv() (when the bytes are there), where a plain read first tries one
// that fails with EAGAIN.
int recvCallsForReadAfterShortRead(bool draining) {
  SocketPair p;
  std::array<char, 64> buf{};
  p.send("first");
  auto read = [&](auto before) {
    return draining ? readOnce(p, DrainingBuffer{net::buffer(buf)}, before) : readOnce(p, net::buffer(buf), before);
  };
  auto r = read([] {});
  EXPECT_TRUE(r && r->n == 5);
  int before = g_recv_calls.load();
  r = read([&] { p.send("second"); });
  EXPECT_TRUE(r && r->n == 6);
  return g_recv_calls.load() - before;
}

TEST(DrainingBuffer, SkipsTheFailingSpeculativeRecvAfterAShortRead) {
  EXPECT_EQ(recvCallsForReadAfterShortRead(false), 2) << "plain reads: EAGAIN, then the read (the test's baseline)";
  EXPECT_EQ(recvCallsForReadAfterShortRead(true), 1);
}

}  // namespace
}  // namespace gw
