// UpstreamRelay: one attempt of the exchange with the upstream, on one
// connection (see the class comment). upstream_exchange.cc picks the
// connection and retries; the relay's steps are in upstream_relay.cc.
// Only those two files include this header.
#pragma once

#include "server/echo_redactor.h"
#include "server/proxy_context.h"
#include "server/upstream_heads.h"
#include "server/upstream_response_parser.h"
#include "upstream/content_decoder.h"

#include <boost/beast/ssl/ssl_stream.hpp>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace gw::server {

// How an attempt ended.
enum class AttemptEnd {
  kDone,                    // the client was answered (or left)
  kRetryOnFreshConnection,  // a reused connection was closed before anything was received
  kRetryable,               // a failure ctx.retry lists (ctx.attempt_failure): nothing sent to the client
};

// One attempt of the exchange with the upstream, on the connection in
// ctx.upstream, whose `Stream` is plain TCP (beast::tcp_stream) or TLS.
// run() tells it top-down, one member function per step:
//   1. the request, written once (sendRequestNow, sendRequestRest);
//   2. the response head, interim answers consumed by the parser (readHead);
//   3. what the head decides: a gateway-made error, or the body's decoding
//      and the provider's handler (acceptResponseHead, startHandler);
//   4. the body, piece by piece (nextPiece: decoded when it has a
//      content-coding), echoed credentials masked: for a handler that reads
//      it whole, kept (bufferPiece) and given to it at once (endBuffered);
//      else relayed as the handler's output comes (startRelay, relayPiece,
//      outputDue) until its end or a failure (endRelay);
//   5. the end of the answer: its last bytes, or a gateway-made error when
//      nothing reached the client yet (answerFailure).
//
// One per attempt, on the worker's thread; `ctx`, `stream`, `provider`,
// `creq` and `operator_secrets` must outlive it. The stream's I/O is chosen
// at compile time (no virtual call per read or write).
template <class Stream>
class UpstreamRelay {
 public:
  // `operator_secrets`: the credentials sent upstream (collectOperatorSecrets()),
  // dropped from forwarded headers and masked in the body when echoed.
  UpstreamRelay(ProxyContext& ctx, Stream& stream, const Provider& provider, const ClientRequest& creq,
                const std::vector<std::string_view>& operator_secrets);
  UpstreamRelay(const UpstreamRelay&) = delete;
  UpstreamRelay& operator=(const UpstreamRelay&) = delete;

  // Sends the request (`request_head`, `request_body`: must outlive the
  // call) and answers the client from the response: its body relayed,
  // a buffered body translated, or a gateway-made error. Returns
  // kRetryOnFreshConnection, with nothing sent to the client, when a reused
  // connection turned out closed. The connection goes back to the pool when
  // it may carry another request (ctx.upstream is then null).
  net::awaitable<AttemptEnd> run(std::string_view request_head, std::string_view request_body);

 private:
  // One read of the response body: `size` bytes in body_buffer_ (decoded);
  // 0 with no error only when the body is complete.
  struct BodyPiece {
    boost::system::error_code error;
    std::size_t size = 0;
  };

  // How the answer ends once the body is over (read, failed, or the client
  // left).
  enum class Ending {
    kNothingMore,  // the client left, or a body cut short ends with the connection
    kLastBytes,    // out_ holds the response's last bytes (after head_, if not sent)
    kFailure,      // nothing reached the client: it gets failure_ as a gateway-made error
  };

  // 1. The request.
  bool sendRequestNow(boost::system::error_code& ec);
  net::awaitable<boost::system::error_code> sendRequestRest();
  // 2. The response head.
  net::awaitable<boost::system::error_code> readHead();
  bool closedBeforeAnswering(const boost::system::error_code& ec) const;
  // 3. What the head decides.
  bool retryableStatus();
  std::optional<Error> acceptResponseHead();
  void startHandler();
  // 4. The body: Framing::kBuffered...
  bool bufferPiece(const BodyPiece& piece);
  Ending endBuffered();
  // ...or Framing::kRelay.
  void startRelay();
  bool relayPiece(const BodyPiece& piece);
  bool outputDue(const BodyPiece& piece) const;
  Ending endRelay();
  void endAfterFailure();
  void endComplete();
  // 5. The end of the answer (when not its last bytes).
  net::awaitable<void> answerFailure();

  // Reading the body. nextPiece() gives the next piece, decoded when the
  // body has a content-coding. It is not a coroutine: it hands out
  // readDecoded()'s or readPiece()'s own awaitable, since a coroutine layer
  // per piece costs a frame and a resumption, which a stream pays per event.
  net::awaitable<BodyPiece> nextPiece() { return decoder_ ? readDecoded() : readPiece(); }
  net::awaitable<BodyPiece> readPiece();
  net::awaitable<BodyPiece> readDecoded();
  // What the parser put in body_buffer_ since readPiece() pointed it there.
  std::size_t bodyBytesParsed() const { return body_buffer_.size() - parser_.bodySpaceLeft(); }
  // The first `size` bytes of body_buffer_.
  std::string_view pieceBytes(std::size_t size) const { return {body_buffer_.data(), size}; }
  Error bodyFailure(const boost::system::error_code& ec, std::string_view stage) const;
  // Returns the connection to the pool once the body was read to its end,
  // when it may carry another request.
  void releaseConnection() {
    if (parser_.keep_alive()) ctx_.worker.pool->release(std::move(ctx_.upstream));
  }

  // Socket reads (the writes are sendRequestNow/sendRequestRest).
  net::awaitable<std::tuple<boost::system::error_code, std::size_t>> readSome(net::mutable_buffer into);
  std::tuple<boost::system::error_code, std::size_t> readNow(net::mutable_buffer into);

  ProxyContext& ctx_;
  RequestRecord& record_;
  Stream& stream_;
  upstream::Connection& connection_;  // ctx.upstream until releaseConnection()
  const Provider& provider_;
  const ClientRequest& creq_;
  const std::vector<std::string_view>& operator_secrets_;

  // The request: head and body, and how much of them went out at once.
  std::array<net::const_buffer, 2> request_;
  std::size_t request_sent_ = 0;

  // The response, as it is read.
  UpstreamResponseParser parser_;
  UpstreamHeaders upstream_headers_;                   // parser_, as the handler's HeaderLookup
  std::unique_ptr<upstream::ContentDecoder> decoder_;  // when the body has a content-coding
  std::optional<Error> decode_failure_;                // why decoder_ refused the body
  EchoRedactor echo_;                                  // masks operator_secrets_ in the body
  std::unique_ptr<ResponseHandler> handler_;           // the provider's, once the head is read
  // The last piece of the body read (left uninitialised: every read says
  // how much of it holds bytes).
  std::array<char, 16 * 1024> body_buffer_;

  // Framing::kBuffered: the body read so far (masked), and whether it is whole.
  std::string body_;
  bool body_read_ = false;

  // The answer to the client.
  std::vector<std::pair<std::string, std::string>> forwarded_headers_;  // from the upstream's head
  ResponseHeadParams head_params_;
  std::string head_;  // the response head, written with the first body bytes
  BodyFraming framing_ = BodyFraming::kChunked;
  std::string out_;  // the handler's output not written yet
  // Why the body stopped before its end, and the record's error type for
  // it when the client gets it as an error and errorTypeFor() does not say.
  std::optional<Error> failure_;
  std::optional<ErrorType> failure_type_;
};

extern template class UpstreamRelay<beast::tcp_stream>;
extern template class UpstreamRelay<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace gw::server
