// The exchange with the upstream: the connection (a pooled one or a new
// one) and the retry when a pooled one turned out closed. Each attempt is
// an UpstreamRelay (upstream_relay.h) on the connection's stream.
#include "server/proxy_context.h"
#include "server/upstream_heads.h"
#include "server/upstream_relay.h"

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace gw::server {

namespace {

template <class Stream>
Stream& streamOf(upstream::Connection& connection) {
  if constexpr (std::is_same_v<Stream, beast::tcp_stream>)
    return connection.plain();
  else
    return connection.secure();
}

// Connects (or reuses a connection) and runs the exchange, retrying once on
// a fresh connection when a pooled one turned out to be closed. Every
// connection to the endpoint has the same `Stream` (the pool keys
// connections by scheme); each attempt's relay lives in this frame.
template <class Stream>
net::awaitable<ExchangeEnd> exchangeOver(ProxyContext& ctx, const Provider& provider, const ClientRequest& creq,
                                         UpstreamRequest& up) {
  std::optional<std::string> head = upstreamRequestHead(up, up.bodyFor(creq));
  // Views into `up`: the credentials an upstream must not echo to the client.
  std::vector<std::string_view> operator_secrets;
  collectOperatorSecrets(up, creq.config, operator_secrets);
  if (!head) {
    co_await sendError(ctx, Error::badRequest("invalid_request", "The request cannot be forwarded: invalid target"),
                       ErrorType::kInvalidRequest);
    co_return ExchangeEnd::kAnswered;
  }

  for (int attempt = 0; attempt < 2; ++attempt) {
    // No co_await inside ?: -- GCC 12 miscompiles that (the result was a
    // connection with a closed socket in release builds).
    Result<std::unique_ptr<upstream::Connection>> conn = ctx.worker.pool->takeIdle(up.endpoint);
    if (!*conn) conn = co_await ctx.worker.pool->acquire(up.endpoint);
    if (ctx.client_gone) {
      // The client left while the gateway connected: nothing to send.
      if (conn) ctx.worker.pool->discard(std::move(*conn));
      co_return ExchangeEnd::kAnswered;
    }
    if (!conn) {
      const ErrorType type = errorTypeFor(conn.error());
      if (ctx.retry && retriesTransportFailure(ctx, type)) co_return ExchangeEnd::kRetryable;
      co_await sendError(ctx, conn.error(), type);
      co_return ExchangeEnd::kAnswered;
    }
    if (ctx.upstream_timed_out) {
      ctx.worker.pool->discard(std::move(*conn));
      if (ctx.retry && retriesTransportFailure(ctx, ErrorType::kUpstreamTimeout)) co_return ExchangeEnd::kRetryable;
      Error e = Error::gatewayTimeout("The upstream did not answer in time");
      co_await sendError(ctx, e, errorTypeFor(e));
      co_return ExchangeEnd::kAnswered;
    }
    ctx.upstream = std::move(*conn);
    AttemptEnd end;
    {
      UpstreamRelay<Stream> relay(ctx, streamOf<Stream>(*ctx.upstream), provider, creq, operator_secrets);
      end = co_await relay.run(*head, up.bodyFor(creq));
    }
    if (ctx.upstream) {  // not returned to the pool: it cannot be reused
      ctx.worker.pool->discard(std::move(ctx.upstream));
    }
    if (end == AttemptEnd::kDone) co_return ExchangeEnd::kAnswered;
    if (end == AttemptEnd::kRetryable) co_return ExchangeEnd::kRetryable;
  }
  if (ctx.retry && retriesTransportFailure(ctx, ErrorType::kUpstreamBroken)) co_return ExchangeEnd::kRetryable;
  co_await sendError(ctx, Error::badGateway("upstream_broken", "The upstream closed the connection"),
                     ErrorType::kUpstreamBroken);
  co_return ExchangeEnd::kAnswered;
}

}  // namespace

// Not a coroutine: the awaitable is exchangeOver()'s own.
net::awaitable<ExchangeEnd> exchange(ProxyContext& ctx, const Provider& provider, const ClientRequest& creq,
                                     UpstreamRequest& up) {
  // Where the request goes, for the record (server.address and server.port
  // in OTLP), also when the connection then fails.
  ctx.record->provider_address = up.endpoint.host;
  ctx.record->provider_port = up.endpoint.port;
  if (up.endpoint.tls) return exchangeOver<beast::ssl_stream<beast::tcp_stream>>(ctx, provider, creq, up);
  return exchangeOver<beast::tcp_stream>(ctx, provider, creq, up);
}

}  // namespace gw::server
