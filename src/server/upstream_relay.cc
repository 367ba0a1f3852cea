// UpstreamRelay's steps (upstream_relay.h), in the order run() takes them:
// the request, the response head, what the head decides, then the body,
// buffered whole or relayed piece by piece; the body and socket reads last.
#include "server/upstream_relay.h"

#include "common/draining_buffer.h"
#include "common/strings.h"

#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/error.hpp>

#include <type_traits>

namespace gw::server {

namespace {

// Upper bound for an upstream body the gateway must hold whole (a
// non-streamed response it translates). Relayed bodies are never held.
constexpr std::size_t kMaxBufferedUpstreamBody = 64u << 20;
// One socket read from an upstream.
constexpr std::size_t kUpstreamReadBytes = 64u << 10;
// Output gathered from already-buffered upstream bytes before one write.
constexpr std::size_t kCoalesceBytes = 64u << 10;

template <class Stream>
constexpr bool kPlainTcp = std::is_same_v<Stream, beast::tcp_stream>;

}  // namespace

template <class Stream>
UpstreamRelay<Stream>::UpstreamRelay(ProxyContext& ctx, Stream& stream, const Provider& provider,
                                     const ClientRequest& creq, const std::vector<std::string_view>& operator_secrets)
    : ctx_(ctx),
      record_(*ctx.record),
      stream_(stream),
      connection_(*ctx.upstream),
      provider_(provider),
      creq_(creq),
      operator_secrets_(operator_secrets),
      echo_(operator_secrets) {
  parser_.body_limit(boost::none);
  parser_.setHeaderLimit(64 * 1024);
  upstream_headers_.parser = &parser_;
}

template <class Stream>
net::awaitable<AttemptEnd> UpstreamRelay<Stream>::run(std::string_view request_head, std::string_view request_body) {
  // 1. The request. The whole-response deadline is enforced by
  // ExchangeGuards (an entry on the worker's one timer), not by a timer per
  // read as Beast's stream timeouts would.
  record_.upstream_sent = Clock::now();
  request_ = {net::buffer(request_head), net::buffer(request_body)};
  boost::system::error_code ec;
  std::string_view stage = "sending the request";
  if (!sendRequestNow(ec)) ec = co_await sendRequestRest();

  // 2. The response head.
  if (!ec) {
    stage = "reading the response headers";
    ec = co_await readHead();
  }
  if (ec) {
    if (ctx_.client_gone) co_return AttemptEnd::kDone;
    if (closedBeforeAnswering(ec)) co_return AttemptEnd::kRetryOnFreshConnection;
    Error e = transportError(ctx_, ec, stage);
    if (ctx_.retry && retriesTransportFailure(ctx_, errorTypeFor(e))) co_return AttemptEnd::kRetryable;
    co_await sendError(ctx_, e, errorTypeFor(e));
    co_return AttemptEnd::kDone;
  }
  if (ctx_.routed_target && record_.upstream_sent)
    routing::recordTimeToFirstByte(*ctx_.routed_target, Clock::now() - *record_.upstream_sent);

  // 3. What the head decides.
  if (ctx_.retry && retryableStatus()) co_return AttemptEnd::kRetryable;
  if (std::optional<Error> refused = acceptResponseHead()) {
    co_await sendError(ctx_, *refused, errorTypeFor(*refused));
    co_return AttemptEnd::kDone;
  }
  startHandler();

  // 4. The body, read whole for a handler that wants it so, else relayed
  // as the handler's output comes. The loops stay in this coroutine, each
  // piece's work in a plain member function: a coroutine between this one
  // and the reads would keep one more frame alive across them, which asio's
  // per-thread cache of two frames cannot always recycle.
  Ending ending;
  if (handler_->head().framing == Framing::kBuffered) {
    for (;;) {
      BodyPiece piece = co_await nextPiece();
      if (!bufferPiece(piece)) break;
    }
    ending = endBuffered();
  } else {
    startRelay();
    for (;;) {
      BodyPiece piece = co_await nextPiece();
      if (!relayPiece(piece)) break;
      if (!outputDue(piece)) continue;
      if (!record_.streamed) captureResponseBytes(ctx_, out_);
      ClientWrite write(ctx_, head_, out_, framing_, false);
      if (!write.sendNow()) co_await write.sendRest();
      if (!write.ok()) break;
      out_.clear();
    }
    ending = endRelay();
  }

  // 5. The end of the answer: its last bytes, or a gateway-made error.
  if (ending == Ending::kLastBytes) {
    ClientWrite write(ctx_, head_, out_, framing_, true);
    if (!write.sendNow()) co_await write.sendRest();
    if (!write.ok()) ctx_.keep_alive = false;
  } else if (ending == Ending::kFailure) {
    co_await answerFailure();
  }
  co_return AttemptEnd::kDone;
}

// Writes what the socket takes now, without a coroutine: plain TCP sends at
// once on the non-blocking socket (the usual case: the request fits in the
// socket buffer). True when the write is over (all sent, or failed with
// `ec`), false when sendRequestRest() must send the rest. TLS always goes
// through the SSL stream (nothing is sent here).
template <class Stream>
bool UpstreamRelay<Stream>::sendRequestNow(boost::system::error_code& ec) {
  if constexpr (kPlainTcp<Stream>) {
    request_sent_ = stream_.socket().write_some(request_, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      ec = {};
      request_sent_ = 0;
    }
  }
  return ec || request_sent_ == net::buffer_size(request_);
}

template <class Stream>
net::awaitable<boost::system::error_code> UpstreamRelay<Stream>::sendRequestRest() {
  beast::buffers_suffix<std::array<net::const_buffer, 2>> rest(request_);
  rest.consume(request_sent_);
  boost::system::error_code ec;
  if constexpr (kPlainTcp<Stream>)
    std::tie(ec, std::ignore) = co_await net::async_write(stream_.socket(), rest, kAsTuple);
  else
    std::tie(ec, std::ignore) = co_await net::async_write(stream_, rest, kAsTuple);
  co_return ec;
}

// Reads the response head, driving the parser directly over what is
// buffered (as readPiece() does for the body) instead of through Beast's
// composed read operations. Errors as http::async_read_header gives them:
// end_of_stream when the connection closed before any byte, partial_message
// when it closed mid-head.
template <class Stream>
net::awaitable<boost::system::error_code> UpstreamRelay<Stream>::readHead() {
  beast::flat_buffer& buffer = connection_.buffer();
  for (;;) {
    if (buffer.size() > 0) {
      boost::system::error_code ec;
      std::size_t used =
          parser_.putBuffered(std::string_view(static_cast<const char*>(buffer.data().data()), buffer.size()), ec);
      buffer.consume(used);
      if (parser_.is_header_done()) co_return boost::system::error_code{};
      if (ec && ec != http::error::need_more) co_return ec;
    }
    // A head that came in pieces may have come with the upstream's close:
    // then only a read that does not wait sees it (readNow).
    const net::mutable_buffer into = buffer.prepare(kUpstreamReadBytes);
    std::tuple<boost::system::error_code, std::size_t> got{net::error::would_block, 0};
    if (buffer.size() > 0 || parser_.receivedAny()) got = readNow(into);
    if (std::get<0>(got) == net::error::would_block) got = co_await readSome(into);
    auto [ec, n] = got;
    buffer.commit(n);
    if (ec == net::error::eof || ec == net::ssl::error::stream_truncated)
      co_return (parser_.receivedAny() || buffer.size() > 0) ? http::error::partial_message
                                                             : http::error::end_of_stream;
    if (ec) co_return ec;
  }
}

// A reused keep-alive connection the upstream closed just before the
// request: nothing was received, so sending again on a new connection is
// safe.
template <class Stream>
bool UpstreamRelay<Stream>::closedBeforeAnswering(const boost::system::error_code& ec) const {
  return connection_.reused() && !parser_.receivedAny() &&
         (ec == http::error::end_of_stream || ec == net::error::connection_reset || ec == net::error::broken_pipe ||
          ec == net::error::eof);
}

// With ctx.retry set: whether the response's status is one the route
// retries; then ctx.attempt_failure holds it and the upstream's
// Retry-After (seconds, or an HTTP date; retry-after-ms first, as
// OpenAI sends it), and the body is never read (the connection is not
// reused).
template <class Stream>
bool UpstreamRelay<Stream>::retryableStatus() {
  const int status = static_cast<int>(parser_.status());
  if (!ctx_.retry->retriesStatus(status)) return false;
  record_.provider_status_code = status;
  AttemptFailure failure{status, ErrorType::kUpstreamHttpError, std::nullopt};
  failure.retry_after = retryAfter(parser_);
  ctx_.attempt_failure = failure;
  return true;
}

// The error for a response head the gateway cannot answer from: 101
// Switching Protocols (interim answers never get here, the parser consumes
// them), after which the connection would stop carrying HTTP, or a
// content-coding it cannot decode. A body in a content-coding the gateway
// did not ask for is decoded before anything reads, redacts, records or
// relays it: decoder_ is set up here.
template <class Stream>
std::optional<Error> UpstreamRelay<Stream>::acceptResponseHead() {
  record_.provider_status_code = parser_.status();
  if (parser_.status() < 200) {
    return Error::badGateway("upstream_protocol_switch",
                             "The upstream answered " + std::to_string(parser_.status()) + " instead of a response");
  }
  if (auto codings = contentCodings(parser_)) {
    auto made = upstream::makeContentDecoder(*codings);
    if (!made) return made.error();
    decoder_ = std::move(*made);
  }
  return std::nullopt;
}

// The provider's handler for the response, the record's view of it, and
// the client's response head but for its framing (which endBuffered or
// startRelay sets).
template <class Stream>
void UpstreamRelay<Stream>::startHandler() {
  if (ctx_.recorded) record_.provider_request_id = providerRequestId(parser_);  // only the record reads it
  UpstreamResponseHead uhead{parser_.status(), parser_.find(http::field::content_type).value_or(std::string_view()),
                             &upstream_headers_};
  // Stream chunks serve only the record's response, so none are kept when
  // bodies are off (usage is read as the chunks pass).
  handler_ = provider_.respond(creq_, uhead, ctx_.capture_budget);
  const ClientResponseHead& chead = handler_->head();
  record_.status_code = chead.status;
  if (chead.status >= 400) {
    record_.outcome = RequestOutcome::kError;
    record_.error_type = ErrorType::kUpstreamHttpError;
  }
  record_.streamed =
      iequals(trim(std::string_view(chead.content_type).substr(0, chead.content_type.find(';'))), "text/event-stream");

  forwardableHeaders(parser_, chead.passthrough_bytes, operator_secrets_, forwarded_headers_);
  if (ctx_.routed_by.attempts > 0) {
    // The gateway's own say which target answered, never an upstream's.
    std::erase_if(forwarded_headers_, [](const auto& h) {
      return h.first.size() >= 10 && iequals(std::string_view(h.first).substr(0, 10), "x-gateway-");
    });
    head_params_.routed_by = &ctx_.routed_by;
  }
  if (!ctx_.gateway_headers.empty()) {
    // A virtual key's limits are the ones the client is under, not the
    // provider's limits of the gateway's own key.
    std::erase_if(forwarded_headers_, [](const auto& h) {
      return h.first.size() >= 12 && iequals(std::string_view(h.first).substr(0, 12), "x-ratelimit-");
    });
    head_params_.gateway_headers = ctx_.gateway_headers;
  }
  head_params_.status = chead.status;
  head_params_.content_type = chead.content_type;
  head_params_.request_id = ctx_.request_id;
  head_params_.keep_alive = ctx_.keep_alive;
  head_params_.cors_origin = ctx_.cors_origin;
  head_params_.extra = &forwarded_headers_;
}

// Framing::kBuffered: appends the piece (masked) to body_. False at the
// body's end (body_read_) or when reading stops: a failure (failure_), or
// the client left.
template <class Stream>
bool UpstreamRelay<Stream>::bufferPiece(const BodyPiece& piece) {
  if (piece.error) {
    if (!ctx_.client_gone) failure_ = bodyFailure(piece.error, "reading the response body");
    return false;
  }
  if (body_.size() + piece.size > kMaxBufferedUpstreamBody) {
    failure_ = Error::badGateway("upstream_response_too_large", "The upstream response is too large");
    return false;
  }
  body_.append(echo_.filter(pieceBytes(piece.size), piece.size == 0));
  body_read_ = piece.size == 0;
  return !body_read_;
}

// Framing::kBuffered, once reading stopped: the whole body goes to the
// handler at once, and its output is the response, with a Content-Length.
template <class Stream>
auto UpstreamRelay<Stream>::endBuffered() -> Ending {
  if (failure_) return Ending::kFailure;
  if (!body_read_) return Ending::kNothingMore;  // the client left
  record_.upstream_finished = Clock::now();
  Status st = handler_->onBody(body_, out_);
  if (st) st = handler_->onEnd(out_);
  record_.observation = std::move(handler_->observation());
  if (!st) {
    failure_ = st.error();
    failure_type_ = ErrorType::kUpstreamBroken;
    return Ending::kFailure;
  }
  releaseConnection();
  framing_ = BodyFraming::kContentLength;
  head_params_.content_length = out_.size();
  head_ = buildResponseHead(head_params_);
  captureResponseBytes(ctx_, out_);
  return Ending::kLastBytes;
}

// Framing::kRelay: the client's response is chunked, unless the handler
// forwards the upstream's bytes unchanged and they came with a
// Content-Length (not content-coded: decoding changes the length).
template <class Stream>
void UpstreamRelay<Stream>::startRelay() {
  if (handler_->head().passthrough_bytes && parser_.content_length() && !decoder_) {
    framing_ = BodyFraming::kContentLength;
    head_params_.content_length = *parser_.content_length();
  }
  head_ = buildResponseHead(head_params_);
}

// Framing::kRelay: gives the piece (masked) to the handler, whose output
// collects in out_. False at the body's end or when the relay stops: a
// failure (failure_), or the client left.
template <class Stream>
bool UpstreamRelay<Stream>::relayPiece(const BodyPiece& piece) {
  if (piece.error) {
    if (!ctx_.client_gone) failure_ = bodyFailure(piece.error, "relaying the response");
    return false;
  }
  if (std::string_view bytes = echo_.filter(pieceBytes(piece.size), piece.size == 0); !bytes.empty()) {
    if (Status st = handler_->onBody(bytes, out_); !st) {
      failure_ = st.error();
      return false;
    }
  }
  return piece.size > 0;
}

// Whether out_ goes to the client after `piece`. readPiece() already parsed
// (and decoded) everything buffered; only a full body buffer means more is
// waiting in memory (never on the network), whose output is gathered first
// up to kCoalesceBytes.
template <class Stream>
bool UpstreamRelay<Stream>::outputDue(const BodyPiece& piece) const {
  if (piece.size == body_buffer_.size() && out_.size() < kCoalesceBytes) return false;
  return !out_.empty();
}

// Framing::kRelay, once the relay stopped: the handler's last output after
// the body's end; after an upstream failure, a gateway-made error when
// nothing reached the client yet, else what endAfterFailure() adds.
template <class Stream>
auto UpstreamRelay<Stream>::endRelay() -> Ending {
  if (ctx_.client_gone) {
    record_.observation = std::move(handler_->observation());
    return Ending::kNothingMore;
  }
  record_.upstream_finished = Clock::now();
  if (!failure_) {
    endComplete();
    return Ending::kLastBytes;
  }
  if (ctx_.response_progress == ResponseProgress::kNothingSent && !record_.streamed) {
    // Nothing reached the client yet: it can still get a proper error.
    record_.observation = std::move(handler_->observation());
    return Ending::kFailure;
  }
  endAfterFailure();
  if (framing_ == BodyFraming::kChunked && record_.streamed) {
    // An SSE stream: the error event tells the client what happened, and
    // the last chunk ends the response properly, so the client connection
    // stays usable: closing it here would make a keep-alive client's next
    // request fail with "socket hang up".
    return Ending::kLastBytes;
  }
  // Any other body (a Content-Length, or a plain body relayed chunked) has
  // no way to say "cut short" but the end of the connection: a last chunk
  // would make a truncated body look complete.
  ctx_.keep_alive = false;
  return Ending::kNothingMore;
}

// The upstream failed mid-body: the record says so, and the handler adds
// its last output (a stream's error event).
template <class Stream>
void UpstreamRelay<Stream>::endAfterFailure() {
  record_.outcome = RequestOutcome::kError;
  record_.error_type = failure_->http_status == 504 ? ErrorType::kUpstreamTimeout : ErrorType::kUpstreamBroken;
  handler_->onUpstreamFailure(*failure_, out_);
  record_.observation = std::move(handler_->observation());
}

// The body ended: the handler adds its last output (a stream's
// terminator), and the connection may carry another request.
template <class Stream>
void UpstreamRelay<Stream>::endComplete() {
  if (Status st = handler_->onEnd(out_); !st) {
    record_.outcome = RequestOutcome::kError;
    record_.error_type = ErrorType::kUpstreamBroken;
    handler_->onUpstreamFailure(st.error(), out_);
  }
  record_.observation = std::move(handler_->observation());
  releaseConnection();
  if (!record_.streamed) captureResponseBytes(ctx_, out_);
}

// Ending::kFailure: the client gets failure_ as a gateway-made error. After
// a relay that failed, the connection closes too.
template <class Stream>
net::awaitable<void> UpstreamRelay<Stream>::answerFailure() {
  co_await sendError(ctx_, *failure_, failure_type_.value_or(errorTypeFor(*failure_)));
  if (handler_->head().framing == Framing::kRelay) ctx_.keep_alive = false;
}

// Reads the next piece of the body into body_buffer_. The parser is driven
// directly: every byte already received is parsed first (all complete
// chunks of a chunked body, not one per call as Beast's read_some does,
// which costs a trip through the scheduler per chunk), and the socket is
// read only when nothing buffered can be parsed.
template <class Stream>
auto UpstreamRelay<Stream>::readPiece() -> net::awaitable<BodyPiece> {
  beast::flat_buffer& buffer = connection_.buffer();
  parser_.setBodyBuffer(body_buffer_.data(), body_buffer_.size());
  for (;;) {
    boost::system::error_code ec;
    while (buffer.size() > 0 && !parser_.is_done() && parser_.bodySpaceLeft() > 0) {
      std::size_t used = parser_.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_more || ec == http::error::need_buffer) {
        ec = {};
        break;
      }
      if (ec) co_return BodyPiece{ec, bodyBytesParsed()};
      if (used == 0) break;
    }
    if (bodyBytesParsed() > 0 || parser_.is_done()) co_return BodyPiece{{}, bodyBytesParsed()};
    const net::mutable_buffer into = buffer.prepare(kUpstreamReadBytes);
    std::tuple<boost::system::error_code, std::size_t> got{net::error::would_block, 0};
    if (parser_.need_eof()) got = readNow(into);
    if (std::get<0>(got) == net::error::would_block) got = co_await readSome(into);
    auto [read_ec, n] = got;
    buffer.commit(n);
    if (read_ec == net::error::eof || read_ec == net::ssl::error::stream_truncated) {
      // A body delimited by the end of the connection ends here; any
      // other body was cut short.
      boost::system::error_code eof_ec;
      parser_.put_eof(eof_ec);
      if (!eof_ec && parser_.is_done()) co_return BodyPiece{{}, bodyBytesParsed()};
      co_return BodyPiece{eof_ec ? eof_ec : read_ec, bodyBytesParsed()};
    }
    if (read_ec) co_return BodyPiece{read_ec, bodyBytesParsed()};
  }
}

