#include "state/redis_client.h"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <deque>
#include <optional>
#include <vector>

namespace gw::state {

namespace {

using Clock = std::chrono::steady_clock;
using tcp = net::ip::tcp;
using Handler = net::any_completion_handler<void(Result<RedisReply>)>;
constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);
// The server's text in an error reply is kept up to this (it goes into
// messages and logs).
constexpr std::size_t kMaxErrorText = 512;

Error stateError(std::string code, std::string message) {
  return Error{503, "server_error", std::move(code), std::move(message)};
}

std::string clip(std::string_view text) {
  std::string s(text.substr(0, kMaxErrorText));
  for (char& c : s) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return s;
}

Error errorReply(std::string_view text) { return stateError("state_error_reply", "Redis error reply: " + clip(text)); }

std::string millis(std::chrono::milliseconds ms) { return std::to_string(ms.count()) + " ms"; }

}  // namespace

// ---------------------------------------------------------------------------

RedisScript::RedisScript(std::string lua) : text_(std::move(lua)) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text_.data(), text_.size(), md, &len, EVP_sha1(), nullptr) != 1) len = 0;
  static constexpr char kHex[] = "0123456789abcdef";
  sha1_.reserve(std::size_t{2} * len);
  for (unsigned i = 0; i < len; ++i) {
    sha1_.push_back(kHex[md[i] >> 4]);
    sha1_.push_back(kHex[md[i] & 15]);
  }
  // Without a digest (OpenSSL refusing SHA-1 would be a broken build) the
  // sha is empty: EVALSHA fails with NOSCRIPT and EVAL still runs the script.
}

std::string_view toString(RedisState state) {
  switch (state) {
    case RedisState::up:
      return "up";
    case RedisState::connecting:
      return "connecting";
    case RedisState::down:
      return "down";
  }
  return "down";
}

// ---------------------------------------------------------------------------

namespace {

// One connection: its socket (or TLS stream), its reply reader and the
// buffer being written. Owned by the client while current and by the
// operations still pending on it, so a closed connection's buffers live
// until those operations have completed.
struct Conn {
  Conn(net::io_context& io, net::ssl::context* tls_ctx, ReplyLimits limits) : reader(limits) {
    if (tls_ctx != nullptr) {
      tls = std::make_unique<net::ssl::stream<tcp::socket>>(io, *tls_ctx);
    } else {
      plain.emplace(io);
    }
  }

  tcp::socket& lowest() { return tls ? tls->next_layer() : *plain; }
  void close() {
    boost::system::error_code ec;
    lowest().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close(ec);
  }
  template <class Buffer, class Token>
  auto asyncWrite(const Buffer& buffer, Token&& token) {
    if (tls) return net::async_write(*tls, buffer, std::forward<Token>(token));
    return net::async_write(*plain, buffer, std::forward<Token>(token));
  }

  std::optional<tcp::socket> plain;
  std::unique_ptr<net::ssl::stream<tcp::socket>> tls;
  RespReader reader;
  std::string writing;  // the bytes of the write in flight
  bool write_active = false;
  std::array<char, 16384> read_buffer;
};

}  // namespace

struct RedisClient::Impl : std::enable_shared_from_this<RedisClient::Impl> {
  Impl(net::io_context& io_context, RedisEndpoint ep, std::shared_ptr<net::ssl::context> tls,
       std::chrono::milliseconds call_timeout, ErrorCallback on_err, RedisClientTuning tune)
      : io(io_context),
        endpoint(std::move(ep)),
        where(endpoint.describe()),
        tls_ctx(std::move(tls)),
        timeout(call_timeout),
        on_error(std::move(on_err)),
        tuning(tune),
        timer(io_context),
        resolver(io_context),
        backoff(tune.reconnect_min) {}

  struct Call {
    Clock::time_point deadline;
    Handler handler;
    std::string unsent;       // the encoded command while waiting for the connection
    bool raw_errors = false;  // an error reply is a value (evalsha's NOSCRIPT check)
  };

  net::io_context& io;
  const RedisEndpoint endpoint;
  const std::string where;
  const std::shared_ptr<net::ssl::context> tls_ctx;
  const std::chrono::milliseconds timeout;
  ErrorCallback on_error;
  const RedisClientTuning tuning;

