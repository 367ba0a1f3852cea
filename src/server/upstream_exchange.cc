// The exchange with the upstream: the request head written once, the
// response head read (interim answers consumed by the parser), the body
// decoded when it has a content-coding, echoed credentials masked, and the
// answer relayed piece by piece or, for a body the provider must read
// whole, buffered and answered at once.
#include "common/draining_buffer.h"
#include "common/strings.h"
#include "server/echo_redactor.h"
#include "server/proxy_context.h"
#include "server/upstream_heads.h"
#include "server/upstream_response_parser.h"
#include "upstream/content_decoder.h"

#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <type_traits>

namespace gw::server {

namespace {

using namespace std::string_view_literals;  // "..."sv: appends without strlen()

// Upper bound for an upstream body the gateway must hold whole (a
// non-streamed response it translates). Relayed bodies are never held.
constexpr std::size_t kMaxBufferedUpstreamBody = 64u << 20;
// One socket read from an upstream.
constexpr std::size_t kUpstreamReadBytes = 64u << 10;
// Output gathered from already-buffered upstream bytes before one write.
constexpr std::size_t kCoalesceBytes = 64u << 10;

// Writing the request to an upstream. Plain TCP sends at once on the
// non-blocking socket, without a coroutine (the usual case: the request
// fits in the socket buffer), and returns how much went; only the rest
// goes through an async write. TLS always goes through the SSL stream
// (nothing is sent now).
template <class Stream>
std::size_t writeUpstreamNow(Stream& stream, const std::array<net::const_buffer, 2>& bufs,
                             boost::system::error_code& ec) {
  if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
    std::size_t written = stream.socket().write_some(bufs, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      ec = {};
      written = 0;
    }
    return written;
  } else {
    return 0;
  }
}

template <class Stream>
net::awaitable<boost::system::error_code> writeUpstreamRest(Stream& stream, const std::array<net::const_buffer, 2>& bufs,
                                                            std::size_t written) {
  beast::buffers_suffix<std::array<net::const_buffer, 2>> rest(bufs);
  rest.consume(written);
  boost::system::error_code ec;
  if constexpr (std::is_same_v<Stream, beast::tcp_stream>)
    std::tie(ec, std::ignore) = co_await net::async_write(stream.socket(), rest, kAsTuple);
  else
    std::tie(ec, std::ignore) = co_await net::async_write(stream, rest, kAsTuple);
  co_return ec;
}

// One read from an upstream into `into`. Plain TCP reads the socket itself
// (with a DrainingBuffer: after a read that emptied it, the next read waits
// for readiness instead of first trying a recv() that fails); TLS reads
// through the SSL stream.
template <class Stream>
net::awaitable<std::tuple<boost::system::error_code, std::size_t>> readUpstream(Stream& stream,
                                                                                 net::mutable_buffer into) {
  if constexpr (std::is_same_v<Stream, beast::tcp_stream>)
    return stream.socket().async_read_some(DrainingBuffer{into}, kAsTuple);
  else
    return stream.async_read_some(into, kAsTuple);
}

// A read of an upstream body that ends with the connection (no length, not
// chunked), tried at once without waiting: would_block when nothing is
// there. Such a body must see its end, and when the upstream's close came
// in the same TCP segment as the last bytes, the reactor holds no
// readiness event for it: epoll is edge-triggered, and the read that took
// those bytes through a DrainingBuffer was short, which cleared the
// socket's speculation flag, so a plain wait would last until
// UPSTREAM_TIMEOUT_MS. A recv() that answers 0 sees the close. TLS reads go
// through the SSL stream, which always tries first.
template <class Stream>
std::tuple<boost::system::error_code, std::size_t> readUpstreamNow(Stream& stream, net::mutable_buffer into) {
  if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
    boost::system::error_code ec;
    std::size_t n = stream.socket().read_some(into, ec);
    if (ec == net::error::try_again) ec = net::error::would_block;
    return {ec, n};
  } else {
    return {net::error::would_block, 0};
  }
}