// Reads the next piece of a body with a content-coding into body_buffer_:
// the decoder's output, fed from readPiece() (which reads into body_buffer_
// too: feed() copies). The decoder holds a fixed amount of memory however
// far its input expands. A body it refuses sets decode_failure_.
template <class Stream>
auto UpstreamRelay<Stream>::readDecoded() -> net::awaitable<BodyPiece> {
  const BodyPiece failed{std::make_error_code(std::errc::illegal_byte_sequence), 0};
  for (;;) {
    Status st;
    const std::size_t n = decoder_->read(body_buffer_.data(), body_buffer_.size(), st);
    if (!st) {
      decode_failure_ = st.error();
      co_return failed;
    }
    if (n > 0) co_return BodyPiece{{}, n};
    if (parser_.is_done()) {
      if (Status end = decoder_->finish(); !end) {
        decode_failure_ = end.error();
        co_return failed;
      }
      co_return BodyPiece{};
    }
    BodyPiece coded = co_await readPiece();
    if (coded.error) co_return BodyPiece{coded.error, 0};
    if (coded.size > 0) decoder_->feed(pieceBytes(coded.size));
  }
}

template <class Stream>
Error UpstreamRelay<Stream>::bodyFailure(const boost::system::error_code& ec, std::string_view stage) const {
  return decode_failure_ ? *decode_failure_ : transportError(ctx_, ec, stage);
}

