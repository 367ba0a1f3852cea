// What the proxy's rooms share about one /v1/* request: its context, the
// client writes, gateway-made errors, and the exchange with the upstream.
// The request path reads top-down from proxy.cc (proxyRequest); the
// exchange with the upstream is upstream_exchange.cc (one attempt on one
// connection: UpstreamRelay, upstream_relay.h), client writes and errors
// client_response.cc, the exchange's time limits and client watch
// exchange_guards.h. Everything here runs on one worker's thread.
// Only src/server .cc files include this header (it includes Beast).
#pragma once

#include "gw/provider.h"
#include "gw/request_record.h"
#include "routing/route_table.h"
#include "routing/routing_config.h"
#include "server/server_internal.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>

#include <array>
#include <charconv>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gw::server {

using Clock = std::chrono::steady_clock;

// How far the client's response got.
enum class ResponseProgress {
  kNothingSent,
  kHeadSent,  // the head, and maybe part of the body
  kComplete,  // the whole response
};

// How the body of a response to the client is delimited.
enum class BodyFraming {
  kContentLength,  // by the head's Content-Length
  kChunked,        // by the chunked coding's last chunk
};

// The shape of the errors the gateway itself writes to a client: the API
// the client speaks says which.
enum class ErrorShape {
  kOpenAi,     // {"error":{"message","type","code"}}; stream: data: {"error":...}
  kAnthropic,  // /v1/messages...: common/anthropic_error.h
};

// Why an attempt of a routed request failed in a way its route retries
// (exchange() returned ExchangeEnd::kRetryable): nothing reached the client.
struct AttemptFailure {
  int status_code = 0;  // the upstream's status; 0 for a connection failure or a timeout
  ErrorType error_type = ErrorType::kUpstreamHttpError;
  // The upstream's Retry-After (or retry-after-ms), when it sent one.
  std::optional<std::chrono::milliseconds> retry_after;
};

// How an exchange with the upstream ended.
enum class ExchangeEnd {
  kAnswered,   // the client got its answer (or left)
  kRetryable,  // ProxyContext::retry allowed it: a failure the route retries, nothing sent
};

// Everything one proxied request carries through its stages.
struct ProxyContext {
  ProxyContext(Worker& w, beast::tcp_stream& c, beast::flat_buffer& b, HttpRequest& r)
      : worker(w), client(c), client_buffer(b), request(r), record(std::make_unique<RequestRecord>()) {}

  // The shape of the errors the gateway writes for this request, by the
  // API its path belongs to. Asked only when an error is written.
  ErrorShape errorShape() const;

  Worker& worker;
  beast::tcp_stream& client;
  beast::flat_buffer& client_buffer;
  HttpRequest& request;
  std::unique_ptr<RequestRecord> record;
  std::string request_id;
  std::string cors_origin;
  bool keep_alive = true;
  // What the request path observes: `observed` for metrics, the dashboard
  // and key counters (TelemetrySink::observationsWanted(), or a keyed
  // request); `recorded` for what only a built record reads
  // (TelemetrySink::recordsWanted()).
  bool observed = true;
  bool recorded = true;
  std::size_t capture_budget = 0;

  // Response state.
  ResponseProgress response_progress = ResponseProgress::kNothingSent;  // set by ClientWrite
  // Two facts that may both hold: the client left (a failed client write,
  // or ExchangeGuards' watch), and the exchange's deadline passed
  // (ExchangeGuards).
  bool client_gone = false;
  bool upstream_timed_out = false;
  std::string usage_tail;                          // last bytes of a body past the capture budget
  std::unique_ptr<upstream::Connection> upstream;  // current connection, if any

  // Routing (routed_exchange.cc). While another attempt may follow this
  // one, `retry` says which failures end the attempt with
  // ExchangeEnd::kRetryable (and attempt_failure) instead of answering the
  // client; null for the last attempt and for requests not routed.
  const routing::RetryPolicy* retry = nullptr;
  AttemptFailure attempt_failure;
  // A routed request's current target: its time to the response head is
  // recorded as soon as the head is read (lowest_latency).
  const routing::Target* routed_target = nullptr;
  // The target of a routed request's current attempt, named in every
  // response head (relayed or gateway-made) by its x-gateway-* headers;
  // attempts is 0 for a request that is not routed.
  RoutedBy routed_by;
  // The wait before a routed request's next attempt, while it runs: the
  // client watch (ExchangeGuards) cancels it when the client leaves.
  net::steady_timer* retry_wait = nullptr;
  // Header lines the gateway adds to whatever response the client gets: a
  // virtual key's x-ratelimit-* (they replace an upstream's own).
  std::string gateway_headers;

  const Settings& settings() const { return worker.shared.settings(); }
};

// Appends `bytes` of a response body that is not a stream to the record's
// response_body, within ctx.capture_budget; past it, keeps only the last
// bytes in ctx.usage_tail (for usage). Nothing when telemetry is off.
void captureResponseBytes(ProxyContext& ctx, std::string_view bytes);

