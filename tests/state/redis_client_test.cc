// RedisClient against a real redis-server (started on a free loopback port
// by each test) and against scripted fake servers: commands, pipelining,
// EVALSHA with the NOSCRIPT fallback, AUTH (password, ACL user), SELECT,
// the bounded wait, a killed and restarted server, TLS, hostile replies.
#include "state/redis_client.h"

#include "exporters/common/testing/test_pki.h"
#include "redis_test_support.h"
#include "upstream/upstream_pool.h"

#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <set>

namespace gw::state {
namespace {

using namespace testing;
using namespace std::string_literals;

RedisEndpoint endpointOf(const std::string& url) {
  auto e = parseRedisUrl(url);
  EXPECT_TRUE(e) << (e ? "" : e.error().message);
  return e ? *e : RedisEndpoint{};
}

// A client with an error log.
struct Client {
  Client(net::io_context& io, const std::string& url, std::chrono::milliseconds timeout = 1000ms,
         std::shared_ptr<net::ssl::context> tls = nullptr, RedisClientTuning tuning = {})
      : client(
            io, endpointOf(url), std::move(tls), timeout,
            [this](const gw::Error& e) { errors.emplace_back(e.message); }, tuning) {}
  std::vector<std::string> errors;
  RedisClient client;
};

Result<RedisReply> call(net::io_context& io, RedisClient& c, std::vector<std::string> args) {
  return runCo(io, [&]() -> net::awaitable<Result<RedisReply>> {
    std::vector<std::string_view> views(args.begin(), args.end());
    co_return co_await c.command(views);
  }());
}

std::string errorOf(const Result<RedisReply>& r) {
  return r ? "(no error)" : r.error().code + ": " + r.error().message;
}

TEST(RedisClient, PingSetGet) {
  RedisServer server;
  net::io_context io;
  Client c(io, server.url());
  auto pong = call(io, c.client, {"PING"});
  ASSERT_TRUE(pong) << errorOf(pong);
  EXPECT_EQ(*pong, RedisReply::makeString("PONG"));
  EXPECT_EQ(c.client.state(), RedisState::up);
  const std::string binary = "v\r\n\0\xff"s;
  auto set = call(io, c.client, {"SET", "k", binary});
  ASSERT_TRUE(set) << errorOf(set);
  EXPECT_EQ(set->str, "OK");
  auto get = call(io, c.client, {"GET", "k"});
  ASSERT_TRUE(get);
  EXPECT_EQ(*get, RedisReply::makeString(binary));
  auto missing = call(io, c.client, {"GET", "nope"});
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->isNil());
  auto list = call(io, c.client, {"MGET", "k", "nope"});
  ASSERT_TRUE(list);
  EXPECT_EQ(*list, RedisReply::makeArray({RedisReply::makeString(binary), RedisReply{}}));
  // An error reply is an Error, counted.
  auto wrong = call(io, c.client, {"INCR", "k"});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, "state_error_reply");
  EXPECT_NE(wrong.error().message.find("not an integer"), std::string::npos);
  EXPECT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.client.state(), RedisState::up);  // the connection is fine
  EXPECT_EQ(c.client.stats().connects, 1u);

  // close(): later calls fail at once, and the io_context runs out of work
  // (a connected client always has a read pending).
  c.client.close();
  auto closed = call(io, c.client, {"PING"});
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().code, "state_unavailable");
  EXPECT_EQ(c.client.state(), RedisState::down);
  io.restart();
  const auto t0 = Clock::now();
  io.run_for(5s);
  EXPECT_LT(Clock::now() - t0, 1s);
  EXPECT_EQ(c.errors.size(), 1u);  // closing is no Redis failure
}