// One read from the upstream into `into`. Plain TCP reads the socket itself
// (with a DrainingBuffer: after a read that emptied it, the next read waits
// for readiness instead of first trying a recv() that fails); TLS reads
// through the SSL stream. Not a coroutine: the awaitable is the read's own.
template <class Stream>
net::awaitable<std::tuple<boost::system::error_code, std::size_t>> UpstreamRelay<Stream>::readSome(
    net::mutable_buffer into) {
  if constexpr (kPlainTcp<Stream>)
    return stream_.socket().async_read_some(DrainingBuffer{into}, kAsTuple);
  else
    return stream_.async_read_some(into, kAsTuple);
}

// A read of the upstream tried at once without waiting: would_block when
// nothing is there. A body that ends with the connection (no length, not
// chunked) must see its end, and when the upstream's close came in the same
// TCP segment as the last bytes, the reactor holds no readiness event for
// it: epoll is edge-triggered, and the read that took those bytes through a
// DrainingBuffer was short, which cleared the socket's speculation flag, so
// a plain wait would last until UPSTREAM_TIMEOUT_MS. A recv() that answers
// 0 sees the close. TLS reads go through the SSL stream, which always tries
// first.
template <class Stream>
std::tuple<boost::system::error_code, std::size_t> UpstreamRelay<Stream>::readNow(net::mutable_buffer into) {
  if constexpr (kPlainTcp<Stream>) {
    boost::system::error_code ec;
    std::size_t n = stream_.socket().read_some(into, ec);
    if (ec == net::error::try_again) ec = net::error::would_block;
    return {ec, n};
  } else {
    return {net::error::would_block, 0};
  }
}

template class UpstreamRelay<beast::tcp_stream>;
template class UpstreamRelay<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace gw::server