  net::steady_timer timer;
  bool timer_armed = false;
  Clock::time_point timer_at{};
  tcp::resolver resolver;

  std::shared_ptr<Conn> conn;  // the current connection (connecting or up)
  RedisState st = RedisState::down;
  bool known_down = false;
  bool closed = false;

  std::deque<Call> calls;  // outstanding, in the order their replies will come
  std::string out;         // encoded commands not yet handed to a write

  Clock::time_point next_attempt{};
  Clock::time_point connect_deadline{};
  std::chrono::milliseconds backoff;
  std::string last_failure;
  Stats stats;

  // -- completing calls ------------------------------------------------------

  void reportError(const Error& e) {
    ++stats.errors;
    if (on_error && !closed) on_error(e);
  }

  // Completes a call later, never inline: the reader loop or the timer that
  // completes it goes on without the caller running (and perhaps calling
  // again) in the middle of it. Calls come from coroutines on this
  // io_context's thread (the threading contract), so the posted function
  // resumes the caller on its own executor.
  void complete(Handler handler, Result<RedisReply> result) {
    if (!result) reportError(result.error());
    net::post(io, [h = std::move(handler), r = std::move(result)]() mutable { std::move(h)(std::move(r)); });
  }

  void deliver(Call& call, RedisReply reply) {
    if (reply.isError() && !call.raw_errors) {
      complete(std::move(call.handler), errorReply(reply.str));
    } else {
      complete(std::move(call.handler), std::move(reply));
    }
  }

  void failAll(const Error& e) {
    std::deque<Call> failing;
    failing.swap(calls);
    for (auto& c : failing) complete(std::move(c.handler), e);
  }

  Error unavailable() const {
    return stateError("state_unavailable", "Redis at " + where + " is unavailable: " + last_failure);
  }

  // -- calls -----------------------------------------------------------------

  void submit(Result<std::string> encoded, Handler handler, bool raw_errors) {
    if (!encoded) return complete(std::move(handler), encoded.error());
    if (closed) return complete(std::move(handler), stateError("state_unavailable", "the Redis client is closed"));
    if (calls.size() >= tuning.max_outstanding)
      return complete(std::move(handler),
                      stateError("state_unavailable", "too many Redis calls outstanding at " + where));
    const auto now = Clock::now();
    if (st == RedisState::up) {
      out.append(*encoded);
      ++stats.calls;
      calls.push_back(Call{now + timeout, std::move(handler), {}, raw_errors});
      flush();
      armTimer();
      return;
    }
    // Known to be down: fail now, unless another attempt is due. The call
    // that starts it waits for it (within its timeout), so the first call
    // after Redis comes back succeeds.
    if (known_down && (st != RedisState::down || now < next_attempt))
      return complete(std::move(handler), unavailable());
    calls.push_back(Call{now + timeout, std::move(handler), std::move(*encoded), raw_errors});
    if (st == RedisState::down) startConnect(now);  // queued first: a connect failing at once fails it
    armTimer();
  }

  net::awaitable<Result<RedisReply>> call(Result<std::string> encoded, bool raw_errors) {
    return net::async_initiate<const net::use_awaitable_t<>&, void(Result<RedisReply>)>(
        [self = shared_from_this(), raw_errors](auto handler, Result<std::string> cmd) {
          self->submit(std::move(cmd), Handler(std::move(handler)), raw_errors);
        },
        net::use_awaitable, std::move(encoded));
  }

  // -- writing ---------------------------------------------------------------

  // Hands what is queued to one write unless one is in flight; its
  // completion writes what was queued meanwhile (pipelining).
  void flush() {
    if (!conn || st != RedisState::up || conn->write_active || out.empty()) return;
    auto c = conn;
    c->write_active = true;
    c->writing.swap(out);
    out.clear();
    ++stats.writes;
    c->asyncWrite(net::buffer(c->writing), [self = shared_from_this(), c](boost::system::error_code ec, std::size_t) {
      c->write_active = false;
      c->writing.clear();
      if (self->conn != c) return;
      if (ec) return self->connectionLost("state_unavailable", "write failed: " + ec.message());
      self->flush();
    });
  }

