// The proxy: one /v1/* request from routing to the last byte sent, relaying
// the upstream response piece by piece and observing it for the record.
#include "common/log.h"
#include "common/openai_error.h"
#include "common/strings.h"
#include "providers/common/forwarding.h"
#include "providers/provider_registry.h"
#include "common/draining_buffer.h"
#include "server/echo_redactor.h"
#include "server/router.h"
#include "server/server_internal.h"
#include "server/upstream_response_parser.h"
#include "upstream/content_decoder.h"
#include "telemetry/telemetry_sink.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <type_traits>

namespace gw::server {

namespace {

constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);
using Clock = std::chrono::steady_clock;
using namespace std::string_view_literals;  // "..."sv: appends without strlen()

// Upper bound for an upstream body the gateway must hold whole (a
// non-streamed response it translates). Relayed bodies are never held.
constexpr std::size_t kMaxBufferedUpstreamBody = 64u << 20;
// Pipelined bytes the client may send while a request is in flight before
// the gateway stops reading from it (TCP backpressure does the rest).
constexpr std::size_t kMaxPipelinedBytes = 1u << 20;
// One socket read from an upstream.
constexpr std::size_t kUpstreamReadBytes = 64u << 10;
// See proxyRequest: the least the request path keeps of a response.
constexpr std::size_t kMinCaptureBytes = 1u << 20;
// Bytes kept from the end of an over-budget body to read its usage.
constexpr std::size_t kUsageTailBytes = 16u << 10;
// Output gathered from already-buffered upstream bytes before one write.
constexpr std::size_t kCoalesceBytes = 64u << 10;

struct UpstreamHeaders final : HeaderLookup {
  const UpstreamResponseParser* parser = nullptr;
  std::optional<std::string_view> get(std::string_view name) const override { return parser->find(name); }
  void forEach(const std::function<void(std::string_view, std::string_view)>& visit) const override {
    parser->forEachField([&](http::field, std::string_view name, std::string_view value) { visit(name, value); });
  }
};

// Headers from the upstream response that reach the client. Passthrough
// responses keep the provider's headers (rate limits, processing time...);
// translated ones keep only what still means the same thing.
// A header whose value holds a credential the gateway sent (an upstream,
// or a proxy before it, echoing the request) never reaches the client.
void forwardableHeaders(const UpstreamResponseParser& upstream, bool passthrough,
                        const std::vector<std::string_view>& sent_secrets,
                        std::vector<std::pair<std::string, std::string>>& out) {
  upstream.forEachField([&](http::field id, std::string_view name, std::string_view value) {
    // Framing, connection management and the gateway's own headers are the
    // gateway's to write. Compared by Beast's field enum where the name is
    // a known one: no lower-cased copy of each name.
    switch (id) {
      case http::field::content_type:
      case http::field::content_length:
      case http::field::content_encoding:  // bodies reach the client decoded
      case http::field::transfer_encoding:
      case http::field::connection:
      case http::field::keep_alive:
      case http::field::set_cookie:
      case http::field::proxy_connection:
      case http::field::upgrade:
      case http::field::trailer:
      case http::field::te:
      case http::field::alt_svc:
      case http::field::date:
      case http::field::server:
        return;
      default:
        break;
    }
    if (iequals(name, "x-request-id")) return;
    // A plain search: header values are short, where memmem's set-up per
    // call would cost more than the search.
    for (std::string_view secret : sent_secrets)
      if (value.size() >= secret.size() && value.find(secret) != std::string_view::npos) return;
    // The gateway's CORS policy (CORS_ALLOWED_ORIGINS) decides what a
    // browser may read, never the upstream's.
    if (name.size() >= 15 && iequals(name.substr(0, 15), "access-control-")) return;
    if (!passthrough && !iequals(name, "retry-after") && toLower(name).find("ratelimit") == std::string::npos) return;
    out.emplace_back(std::string(name), std::string(value));
  });
}

// The response's content-codings, every Content-Encoding field joined
// (RFC 9110 section 5.3), or nullopt when it has none.
std::optional<std::string> contentCodings(const UpstreamResponseParser& h) {
  if (!h.find(http::field::content_encoding)) return std::nullopt;  // the usual case: one scan by enum
  std::optional<std::string> codings;
  h.forEachField([&](http::field id, std::string_view, std::string_view value) {
    if (id != http::field::content_encoding) return;
    if (codings) codings->append(", ");
    else codings.emplace();
    codings->append(value);
  });
  return codings;
}

// The credentials in the request sent upstream (API keys, bearer tokens,
// AWS session tokens), as their bare values: what an echo would contain.
// Providers write header names in lower case (see Provider::prepare).
// Values shorter than kMinSecretBytes are left out: they would match
// unrelated text, and no provider issues keys that short.
void collectSentSecrets(const UpstreamRequest& up, std::vector<std::string_view>& secrets) {
  static constexpr std::size_t kMinSecretBytes = 8;
  secrets.clear();
  for (const auto& [header, value] : up.headers) {
    const std::string_view name = header;  // compared by size first, unlike std::string == const char*
    std::string_view v = trim(value);
    if (name == "authorization"sv) {
      // "Bearer KEY": the key alone is what gets echoed in most places.
      if (std::size_t space = v.find(' '); space != std::string_view::npos) v = trim(v.substr(space + 1));
    } else if (name != "x-api-key"sv && name != "api-key"sv && name != "x-goog-api-key"sv &&
               name != "x-amz-security-token"sv) {
      continue;
    }
    if (v.size() >= kMinSecretBytes) secrets.push_back(v);
  }
}

std::optional<std::string> providerRequestId(const UpstreamResponseParser& h) {
  // In order of preference; one pass over the fields.
  static constexpr std::array<std::string_view, 6> kNames = {
      "x-request-id", "request-id", "x-amzn-requestid", "x-amz-request-id", "x-fireworks-request-id", "cf-ray"};
  std::size_t best = kNames.size();
  std::string_view found;
  h.forEachField([&](http::field, std::string_view name, std::string_view value) {
    if (value.empty()) return;
    for (std::size_t i = 0; i < best; ++i)
      if (iequals(name, kNames[i])) {
        best = i;
        found = value;
        break;
      }
  });
  if (best == kNames.size()) return std::nullopt;
  return std::string(found.substr(0, 256));
}

// Everything one proxied request carries through its stages.
struct ProxyContext {
  ProxyContext(Worker& w, beast::tcp_stream& c, beast::flat_buffer& b, HttpRequest& r)
      : worker(w), client(c), client_buffer(b), request(r), record(std::make_unique<RequestRecord>()) {}