// Reads an upstream response head, driving the parser directly over what is
// buffered (as readPiece() does for the body) instead of through Beast's
// composed read operations. Errors as http::async_read_header gives them:
// end_of_stream when the connection closed before any byte, partial_message
// when it closed mid-head.
template <class Stream, class Parser>
net::awaitable<boost::system::error_code> readResponseHead(Stream& stream, beast::flat_buffer& buffer, Parser& parser) {
  for (;;) {
    if (buffer.size() > 0) {
      boost::system::error_code ec;
      std::size_t used =
          parser.putBuffered(std::string_view(static_cast<const char*>(buffer.data().data()), buffer.size()), ec);
      buffer.consume(used);
      if (parser.is_header_done()) co_return boost::system::error_code{};
      if (ec && ec != http::error::need_more) co_return ec;
    }
    // A head that came in pieces may have come with the upstream's close:
    // then only a read that does not wait sees it (readUpstreamNow).
    const net::mutable_buffer into = buffer.prepare(kUpstreamReadBytes);
    std::tuple<boost::system::error_code, std::size_t> got{net::error::would_block, 0};
    if (buffer.size() > 0 || parser.receivedAny()) got = readUpstreamNow(stream, into);
    if (std::get<0>(got) == net::error::would_block) got = co_await readUpstream(stream, into);
    auto [ec, n] = got;
    buffer.commit(n);
    if (ec == net::error::eof || ec == net::ssl::error::stream_truncated)
      co_return (parser.receivedAny() || buffer.size() > 0) ? http::error::partial_message
                                                             : http::error::end_of_stream;
    if (ec) co_return ec;
  }
}