  // -- the timer -------------------------------------------------------------

  void armTimer() {
    auto next = Clock::time_point::max();
    if (!calls.empty()) next = calls.front().deadline;
    if (st == RedisState::connecting) next = std::min(next, connect_deadline);
    if (next == Clock::time_point::max() || closed) return;
    if (timer_armed && timer_at <= next) return;  // it fires first and re-arms
    timer_armed = true;
    timer_at = next;
    timer.expires_at(next);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec == net::error::operation_aborted) return;  // re-armed earlier, or closed
      self->timer_armed = false;
      self->onTimer();
    });
  }

  void onTimer() {
    if (closed) return;
    const auto now = Clock::now();
    if (st == RedisState::connecting && now >= connect_deadline)
      connectFailed("no connection within " + millis(std::max(tuning.connect_timeout, timeout)));
    if (!calls.empty() && calls.front().deadline <= now) {
      if (st == RedisState::up) {
        // Nothing answered for `timeout`: the server or the path is stuck.
        // Everything behind the oldest call would wait longer still, and a
        // fresh connection also gets over a half-open TCP connection.
        connectionLost("state_timeout", "no answer within " + millis(timeout));
      } else {
        // Still connecting: the waiting calls were never sent.
        last_failure = "no connection within " + millis(timeout);
        known_down = true;
        const Error e = stateError("state_timeout", "Redis at " + where + ": " + last_failure);
        while (!calls.empty() && calls.front().deadline <= now) {
          complete(std::move(calls.front().handler), e);
          calls.pop_front();
        }
      }
    }
    armTimer();
  }

  // -- connection ------------------------------------------------------------

  void closeConn() {
    if (conn) conn->close();
    conn.reset();
    out.clear();
    st = RedisState::down;
  }

  void startConnect(Clock::time_point now) {
    closeConn();
    st = RedisState::connecting;
    next_attempt = now + backoff;
    connect_deadline = now + std::max(tuning.connect_timeout, timeout);
    conn = std::make_shared<Conn>(io, endpoint.tls ? tls_ctx.get() : nullptr, tuning.reply_limits);
    net::co_spawn(io, connect(shared_from_this(), conn), net::detached);
    armTimer();
  }

  void connectFailed(std::string why) {
    last_failure = std::move(why);
    closeConn();
    known_down = true;
    backoff = std::min(backoff * 2, tuning.reconnect_max);
    failAll(stateError("state_unavailable", "cannot connect to Redis at " + where + ": " + last_failure));
  }

  // The connection is unusable: close it and fail what is outstanding.
  void connectionLost(std::string code, std::string reason) {
    last_failure = std::move(reason);
    const Error e = stateError(std::move(code), "Redis at " + where + ": " + last_failure);
    closeConn();
    known_down = true;
    failAll(e);
  }

  void connected() {
    st = RedisState::up;
    known_down = false;
    backoff = tuning.reconnect_min;
    last_failure.clear();
    ++stats.connects;
    for (auto& c : calls) {
      out.append(c.unsent);
      std::string().swap(c.unsent);
      ++stats.calls;
    }
    net::co_spawn(io, readLoop(shared_from_this(), conn), net::detached);
    flush();
    armTimer();
  }

  // The password must not reach a message even if a server echoed it.
  std::string scrub(std::string_view text) const {
    std::string s = clip(text);
    if (endpoint.password.empty()) return s;
    for (auto pos = s.find(endpoint.password); pos != std::string::npos; pos = s.find(endpoint.password, pos))
      s.replace(pos, endpoint.password.size(), "***");
    return s;
  }

  static net::awaitable<void> connect(std::shared_ptr<Impl> self, std::shared_ptr<Conn> c) {
    const RedisEndpoint& ep = self->endpoint;
    auto failed = [&](std::string why) {
      if (self->conn == c) self->connectFailed(std::move(why));
    };
    if (ep.tls && !self->tls_ctx) co_return failed("rediss:// needs a TLS context");

    boost::system::error_code ec;
    const auto address = net::ip::make_address(ep.host, ec);
    const bool literal = !ec;
    if (literal) {
      auto [cec] = co_await c->lowest().async_connect(tcp::endpoint(address, ep.port), kAsTuple);
      ec = cec;
    } else {
      auto [rec, results] = co_await self->resolver.async_resolve(ep.host, std::to_string(ep.port), kAsTuple);
      if (self->conn != c) co_return;
      if (rec) co_return failed("cannot resolve " + ep.host + ": " + rec.message());
      auto [cec, endpoint] = co_await net::async_connect(c->lowest(), results, kAsTuple);
      ec = cec;
    }
    if (self->conn != c) co_return;
    if (ec) co_return failed(ec.message());
    boost::system::error_code ignored;
    c->lowest().set_option(tcp::no_delay(true), ignored);

    if (c->tls) {
      // SNI for names only (RFC 6066 has no IP literals); the certificate
      // must name the host either way.
      if (!literal && !SSL_set_tlsext_host_name(c->tls->native_handle(), ep.host.c_str()))
        co_return failed("TLS: cannot set the server name");
      c->tls->set_verify_callback(net::ssl::host_name_verification(ep.host));
      auto [hec] = co_await c->tls->async_handshake(net::ssl::stream_base::client, kAsTuple);
      if (self->conn != c) co_return;
      if (hec) co_return failed("TLS handshake failed: " + hec.message());
    }

    // AUTH, SELECT, PING in one write; their replies in order.
    enum class Step { auth, select, ping };
    std::vector<Step> steps;
    std::string hello;
    const std::string db = std::to_string(ep.db);
    Status encoded = ok();
    if (!ep.password.empty()) {
      steps.push_back(Step::auth);
      if (ep.user.empty()) {
        std::array<std::string_view, 2> args{"AUTH", ep.password};
        encoded = appendCommand(hello, args);
      } else {
        std::array<std::string_view, 3> args{"AUTH", ep.user, ep.password};
        encoded = appendCommand(hello, args);
      }
    }
    if (encoded && ep.db != 0) {
      steps.push_back(Step::select);
      std::array<std::string_view, 2> args{"SELECT", db};
      encoded = appendCommand(hello, args);
    }
    if (encoded) {
      steps.push_back(Step::ping);
      std::array<std::string_view, 1> args{"PING"};
      encoded = appendCommand(hello, args);
    }
    if (!encoded) co_return failed(encoded.error().message);
    auto [wec, written] = co_await c->asyncWrite(net::buffer(hello), kAsTuple);
    if (self->conn != c) co_return;
    if (wec) co_return failed("write failed: " + wec.message());

    std::size_t answered = 0;
    while (answered < steps.size()) {
      auto [rec, n] = c->tls ? co_await c->tls->async_read_some(net::buffer(c->read_buffer), kAsTuple)
                             : co_await c->plain->async_read_some(net::buffer(c->read_buffer), kAsTuple);
      if (self->conn != c) co_return;
      if (rec) co_return failed(rec == net::error::eof ? "the server closed the connection" : rec.message());
      if (auto fed = c->reader.feed({c->read_buffer.data(), n}); !fed) co_return failed(fed.error().message);
      while (answered < steps.size()) {
        auto next = c->reader.next();
        if (!next) co_return failed(next.error().message);
        if (!*next) break;
        const RedisReply& r = **next;
        switch (steps[answered++]) {
          case Step::auth:
            if (r.isError()) co_return failed("AUTH failed: " + self->scrub(r.str));
            break;
          case Step::select:
            if (r.isError()) co_return failed("SELECT " + db + " failed: " + self->scrub(r.str));
            break;
          case Step::ping:
            if (r.isError()) co_return failed("PING failed: " + self->scrub(r.str));
            if (!r.isString() || r.str != "PONG") co_return failed("unexpected answer to PING");
            break;
        }
      }
    }
    // A server that answers more than it was asked is not speaking for the
    // commands that follow.
    auto extra = c->reader.next();
    if (!extra) co_return failed(extra.error().message);
    if (*extra) co_return failed("Redis protocol error: a reply to no command in the handshake");
    self->connected();
  }

  static net::awaitable<void> readLoop(std::shared_ptr<Impl> self, std::shared_ptr<Conn> c) {
    for (;;) {
      auto [ec, n] = c->tls ? co_await c->tls->async_read_some(net::buffer(c->read_buffer), kAsTuple)
                            : co_await c->plain->async_read_some(net::buffer(c->read_buffer), kAsTuple);
      if (self->conn != c) co_return;
      if (ec) {
        co_return self->connectionLost("state_unavailable", ec == net::error::eof
                                                                ? std::string("the server closed the connection")
                                                                : "read failed: " + ec.message());
      }
      if (auto fed = c->reader.feed({c->read_buffer.data(), n}); !fed)
        co_return self->connectionLost("state_protocol_error", fed.error().message);
      for (;;) {
        auto next = c->reader.next();
        if (!next) co_return self->connectionLost("state_protocol_error", next.error().message);
        if (!*next) break;
        if (self->calls.empty())
          co_return self->connectionLost("state_protocol_error", "Redis protocol error: a reply to no command");
        Call call = std::move(self->calls.front());
        self->calls.pop_front();
        self->deliver(call, std::move(**next));
      }
    }
  }

  void shutdown() {
    closed = true;
    on_error = nullptr;
    closeConn();
    resolver.cancel();
    timer.cancel();
    failAll(stateError("state_unavailable", "the Redis client is closed"));
  }
};