  Worker& worker;
  beast::tcp_stream& client;
  beast::flat_buffer& client_buffer;
  HttpRequest& request;
  std::unique_ptr<RequestRecord> record;
  std::string request_id;
  std::string cors_origin;
  bool keep_alive = true;
  bool observed = true;  // TelemetrySink::observationsWanted()
  std::size_t capture_budget = 0;

  // Response state.
  bool head_sent = false;
  bool chunked = true;
  bool response_finished = false;  // the client got a complete response
  bool client_gone = false;
  bool upstream_timed_out = false;
  std::string usage_tail;  // last bytes of a body past the capture budget
  std::vector<std::string_view> sent_secrets;  // see collectSentSecrets(); views into the upstream request
  std::unique_ptr<upstream::Connection> upstream;  // current connection, if any

  const Settings& settings() const { return worker.shared.settings(); }
};

void captureBody(ProxyContext& ctx, std::string_view bytes) {
  if (!ctx.observed) return;  // telemetry off: nothing reads it
  auto& body = ctx.record->response_body;
  if (ctx.record->response_body_truncated) {
    // Past the budget only the tail is kept, because OpenAI-shaped bodies
    // put "usage" last: a large embeddings response still has its tokens.
    ctx.usage_tail.append(bytes);
    if (ctx.usage_tail.size() > 2 * kUsageTailBytes) ctx.usage_tail.erase(0, ctx.usage_tail.size() - kUsageTailBytes);
    return;
  }
  if (body.size() + bytes.size() > ctx.capture_budget) {
    body.append(bytes.substr(0, ctx.capture_budget - body.size()));
    ctx.record->response_body_truncated = true;
    ctx.usage_tail.assign(bytes.substr(bytes.size() > kUsageTailBytes ? bytes.size() - kUsageTailBytes : 0));
    return;
  }
  body.append(bytes);
}

// One write to the client: body bytes (the head first, if not sent yet,
// and the chunk framing when chunked) in one gather write. The client
// socket is non-blocking and usually has room, so sendNow() tries the
// write at once, without a coroutine; only what did not fit goes through
// sendRest(), an async write (a round through the scheduler and the
// reactor). Used as
//   ClientWrite write(ctx, head, body, last);
//   if (!write.sendNow()) co_await write.sendRest();
//   if (!write.ok()) ...the client is gone...
// `head` and `body` must outlive it. On the worker's thread.
class ClientWrite {
 public:
  ClientWrite(ProxyContext& ctx, const std::string& head, std::string_view body, bool last)
      : ctx_(ctx), body_size_(body.size()), last_(last) {
    // Unused slots stay empty: writev skips zero-length buffers, and a fixed
    // array costs no allocation per write.
    std::size_t n = 0;
    if (!ctx.head_sent) bufs_[n++] = net::buffer(head);
    if (ctx.chunked) {
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
    if (total_ > 0) ctx_.head_sent = true;
    if (body_size_ > 0) {
      if (!ctx_.record->first_byte_sent) ctx_.record->first_byte_sent = Clock::now();
      ctx_.record->response_size += body_size_;
    }
    if (last_) ctx_.response_finished = true;
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

// A gateway-generated error (before any response byte was sent).
net::awaitable<void> sendError(ProxyContext& ctx, const Error& e, std::string_view error_type) {
  ctx.record->status_code = e.http_status;
  ctx.record->outcome = RequestOutcome::kError;
  if (!ctx.record->error_type) ctx.record->error_type = std::string(error_type);
  std::string body = openAiErrorBody(e);
  ResponseHeadParams p;
  p.status = e.http_status;
  p.content_type = "application/json";
  p.request_id = ctx.request_id;
  p.keep_alive = ctx.keep_alive;
  p.cors_origin = ctx.cors_origin;
  p.content_length = body.size();
  std::vector<std::pair<std::string, std::string>> retry_after;
  if (e.retry_after_seconds > 0) {
    retry_after.emplace_back("Retry-After", std::to_string(e.retry_after_seconds));
    p.extra = &retry_after;
  }
  ctx.chunked = false;
  std::string head = buildResponseHead(p);
  captureBody(ctx, body);
  ClientWrite write(ctx, head, body, true);
  if (!write.sendNow()) co_await write.sendRest();
  if (!write.ok()) ctx.keep_alive = false;
}

std::string_view errorTypeFor(const Error& e) {
  if (e.http_status == 504) return "upstream_timeout";
  if (e.code == "upstream_unreachable" || e.code == "upstream_connection_limit") return "upstream_unreachable";
  if (e.http_status == 502) return "upstream_broken";
  if (e.http_status == 401) return "authentication";
  if (e.http_status == 413) return "request_too_large";
  if (e.code == "overloaded") return "overloaded";
  if (e.http_status >= 400 && e.http_status < 500) return "invalid_request";
  return "internal";
}

Error transportError(const ProxyContext& ctx, const boost::system::error_code& ec, std::string_view stage) {
  if (ctx.upstream_timed_out || ec == beast::error::timeout)
    return Error::gatewayTimeout("The upstream did not answer in time");
  return Error::badGateway("upstream_broken", "Upstream connection failed while " + std::string(stage) + ": " +
                                                  ec.message());
}

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
    rec.error_type = "upstream_http_error";
  }
  rec.streamed = iequals(trim(std::string_view(chead.content_type).substr(0, chead.content_type.find(';'))),
                         "text/event-stream");

  std::vector<std::pair<std::string, std::string>> extra;
  forwardableHeaders(parser, chead.passthrough_bytes, ctx.sent_secrets, extra);
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
  // Credentials an upstream echoes are masked before the handler, the
  // record or the client see the body.
  EchoRedactor echo(ctx.sent_secrets);
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
        co_await sendError(ctx, e, "upstream_broken");
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
      co_await sendError(ctx, st.error(), "upstream_broken");
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
    rec.error_type = failure->http_status == 504 ? "upstream_timeout" : "upstream_broken";
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
    rec.error_type = "upstream_broken";
    handler->onUpstreamFailure(st.error(), out);
  }
  rec.observation = std::move(handler->observation());
  if (parser.keep_alive()) ctx.worker.pool->release(std::move(ctx.upstream));
  if (!rec.streamed) captureBody(ctx, out);
  ClientWrite write(ctx, head, out, true);
  if (!write.sendNow()) co_await write.sendRest();
  if (!write.ok()) ctx.keep_alive = false;
}

// The upstream request head, serialised once (and reused by the retry on a
// fresh connection). Header names and values come from the provider, which
// only forwards client headers Beast already validated; anything holding
// CR, LF or NUL is still dropped here so that no header can be injected.
std::optional<std::string> upstreamRequestHead(const UpstreamRequest& up, std::string_view body) {
  if (hasHeaderUnsafeBytes(up.method) || hasHeaderUnsafeBytes(up.target) ||
      up.target.find(' ') != std::string::npos || up.method.find(' ') != std::string::npos)
    return std::nullopt;
  std::string head;
  head.reserve(320 + up.target.size() + up.headers.size() * 48);
  appendPieces(head, up.method, " "sv, up.target, " HTTP/1.1\r\nHost: "sv);
  // A provider that signs its requests (bedrock) sets Host itself.
  auto signed_host = std::find_if(up.headers.begin(), up.headers.end(),
                                  [](const auto& h) { return iequals(h.first, "host") && !hasHeaderUnsafeBytes(h.second); });
  if (signed_host != up.headers.end()) {
    appendPieces(head, signed_host->second, "\r\n"sv);
  } else {
    bool ipv6 = up.endpoint.host.find(':') != std::string::npos;
    char port_digits[8];
    std::string_view port;
    if (up.endpoint.port != (up.endpoint.tls ? 443 : 80))
      port = std::string_view(port_digits, std::to_chars(port_digits, port_digits + sizeof port_digits, up.endpoint.port).ptr);
    appendPieces(head, ipv6 ? "["sv : ""sv, up.endpoint.host, ipv6 ? "]"sv : ""sv, port.empty() ? ""sv : ":"sv, port,
                 "\r\n"sv);
  }
  for (const auto& [k, v] : up.headers) {
    if (iequals(k, "host") || hasHeaderUnsafeBytes(k) || hasHeaderUnsafeBytes(v) || k.empty()) continue;
    appendPieces(head, k, ": "sv, v, "\r\n"sv);
  }
  // The gateway reads every body it relays (usage, redaction, records), so
  // it asks for none in a content-coding (the client's Accept-Encoding is
  // not forwarded); an upstream that sends one anyway is decoded.
  // The body is always sent with its own Content-Length (the gateway
  // re-frames every request: nothing the client wrote about framing reaches
  // the upstream). Methods that carry a body get one even when it is empty.
  if (!body.empty() || up.method == "POST" || up.method == "PUT" || up.method == "PATCH") {
    char length_digits[24];
    std::string_view length(length_digits,
                            std::to_chars(length_digits, length_digits + sizeof length_digits, body.size()).ptr);
    appendPieces(head, "Accept-Encoding: identity\r\nContent-Length: "sv, length, "\r\n\r\n"sv);
  } else {
    appendPieces(head, "Accept-Encoding: identity\r\n\r\n"sv);
  }
  return head;
}

// Connects (or reuses a connection) and runs the exchange, retrying once on
// a fresh connection when a pooled one turned out to be closed.
net::awaitable<void> exchange(ProxyContext& ctx, const Provider& provider, const ClientRequest& creq,
                              UpstreamRequest& up) {
  std::optional<std::string> head = upstreamRequestHead(up, up.bodyFor(creq));
  collectSentSecrets(up, ctx.sent_secrets);
  if (!head) {
    co_await sendError(ctx, Error::badRequest("invalid_request", "The request cannot be forwarded: invalid target"),
                       "invalid_request");
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
                     "upstream_broken");
}

// While the exchange runs: watches the client connection (so that the
// upstream request is cancelled when the client goes away) and enforces
// UPSTREAM_TIMEOUT_MS for the whole exchange. Both are driven by the
// worker's WorkerTimers (one timer for all exchanges, no timer operation
// per request) and act by closing the upstream connection, which ends the
// exchange's pending read; the exchange then reports the cause it finds in
// the context (client_gone -> cancelled, upstream_timed_out -> 504 or a
// final error event).
//
// The watch starts only once the exchange has run for kWatchClientAfter:
// waiting for readability costs ~5 us per request (an EPOLL_CTL_MOD to
// re-arm the socket, the wait, its cancellation; measured, bench/RESULTS.md),
// which an exchange that ends within a few milliseconds does not need -- a
// client that leaves during it costs the upstream at most those
// milliseconds. The entry then moves from the worker's watch lane to its
// deadline lane.
//
// The watch's handler may run after the request ended (a cancelled wait
// still completes), so it shares only `Watch` with the exchange; the
// destructor detaches the context and ends the wait.
class ExchangeGuards final : WorkerTimers::Entry {
 public:
  explicit ExchangeGuards(ProxyContext& ctx) : ctx_(ctx), start_(Clock::now()) {
    on_due = &ExchangeGuards::onDue;
    lane_ = &*ctx.worker.watch_lane;
    lane_->add(*this, start_);
  }
  ~ExchangeGuards() {
    WorkerTimers::Lane::remove(*this, *lane_);
    if (!watch_) return;
    watch_->ctx = nullptr;
    // Ends the pending readiness wait, so that the session's next read on
    // this socket is tried at once instead of queueing behind it.
    if (watch_->waiting && !ctx_.client_gone) {
      boost::system::error_code ec;
      ctx_.client.socket().cancel(ec);
    }
  }
  ExchangeGuards(const ExchangeGuards&) = delete;
  ExchangeGuards& operator=(const ExchangeGuards&) = delete;