TEST(RedisClient, ConcurrentCallsArePipelined) {
  RedisServer server;
  net::io_context io;
  Client c(io, server.url());
  ASSERT_TRUE(call(io, c.client, {"PING"}));
  const auto before = c.client.stats();
  constexpr int kCalls = 1000;
  std::vector<long long> seen;
  int done = 0;
  for (int i = 0; i < kCalls; ++i) {
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
          auto r = co_await c.client.command("INCR", "counter");
          EXPECT_TRUE(r) << errorOf(r);
          if (r) seen.push_back(r->integer);
          ++done;
        },
        net::detached);
  }
  ASSERT_TRUE(runUntil(
      io, [&] { return done == kCalls; }, 10s));
  auto total = call(io, c.client, {"GET", "counter"});
  ASSERT_TRUE(total);
  EXPECT_EQ(total->str, std::to_string(kCalls));
  // Every reply went to its own call: each value once.
  std::set<long long> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(kCalls));
  EXPECT_EQ(*unique.begin(), 1);
  EXPECT_EQ(*unique.rbegin(), kCalls);
  const auto s = c.client.stats();
  const auto calls = s.calls - before.calls - 1;  // without the GET
  const auto writes = s.writes - before.writes - 1;
  EXPECT_EQ(calls, static_cast<std::uint64_t>(kCalls));
  EXPECT_LT(writes, calls / 10) << writes << " writes for " << calls << " calls";
  std::printf("[ pipelining ] %llu INCRs in %llu writes\n", static_cast<unsigned long long>(calls),
              static_cast<unsigned long long>(writes));
}

const RedisScript kIncrBy(
    "local v = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return v\n");

Result<RedisReply> incrBy(net::io_context& io, RedisClient& c, std::string_view key, std::string_view by) {
  return runCo(io, [&]() -> net::awaitable<Result<RedisReply>> {
    co_return co_await c.evalsha(kIncrBy, std::array<std::string_view, 1>{key},
                                 std::array<std::string_view, 2>{by, "60000"});
  }());
}

TEST(RedisClient, EvalshaFallsBackToEvalOnNoscript) {
  EXPECT_EQ(kIncrBy.sha1().size(), 40u);
  RedisServer server;
  net::io_context io;
  Client c(io, server.url());
  // Unknown to a fresh server: NOSCRIPT, then EVAL (which caches it).
  auto first = incrBy(io, c.client, "budget", "5");
  ASSERT_TRUE(first) << errorOf(first);
  EXPECT_EQ(first->integer, 5);
  auto exists = call(io, c.client, {"SCRIPT", "EXISTS", kIncrBy.sha1()});
  ASSERT_TRUE(exists);
  EXPECT_EQ(*exists, RedisReply::makeArray({RedisReply::makeInteger(1)}));  // our SHA-1 is Redis's
  const auto calls_before = c.client.stats().calls;
  auto second = incrBy(io, c.client, "budget", "7");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->integer, 12);
  EXPECT_EQ(c.client.stats().calls - calls_before, 1u);  // EVALSHA alone
  // Flushed (or restarted): the fallback again, and the count is right.
  ASSERT_TRUE(call(io, c.client, {"SCRIPT", "FLUSH"}));
  auto third = incrBy(io, c.client, "budget", "1");
  ASSERT_TRUE(third) << errorOf(third);
  EXPECT_EQ(third->integer, 13);
  EXPECT_TRUE(c.errors.empty());  // NOSCRIPT is no failure
  // A script's own error is an error reply, counted.
  auto bad = incrBy(io, c.client, "budget", "not-a-number");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "state_error_reply");
  EXPECT_EQ(c.errors.size(), 1u);
}