// ---------------------------------------------------------------------------

RedisClient::RedisClient(net::io_context& io, RedisEndpoint endpoint, std::shared_ptr<net::ssl::context> tls,
                         std::chrono::milliseconds timeout, ErrorCallback on_error, RedisClientTuning tuning)
    : impl_(std::make_shared<Impl>(io, std::move(endpoint), std::move(tls), timeout, std::move(on_error), tuning)) {}

RedisClient::~RedisClient() {
  try {
    impl_->shutdown();
  } catch (...) {
    // Only an allocation failure; the calls then stay with the io_context,
    // whose destruction releases them.
  }
}

void RedisClient::close() {
  if (!impl_->closed) impl_->shutdown();
}

net::awaitable<Result<RedisReply>> RedisClient::command(std::span<const std::string_view> args) {
  std::string encoded;
  Status s = args.empty() ? Status(Error::internal("an empty Redis command")) : appendCommand(encoded, args);
  if (!s) return impl_->call(s.error(), false);
  return impl_->call(std::move(encoded), false);
}

net::awaitable<Result<RedisReply>> RedisClient::evalsha(const RedisScript& script,
                                                        std::span<const std::string_view> keys,
                                                        std::span<const std::string_view> args) {
  auto impl = impl_;  // the call may outlive this client (it then fails)
  const std::string numkeys = std::to_string(keys.size());
  auto encode = [&](std::string_view verb, std::string_view body) -> Result<std::string> {
    std::vector<std::string_view> argv;
    argv.reserve(3 + keys.size() + args.size());
    argv.insert(argv.end(), {verb, body, numkeys});
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out;
    if (auto s = appendCommand(out, argv); !s) return s.error();
    return out;
  };
  auto reply = co_await impl->call(encode("EVALSHA", script.sha1()), true);
  if (reply && reply->isError()) {
    if (!reply->str.starts_with("NOSCRIPT")) {
      Error e = errorReply(reply->str);
      impl->reportError(e);
      co_return e;
    }
    reply = co_await impl->call(encode("EVAL", script.text()), false);
  }
  co_return reply;
}

void RedisClient::start() {
  if (impl_->st == RedisState::down && !impl_->closed && Clock::now() >= impl_->next_attempt)
    impl_->startConnect(Clock::now());
}

RedisState RedisClient::state() const {
  if (impl_->st == RedisState::up) return RedisState::up;
  if (impl_->st == RedisState::connecting && !impl_->known_down) return RedisState::connecting;
  return RedisState::down;
}

RedisClient::Stats RedisClient::stats() const { return impl_->stats; }

const RedisEndpoint& RedisClient::endpoint() const { return impl_->endpoint; }

}  // namespace gw::state
