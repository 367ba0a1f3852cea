#include "exporters/common/http_client.h"

#include "common/strings.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <iomanip>
#include <map>
#include <sstream>

namespace gw::exporters::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
// A request's body: a view of bytes that outlive the exchange.
using RequestBody = bhttp::span_body<const char>;
using Clock = std::chrono::steady_clock;

struct Target {
  bool tls = false;
  std::string host;  // without brackets
  std::string port;
  std::string host_header;
  std::string path;  // path + query, at least "/"
  std::string origin;  // scheme://host:port, for connection reuse and messages
};

boost::system::result<Target, std::string> parseTarget(std::string_view url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return std::string("not an absolute URL");
  Target t;
  std::string scheme = toLower(parsed->scheme());
  if (scheme == "https") {
    t.tls = true;
  } else if (scheme != "http") {
    return std::string("scheme must be http or https");
  }
  if (parsed->host_type() == boost::urls::host_type::ipv6) {
    std::string h(parsed->encoded_host_address());
    if (h.size() > 2 && h.front() == '[') h = h.substr(1, h.size() - 2);
    t.host = h;
  } else {
    t.host = parsed->host_address();
  }
  if (t.host.empty()) return std::string("URL has no host");
  if (hasHeaderUnsafeBytes(t.host)) return std::string("invalid host");
  t.port = parsed->has_port() ? std::string(parsed->port()) : (t.tls ? "443" : "80");
  if (!parsed->userinfo().empty()) return std::string("credentials in the URL are not supported; use the exporter's key settings");
  bool default_port = (t.tls && t.port == "443") || (!t.tls && t.port == "80");
  std::string bracketed = parsed->host_type() == boost::urls::host_type::ipv6 ? "[" + t.host + "]" : t.host;
  t.host_header = default_port ? bracketed : bracketed + ":" + t.port;
  t.path = parsed->encoded_path().empty() ? "/" : std::string(parsed->encoded_path());
  if (parsed->has_query()) t.path += "?" + std::string(parsed->encoded_query());
  t.origin = scheme + "://" + bracketed + ":" + t.port;
  return t;
}

// One open connection, plain or TLS.
struct Connection {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  void closeSocket() {
    error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().socket().close(ignored);
  }
};

bool isStaleConnectionError(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == ssl::error::stream_truncated;
}

std::string describe(const error_code& ec) {
  if (ec == beast::error::timeout || ec == asio::error::timed_out) return "timed out";
  return ec.message();
}

}  // namespace

struct Client::Impl {
  explicit Impl(ClientOptions o) : options(std::move(o)), tls_context(ssl::context::tls_client) {
    tls_context.set_verify_mode(ssl::verify_peer);
    tls_context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                            ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    error_code ec;
    if (options.ca_file.empty()) {
      tls_context.set_default_verify_paths(ec);
    } else {
      tls_context.load_verify_file(options.ca_file, ec);
      if (ec) ca_error = "cannot load CA file " + options.ca_file + ": " + ec.message();
    }
  }

  // Runs one asynchronous operation to completion on the private io_context.
  template <class Start>
  error_code run(Start&& start) {
    error_code result = asio::error::would_block;
    start([&result](error_code ec, auto&&...) { result = ec; });
    io.restart();
    io.run();
    return result;
  }

  boost::system::result<std::unique_ptr<Connection>, std::string> connect(const Target& t,
                                                                          Clock::time_point deadline) {
    if (t.tls && !ca_error.empty()) return ca_error;
    auto connect_deadline = std::min(deadline, Clock::now() + options.connect_timeout);
    tcp::resolver resolver(io);
    tcp::resolver::results_type endpoints;
    error_code rec = asio::error::would_block;
    resolver.async_resolve(t.host, t.port, [&](error_code ec, tcp::resolver::results_type r) {
      rec = ec;
      endpoints = std::move(r);
    });
    io.restart();
    io.run_until(connect_deadline);
    if (rec == asio::error::would_block) {
      resolver.cancel();
      io.restart();
      io.run();
      return std::string("resolve timed out");
    }
    if (rec) return "resolve: " + rec.message();

    auto conn = std::make_unique<Connection>();
    if (t.tls) {
      conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(io, tls_context);
    } else {
      conn->plain = std::make_unique<beast::tcp_stream>(io);
    }
    conn->lowest().expires_at(connect_deadline);
    if (auto ec = run([&](auto h) { conn->lowest().async_connect(endpoints, std::move(h)); }))
      return "connect: " + describe(ec);
    ++connections_opened;
    if (t.tls) {
      // SNI and host-name verification (handles IP-address hosts too).
      if (!SSL_set_tlsext_host_name(conn->tls->native_handle(), t.host.c_str()))
        return std::string("TLS: cannot set server name");
      conn->tls->set_verify_callback(ssl::host_name_verification(t.host));
      conn->lowest().expires_at(std::min(deadline, Clock::now() + options.connect_timeout));
      if (auto ec = run([&](auto h) { conn->tls->async_handshake(ssl::stream_base::client, std::move(h)); }))
        return "TLS handshake: " + describe(ec);
    }
    return conn;
  }