 private:
  struct Watch {
    explicit Watch(ProxyContext& c) : ctx(&c) {}
    ProxyContext* ctx;  // null once the exchange is over
    bool waiting = false;
  };

  static void onDue(WorkerTimers::Entry& entry) {
    auto& self = static_cast<ExchangeGuards&>(entry);
    ProxyContext& ctx = self.ctx_;
    if (!self.watch_) {
      self.watch_ = std::make_shared<Watch>(ctx);
      watchClient(self.watch_);
      if (Clock::now() < self.start_ + ctx.settings().upstream_timeout) {
        self.lane_ = &*ctx.worker.deadline_lane;
        self.lane_->add(self, self.start_);
        return;
      }
    }
    ctx.upstream_timed_out = true;
    if (ctx.upstream) ctx.upstream->close();
    // A write to a client that stopped reading would otherwise never end
    // (client writes have no deadline of their own): it fails now, and the
    // request ends as cancelled. A pending write to a client that reads
    // is only a write in progress: the client then misses the error
    // event, which it could not have received any sooner.
    boost::system::error_code cec;
    ctx.client.socket().cancel(cec);
  }

  // Waits for readability, then reads without blocking: pipelined bytes are
  // kept for the next request; end of stream or an error means the client
  // is gone. Waiting first avoids a recv() per request for the usual
  // "nothing yet".
  static void watchClient(std::shared_ptr<Watch> w) {
    ProxyContext& ctx = *w->ctx;
    // Enough pipelined bytes buffered: stop reading (TCP backpressure does
    // the rest) and stop watching.
    if (ctx.client_buffer.size() >= kMaxPipelinedBytes) {
      w->waiting = false;
      return;
    }
    w->waiting = true;
    auto& socket = ctx.client.socket();
    socket.async_wait(tcp::socket::wait_read, [w = std::move(w)](boost::system::error_code wec) mutable {
      w->waiting = false;
      ProxyContext* c = w->ctx;
      if (!c || wec == net::error::operation_aborted) return;
      boost::system::error_code ec;
      std::size_t n = wec ? 0 : c->client.socket().read_some(c->client_buffer.prepare(16 * 1024), ec);
      if (!wec && ec == net::error::would_block) return watchClient(std::move(w));
      if (wec || ec) {
        c->client_gone = true;
        if (c->upstream) c->upstream->close();
        // A write to the client that is stuck (the peer stopped reading
        // and left) ends now too.
        boost::system::error_code cec;
        c->client.socket().cancel(cec);
        return;
      }
      c->client_buffer.commit(n);
      watchClient(std::move(w));
    });
  }

