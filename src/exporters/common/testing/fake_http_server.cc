#include "exporters/common/testing/fake_http_server.h"

#include "common/strings.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <optional>

namespace gw::exporters::testing {
namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxBody = 64 * 1024 * 1024;
}  // namespace

struct FakeHttpServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::optional<ssl::context> tls;  // set when serving HTTPS
};

std::optional<std::string> ReceivedRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return v;
  return std::nullopt;
}

FakeResponse FakeResponse::json(int status, std::string body, http::Headers extra) {
  FakeResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(extra);
  r.headers.emplace_back("Content-Type", "application/json");
  return r;
}

FakeHttpServer::FakeHttpServer(Handler handler) : handler_(std::move(handler)) {}
FakeHttpServer::~FakeHttpServer() { stop(); }

std::string FakeHttpServer::url() const {
  return (tls_cert_file_.empty() ? "http://127.0.0.1:" : "https://127.0.0.1:") + std::to_string(port_);
}

void FakeHttpServer::useTls(std::string cert_file, std::string key_file) {
  tls_cert_file_ = std::move(cert_file);
  tls_key_file_ = std::move(key_file);
}

bool FakeHttpServer::waitForFailedHandshakes(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return failed_handshakes_ >= n; });
}

void FakeHttpServer::setHandler(Handler handler) {
  std::lock_guard lock(mutex_);
  handler_ = std::move(handler);
}

std::vector<ReceivedRequest> FakeHttpServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t FakeHttpServer::requestCount() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

void FakeHttpServer::clearRequests() {
  std::lock_guard lock(mutex_);
  requests_.clear();
}

bool FakeHttpServer::waitForRequests(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

FakeResponse FakeHttpServer::handle(ReceivedRequest request) {
  Handler handler;
  {
    std::lock_guard lock(mutex_);
    handler = handler_;
  }
  FakeResponse response = handler ? handler(request) : FakeResponse{};
  record(std::move(request));
  return response;
}

void FakeHttpServer::record(ReceivedRequest request) {
  {
    std::lock_guard lock(mutex_);
    requests_.push_back(std::move(request));
  }
  cv_.notify_all();
}

void FakeHttpServer::start(unsigned short port) {
  stop();
  impl_ = std::make_unique<Impl>();
  if (!tls_cert_file_.empty()) {
    impl_->tls.emplace(ssl::context::tls_server);
    impl_->tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3);
    impl_->tls->use_certificate_chain_file(tls_cert_file_);
    impl_->tls->use_private_key_file(tls_key_file_, ssl::context::pem);
  }
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();

  asio::co_spawn(impl_->io, acceptLoop(this, &impl_->acceptor), asio::detached);
  thread_ = std::thread([io = &impl_->io] { io->run(); });
}

// Coroutines are static functions taking everything by parameter: a lambda
// coroutine's captures would dangle once the lambda object is gone.
struct FakeHttpServer::Session {
  // Serves requests on `stream` (plain or TLS) until the peer closes.
  template <class Stream>
  static asio::awaitable<void> serve(FakeHttpServer* self, Stream& stream) {
    beast::flat_buffer buffer;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(kMaxBody);
      auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
      if (ec) break;
      auto message = parser.release();
      ReceivedRequest request;
      request.method = std::string(message.method_string());
      request.target = std::string(message.target());
      for (const auto& field : message) request.headers.emplace_back(field.name_string(), field.value());
      FakeResponse response;
      auto encoding = request.header("Content-Encoding");
      bool bad_gzip = false;
      if (encoding && iequals(*encoding, "gzip")) {
        request.gzipped = true;
        auto inflated = http::gzipDecompress(message.body(), kMaxBody);
        if (inflated) {
          request.body = std::move(*inflated);
        } else {
          bad_gzip = true;
          request.body = message.body();
        }
      } else {
        request.body = std::move(message.body());
      }
      if (bad_gzip) {
        response = FakeResponse::json(400, R"({"error":"malformed gzip body"})");
        self->record(std::move(request));
      } else {
        response = self->handle(std::move(request));
      }
      if (response.delay.count() > 0) {
        asio::steady_timer timer(stream.get_executor(), response.delay);
        co_await timer.async_wait(kTuple);
      }
      bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(response.status), 11};
      for (const auto& [name, value] : response.headers) out.set(name, value);
      out.body() = response.body;
      out.keep_alive(!response.close_connection && message.keep_alive());
      out.prepare_payload();
      auto [wec, wn] = co_await bhttp::async_write(stream, out, kTuple);
      if (wec || !out.keep_alive()) break;
    }
  }

  static asio::awaitable<void> run(FakeHttpServer* self, tcp::socket socket, ssl::context* tls) {
    beast::error_code ignored;
    if (!tls) {
      beast::tcp_stream stream(std::move(socket));
      co_await serve(self, stream);
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, kTuple);
    beast::get_lowest_layer(stream).expires_never();
    if (ec) {
      {
        std::lock_guard lock(self->mutex_);
        ++self->failed_handshakes_;
      }
      self->cv_.notify_all();
    } else {
      co_await serve(self, stream);
    }
    // No TLS close_notify: the tests only need the connection gone, and a
    // client that never answers one would hold this coroutine.
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
  }
};

asio::awaitable<void> FakeHttpServer::acceptLoop(FakeHttpServer* self, tcp::acceptor* acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(kTuple);
    if (ec) co_return;
    ssl::context* tls = self->impl_->tls ? &*self->impl_->tls : nullptr;
    asio::co_spawn(acceptor->get_executor(), Session::run(self, std::move(socket), tls), asio::detached);
  }
}

void FakeHttpServer::stop() {
  if (!impl_) return;
  impl_->io.stop();
  if (thread_.joinable()) thread_.join();
  // Destroying the io_context destroys the suspended sessions, closing their sockets.
  impl_.reset();
}

unsigned short unusedPort() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

}  // namespace gw::exporters::testing
