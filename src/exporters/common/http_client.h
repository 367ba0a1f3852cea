// A small blocking HTTP/1.1 client for exporter worker threads.
//
// Exporters run on their own worker thread (include/gw/exporter.h) and send
// one request at a time, so this client is deliberately synchronous: send()
// blocks until the response is complete, the deadline passes or the transport
// fails. Internally it runs Beast on a private io_context, so it never touches
// the gateway's request-path event loops.
//
// - http and https (OpenSSL, peer and host-name verification always on; an
//   optional CA file replaces the system trust store),
// - keep-alive: one idle connection per origin is kept and reused; a request
//   whose reused connection turns out to be closed by the server is sent again
//   once on a fresh connection (the server never saw it),
// - connect timeout and total timeout per request,
// - optional gzip of the request body (Content-Encoding: gzip),
// - a bounded response body (max_response_bytes).
//
// Threading: a Client is used by one thread at a time (its exporter's worker).
// Beast and Asio stay inside http_client.cc.
#pragma once

#include "gw/exporter.h"

#include <boost/system/result.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gw::exporters::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{30000};  // connect + write + read of one request
  std::string ca_file;                              // PEM; empty: system trust store
  std::size_t max_response_bytes = 16 * 1024 * 1024;
  std::string user_agent = "magicapi-gateway";

  // An exporter's client: `timeout` per request, of which connecting takes
  // at most the default connect_timeout; `ca_file` as above.
  static ClientOptions withTimeout(std::chrono::milliseconds timeout, std::string ca_file = {});
};

struct Request {
  std::string method = "POST";
  std::string url;  // absolute http:// or https:// URL
  Headers headers;  // sent as given; Host, Content-Length and User-Agent are added
  std::string body;
  bool gzip_body = false;  // compress body and send Content-Encoding: gzip
};

struct Response {
  int status = 0;
  Headers headers;  // names as received
  std::string body;
  // Credentials the request carried (see requestSecrets), so that an error
  // message quoting the body cannot repeat one a backend echoed.
  std::vector<std::string> sent_secrets;

  // First value of header `name` (case-insensitive).
  std::optional<std::string> header(std::string_view name) const;
};

// A transport failure: DNS, connect, TLS, timeout, malformed response. The
// message names the origin but never a credential.
struct TransportError {
  std::string message;
};

using SendResult = boost::system::result<Response, TransportError>;

class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  SendResult send(const Request& request);

  // Closes idle connections (exporter shutdown).
  void close();

  // Connections opened so far (tests check keep-alive reuse).
  std::size_t connectionsOpened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Checks that `url` is an absolute http(s) URL with a host; the error message
// is meant to follow "VARIABLE: ".
boost::system::result<void, std::string> validateUrl(std::string_view url);

// Joins a base URL and a path ("http://h:1/base/" + "/_bulk" -> "http://h:1/base/_bulk").
std::string joinUrl(std::string_view base, std::string_view path);

// An export attempt's result from the backend's answer: gw::classifyHttpStatus
// of its status and Retry-After, with a message naming the call (`what`,
// e.g. "elasticsearch _bulk") and an excerpt of the body, every credential
// the request carried redacted from it.
ExportResult resultForStatus(const Response& response, std::string_view what);

// The credential values in request headers: every value of 8 bytes or more
// except the few headers that describe the body (Content-Type...), the token
// of an "Authorization: <scheme> <token>" value, and for Basic the decoded
// "user:password" and its password.
std::vector<std::string> requestSecrets(const Headers& headers);
ExportResult resultForTransportError(const TransportError& error, std::string_view what);

// gzip (RFC 1952) with zlib.
std::string gzipCompress(std::string_view data);
// Inflates gzip data; fails on malformed input or past `max_bytes` of output.
struct GzipError {
  explicit GzipError(std::string m) : message(std::move(m)) {}
  std::string message;
};
boost::system::result<std::string, GzipError> gzipDecompress(std::string_view data, std::size_t max_bytes);

// Basic authentication header value ("Basic base64(user:password)").
std::string basicAuth(std::string_view user, std::string_view password);

}  // namespace gw::exporters::http