  ProxyContext& ctx_;
  Clock::time_point start_;
  WorkerTimers::Lane* lane_ = nullptr;  // the lane this entry is in (or was last in)
  std::shared_ptr<Watch> watch_;          // once the watch has started
};

}  // namespace

net::awaitable<void> rejectRequest(Worker& w, beast::tcp_stream& client, beast::flat_buffer& client_buffer,
                                   HttpRequest& request, Clock::time_point received, const Error& error) {
  const Settings& s = w.shared.settings();
  ProxyContext ctx(w, client, client_buffer, request);
  RequestHeaders headers(request);
  ctx.request_id = requestIdFor(headers);
  ctx.keep_alive = false;  // the rest of the body was not read
  ctx.cors_origin = corsOriginFor(s, request);
  ctx.capture_budget = s.capture_bodies ? s.telemetry_max_body_bytes : 0;
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  co_await sendError(ctx, error, errorTypeFor(error));
  if (!(path == "/v1" || path.starts_with("/v1/"))) co_return;
  // A /v1 request the gateway refused still gets its one record.
  auto& rec = *ctx.record;
  rec.id = ctx.request_id;
  rec.wall_start = std::chrono::system_clock::now() -
                   std::chrono::duration_cast<std::chrono::system_clock::duration>(Clock::now() - received);
  rec.received = received;
  rec.method = std::string(request.method_string());
  rec.path = std::string(path);
  if (auto cl = request.find(http::field::content_length)) {
    std::uint64_t n = 0;
    std::string_view v = *cl;
    if (std::from_chars(v.data(), v.data() + v.size(), n).ec == std::errc()) rec.request_size = n;
  }
  copyTrackingHeaders(headers, rec);
  rec.finished = Clock::now();
  w.shared.deps.telemetry->submit(std::move(ctx.record));
}

