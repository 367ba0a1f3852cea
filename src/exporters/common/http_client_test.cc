#include "exporters/common/http_client.h"
#include "exporters/common/testing/fake_http_server.h"
#include "exporters/common/testing/test_pki.h"

#include <gtest/gtest.h>

#include <chrono>

namespace gw::exporters::http {
namespace {

using exporters::testing::FakeHttpServer;
using exporters::testing::FakeResponse;
using exporters::testing::ReceivedRequest;
using exporters::testing::TestPki;
using namespace std::chrono_literals;

TEST(HttpClient, PostsBodyAndHeadersAndReadsResponse) {
  FakeHttpServer server([](const ReceivedRequest& r) {
    return FakeResponse::json(201, R"({"echo":")" + r.body + "\"}", {{"X-Answer", "42"}});
  });
  server.start();
  Client client;
  Request req;
  req.url = server.url() + "/path/x?q=1";
  req.headers = {{"Content-Type", "text/plain"}, {"X-Custom", "v"}};
  req.body = "hello";
  auto res = client.send(req);
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->status, 201);
  EXPECT_EQ(res->body, R"({"echo":"hello"})");
  EXPECT_EQ(res->header("x-answer").value_or(""), "42");
  auto got = server.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].target, "/path/x?q=1");
  EXPECT_EQ(got[0].header("x-custom").value_or(""), "v");
  EXPECT_EQ(got[0].header("host").value_or(""), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_FALSE(got[0].gzipped);
}

TEST(HttpClient, GzipsBodyWhenAsked) {
  FakeHttpServer server([](const ReceivedRequest&) { return FakeResponse::json(202, "{}"); });
  server.start();
  Client client;
  Request req;
  req.url = server.url() + "/in";
  req.body = std::string(10000, 'a');
  req.gzip_body = true;
  auto res = client.send(req);
  ASSERT_TRUE(res) << res.error().message;
  auto got = server.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].gzipped);
  EXPECT_EQ(got[0].body, req.body);
  EXPECT_LT(std::stoul(got[0].header("content-length").value_or("0")), 1000u);
}

TEST(HttpClient, ReusesKeepAliveConnection) {
  FakeHttpServer server([](const ReceivedRequest&) { return FakeResponse::json(200, "{}"); });
  server.start();
  Client client;
  Request req;
  req.url = server.url() + "/a";
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client.send(req));
  EXPECT_EQ(client.connectionsOpened(), 1u);
}

TEST(HttpClient, OpensNewConnectionWhenServerCloses) {
  FakeHttpServer server([](const ReceivedRequest&) {
    auto r = FakeResponse::json(200, "{}");
    r.close_connection = true;
    return r;
  });
  server.start();
  Client client;
  Request req;
  req.url = server.url() + "/a";
  ASSERT_TRUE(client.send(req));
  ASSERT_TRUE(client.send(req));
  EXPECT_EQ(client.connectionsOpened(), 2u);
}

TEST(HttpClient, RetriesOnceWhenIdleConnectionWasClosedByRestart) {
  FakeHttpServer server([](const ReceivedRequest&) { return FakeResponse::json(200, "{}"); });
  server.start();
  const auto port = server.port();
  Client client;
  Request req;
  req.url = server.url() + "/a";
  ASSERT_TRUE(client.send(req));
  server.stop();
  server.start(port);
  auto res = client.send(req);
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(client.connectionsOpened(), 2u);
  EXPECT_EQ(server.requestCount(), 2u);
}

TEST(HttpClient, ConnectionRefusedIsTransportError) {
  Client client;
  Request req;
  req.url = "http://127.0.0.1:" + std::to_string(exporters::testing::unusedPort()) + "/x";
  auto res = client.send(req);
  ASSERT_FALSE(res);
  EXPECT_NE(res.error().message.find("connect"), std::string::npos) << res.error().message;
}