TEST(RedisClient, EvalshaUnderConcurrencyIsExact) {
  RedisServer server;
  net::io_context io;
  Client a(io, server.url()), b(io, server.url());  // two "instances"
  int done = 0;
  for (int i = 0; i < 200; ++i) {
    for (RedisClient* c : {&a.client, &b.client}) {
      net::co_spawn(
          io,
          [&, c]() -> net::awaitable<void> {
            const std::array<std::string_view, 1> keys{"spend"};
            const std::array<std::string_view, 2> args{"3", "60000"};
            auto r = co_await c->evalsha(kIncrBy, keys, args);
            EXPECT_TRUE(r) << errorOf(r);
            ++done;
          },
          net::detached);
    }
  }
  ASSERT_TRUE(runUntil(
      io, [&] { return done == 400; }, 10s));
  auto total = call(io, a.client, {"GET", "spend"});
  ASSERT_TRUE(total);
  EXPECT_EQ(total->str, "1200");
}

TEST(RedisClient, AuthWithRequirepass) {
  const std::string password = "Pa55-word:with@chars";
  RedisServer server({"--requirepass", password});
  net::io_context io;
  Client good(io, server.url(":Pa55-word%3Awith%40chars"));
  auto r = call(io, good.client, {"SET", "a", "1"});
  ASSERT_TRUE(r) << errorOf(r);

  Client wrong(io, server.url(":not-" + password.substr(0, 8)));
  auto denied = call(io, wrong.client, {"GET", "a"});
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, "state_unavailable");
  EXPECT_NE(denied.error().message.find("AUTH failed"), std::string::npos) << denied.error().message;
  EXPECT_EQ(denied.error().message.find("not-Pa55"), std::string::npos);
  EXPECT_EQ(wrong.client.state(), RedisState::down);
  for (const auto& e : wrong.errors) EXPECT_EQ(e.find("not-Pa55"), std::string::npos);

  // No password at all: the PING of the handshake is refused (NOAUTH).
  Client none(io, server.url());
  auto noauth = call(io, none.client, {"GET", "a"});
  ASSERT_FALSE(noauth);
  EXPECT_NE(noauth.error().message.find("NOAUTH"), std::string::npos) << noauth.error().message;
}

TEST(RedisClient, AuthAsAnAclUser) {
  RedisServer server({"--requirepass", "admin-pass"});
  net::io_context io;
  Client admin(io, server.url(":admin-pass"));
  auto created = call(io, admin.client, {"ACL", "SETUSER", "gateway", "on", ">gw-secret-1", "~*", "&*", "+@all"});
  ASSERT_TRUE(created) << errorOf(created);

  Client user(io, server.url("gateway:gw-secret-1"));
  auto who = call(io, user.client, {"ACL", "WHOAMI"});
  ASSERT_TRUE(who) << errorOf(who);
  EXPECT_EQ(who->str, "gateway");

  Client wrong(io, server.url("gateway:gw-secret-2"));
  auto denied = call(io, wrong.client, {"PING"});
  ASSERT_FALSE(denied);
  EXPECT_NE(denied.error().message.find("WRONGPASS"), std::string::npos) << denied.error().message;
  EXPECT_EQ(denied.error().message.find("gw-secret"), std::string::npos);
}