  // One request/response exchange on `conn`. `sent_nothing` tells whether
  // the failure happened before the server could have answered.
  template <class Stream>
  error_code exchange(Stream& stream, Connection& conn, bhttp::request<RequestBody>& req,
                      bhttp::response_parser<bhttp::string_body>& parser, Clock::time_point deadline, bool& got_bytes) {
    conn.lowest().expires_at(deadline);
    if (auto ec = run([&](auto h) { bhttp::async_write(stream, req, std::move(h)); })) return ec;
    conn.lowest().expires_at(deadline);
    auto ec = run([&](auto h) { bhttp::async_read(stream, conn.buffer, parser, std::move(h)); });
    got_bytes = parser.got_some();
    return ec;
  }

  SendResult send(const Request& request) {
    auto target = parseTarget(request.url);
    if (!target) return TransportError{"invalid URL: " + target.error()};
    const Target& t = *target;
    const auto deadline = Clock::now() + options.total_timeout;
    const std::string what = request.method + " " + t.origin + t.path.substr(0, t.path.find('?'));

    bhttp::request<RequestBody> req;
    req.version(11);
    req.method_string(request.method);
    req.target(t.path);
    req.set(bhttp::field::host, t.host_header);
    req.set(bhttp::field::user_agent, options.user_agent);
    for (const auto& [name, value] : request.headers) {
      if (hasHeaderUnsafeBytes(name) || hasHeaderUnsafeBytes(value))
        return TransportError{what + ": header " + name + " contains CR/LF/NUL"};
      req.set(name, value);
    }
    // The body is sent from where it is (the caller's, or its compressed
    // copy), not copied into the message.
    std::string compressed;
    if (request.gzip_body) {
      compressed = gzipCompress(request.body);
      req.body() = {compressed.data(), compressed.size()};
      req.set(bhttp::field::content_encoding, "gzip");
    } else {
      req.body() = {request.body.data(), request.body.size()};
    }
    req.keep_alive(true);
    req.prepare_payload();

    for (int attempt = 0; attempt < 2; ++attempt) {
      std::unique_ptr<Connection> conn;
      bool reused = false;
      if (auto it = idle.find(t.origin); it != idle.end()) {
        conn = std::move(it->second);
        idle.erase(it);
        reused = true;
      } else {
        auto fresh = connect(t, deadline);
        if (!fresh) return TransportError{what + ": " + fresh.error()};
        conn = std::move(*fresh);
      }
      bhttp::response_parser<bhttp::string_body> parser;
      parser.body_limit(options.max_response_bytes);
      parser.header_limit(64 * 1024);
      bool got_bytes = false;
      error_code ec = conn->tls ? exchange(*conn->tls, *conn, req, parser, deadline, got_bytes)
                                : exchange(*conn->plain, *conn, req, parser, deadline, got_bytes);
      if (ec) {
        conn->closeSocket();
        if (reused && !got_bytes && isStaleConnectionError(ec)) continue;  // server closed the idle connection
        return TransportError{what + ": " + describe(ec)};
      }
      auto message = parser.release();
      Response response;
      response.status = static_cast<int>(message.result_int());
      for (const auto& field : message) response.headers.emplace_back(field.name_string(), field.value());
      response.body = std::move(message.body());
      if (response.status >= 300) response.sent_secrets = requestSecrets(request.headers);
      if (message.keep_alive()) {
        conn->buffer.consume(conn->buffer.size());
        idle[t.origin] = std::move(conn);
      } else {
        conn->closeSocket();
      }
      return response;
    }
    return TransportError{what + ": connection closed by the server"};
  }

  void close() {
    for (auto& [origin, conn] : idle) conn->closeSocket();
    idle.clear();
  }

  ClientOptions options;
  asio::io_context io;
  ssl::context tls_context;
  std::string ca_error;
  std::map<std::string, std::unique_ptr<Connection>> idle;
  std::size_t connections_opened = 0;
};