TEST(HttpClient, TotalTimeoutOnSlowServer) {
  FakeHttpServer server([](const ReceivedRequest&) {
    auto r = FakeResponse::json(200, "{}");
    r.delay = 5s;
    return r;
  });
  server.start();
  ClientOptions options;
  options.total_timeout = 200ms;
  Client client(options);
  Request req;
  req.url = server.url() + "/slow";
  auto start = std::chrono::steady_clock::now();
  auto res = client.send(req);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(res);
  EXPECT_NE(res.error().message.find("timed out"), std::string::npos) << res.error().message;
  EXPECT_LT(took, 3s);
}

TEST(HttpClient, ResponseBodyLimit) {
  FakeHttpServer server([](const ReceivedRequest&) { return FakeResponse::json(200, std::string(5000, 'x')); });
  server.start();
  ClientOptions options;
  options.max_response_bytes = 1000;
  Client client(options);
  Request req;
  req.url = server.url() + "/big";
  EXPECT_FALSE(client.send(req));
}

TEST(HttpClient, HttpsToPlainServerFailsHandshake) {
  FakeHttpServer server([](const ReceivedRequest&) { return FakeResponse::json(200, "{}"); });
  server.start();
  ClientOptions options;
  options.total_timeout = 2s;
  Client client(options);
  Request req;
  req.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/";
  auto res = client.send(req);
  ASSERT_FALSE(res);
  EXPECT_NE(res.error().message.find("TLS"), std::string::npos) << res.error().message;
}

TEST(HttpClient, MissingCaFileIsReported) {
  ClientOptions options;
  options.ca_file = "/nonexistent/ca.pem";
  Client client(options);
  Request req;
  req.url = "https://127.0.0.1:1/";
  auto res = client.send(req);
  ASSERT_FALSE(res);
  EXPECT_NE(res.error().message.find("CA file"), std::string::npos) << res.error().message;
}

TEST(HttpClient, RejectsHeaderInjection) {
  Client client;
  Request req;
  req.url = "http://127.0.0.1:1/";
  req.headers = {{"X-A", "v\r\nInjected: 1"}};
  auto res = client.send(req);
  ASSERT_FALSE(res);
  EXPECT_NE(res.error().message.find("CR/LF"), std::string::npos);
}

// --- HTTPS against a TLS fake server with a CA generated for the test ---

// The fake server with a certificate for `names`, signed by a fresh CA.
struct TlsServer {
  explicit TlsServer(const std::vector<std::string>& names)
      : pki(TestPki::generate(names)),
        server([](const ReceivedRequest& r) { return FakeResponse::json(200, R"({"got":")" + r.body + "\"}"); }) {
    server.useTls(pki.cert_file, pki.key_file);
    server.start();
  }
  std::string url(const std::string& host, const std::string& path = "/v1/x") const {
    return "https://" + host + ":" + std::to_string(server.port()) + path;
  }
  TestPki pki;
  FakeHttpServer server;
};

ClientOptions trusting(const std::string& ca_file) {
  ClientOptions options;
  options.ca_file = ca_file;
  options.total_timeout = 5s;
  return options;
}

TEST(HttpClientTls, VerifiesServerWithCaFileAndKeepsConnection) {
  TlsServer tls({"IP:127.0.0.1", "DNS:localhost"});
  EXPECT_EQ(tls.server.url().rfind("https://127.0.0.1:", 0), 0u);
  Client client(trusting(tls.pki.ca_file));
  Request req;
  req.url = tls.url("127.0.0.1");
  req.body = "secret-free payload";
  req.gzip_body = true;
  for (int i = 0; i < 2; ++i) {
    auto res = client.send(req);
    ASSERT_TRUE(res) << res.error().message;
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, R"({"got":"secret-free payload"})");
  }
  EXPECT_EQ(client.connectionsOpened(), 1u);  // keep-alive over TLS
  auto got = tls.server.requests();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0].gzipped);
  EXPECT_EQ(got[0].target, "/v1/x");
  EXPECT_EQ(got[0].header("host").value_or(""), "127.0.0.1:" + std::to_string(tls.server.port()));

  // The same CA, the DNS name of the certificate.
  req.url = tls.url("localhost");
  auto res = client.send(req);
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->status, 200);
}

