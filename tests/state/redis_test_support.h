// Test helpers for the Redis client: a real redis-server on a free loopback
// port (started and killed by the test), a scripted fake server, and a way
// to run a coroutine on an io_context to its end.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace gw::state::testing {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Sanitizer builds run slower (their test presets set GW_SLOW_FACTOR):
// margins of timing assertions grow with it.
inline double slowFactor() {
  const char* v = std::getenv("GW_SLOW_FACTOR");
  double f = v ? std::atof(v) : 1.0;
  return f < 1.0 ? 1.0 : f;
}
inline std::chrono::milliseconds slow(std::chrono::milliseconds ms) {
  return std::chrono::milliseconds(static_cast<long long>(static_cast<double>(ms.count()) * slowFactor()));
}

// A loopback port nothing listens on (just now).
inline std::uint16_t freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Runs io until the coroutine finishes (or `limit` passes: a test failure).
template <class T>
T runCo(net::io_context& io, net::awaitable<T> aw, std::chrono::milliseconds limit = 10s) {
  std::optional<T> out;
  std::exception_ptr error;
  bool done = false;
  net::co_spawn(io, std::move(aw), [&](std::exception_ptr e, T v) {
    error = e;
    out.emplace(std::move(v));
    done = true;
  });
  const auto deadline = Clock::now() + limit;
  while (!done && Clock::now() < deadline) {
    if (io.stopped()) io.restart();
    io.run_one_for(10ms);
  }
  if (error) std::rethrow_exception(error);
  if (!done) throw std::runtime_error("runCo: the coroutine did not finish in time");
  return std::move(*out);
}

// Runs io for `d` (what is ready runs; the rest waits).
inline void runFor(net::io_context& io, std::chrono::milliseconds d) {
  const auto deadline = Clock::now() + d;
  while (Clock::now() < deadline) {
    if (io.stopped()) io.restart();
    io.run_one_for(5ms);
  }
}

// Runs io until `cond` holds or `limit` passes; returns cond().
inline bool runUntil(net::io_context& io, const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (!cond() && Clock::now() < deadline) {
    if (io.stopped()) io.restart();
    io.run_one_for(5ms);
  }
  return cond();
}

// A real redis-server (Debian's /usr/bin/redis-server, or $REDIS_SERVER)
// on 127.0.0.1:port with no persistence, killed by the destructor.
class RedisServer {
 public:
  explicit RedisServer(std::vector<std::string> extra_args = {}, std::uint16_t port = 0, bool tls = false)
      : extra_(std::move(extra_args)), port_(port ? port : freePort()), tls_(tls) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gw-redis-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    start();
  }
  ~RedisServer() {
    kill();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  static std::string binary() {
    const char* env = std::getenv("REDIS_SERVER");
    return env ? env : "/usr/bin/redis-server";
  }

  std::uint16_t port() const { return port_; }
  std::string url(std::string_view userinfo = "", std::string_view path = "") const {
    std::string u = tls_ ? "rediss://" : "redis://";
    if (!userinfo.empty()) u.append(userinfo).append("@");
    return u + "127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

  // Starts it (again, on the same port) and waits until it accepts.
  void start() {
    if (pid_ > 0) return;
    std::vector<std::string> args = {
        binary(), "--bind", "127.0.0.1",   "--save",    "", "--appendonly",           "no",   "--daemonize",
        "no",     "--dir",  dir_.string(), "--logfile", "", "--enable-debug-command", "local"};
    if (tls_) {
      args.insert(args.end(), {"--port", "0", "--tls-port", std::to_string(port_)});
    } else {
      args.insert(args.end(), {"--port", std::to_string(port_)});
    }
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    std::string log = (dir_ / "redis.log").string();
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      throw std::runtime_error("cannot start " + binary() + " (scripts/install-deps.sh installs redis-server)");
    }
    const auto deadline = Clock::now() + 10s;
    while (!answers()) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("redis-server exited at start; its log: " + log);
      }
      if (Clock::now() > deadline) throw std::runtime_error("redis-server did not start; its log: " + log);
      std::this_thread::sleep_for(10ms);
    }
  }

  // kill -9, and reaped.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  const std::filesystem::path& dir() const { return dir_; }

 private:
  // Accepts a connection and (plain) answers a PING with anything.
  bool answers() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port_);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (ok && !tls_) {
      timeval tv{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      const char ping[] = "PING\r\n";
      char buf[64];
      ok = ::write(fd, ping, sizeof ping - 1) == static_cast<ssize_t>(sizeof ping - 1) &&
           ::read(fd, buf, sizeof buf) > 0;
    }
    ::close(fd);
    return ok;
  }

  std::vector<std::string> extra_;
  std::uint16_t port_;
  bool tls_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
};

// A scripted server on 127.0.0.1: each accepted connection runs `script`.
class FakeRedis {
 public:
  using Script = std::function<net::awaitable<void>(tcp::socket)>;
  FakeRedis(net::io_context& io, Script script) : acceptor_(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    net::co_spawn(io, accept(std::move(script)), [](std::exception_ptr) {});
  }
  ~FakeRedis() {
    boost::system::error_code ec;
    acceptor_.close(ec);
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port()); }
  int accepted() const { return accepted_; }

 private:
  net::awaitable<void> accept(Script script) {
    for (;;) {
      tcp::socket s = co_await acceptor_.async_accept(net::use_awaitable);
      ++accepted_;
      net::co_spawn(acceptor_.get_executor(), script(std::move(s)), [](std::exception_ptr) {});
    }
  }

  tcp::acceptor acceptor_;
  int accepted_ = 0;
};

}  // namespace gw::state::testing