ClientOptions ClientOptions::withTimeout(std::chrono::milliseconds timeout, std::string ca_file) {
  ClientOptions c;
  c.total_timeout = timeout;
  c.connect_timeout = std::min(timeout, c.connect_timeout);
  c.ca_file = std::move(ca_file);
  return c;
}

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() { impl_->close(); }
SendResult Client::send(const Request& request) { return impl_->send(request); }
void Client::close() { impl_->close(); }
std::size_t Client::connectionsOpened() const { return impl_->connections_opened; }

std::optional<std::string> Response::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return v;
  return std::nullopt;
}

boost::system::result<void, std::string> validateUrl(std::string_view url) {
  auto t = parseTarget(url);
  if (!t) return "invalid URL '" + std::string(url.substr(0, 200)) + "': " + t.error();
  return {};
}

std::string joinUrl(std::string_view base, std::string_view path) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return std::string(base) + "/" + std::string(path);
}

ExportResult resultForStatus(const Response& response, std::string_view what) {
  const int s = response.status;
  if (s >= 200 && s < 300) return ExportResult::success();
  std::string message = std::string(what) + ": HTTP " + std::to_string(s);
  // A short excerpt of the body helps operators. A backend (or a proxy in
  // front of it) may echo the credential it got: those are redacted before
  // the excerpt is cut, so that no cut leaves part of a key behind.
  std::string body = response.body.substr(0, 64 * 1024);
  redactSecrets(body, response.sent_secrets);
  std::string excerpt = body.substr(0, 300);
  for (auto& c : excerpt)
    if (c == '\n' || c == '\r') c = ' ';
  if (!excerpt.empty()) message += ": " + excerpt;
  std::optional<std::chrono::milliseconds> after;
  if (auto ra = response.header("Retry-After")) after = parseRetryAfter(*ra);
  return classifyHttpStatus(s, std::move(message), after);
}

std::vector<std::string> requestSecrets(const Headers& headers) {
  std::vector<std::string> out;
  for (const auto& [name, raw] : headers) {
    if (iequals(name, "content-type") || iequals(name, "content-encoding") || iequals(name, "accept") ||
        iequals(name, "user-agent"))
      continue;
    std::string_view value = trim(raw);
    if (value.size() >= 8) out.emplace_back(value);
    auto space = value.find(' ');
    if (space == std::string_view::npos) continue;
    std::string_view scheme = value.substr(0, space);
    std::string_view token = trim(value.substr(space + 1));
    if (token.size() >= 8) out.emplace_back(token);
    if (iequals(scheme, "basic") && !token.empty() && token.size() < 4096) {
      std::string decoded(token.size(), '\0');
      int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                              reinterpret_cast<const unsigned char*>(token.data()), static_cast<int>(token.size()));
      if (n <= 0) continue;
      decoded.resize(static_cast<std::size_t>(n));
      while (!decoded.empty() && decoded.back() == '\0') decoded.pop_back();  // Base64 padding
      if (auto colon = decoded.find(':'); colon != std::string::npos) out.push_back(decoded.substr(colon + 1));
      out.push_back(std::move(decoded));
    }
  }
  return out;
}

ExportResult resultForTransportError(const TransportError& error, std::string_view what) {
  return ExportResult::retryable(std::string(what) + ": " + error.message);
}

std::string gzipCompress(std::string_view data) {
  z_stream zs{};
  // 15 + 16: gzip wrapper; level 6 is zlib's default speed/size balance.
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return {};
  return out;
}

boost::system::result<std::string, GzipError> gzipDecompress(std::string_view data, std::size_t max_bytes) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return GzipError{"inflateInit failed"};
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char chunk[16384];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof(chunk);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return GzipError{"malformed gzip data"};
    }
    out.append(chunk, sizeof(chunk) - zs.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&zs);
      return GzipError{"gzip data inflates past the limit"};
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      return GzipError{"truncated gzip data"};
    }
  }
  bool trailing = zs.avail_in != 0;
  inflateEnd(&zs);
  if (trailing) return GzipError{"trailing bytes after gzip data"};
  return {boost::system::in_place_value, std::move(out)};
}

std::string basicAuth(std::string_view user, std::string_view password) {
  std::string plain = std::string(user) + ":" + std::string(password);
  std::string encoded(4 * ((plain.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                          reinterpret_cast<const unsigned char*>(plain.data()), static_cast<int>(plain.size()));
  encoded.resize(static_cast<std::size_t>(n));
  return "Basic " + encoded;
}

}  // namespace gw::exporters::http