TEST(HttpClientTls, UnknownCaIsRejected) {
  TlsServer tls({"IP:127.0.0.1", "DNS:localhost"});
  ClientOptions options;  // system trust store: does not know the test CA
  options.total_timeout = 5s;
  Client client(options);
  Request req;
  req.url = tls.url("127.0.0.1");
  auto res = client.send(req);
  ASSERT_FALSE(res);
  EXPECT_NE(res.error().message.find("TLS handshake"), std::string::npos) << res.error().message;
  EXPECT_NE(res.error().message.find("certificate verify failed"), std::string::npos) << res.error().message;
  EXPECT_TRUE(tls.server.waitForFailedHandshakes(1, 5s));
  EXPECT_EQ(tls.server.requestCount(), 0u);  // nothing was sent to an unverified server

  // A CA file that holds a different CA is no better than none.
  TestPki other = TestPki::generate({"IP:127.0.0.1"}, "some other CA");
  Client wrong_ca(trusting(other.ca_file));
  res = wrong_ca.send(req);
  ASSERT_FALSE(res);
  EXPECT_NE(res.error().message.find("certificate verify failed"), std::string::npos) << res.error().message;
  EXPECT_EQ(tls.server.requestCount(), 0u);
}

TEST(HttpClientTls, HostNameMismatchIsRejected) {
  // Trusted CA, but the certificate names only "localhost".
  TlsServer tls({"DNS:localhost"});
  Client client(trusting(tls.pki.ca_file));
  Request req;
  req.url = tls.url("127.0.0.1");
  auto res = client.send(req);
  ASSERT_FALSE(res);
  EXPECT_NE(res.error().message.find("certificate verify failed"), std::string::npos) << res.error().message;
  EXPECT_TRUE(tls.server.waitForFailedHandshakes(1, 5s));
  EXPECT_EQ(tls.server.requestCount(), 0u);
  // The same server under the name it has a certificate for is accepted:
  // the failure above is the host-name check, not the chain.
  req.url = tls.url("localhost");
  res = client.send(req);
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(tls.server.requestCount(), 1u);
}

TEST(HttpClientTls, CertificateWithoutSubjectAltNameIsRejected) {
  // Only a CN ("gateway test server"); modern clients ignore CN for host names.
  TlsServer tls({});
  Client client(trusting(tls.pki.ca_file));
  Request req;
  req.url = tls.url("127.0.0.1");
  auto res = client.send(req);
  ASSERT_FALSE(res);
  EXPECT_NE(res.error().message.find("certificate verify failed"), std::string::npos) << res.error().message;
}

TEST(HttpClientTls, ResendsOnceWhenServerRestartedUnderIdleConnection) {
  TlsServer tls({"IP:127.0.0.1"});
  Client client(trusting(tls.pki.ca_file));
  Request req;
  req.url = tls.url("127.0.0.1");
  ASSERT_TRUE(client.send(req));
  const auto port = tls.server.port();
  tls.server.stop();
  tls.server.start(port);
  auto res = client.send(req);
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(client.connectionsOpened(), 2u);
  EXPECT_EQ(tls.server.requestCount(), 2u);
}

TEST(HttpClientTls, PlainHttpClientToTlsServerGetsNoAnswer) {
  TlsServer tls({"IP:127.0.0.1"});
  ClientOptions options;
  options.total_timeout = 2s;
  Client client(options);
  Request req;
  req.url = "http://127.0.0.1:" + std::to_string(tls.server.port()) + "/";
  EXPECT_FALSE(client.send(req));
  EXPECT_EQ(tls.server.requestCount(), 0u);
}

