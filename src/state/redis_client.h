// RedisClient: one pipelined Redis connection on one worker's event loop.
//
// Threading: a RedisClient belongs to one worker thread. It is created,
// called and destroyed on that thread only, and its I/O runs on the
// io_context it was given (which that thread runs). No locks, no threads
// of its own; nothing blocks.
//
// Calls: command() and evalsha() send a command and complete with its
// reply. Calls made while a write is in flight are batched into the next
// write (pipelining), and replies are matched to calls in FIFO order, so
// any number of coroutines may have calls outstanding at once on the one
// connection.
//
// Bounded wait: every call completes within `timeout` of being made. One
// timer per client watches the oldest outstanding call (replies come in
// order, so it is always the first to expire). When it expires the server
// has answered nothing for `timeout`: the connection is closed and every
// outstanding call fails at once with code "state_timeout". Replies that
// might still come for them die with the connection.
//
// Failures: a connect, TLS, AUTH or SELECT failure, an I/O error, a
// timeout or a protocol error (garbage, an oversized reply, a reply to no
// command) closes the connection and fails what is outstanding. The next
// call reconnects, at most one attempt per reconnect interval (doubling
// from reconnect_min to reconnect_max while attempts fail). While Redis is
// known to be down -- the last attempt or connection failed and no new
// one has succeeded -- calls fail immediately ("state_unavailable") instead
// of waiting: a dead Redis costs a request nothing. A call that finds the
// interval passed starts an attempt in the background and still fails at
// once. Only a client not known to be down (never connected yet, or its
// connection closed cleanly) makes calls wait for the connection, within
// their timeout.
//
// Handshake, RESP2 only: AUTH (user and password, or the password alone)
// when the endpoint has a password, SELECT when its db is not 0, then PING,
// so a server that accepts connections but does not answer (paused,
// sleeping, still loading) is not taken as up. Commands are sent only once
// the handshake succeeded: a command must never run in another database
// because SELECT failed.
//
// Errors (gw::Error, http_status 503, type "server_error"):
//   state_timeout         no answer within the timeout
//   state_unavailable     not connected (down, connect/TLS/AUTH/SELECT failed, I/O error)
//   state_protocol_error  the server broke RESP or a reply limit
//   state_error_reply     the server answered with an error reply (-ERR ...):
//                         the message holds its text
// Messages name the server as endpoint.describe() does and never hold the
// password. `on_error` is called once per failed call with its Error (the
// code for the state-store error counter, the message for rate-limited
// logs); it is called on the client's thread, never after the client is
// destroyed, and must not destroy the client.
//
// close() and destruction fail every outstanding call with
// state_unavailable (their coroutines resume later, on the io_context) and
// close the connection.
#pragma once

#include "gw/error.h"
#include "state/redis_reply.h"
#include "state/redis_url.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace gw::state {

namespace net = boost::asio;

// What command() takes as an argument: a string, a string_view, a literal.
template <class T>
concept CommandArg = std::is_convertible_v<const T&, std::string_view>;

// A Lua script and its SHA-1 (hex), for EVALSHA.
class RedisScript {
 public:
  explicit RedisScript(std::string lua);
  const std::string& text() const { return text_; }
  const std::string& sha1() const { return sha1_; }

 private:
  std::string text_;
  std::string sha1_;
};

enum class RedisState : std::uint8_t {
  up,          // connected, handshake done
  connecting,  // an attempt is in progress and Redis is not known to be down
  down,        // not connected, or reconnecting after a failure
};
std::string_view toString(RedisState state);

struct RedisClientTuning {
  // A connect (TCP, TLS, handshake) may take longer than a call's timeout
  // (a remote TLS server is three round trips away): calls waiting for it
  // still fail at their own timeout, the attempt goes on up to this (or
  // the call timeout, when longer).
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{500};
  // Calls outstanding at once; more fail at once (state_unavailable).
  std::size_t max_outstanding = 100000;
  ReplyLimits reply_limits{};
};

class RedisClient {
 public:
  using ErrorCallback = std::function<void(const Error& error)>;

  struct Stats {
    std::uint64_t calls = 0;     // commands sent to the server (handshakes excluded)
    std::uint64_t writes = 0;    // socket writes that carried them
    std::uint64_t connects = 0;  // connections established
    std::uint64_t errors = 0;    // failed calls (what on_error was called for)
  };

  // `tls` is the client TLS context for rediss:// (peer and host-name
  // verification are the context's and this client's job: SNI and the
  // host name are checked against the certificate); nullptr for redis://
  // (a rediss:// endpoint without one fails every call).
  RedisClient(net::io_context& io, RedisEndpoint endpoint, std::shared_ptr<net::ssl::context> tls,
              std::chrono::milliseconds timeout, ErrorCallback on_error = {}, RedisClientTuning tuning = {});
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Sends one command: command("SET", key, value). The arguments are
  // encoded before this returns, so they need not outlive the call. An
  // error reply is an Error (state_error_reply); a nil, integer, string or
  // array reply is the value.
  template <CommandArg... Args>
  net::awaitable<Result<RedisReply>> command(const Args&... args) {
    const std::array<std::string_view, sizeof...(Args)> argv{std::string_view(args)...};
    return command(std::span<const std::string_view>(argv));
  }
  // The same for an argument list built at run time.
  net::awaitable<Result<RedisReply>> command(std::span<const std::string_view> args);

  // EVALSHA sha numkeys keys... args...; when the server does not know the
  // script (NOSCRIPT: restarted, flushed, SCRIPT FLUSH, another server),
  // EVAL with its text, which also caches it there again. Error replies as
  // for command(). `keys` and `args` must stay valid until the call
  // completes: named arrays, or std::array temporaries in the co_await
  // expression. (Not braced lists: GCC 12 cannot keep an initializer
  // list's array alive across a co_await in the caller -- "array used as
  // initializer".)
  net::awaitable<Result<RedisReply>> evalsha(const RedisScript& script, std::span<const std::string_view> keys,
                                             std::span<const std::string_view> args);

  // Starts connecting now (at start-up), so that the first request does
  // not wait for the connection. Never blocks.
  void start();

  // Fails every outstanding call (state_unavailable), closes the
  // connection and makes every later call fail at once: what the
  // destructor does, for a shutdown that wants the io_context to run out
  // of work (a connected client always has a read pending).
  void close();

  RedisState state() const;
  Stats stats() const;
  const RedisEndpoint& endpoint() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace gw::state