// One write to the client: body bytes (the head first, if not sent yet,
// and the chunk framing when chunked) in one gather write. The client
// socket is non-blocking and usually has room, so sendNow() tries the
// write at once, without a coroutine; only what did not fit goes through
// sendRest(), an async write (a round through the scheduler and the
// reactor). Used as
//   ClientWrite write(ctx, head, body, framing, last);
//   if (!write.sendNow()) co_await write.sendRest();
//   if (!write.ok()) ...the client is gone...
// `framing` is the response's (every write of one response passes the
// same). `head` and `body` must outlive it. On the worker's thread.
class ClientWrite {
 public:
  ClientWrite(ProxyContext& ctx, const std::string& head, std::string_view body, BodyFraming framing, bool last)
      : ctx_(ctx), body_size_(body.size()), last_(last) {
    // Unused slots stay empty: writev skips zero-length buffers, and a fixed
    // array costs no allocation per write.
    std::size_t n = 0;
    if (ctx.response_progress == ResponseProgress::kNothingSent) bufs_[n++] = net::buffer(head);
    if (framing == BodyFraming::kChunked) {
      if (!body.empty()) {
        auto end = std::to_chars(size_line_, size_line_ + sizeof size_line_ - 2, body.size(), 16).ptr;
        *end++ = '\r';
        *end++ = '\n';
        bufs_[n++] = net::buffer(size_line_, static_cast<std::size_t>(end - size_line_));
        bufs_[n++] = net::buffer(body);
        bufs_[n++] = net::buffer("\r\n", 2);
      }
      if (last) bufs_[n++] = net::buffer("0\r\n\r\n", 5);
    } else if (!body.empty()) {
      bufs_[n++] = net::buffer(body);
    }
    total_ = net::buffer_size(bufs_);
  }
  ClientWrite(const ClientWrite&) = delete;
  ClientWrite& operator=(const ClientWrite&) = delete;

  // Writes what the socket takes now; true when the write is over (all
  // sent, or the client is gone), false when sendRest() must finish it.
  bool sendNow() {
    if (total_ == 0) return finish({});
    boost::system::error_code ec;
    written_ = ctx_.client.socket().write_some(bufs_, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      ec = {};
      written_ = 0;
    }
    if (!ec && written_ < total_) return false;
    return finish(ec);
  }
  net::awaitable<void> sendRest() {
    beast::buffers_suffix<decltype(bufs_)> rest(bufs_);
    rest.consume(written_);
    auto [ec, n] = co_await net::async_write(ctx_.client.socket(), rest, kAsTuple);
    finish(ec);
  }
  // Whether everything was sent.
  bool ok() const { return ok_; }

 private:
  bool finish(const boost::system::error_code& ec) {
    if (ec) {
      ctx_.client_gone = true;
      return true;
    }
    ok_ = true;
    if (last_)
      ctx_.response_progress = ResponseProgress::kComplete;
    else if (total_ > 0)
      ctx_.response_progress = ResponseProgress::kHeadSent;
    if (body_size_ > 0) {
      if (!ctx_.record->first_byte_sent) ctx_.record->first_byte_sent = Clock::now();
      ctx_.record->response_size += body_size_;
    }
    return true;
  }

  ProxyContext& ctx_;
  std::array<net::const_buffer, 5> bufs_{};
  char size_line_[24];
  std::size_t body_size_;
  std::size_t total_ = 0;
  std::size_t written_ = 0;
  bool last_;
  bool ok_ = false;
};

// Answers with a gateway-made error (before any response byte was sent):
// in ctx.errorShape(), with Retry-After when the error has one; the
// record gets its status and `error_type`.
net::awaitable<void> sendError(ProxyContext& ctx, const Error& e, ErrorType error_type);

// The record's error_type for a gateway-made error.
ErrorType errorTypeFor(const Error& e);

// The error for a failed upstream read or write at `stage` (504 when the
// exchange's deadline passed).
Error transportError(const ProxyContext& ctx, const boost::system::error_code& ec, std::string_view stage);

// With ctx.retry set: whether the route retries a failure of the
// connection (`type` kUpstreamUnreachable or kUpstreamBroken: its
// connect_error) or its deadline (kUpstreamTimeout: its timeout); when it
// does, ctx.attempt_failure says so.
bool retriesTransportFailure(ProxyContext& ctx, ErrorType type);

// Sends `up` to its upstream (a pooled connection or a new one, retried
// once on a fresh connection when a pooled one turned out closed) and
// relays the answer to the client through `provider`'s response handler.
// With ctx.retry set, a failure it lists ends the exchange with
// kRetryable and ctx.attempt_failure, the client untouched.
net::awaitable<ExchangeEnd> exchange(ProxyContext& ctx, const Provider& provider, const ClientRequest& creq,
                                     UpstreamRequest& up);

// Runs a request whose model names `route` of `config` (routed_exchange.cc):
// its attempts, each an exchange() with one target, until one answers the
// client. `creq` has everything but what depends on the target (model,
// config, body_rewritten, json); `requested_model` is the client's;
// `home_provider` the provider the request would go to without routes
// (DEFAULT_PROVIDER, or anthropic for the Messages API), the only one the
// client's credentials may reach; `json` is filled from `json_memory` when
// a target needs the body's tree.
net::awaitable<void> routedExchange(ProxyContext& ctx, const routing::RoutingConfig& config,
                                    const routing::Route& route, ClientRequest& creq, std::string_view requested_model,
                                    std::string_view home_provider, boost::json::object& json,
                                    boost::json::monotonic_resource& json_memory);

}  // namespace gw::server