TEST(HttpUrl, ValidateAndJoin) {
  EXPECT_TRUE(validateUrl("http://localhost:9200"));
  EXPECT_TRUE(validateUrl("https://[::1]:4318/v1"));
  EXPECT_FALSE(validateUrl("localhost:9200"));
  EXPECT_FALSE(validateUrl("ftp://x/"));
  EXPECT_FALSE(validateUrl("http://user:pw@host/"));
  EXPECT_FALSE(validateUrl("not a url"));
  EXPECT_EQ(joinUrl("http://h:1/", "/_bulk"), "http://h:1/_bulk");
  EXPECT_EQ(joinUrl("http://h:1/base", "v1/logs"), "http://h:1/base/v1/logs");
}

TEST(ResultForStatus, MapsStatuses) {
  Response r;
  r.status = 200;
  EXPECT_EQ(resultForStatus(r, "x").kind, ExportResult::Kind::kSuccess);
  r.status = 429;
  r.headers = {{"Retry-After", "3"}};
  auto res = resultForStatus(r, "x");
  EXPECT_EQ(res.kind, ExportResult::Kind::kRetryable);
  EXPECT_EQ(res.retry_after, std::chrono::milliseconds(3000));
  r.headers.clear();
  for (int s : {408, 500, 502, 503, 504}) {
    r.status = s;
    EXPECT_EQ(resultForStatus(r, "x").kind, ExportResult::Kind::kRetryable) << s;
  }
  for (int s : {400, 401, 403, 404, 413}) {
    r.status = s;
    r.headers = {{"Retry-After", "3"}};
    EXPECT_EQ(resultForStatus(r, "x").kind, ExportResult::Kind::kPermanent) << s;
  }
}

// A backend that echoes the credentials it got must not put them in the
// gateway's log: every form of each one is redacted from the excerpt.
TEST(ResultForStatus, EchoedCredentialsAreRedactedFromTheMessage) {
  Headers sent = {{"Content-Type", "application/json"},
                  {"DD-API-KEY", "dd-key-0123456789abcdef"},
                  {"Authorization", "Basic ZWxhc3RpYzpjaGFuZ2VtZTEy"},  // elastic:changeme12
                  {"Api-Key", "short"}};
  Response r;
  r.status = 401;
  r.sent_secrets = requestSecrets(sent);
  r.body = "bad key dd-key-0123456789abcdef; auth Basic ZWxhc3RpYzpjaGFuZ2VtZTEy (elastic:changeme12, "
           "password changeme12); content application/json";
  auto res = resultForStatus(r, "x");
  EXPECT_EQ(res.kind, ExportResult::Kind::kPermanent);
  for (std::string_view leaked : {"dd-key-0123456789abcdef", "ZWxhc3RpYzpjaGFuZ2VtZTEy", "changeme12"})
    EXPECT_EQ(res.message.find(leaked), std::string::npos) << leaked << " in: " << res.message;
  EXPECT_NE(res.message.find("[REDACTED]"), std::string::npos);
  // What describes the body is not a secret and stays readable.
  EXPECT_NE(res.message.find("application/json"), std::string::npos) << res.message;
}

TEST(Gzip, RoundTripAndMalformedInput) {
  std::string data = "the quick brown fox " + std::string(1000, 'z');
  auto packed = gzipCompress(data);
  ASSERT_FALSE(packed.empty());
  auto unpacked = gzipDecompress(packed, 1 << 20);
  ASSERT_TRUE(unpacked);
  EXPECT_EQ(*unpacked, data);
  EXPECT_FALSE(gzipDecompress("not gzip", 1 << 20));
  EXPECT_FALSE(gzipDecompress(packed.substr(0, packed.size() / 2), 1 << 20));
  EXPECT_FALSE(gzipDecompress(packed, 100));  // inflates past the limit
  EXPECT_FALSE(gzipDecompress(packed + "junk", 1 << 20));
}

TEST(BasicAuth, EncodesCredentials) { EXPECT_EQ(basicAuth("elastic", "changeme"), "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="); }

}  // namespace
}  // namespace gw::exporters::http
