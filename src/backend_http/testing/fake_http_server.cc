#include "backend_http/testing/fake_http_server.h"

#include "common/strings.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace gw::http::testing {
namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxBody = 64 * 1024 * 1024;
}  // namespace

struct FakeHttpServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
};

std::optional<std::string> ReceivedRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return v;
  return std::nullopt;
}

FakeResponse FakeResponse::json(int status, std::string body, Headers extra) {
  FakeResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(extra);
  r.headers.emplace_back("Content-Type", "application/json");
  return r;
}

FakeHttpServer::FakeHttpServer(Handler handler) : handler_(std::move(handler)) {}
FakeHttpServer::~FakeHttpServer() { stop(); }

std::string FakeHttpServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

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
  {
    std::lock_guard lock(mutex_);
    requests_.push_back(std::move(request));
  }
  cv_.notify_all();
  return response;
}

void FakeHttpServer::start(unsigned short port) {
  stop();
  impl_ = std::make_unique<Impl>();
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();

  asio::co_spawn(impl_->io, acceptLoop(this, &impl_->acceptor), asio::detached);
  thread_ = std::thread([io = &impl_->io] { io->run(); });
}

// Coroutines are free functions taking everything by parameter: a lambda
// coroutine's captures would dangle once the lambda object is gone.
asio::awaitable<void> FakeHttpServer::session(FakeHttpServer* self, tcp::socket socket) {
  {
    beast::tcp_stream stream(std::move(socket));
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
        auto inflated = gzipDecompress(message.body(), kMaxBody);
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
        std::lock_guard lock(self->mutex_);
        self->requests_.push_back(std::move(request));
        self->cv_.notify_all();
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
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

}

asio::awaitable<void> FakeHttpServer::acceptLoop(FakeHttpServer* self, tcp::acceptor* acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(kTuple);
    if (ec) co_return;
    asio::co_spawn(acceptor->get_executor(), session(self, std::move(socket)), asio::detached);
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

}  // namespace gw::http::testing