template <class Stream>
net::awaitable<void> exchangeOn(ProxyContext& ctx, Stream& stream, const Provider& provider,
                                const ClientRequest& creq, const std::string& request_head,
                                std::string_view request_body, bool& retry_on_fresh_connection) {
  auto& rec = *ctx.record;
  upstream::Connection& conn = *ctx.upstream;
  // The whole-response deadline is enforced by ExchangeGuards (an entry on
  // the worker's one timer), not by a timer per read as Beast's stream
  // timeouts would.
  rec.upstream_sent = Clock::now();
  const std::array<net::const_buffer, 2> request_bufs{net::buffer(request_head), net::buffer(request_body)};
  boost::system::error_code wec;
  const std::size_t sent = writeUpstreamNow(stream, request_bufs, wec);
  if (!wec && sent < net::buffer_size(request_bufs)) wec = co_await writeUpstreamRest(stream, request_bufs, sent);
  UpstreamResponseParser parser;
  parser.body_limit(boost::none);
  parser.setHeaderLimit(64 * 1024);
  boost::system::error_code hec = wec;
  if (!hec) hec = co_await readResponseHead(stream, conn.buffer(), parser);
  if (hec) {
    if (ctx.client_gone) co_return;
    // A reused keep-alive connection the upstream closed just before our
    // request: nothing was received, so sending again on a new connection is
    // safe.
    if (conn.reused() && !parser.receivedAny() &&
        (hec == http::error::end_of_stream || hec == net::error::connection_reset ||
         hec == net::error::broken_pipe || hec == net::error::eof)) {
      retry_on_fresh_connection = true;
      co_return;
    }
    Error e = transportError(ctx, hec, wec ? "sending the request" : "reading the response headers");
    co_await sendError(ctx, e, errorTypeFor(e));
    co_return;
  }

  rec.provider_status_code = parser.status();
  if (parser.status() < 200) {
    // 101 Switching Protocols (interim answers never get here, the parser
    // consumes them): the connection would stop carrying HTTP.
    Error e = Error::badGateway("upstream_protocol_switch", "The upstream answered " +
                                                                std::to_string(parser.status()) +
                                                                " instead of a response");
    co_await sendError(ctx, e, errorTypeFor(e));
    co_return;
  }
  // A body in a content-coding the gateway did not ask for is decoded
  // before anything reads, redacts, records or relays it.
  std::unique_ptr<upstream::ContentDecoder> decoder;
  if (auto codings = contentCodings(parser)) {
    auto made = upstream::makeContentDecoder(*codings);
    if (!made) {
      co_await sendError(ctx, made.error(), errorTypeFor(made.error()));
      co_return;
    }
    decoder = std::move(*made);
  }
  if (ctx.observed) rec.provider_request_id = providerRequestId(parser);  // only the record reads it
  UpstreamHeaders lookup;
  lookup.parser = &parser;
  UpstreamResponseHead uhead{parser.status(), parser.find(http::field::content_type).value_or(std::string_view()),
                             &lookup};
  // Stream chunks serve only the record's response, so none are kept when
  // bodies are off (usage is read as the chunks pass).
  auto handler = provider.respond(creq, uhead, ctx.capture_budget);
  const ClientResponseHead& chead = handler->head();
  rec.status_code = chead.status;
  if (chead.status >= 400) {
    rec.outcome = RequestOutcome::kError;
    rec.error_type = ErrorType::kUpstreamHttpError;
  }
  rec.streamed = iequals(trim(std::string_view(chead.content_type).substr(0, chead.content_type.find(';'))),
                         "text/event-stream");

  std::vector<std::pair<std::string, std::string>> extra;
  forwardableHeaders(parser, chead.passthrough_bytes, ctx.operator_secrets, extra);
  ResponseHeadParams hp;
  hp.status = chead.status;
  hp.content_type = chead.content_type;
  hp.request_id = ctx.request_id;
  hp.keep_alive = ctx.keep_alive;
  hp.cors_origin = ctx.cors_origin;
  hp.extra = &extra;

  std::array<char, 16 * 1024> buf;
  std::string out;
  // Reads the next piece of the body into `buf`. The parser is driven
  // directly: every byte already received is parsed first (all complete
  // chunks of a chunked body, not one per call as Beast's read_some does,
  // which costs a trip through the scheduler per chunk), and the socket is
  // read only when nothing buffered can be parsed. Returns the body bytes
  // produced; 0 with no error only when the message is complete.
  auto readPiece = [&]() -> net::awaitable<std::pair<boost::system::error_code, std::size_t>> {
    parser.setBodyBuffer(buf.data(), buf.size());
    auto produced = [&] { return buf.size() - parser.bodySpaceLeft(); };
    for (;;) {
      boost::system::error_code ec;
      while (conn.buffer().size() > 0 && !parser.is_done() && parser.bodySpaceLeft() > 0) {
        std::size_t used = parser.put(conn.buffer().data(), ec);
        conn.buffer().consume(used);
        if (ec == http::error::need_more) {
          ec = {};
          break;
        }
        if (ec == http::error::need_buffer) {
          ec = {};
          break;
        }
        if (ec) co_return std::pair{ec, produced()};
        if (used == 0) break;
      }
      if (produced() > 0 || parser.is_done()) co_return std::pair{boost::system::error_code{}, produced()};
      const net::mutable_buffer into = conn.buffer().prepare(kUpstreamReadBytes);
      std::tuple<boost::system::error_code, std::size_t> got{net::error::would_block, 0};
      if (parser.need_eof()) got = readUpstreamNow(stream, into);
      if (std::get<0>(got) == net::error::would_block) got = co_await readUpstream(stream, into);
      auto [rec_ec, n] = got;
      conn.buffer().commit(n);
      if (rec_ec == net::error::eof || rec_ec == net::ssl::error::stream_truncated) {
        // A body delimited by the end of the connection ends here; any
        // other body was cut short.
        boost::system::error_code eof_ec;
        parser.put_eof(eof_ec);
        if (!eof_ec && parser.is_done()) co_return std::pair{boost::system::error_code{}, produced()};
        co_return std::pair{eof_ec ? eof_ec : rec_ec, produced()};
      }
      if (rec_ec) co_return std::pair{rec_ec, produced()};
    }
  };

  // Reads the next piece of a body with a content-coding into `buf`: the
  // decoder's output, fed from readPiece() (which reads into `buf` too:
  // feed() copies). The decoder holds a fixed amount of memory however far
  // its input expands. Returns 0 with no error only when the body is
  // complete. Bodies without a coding are read by readPiece() directly
  // (see the loops below): a coroutine layer per piece costs a frame and a
  // resumption, which a stream pays per event.
  std::optional<Error> decode_failure;
  auto readDecoded = [&]() -> net::awaitable<std::pair<boost::system::error_code, std::size_t>> {
    const auto failed = std::pair{std::make_error_code(std::errc::illegal_byte_sequence), std::size_t{0}};
    for (;;) {
      Status st;
      const std::size_t n = decoder->read(buf.data(), buf.size(), st);
      if (!st) {
        decode_failure = st.error();
        co_return failed;
      }
      if (n > 0) co_return std::pair{boost::system::error_code{}, n};
      if (parser.is_done()) {
        if (Status end = decoder->finish(); !end) {
          decode_failure = end.error();
          co_return failed;
        }
        co_return std::pair{boost::system::error_code{}, std::size_t{0}};
      }
      auto [ec, coded] = co_await readPiece();
      if (ec) co_return std::pair{ec, std::size_t{0}};
      if (coded > 0) decoder->feed(std::string_view(buf.data(), coded));
    }
  };
  // The operator's credentials an upstream echoes are masked before the
  // handler, the record or the client see the body.
  EchoRedactor echo(ctx.operator_secrets);
  auto bodyFailure = [&](const boost::system::error_code& ec, std::string_view stage) {
    return decode_failure ? *decode_failure : transportError(ctx, ec, stage);
  };

  if (chead.framing == Framing::kBuffered) {
    std::string body;
    for (;;) {
      std::pair<boost::system::error_code, std::size_t> got;
      if (decoder) got = co_await readDecoded();  // no co_await inside ?: (see exchange())
      else got = co_await readPiece();
      auto [ec, n] = got;
      if (ec) {
        if (ctx.client_gone) co_return;
        Error e = bodyFailure(ec, "reading the response body");
        co_await sendError(ctx, e, errorTypeFor(e));
        co_return;
      }
      if (body.size() + n > kMaxBufferedUpstreamBody) {
        Error e = Error::badGateway("upstream_response_too_large", "The upstream response is too large");
        co_await sendError(ctx, e, ErrorType::kUpstreamBroken);
        co_return;
      }
      body.append(echo.filter(std::string_view(buf.data(), n), n == 0));
      if (n == 0) break;
    }
    rec.upstream_finished = Clock::now();
    Status st = handler->onBody(body, out);
    if (st) st = handler->onEnd(out);
    rec.observation = std::move(handler->observation());
    if (!st) {
      co_await sendError(ctx, st.error(), ErrorType::kUpstreamBroken);
      co_return;
    }
    if (parser.keep_alive()) ctx.worker.pool->release(std::move(ctx.upstream));
    ctx.chunked = false;
    hp.content_length = out.size();
    std::string head = buildResponseHead(hp);
    captureBody(ctx, out);
    ClientWrite write(ctx, head, out, true);
    if (!write.sendNow()) co_await write.sendRest();
    if (!write.ok()) ctx.keep_alive = false;
    co_return;
  }

  // Relay: forward each piece as soon as the handler produced output.
  if (chead.passthrough_bytes && parser.content_length() && !decoder) {
    ctx.chunked = false;
    hp.content_length = *parser.content_length();
  }
  std::string head = buildResponseHead(hp);
  std::optional<Error> failure;
  for (;;) {
    std::pair<boost::system::error_code, std::size_t> got;
    if (decoder) got = co_await readDecoded();
    else got = co_await readPiece();
    auto [ec, n] = got;
    if (ec) {
      if (ctx.client_gone) break;
      failure = bodyFailure(ec, "relaying the response");
      break;
    }
    if (std::string_view piece = echo.filter(std::string_view(buf.data(), n), n == 0); !piece.empty()) {
      if (Status st = handler->onBody(piece, out); !st) {
        failure = st.error();
        break;
      }
    }
    if (n == 0) break;
    // readPiece() already parsed (and decoded) everything buffered; only a
    // full body buffer means more is waiting in memory (never on the network).
    if (n == buf.size() && out.size() < kCoalesceBytes) continue;
    if (out.empty()) continue;
    if (!rec.streamed) captureBody(ctx, out);
    ClientWrite write(ctx, head, out, false);
    if (!write.sendNow()) co_await write.sendRest();
    if (!write.ok()) break;
    out.clear();
  }
  if (ctx.client_gone) {
    rec.observation = std::move(handler->observation());
    co_return;
  }
  rec.upstream_finished = Clock::now();
  if (failure && !ctx.head_sent && !rec.streamed) {
    // Nothing reached the client yet: it can still get a proper error.
    rec.observation = std::move(handler->observation());
    co_await sendError(ctx, *failure, errorTypeFor(*failure));
    ctx.keep_alive = false;
    co_return;
  }
  if (failure) {
    rec.outcome = RequestOutcome::kError;
    rec.error_type = failure->http_status == 504 ? ErrorType::kUpstreamTimeout : ErrorType::kUpstreamBroken;
    handler->onUpstreamFailure(*failure, out);
    rec.observation = std::move(handler->observation());
    if (ctx.chunked && rec.streamed) {
      // An SSE stream: the error event tells the client what happened, and
      // the last chunk ends the response properly, so the client connection
      // stays usable: closing it here would make a keep-alive client's next
      // request fail with "socket hang up".
      ClientWrite write(ctx, head, out, true);
      if (!write.sendNow()) co_await write.sendRest();
      if (!write.ok()) ctx.keep_alive = false;
    } else {
      // Any other body (a Content-Length, or a plain body relayed chunked)
      // has no way to say "cut short" but the end of the connection: a last
      // chunk would make a truncated body look complete.
      ctx.keep_alive = false;
    }
    co_return;
  }
  if (Status st = handler->onEnd(out); !st) {
    rec.outcome = RequestOutcome::kError;
    rec.error_type = ErrorType::kUpstreamBroken;
    handler->onUpstreamFailure(st.error(), out);
  }
  rec.observation = std::move(handler->observation());
  if (parser.keep_alive()) ctx.worker.pool->release(std::move(ctx.upstream));
  if (!rec.streamed) captureBody(ctx, out);
  ClientWrite write(ctx, head, out, true);
  if (!write.sendNow()) co_await write.sendRest();
  if (!write.ok()) ctx.keep_alive = false;
}

}  // namespace