TEST(RedisClient, SelectsTheDatabase) {
  RedisServer server;
  net::io_context io;
  Client db3(io, server.url("", "/3")), db0(io, server.url("", "/0"));
  ASSERT_TRUE(call(io, db3.client, {"SET", "only-in-3", "x"}));
  auto in0 = call(io, db0.client, {"GET", "only-in-3"});
  ASSERT_TRUE(in0);
  EXPECT_TRUE(in0->isNil());
  auto in3 = call(io, db3.client, {"GET", "only-in-3"});
  ASSERT_TRUE(in3);
  EXPECT_EQ(in3->str, "x");
  // A database the server does not have: no command runs in another one.
  Client db99(io, server.url("", "/99"));
  auto r = call(io, db99.client, {"SET", "only-in-3", "overwritten"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("SELECT 99 failed"), std::string::npos) << r.error().message;
  auto still = call(io, db3.client, {"GET", "only-in-3"});
  ASSERT_TRUE(still);
  EXPECT_EQ(still->str, "x");
}

TEST(RedisClient, ASlowServerCostsACallNoMoreThanTheTimeout) {
  RedisServer server;
  net::io_context io;
  Client admin(io, server.url(), 5000ms);
  Client c(io, server.url(), 50ms, nullptr, RedisClientTuning{.reconnect_min = 100ms, .reconnect_max = 200ms});
  ASSERT_TRUE(call(io, c.client, {"PING"}));
  ASSERT_TRUE(call(io, admin.client, {"PING"}));
  // The server sleeps 300 ms (asked on another connection).
  bool slept = false;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        auto r = co_await admin.client.command("DEBUG", "SLEEP", "0.3");
        EXPECT_TRUE(r) << errorOf(r);
        slept = true;
      },
      net::detached);
  runFor(io, 20ms);  // DEBUG SLEEP is on its way
  const auto t0 = Clock::now();
  auto r = call(io, c.client, {"GET", "k"});
  const auto waited = Clock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "state_timeout") << r.error().message;
  EXPECT_NE(r.error().message.find("within 50 ms"), std::string::npos);
  EXPECT_GE(waited, 45ms);
  EXPECT_LT(waited, 50ms + slow(100ms)) << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count();
  EXPECT_EQ(c.client.state(), RedisState::down);
  // While the server still sleeps, calls fail at once.
  const auto t1 = Clock::now();
  auto fast = call(io, c.client, {"GET", "k"});
  EXPECT_FALSE(fast);
  EXPECT_LT(Clock::now() - t1, 20ms + slow(10ms));
  // Once it is awake, calls succeed again.
  ASSERT_TRUE(runUntil(
      io, [&] { return slept; }, 2s));
  bool recovered = false;
  const auto deadline = Clock::now() + slow(2000ms);
  while (!recovered && Clock::now() < deadline) {
    recovered = static_cast<bool>(call(io, c.client, {"GET", "k"}));
    if (!recovered) runFor(io, 20ms);
  }
  EXPECT_TRUE(recovered);
  EXPECT_EQ(c.client.state(), RedisState::up);
  EXPECT_GE(c.errors.size(), 2u);
}

namespace {
// Kills the server under a connected client: the connection's pending
// read sees the close at once, and the client reports down.
bool killAndSeeDown(RedisServer& server, net::io_context& io, RedisClient& client) {
  server.kill();
  return runUntil(
      io, [&] { return client.state() == RedisState::down; }, slow(1000ms));
}
}  // namespace

TEST(RedisClient, AKilledServerFailsCallsFastAndARestartedOneServesAgain) {
  auto server = std::make_unique<RedisServer>();
  const std::uint16_t port = server->port();
  net::io_context io;
  Client c(io, server->url(), 1000ms);
  ASSERT_TRUE(call(io, c.client, {"SET", "k", "1"}));
  ASSERT_TRUE(killAndSeeDown(*server, io, c.client));
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    auto r = call(io, c.client, {"GET", "k"});
    const auto took = Clock::now() - t0;
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "state_unavailable") << r.error().message;
    EXPECT_LT(took, slow(50ms)) << "a dead Redis must cost nothing";
    runFor(io, 60ms);  // reconnect attempts come and fail (refused)
  }
  EXPECT_EQ(c.client.state(), RedisState::down);

  server = std::make_unique<RedisServer>(std::vector<std::string>{}, port);  // same port, empty
  bool recovered = false;
  const auto deadline = Clock::now() + slow(3000ms);
  while (!recovered && Clock::now() < deadline) {
    auto r = call(io, c.client, {"GET", "k"});
    recovered = static_cast<bool>(r);
    if (recovered) {
      EXPECT_TRUE(r->isNil());  // a new, empty server
    } else {
      runFor(io, 25ms);
    }
  }
  EXPECT_TRUE(recovered);
  EXPECT_EQ(c.client.stats().connects, 2u);
}