net::awaitable<bool> proxyRequest(Worker& w, beast::tcp_stream& client, beast::flat_buffer& client_buffer,
                                  HttpRequest& request, Clock::time_point received) {
  const Settings& s = w.shared.settings();
  w.shared.in_flight.fetch_add(1, std::memory_order_relaxed);
  TelemetrySink& telemetry = *w.shared.deps.telemetry;
  telemetry.requestStarted();

  ProxyContext ctx(w, client, client_buffer, request);
  auto& rec = *ctx.record;
  RequestHeaders headers(request);
  ctx.request_id = requestIdFor(headers);
  ctx.keep_alive = keepAlive(request) && !w.shared.draining.load(std::memory_order_relaxed);
  ctx.cors_origin = corsOriginFor(s, request);
  // What the request path keeps of a response for the record builder: the
  // body (or stream chunks) up to TELEMETRY_MAX_BODY_BYTES, but at least
  // kMinCaptureBytes so that a small cap still leaves usage and the
  // assembled stream intact; the builder applies the cap itself.
  // Nothing is kept when no exporter consumes records (metrics only).
  const bool keep_bodies = s.capture_bodies && telemetry.recordsWanted();
  ctx.observed = telemetry.observationsWanted();
  ctx.capture_budget = keep_bodies ? std::max<std::size_t>(s.telemetry_max_body_bytes, kMinCaptureBytes) : 0;
  rec.id = ctx.request_id;
  rec.wall_start = std::chrono::system_clock::now() -
                   std::chrono::duration_cast<std::chrono::system_clock::duration>(Clock::now() - received);
  rec.received = received;
  rec.method = std::string(request.method_string());
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  rec.path = std::string(path);
  rec.request_size = request.body().size();
  if (ctx.observed) copyTrackingHeaders(headers, rec);  // only the record reads them

  auto finish = [&]() {
    rec.finished = Clock::now();
    if (!rec.request_body.size() && keep_bodies) {
      // A body past the capture budget can only be previewed: the record
      // keeps its start, not a large body that would outlive the request
      // in the telemetry queues (MAX_INFLIGHT_BODY_BYTES counts requests
      // in flight only).
      if (request.body().size() > ctx.capture_budget) {
        rec.request_body.assign(request.body(), 0, ctx.capture_budget);
        rec.request_body_truncated = true;
      } else {
        rec.request_body = std::move(request.body());
      }
    }
    telemetry.submit(std::move(ctx.record));
    telemetry.requestEnded();
    w.shared.in_flight.fetch_sub(1, std::memory_order_relaxed);
  };

  // Access control.
  if (!s.gateway_api_keys.empty()) {
    auto key = headers.get("x-gateway-key");
    if (!key || !gatewayKeyAccepted(trim(*key), s.gateway_api_keys)) {
      co_await sendError(ctx, Error::unauthorized("invalid_gateway_key", "Missing or invalid x-gateway-key"),
                         "authentication");
      finish();
      co_return ctx.keep_alive;
    }
  }

  // Body: checked when it is JSON, passed through as bytes otherwise
  // (multipart uploads to /v1/files, /v1/audio/...). A JSON body is first
  // only scanned (valid, an object, its model and stream flags); its tree is
  // built only when the provider needs it (Provider::wantsParsedBody): an
  // OpenAI-compatible request the gateway forwards unchanged never does.
  // The tree's values live in scratch memory inside this request's frame
  // (the heap only past it): a typical chat request is ~15 small values,
  // which the default resource would allocate one by one. Everything that
  // holds them (json, creq) is declared after the resource and dies before it.
  alignas(std::max_align_t) unsigned char json_scratch[4096];
  boost::json::monotonic_resource json_memory(json_scratch, sizeof json_scratch);
  boost::json::object json(&json_memory);
  ClientRequest creq;
  JsonBodyFacts facts;
  bool has_json = false;
  if (!request.body().empty()) {
    std::string_view ctype = request.find(http::field::content_type).value_or(std::string_view());
    auto typeIs = [ctype](std::string_view prefix) {
      return ctype.size() >= prefix.size() && iequals(ctype.substr(0, prefix.size()), prefix);
    };
    // Everything is JSON except uploads. curl -d sends JSON as
    // application/x-www-form-urlencoded, so that type does not opt out.
    bool json_type = !(typeIs("multipart/") || typeIs("application/octet-stream") || typeIs("audio/") ||
                       typeIs("image/") || typeIs("video/"));
    if (json_type) {
      auto scanned = scanJsonBody(request.body());
      if (!scanned) {
        co_await sendError(ctx, scanned.error(), "invalid_request");
        finish();
        co_return ctx.keep_alive;
      }
      facts = std::move(*scanned);
      has_json = true;
    }
  } else if (requiresJsonBody(request.method_string(), path)) {
    co_await sendError(ctx, Error::badRequest("invalid_json", "Request body is empty: this endpoint takes a JSON object"),
                       "invalid_request");
    finish();
    co_return ctx.keep_alive;
  }
  auto route = selectProvider(headers, facts.model ? std::optional<std::string_view>(*facts.model) : std::nullopt,
                              *w.shared.deps.providers, s.default_provider);
  if (!route) {
    co_await sendError(ctx, route.error(), "invalid_request");
    finish();
    co_return ctx.keep_alive;
  }
  rec.provider = route->provider_name;
  rec.model = route->model;
  creq.method = request.method_string();
  creq.target = target;
  creq.path = path;
  creq.body = request.body();
  creq.json_body = has_json;
  creq.body_rewritten = route->model_rewritten;
  creq.model = route->model;
  creq.headers = &headers;
  creq.config = route->config;
  creq.observed = ctx.observed;
  creq.stream = facts.stream;
  creq.client_wants_usage = facts.include_usage;
  creq.has_stream_options = facts.has_stream_options;
  if (has_json && route->provider->wantsParsedBody(creq)) {
    auto parsed = parseJsonBody(request.body(), &json_memory);
    if (!parsed) {  // scanJsonBody accepted it: not expected
      co_await sendError(ctx, parsed.error(), "invalid_request");
      finish();
      co_return ctx.keep_alive;
    }
    json = std::move(*parsed);
    if (route->model_rewritten) json["model"] = route->model;
    creq.json = &json;
  }

  auto up = route->provider->prepare(creq);
  if (!up) {
    co_await sendError(ctx, up.error(), errorTypeFor(up.error()));
    finish();
    co_return ctx.keep_alive;
  }

  {
    ExchangeGuards guards(ctx);
    co_await exchange(ctx, *route->provider, creq, *up);
  }

  if (ctx.client_gone) {
    rec.outcome = RequestOutcome::kCancelled;
    rec.error_type = "client_disconnected";
    // status_code stays what the client received (null when no head was
    // sent); provider_latency stays null: the upstream response never finished.
    if (!ctx.head_sent) rec.status_code = 0;
    rec.upstream_finished.reset();
    ctx.keep_alive = false;
  } else if (!ctx.response_finished) {
    ctx.keep_alive = false;
  }
  // Usage of a non-streamed OpenAI-shaped body, read from what was captured.
  if (ctx.observed && !rec.streamed && !rec.observation.usage.input && rec.status_code < 400)
    scanOpenAiUsage(rec.response_body_truncated ? std::string_view(ctx.usage_tail) : rec.response_body,
                    rec.observation.usage);
  if (!keep_bodies) rec.response_body.clear();
  finish();
  co_return ctx.keep_alive;
}

}  // namespace gw::server