// Connects (or reuses a connection) and runs the exchange, retrying once on
// a fresh connection when a pooled one turned out to be closed.
net::awaitable<void> exchange(ProxyContext& ctx, const Provider& provider, const ClientRequest& creq,
                              UpstreamRequest& up) {
  std::optional<std::string> head = upstreamRequestHead(up, up.bodyFor(creq));
  collectOperatorSecrets(up, creq.config, ctx.operator_secrets);
  if (!head) {
    co_await sendError(ctx, Error::badRequest("invalid_request", "The request cannot be forwarded: invalid target"),
                       ErrorType::kInvalidRequest);
    co_return;
  }

  for (int attempt = 0; attempt < 2; ++attempt) {
    // No co_await inside ?: -- GCC 12 miscompiles that (the result was a
    // connection with a closed socket in release builds).
    Result<std::unique_ptr<upstream::Connection>> conn = ctx.worker.pool->takeIdle(up.endpoint);
    if (!*conn) conn = co_await ctx.worker.pool->acquire(up.endpoint);
    if (ctx.client_gone) {
      // The client left while the gateway connected: nothing to send.
      if (conn) ctx.worker.pool->discard(std::move(*conn));
      co_return;
    }
    if (!conn) {
      co_await sendError(ctx, conn.error(), errorTypeFor(conn.error()));
      co_return;
    }
    if (ctx.upstream_timed_out) {
      ctx.worker.pool->discard(std::move(*conn));
      Error e = Error::gatewayTimeout("The upstream did not answer in time");
      co_await sendError(ctx, e, errorTypeFor(e));
      co_return;
    }
    ctx.upstream = std::move(*conn);
    bool retry = false;
    if (ctx.upstream->tls())
      co_await exchangeOn(ctx, ctx.upstream->secure(), provider, creq, *head, up.bodyFor(creq), retry);
    else
      co_await exchangeOn(ctx, ctx.upstream->plain(), provider, creq, *head, up.bodyFor(creq), retry);
    if (ctx.upstream) {  // not returned to the pool: it cannot be reused
      ctx.worker.pool->discard(std::move(ctx.upstream));
    }
    if (!retry) co_return;
  }
  co_await sendError(ctx, Error::badGateway("upstream_broken", "The upstream closed the connection"),
                     ErrorType::kUpstreamBroken);
}

}  // namespace gw::server