// The call that finds a reconnect attempt due waits for it: once Redis is
// back, the first call after the backoff succeeds instead of failing while
// the connection comes up behind it.
TEST(RedisClient, TheFirstCallAfterARestartIsServed) {
  auto server = std::make_unique<RedisServer>();
  const std::uint16_t port = server->port();
  net::io_context io;
  Client c(io, server->url(), 1000ms);
  ASSERT_TRUE(call(io, c.client, {"SET", "k", "1"}));
  ASSERT_TRUE(killAndSeeDown(*server, io, c.client));
  ASSERT_FALSE(call(io, c.client, {"GET", "k"}));  // refused: known down from here
  server = std::make_unique<RedisServer>(std::vector<std::string>{}, port);
  runFor(io, RedisClientTuning{}.reconnect_max + 50ms);  // past any backoff
  auto r = call(io, c.client, {"GET", "k"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->isNil());
  EXPECT_EQ(c.client.state(), RedisState::up);
}

TEST(RedisClient, NoServerAtAll) {
  net::io_context io;
  Client c(io, "redis://127.0.0.1:" + std::to_string(freePort()), 1000ms);
  const auto t0 = Clock::now();
  auto r = call(io, c.client, {"PING"});
  ASSERT_FALSE(r);
  EXPECT_LT(Clock::now() - t0, slow(200ms));  // refused, not waited for
  EXPECT_EQ(r.error().code, "state_unavailable");
  EXPECT_NE(r.error().message.find("cannot connect to Redis at redis://127.0.0.1:"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(c.client.state(), RedisState::down);
  EXPECT_EQ(c.errors.size(), 1u);
}

TEST(RedisClient, Tls) {
  auto pki = exporters::testing::TestPki::generate({"IP:127.0.0.1", "DNS:localhost"});
  // Debian 12's redis-server is built with TLS: a server that does not
  // start is a failure, not a reason to skip.
  auto server = std::make_unique<RedisServer>(
      std::vector<std::string>{"--tls-cert-file", pki.cert_file, "--tls-key-file", pki.key_file, "--tls-ca-cert-file",
                               pki.ca_file, "--tls-auth-clients", "no"},
      0, true);
  net::io_context io;
  auto trusting = upstream::makeClientTlsContext(pki.ca_file);
  ASSERT_TRUE(trusting);
  Client c(io, server->url(), 1000ms, *trusting);
  auto set = call(io, c.client, {"SET", "k", "over tls"});
  ASSERT_TRUE(set) << errorOf(set);
  auto get = call(io, c.client, {"GET", "k"});
  ASSERT_TRUE(get);
  EXPECT_EQ(get->str, "over tls");
  // Pipelined over TLS too.
  int done = 0;
  for (int i = 0; i < 100; ++i) {
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
          EXPECT_TRUE(co_await c.client.command("INCR", "n"));
          ++done;
        },
        net::detached);
  }
  ASSERT_TRUE(runUntil(
      io, [&] { return done == 100; }, 5s));
  EXPECT_EQ(call(io, c.client, {"GET", "n"})->str, "100");

  // By name: SNI and the DNS name checked.
  Client named(io, "rediss://localhost:" + std::to_string(server->port()), 1000ms, *trusting);
  EXPECT_TRUE(call(io, named.client, {"PING"}));

  // A CA that did not sign the server's certificate: refused.
  auto stranger_pki = exporters::testing::TestPki::generate({"IP:127.0.0.1"}, "another CA");
  auto stranger = upstream::makeClientTlsContext(stranger_pki.ca_file);
  ASSERT_TRUE(stranger);
  Client untrusting(io, server->url(), 1000ms, *stranger);
  auto refused = call(io, untrusting.client, {"PING"});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("TLS handshake failed"), std::string::npos) << refused.error().message;

  // rediss:// without a TLS context: an error, no plaintext.
  Client no_ctx(io, server->url(), 1000ms, nullptr);
  auto r = call(io, no_ctx.client, {"PING"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("TLS context"), std::string::npos) << r.error().message;
}

// --- Fake servers ----------------------------------------------------------

// Reads what the client sends; answers its handshake PING with PONG, then
// runs `then` (with what came after the PING).
FakeRedis::Script afterPing(const std::function<net::awaitable<void>(tcp::socket&, std::string)>& then) {
  return [then](tcp::socket s) -> net::awaitable<void> {
    std::string in;
    char buf[4096];
    while (in.find("PING\r\n") == std::string::npos) {
      std::size_t n = co_await s.async_read_some(net::buffer(buf), net::use_awaitable);
      in.append(buf, n);
    }
    co_await net::async_write(s, net::buffer("+PONG\r\n"s), net::use_awaitable);
    co_await then(s, in.substr(in.find("PING\r\n") + 6));
  };
}

net::awaitable<void> pause(std::chrono::milliseconds d) {
  net::steady_timer t(co_await net::this_coro::executor, d);
  co_await t.async_wait(net::use_awaitable);
}

// Reads until the client has sent a command.
net::awaitable<void> readCommand(tcp::socket& s, std::string& in) {
  char buf[4096];
  while (in.find("\r\n") == std::string::npos) {
    std::size_t n = co_await s.async_read_some(net::buffer(buf), net::use_awaitable);
    in.append(buf, n);
  }
}

TEST(RedisClientHostile, GarbageFailsTheCallAndTheConnection) {
  net::io_context io;
  FakeRedis fake(io, afterPing([](tcp::socket& s, std::string in) -> net::awaitable<void> {
                   co_await readCommand(s, in);
                   co_await net::async_write(s, net::buffer("what is this\r\n"s), net::use_awaitable);
                   co_await pause(1s);
                 }));
  Client c(io, fake.url());
  auto r = call(io, c.client, {"GET", "k"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "state_protocol_error") << r.error().message;
  EXPECT_EQ(c.client.state(), RedisState::down);
}

TEST(RedisClientHostile, AnOversizedReplyIsRefusedBeforeItIsRead) {
  net::io_context io;
  std::size_t sent = 0;
  bool hung_up = false;
  FakeRedis fake(io, afterPing([&](tcp::socket& s, std::string in) -> net::awaitable<void> {
                   co_await readCommand(s, in);
                   co_await net::async_write(s, net::buffer("$1000000000\r\n"s), net::use_awaitable);
                   std::string chunk(std::size_t{64} * 1024, 'x');
                   for (int i = 0; i < 1024; ++i) {  // 64 MiB, unless the client hangs up first
                     boost::system::error_code ec;
                     co_await net::async_write(s, net::buffer(chunk), net::redirect_error(net::use_awaitable, ec));
                     if (ec) {
                       hung_up = true;
                       co_return;
                     }
                     sent += chunk.size();
                   }
                 }));
  RedisClientTuning tuning;
  tuning.reply_limits.max_bytes = 1 << 20;
  Client c(io, fake.url(), 5000ms, nullptr, tuning);
  auto r = call(io, c.client, {"GET", "big"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "state_protocol_error") << r.error().message;
  EXPECT_NE(r.error().message.find("limit"), std::string::npos) << r.error().message;
  // The client hung up after about 1 MiB (the rest of what was sent sat in
  // the sockets' buffers).
  ASSERT_TRUE(runUntil(
      io, [&] { return hung_up; }, 5s));
  EXPECT_LT(sent, 24u << 20);
}

TEST(RedisClientHostile, AHugeArrayHeaderAllocatesNothing) {
  net::io_context io;
  FakeRedis fake(io, afterPing([](tcp::socket& s, std::string in) -> net::awaitable<void> {
                   co_await readCommand(s, in);
                   co_await net::async_write(s, net::buffer("*2147483647\r\n"s), net::use_awaitable);
                   co_await pause(1s);
                 }));
  Client c(io, fake.url());
  auto r = call(io, c.client, {"KEYS", "*"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "state_protocol_error") << r.error().message;
}

TEST(RedisClientHostile, AReplyToNothingClosesTheConnection) {
  net::io_context io;
  FakeRedis fake(io, afterPing([](tcp::socket& s, std::string) -> net::awaitable<void> {
                   co_await pause(30ms);
                   co_await net::async_write(s, net::buffer("+UNASKED\r\n"s), net::use_awaitable);
                   co_await pause(1s);
                 }));
  Client c(io, fake.url());
  c.client.start();
  ASSERT_TRUE(runUntil(
      io, [&] { return c.client.state() == RedisState::up; }, 1s));
  ASSERT_TRUE(runUntil(
      io, [&] { return c.client.state() == RedisState::down; }, 1s));
  auto r = call(io, c.client, {"PING"});
  EXPECT_FALSE(r);
}

TEST(RedisClientHostile, ExtraRepliesWithTheHandshakeAreRefused) {
  net::io_context io;
  FakeRedis fake(io, [](tcp::socket s) -> net::awaitable<void> {
    std::string in;
    co_await readCommand(s, in);
    co_await net::async_write(s, net::buffer("+PONG\r\n:1\r\n"s), net::use_awaitable);
    co_await pause(1s);
  });
  Client c(io, fake.url());
  auto r = call(io, c.client, {"GET", "k"});
  ASSERT_FALSE(r);  // the :1 is not GET's answer
  EXPECT_EQ(r.error().code, "state_unavailable") << r.error().message;
}

TEST(RedisClientHostile, ASilentServerTimesCallsOutWhileConnecting) {
  net::io_context io;
  FakeRedis fake(io, [](tcp::socket s) -> net::awaitable<void> {
    std::string in;
    co_await readCommand(s, in);
    co_await pause(2s);  // never answers the handshake
  });
  Client c(io, fake.url(), 50ms);
  const auto t0 = Clock::now();
  auto r = call(io, c.client, {"GET", "k"});
  const auto waited = Clock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "state_timeout") << r.error().message;
  EXPECT_LT(waited, 50ms + slow(100ms));
  // Known down now: the next call does not wait.
  const auto t1 = Clock::now();
  EXPECT_FALSE(call(io, c.client, {"GET", "k"}));
  EXPECT_LT(Clock::now() - t1, slow(20ms));
  EXPECT_EQ(c.client.state(), RedisState::down);
}

TEST(RedisClientHostile, AServerThatHangsUpMidReply) {
  net::io_context io;
  FakeRedis fake(io, afterPing([](tcp::socket& s, std::string in) -> net::awaitable<void> {
                   co_await readCommand(s, in);
                   co_await net::async_write(s, net::buffer("*2\r\n$3\r\nab"s), net::use_awaitable);
                   s.close();
                 }));
  Client c(io, fake.url());
  auto r = call(io, c.client, {"MGET", "a", "b"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "state_unavailable") << r.error().message;
  EXPECT_NE(r.error().message.find("closed the connection"), std::string::npos);
}

TEST(RedisClient, DestroyingTheClientFailsOutstandingCalls) {
  net::io_context io;
  FakeRedis fake(io, afterPing([](tcp::socket&, std::string) -> net::awaitable<void> { co_await pause(2s); }));
  auto c = std::make_unique<Client>(io, fake.url(), 1000ms);
  std::optional<Result<RedisReply>> result;
  net::co_spawn(
      io, [&]() -> net::awaitable<void> { result = co_await c->client.command("GET", "k"); }, net::detached);
  ASSERT_TRUE(runUntil(
      io, [&] { return c->client.stats().calls == 1; }, 1s));
  c.reset();
  ASSERT_TRUE(runUntil(
      io, [&] { return result.has_value(); }, 1s));
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error().code, "state_unavailable");
}

}  // namespace
}  // namespace gw::state
