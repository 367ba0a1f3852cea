#include "providers/openai_compatible/openai_compatible_provider.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

namespace gw::providers::openai_compatible {
namespace {

class Headers : public HeaderLookup {
 public:
  std::vector<std::pair<std::string, std::string>> items;
  std::optional<std::string_view> get(std::string_view name) const override {
    for (auto& [k, v] : items)
      if (k == name) return std::string_view(v);
    return std::nullopt;
  }
  void forEach(const std::function<void(std::string_view, std::string_view)>& f) const override {
    for (auto& [k, v] : items) f(k, v);
  }
};

ProviderConfig openaiConfig(std::string key = "") {
  ProviderConfig c;
  c.name = "openai";
  c.base_url = "http://127.0.0.1:9999/v1";
  c.env_api_key = std::move(key);
  return c;
}

std::vector<std::string> transcriptLines() {
  std::ifstream in(GW_TESTDATA_DIR "/providers/transcripts/openai-stream.chunks.jsonl");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

struct Fixture {
  Headers headers;
  boost::json::object json;
  std::string body;
  ClientRequest req;
  explicit Fixture(std::string b, const ProviderConfig& config) : body(std::move(b)) {
    json = boost::json::parse(body).as_object();
    req.method = "POST";
    req.target = "/v1/chat/completions";
    req.path = "/v1/chat/completions";
    req.body = body;
    req.json = &json;
    req.json_body = true;
    req.config = &config;
    req.headers = &headers;
    if (auto* s = json.if_contains("stream")) req.stream = s->is_bool() && s->as_bool();
    if (auto* so = json.if_contains("stream_options"); so && so->is_object())
      if (auto* iu = so->as_object().if_contains("include_usage")) req.client_wants_usage = iu->is_bool() && iu->as_bool();
    req.has_stream_options = json.contains("stream_options");
  }
};

TEST(OpenAiCompatible, NonStreamingBodyAndPathPassThroughUnchanged) {
  auto config = openaiConfig();
  OpenAiCompatibleProvider p(config);
  Fixture f(R"({"model":"gpt-4o",  "messages":[]})", config);
  f.headers.items = {{"Authorization", "Bearer sk-client"}, {"X-Gateway-Key", "g"}, {"Accept-Encoding", "gzip"},
                     {"OpenAI-Organization", "org-1"}};
  auto up = p.prepare(f.req);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->bodyFor(f.req), f.body);
  EXPECT_EQ(up->target, "/v1/chat/completions");
  EXPECT_EQ(up->endpoint.host, "127.0.0.1");
  EXPECT_EQ(up->endpoint.port, 9999);
  EXPECT_FALSE(up->endpoint.tls);
  std::map<std::string, std::string> h(up->headers.begin(), up->headers.end());
  EXPECT_EQ(h["authorization"], "Bearer sk-client");
  EXPECT_EQ(h["openai-organization"], "org-1");
  EXPECT_FALSE(h.contains("x-gateway-key"));
  EXPECT_FALSE(h.contains("accept-encoding"));
}

TEST(OpenAiCompatible, GroqBasePathIsJoined) {
  ProviderConfig c;
  c.name = "groq";
  c.base_url = "https://api.groq.com/openai/v1/";
  c.env_api_key = "gsk";
  OpenAiCompatibleProvider p(c);
  Fixture f(R"({"model":"llama"})", c);
  f.req.target = "/v1/embeddings?x=1";
  f.req.path = "/v1/embeddings";
  auto up = p.prepare(f.req);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->target, "/openai/v1/embeddings?x=1");
  EXPECT_TRUE(up->endpoint.tls);
  EXPECT_EQ(up->endpoint.port, 443);
  std::map<std::string, std::string> h(up->headers.begin(), up->headers.end());
  EXPECT_EQ(h["authorization"], "Bearer gsk");
}

TEST(OpenAiCompatible, MissingCredentialsIs401WithoutSecrets) {
  auto config = openaiConfig();
  OpenAiCompatibleProvider p(config);
  Fixture f(R"({"model":"gpt-4o"})", config);
  auto up = p.prepare(f.req);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().http_status, 401);
  EXPECT_NE(up.error().message.find("OPENAI_API_KEY"), std::string::npos);
}

TEST(OpenAiCompatible, StreamGetsIncludeUsageAndClientNeverSeesIt) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  Fixture f(R"({"model":"gpt-4.1-nano","stream":true,"messages":[]})", config);
  auto up = p.prepare(f.req);
  ASSERT_TRUE(up);
  auto sent = boost::json::parse(up->body);
  EXPECT_TRUE(sent.at("stream_options").at("include_usage").as_bool());

  Headers upstream_headers;
  UpstreamResponseHead head{200, "text/event-stream; charset=utf-8", &upstream_headers};
  auto lines = transcriptLines();
  std::string upstream;
  for (auto& l : lines) upstream += "data: " + l + "\n\n";
  upstream += "data: [DONE]\n\n";
  // Fed whole (events handed over in place) and in awkward 7-byte pieces
  // (line by line): the same bytes out.
  auto relay = [&](std::size_t piece, std::string& out) {
    auto h = p.respond(f.req, head, 1 << 20);
    for (std::size_t i = 0; i < upstream.size(); i += piece)
      EXPECT_TRUE(h->onBody(std::string_view(upstream).substr(i, piece), out));
    EXPECT_TRUE(h->onEnd(out));
    return h;
  };
  std::string whole_out;
  relay(upstream.size(), whole_out);
  std::string out;
  auto handler = relay(7, out);
  EXPECT_FALSE(handler->head().passthrough_bytes);
  EXPECT_EQ(out, whole_out);
  // Each chunk is forwarded as the provider sent it but for "usage":null.
  EXPECT_NE(out.find(R"("finish_reason":null}],"obfuscation":"yhjoJbEF"})"), std::string::npos);
  EXPECT_EQ(out.find("\"usage\""), std::string::npos);
  EXPECT_NE(out.find("data: [DONE]\n\n"), std::string::npos);
  auto& obs = handler->observation();
  EXPECT_EQ(obs.usage.input, 16);
  EXPECT_EQ(obs.usage.output, 300);
  EXPECT_EQ(obs.usage.total, 316);
  EXPECT_EQ(obs.usage.cached_input, 0);
  ASSERT_EQ(obs.chunks.size(), lines.size());
  EXPECT_NE(obs.chunks.back().find("\"usage\":{"), std::string::npos) << "usage chunk last";
  EXPECT_EQ(obs.response_model, "gpt-4.1-nano-2025-04-14");
  // Every forwarded chunk is valid JSON.
  std::size_t events = 0;
  for (std::size_t pos = 0; (pos = out.find("data: {", pos)) != std::string::npos; ++events) {
    auto end = out.find("\n\n", pos);
    boost::json::parse(out.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  EXPECT_EQ(events, lines.size() - 1);
}

TEST(OpenAiCompatible, StreamWhereClientAskedForUsageIsByteIdentical) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  Fixture f(R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})", config);
  auto up = p.prepare(f.req);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->bodyFor(f.req), f.body);
  Headers hh;
  auto handler = p.respond(f.req, UpstreamResponseHead{200, "text/event-stream", &hh}, 1 << 20);
  EXPECT_TRUE(handler->head().passthrough_bytes);
  std::string upstream;
  for (auto& l : transcriptLines()) upstream += "data: " + l + "\r\n\r\n";
  upstream += ": keep-alive comment\n\ndata: [DONE]\n\n";
  std::string out;
  for (std::size_t i = 0; i < upstream.size(); i += 13) ASSERT_TRUE(handler->onBody(std::string_view(upstream).substr(i, 13), out));
  ASSERT_TRUE(handler->onEnd(out));
  EXPECT_EQ(out, upstream);
  EXPECT_EQ(handler->observation().usage.total, 316);
}

// Telemetry off (ClientRequest::observed false): the request goes upstream
// as the client sent it (no include_usage added for the gateway's own use),
// and the stream comes back byte for byte, unparsed, still only in whole
// events, with a bound on what an unfinished event may hold back.
TEST(OpenAiCompatible, UnobservedStreamIsRelayedUnchangedAndUnparsed) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  Fixture f(R"({"model":"gpt-4.1-nano","stream":true,"messages":[]})", config);
  f.req.observed = false;
  auto up = p.prepare(f.req);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->bodyFor(f.req), f.body) << "nothing is injected when nobody reads the usage";
  Headers hh;
  auto handler = p.respond(f.req, UpstreamResponseHead{200, "text/event-stream", &hh}, 0);
  EXPECT_TRUE(handler->head().passthrough_bytes);
  std::string upstream;
  for (auto& l : transcriptLines()) upstream += "data: " + l + "\n\n";
  upstream += "data: [DONE]\n\n";
  std::string out;
  for (std::size_t i = 0; i < upstream.size(); i += 11) {
    ASSERT_TRUE(handler->onBody(std::string_view(upstream).substr(i, 11), out));
    EXPECT_EQ(out.size(), completeSseEventsPrefix(out)) << "only whole events are forwarded";
  }
  ASSERT_TRUE(handler->onEnd(out));
  EXPECT_EQ(out, upstream);
  const auto& obs = handler->observation();
  EXPECT_FALSE(obs.usage.total) << "the events were not parsed";
  EXPECT_FALSE(obs.response_model);
  EXPECT_TRUE(obs.chunks.empty());

  // An event that never ends: refused past the event limit (4 MiB) instead
  // of held back without bound.
  auto endless = p.respond(f.req, UpstreamResponseHead{200, "text/event-stream", &hh}, 0);
  std::string piece = "data: " + std::string(64 * 1024, 'x');
  std::string sink;
  bool refused = false;
  for (int i = 0; i < 80 && !refused; ++i) refused = !endless->onBody(piece, sink);
  EXPECT_TRUE(refused);
  EXPECT_TRUE(sink.empty());
}

// Without a tree (the proxy builds none when the body has no
// "stream_options"), include_usage is spliced into the text: the same JSON
// as the tree would give, every other byte of the client's body unchanged.
TEST(OpenAiCompatible, IncludeUsageIsSplicedIntoTheTextWithoutATree) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  for (std::string body : {std::string(R"({"model":"m","stream":true,"messages":[]})"),
                           std::string(" \n{ \"stream\" : true , \"model\":\"m\"}\n"),
                           std::string(R"({"stream":true})")}) {
    Fixture f(body, config);
    f.req.json = nullptr;
    ASSERT_TRUE(p.wantsParsedBody(f.req) == false) << body;
    auto up = p.prepare(f.req);
    ASSERT_TRUE(up);
    auto sent = boost::json::parse(up->body).as_object();
    EXPECT_TRUE(sent.at("stream_options").at("include_usage").as_bool()) << up->body;
    sent.erase("stream_options");
    EXPECT_EQ(sent, boost::json::parse(body).as_object()) << up->body;
    std::string without = up->body;
    without.erase(without.find("\"stream_options\""), std::string_view("\"stream_options\":{\"include_usage\":true},").size());
    EXPECT_EQ(without, body) << "only the member was added";
  }
  EXPECT_EQ(withIncludeUsage("{}"), R"({"stream_options":{"include_usage":true}})");
  EXPECT_EQ(withIncludeUsage("{ }"), R"({"stream_options":{"include_usage":true} })");
  // A body that has stream_options (without include_usage) needs the tree.
  Fixture g(R"({"model":"m","stream":true,"stream_options":{}})", config);
  EXPECT_TRUE(p.wantsParsedBody(g.req));
}

TEST(OpenAiCompatible, CompleteSseEventsPrefix) {
  EXPECT_EQ(completeSseEventsPrefix(""), 0u);
  EXPECT_EQ(completeSseEventsPrefix("data: a\n\n"), 9u);
  EXPECT_EQ(completeSseEventsPrefix("data: a\n\ndata: b"), 9u);
  EXPECT_EQ(completeSseEventsPrefix("data: a\n\ndata: b\n"), 9u);
  EXPECT_EQ(completeSseEventsPrefix("data: a\r\n\r\n"), 11u);
  EXPECT_EQ(completeSseEventsPrefix("data: a\r\n\r"), 0u) << "the CR may be the start of a CRLF";
  EXPECT_EQ(completeSseEventsPrefix("data: a\r\rdata: b"), 9u);
  EXPECT_EQ(completeSseEventsPrefix("data: a\n\r\nx"), 10u);
  EXPECT_EQ(completeSseEventsPrefix("data: a\ndata: b\n"), 0u);
}

// The client asked for usage, so bytes pass unchanged; the upstream breaks
// in the middle of an event. Whatever the read boundaries, the client only
// ever gets whole events, and the error event last, whole.
TEST(OpenAiCompatible, PassthroughStreamCutMidEventEndsWithAWholeErrorEvent) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  Fixture f(R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})", config);
  Headers hh;
  const std::string complete = "data: {\"id\":\"1\",\"choices\":[]}\n\ndata: {\"id\":\"2\",\"choices\":[]}\r\n\r\n";
  const std::string upstream = complete + "data: {\"id\":\"3\",\"mod";
  for (std::size_t piece : {1u, 5u, 13u, 1000u}) {
    auto handler = p.respond(f.req, UpstreamResponseHead{200, "text/event-stream", &hh}, 1 << 20);
    std::string out;
    for (std::size_t i = 0; i < upstream.size(); i += piece) {
      ASSERT_TRUE(handler->onBody(std::string_view(upstream).substr(i, piece), out));
      EXPECT_EQ(out.size(), completeSseEventsPrefix(out)) << "only whole events are forwarded, piece " << piece;
    }
    EXPECT_EQ(out, complete) << piece;
    handler->onUpstreamFailure(Error::badGateway("upstream_broken", "cut"), out);
    ASSERT_TRUE(out.starts_with(complete));
    std::string_view last = std::string_view(out).substr(complete.size());
    EXPECT_TRUE(last.starts_with("data: {\"error\":")) << last;
    EXPECT_TRUE(last.ends_with("}\n\n")) << last;
    EXPECT_EQ(last.find("\"mod"), std::string_view::npos) << "the half event is not forwarded";
  }
}

TEST(OpenAiCompatible, CaptureBudgetCountsWhatItDoesNotKeep) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  Fixture f(R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})", config);
  Headers hh;
  auto handler = p.respond(f.req, UpstreamResponseHead{200, "text/event-stream", &hh}, 1000);
  std::string upstream;
  auto lines = transcriptLines();
  for (auto& l : lines) upstream += "data: " + l + "\n\n";
  std::string out;
  ASSERT_TRUE(handler->onBody(upstream, out));
  auto& obs = handler->observation();
  EXPECT_LE(obs.chunk_bytes, 1000u);
  EXPECT_EQ(obs.chunks.size() + obs.chunks_not_captured, lines.size());
  EXPECT_EQ(obs.usage.total, 316) << "usage is read even past the capture budget";
}

TEST(OpenAiCompatible, StripNullUsage) {
  auto stripped = [](std::string s, std::size_t from = 0) {
    bool found = stripNullUsage(s, from);
    return (found ? "+" : "-") + s;
  };
  EXPECT_EQ(stripped(R"({"id":"x","choices":[],"usage":null})"), R"(+{"id":"x","choices":[]})");
  EXPECT_EQ(stripped(R"({"usage":null,"id":"x"})"), R"(+{"id":"x"})");
  EXPECT_EQ(stripped(R"({"usage":null})"), R"(+{})");
  // OpenAI's 2025 layout: "obfuscation" follows usage.
  EXPECT_EQ(stripped(R"({"choices":[],"usage":null,"obfuscation":"Qup1"})"), R"(+{"choices":[],"obfuscation":"Qup1"})");
  // Whitespace (other servers' serialisers).
  EXPECT_EQ(stripped(R"({"id":"x", "usage" : null})"), R"(+{"id":"x"})");
  EXPECT_EQ(stripped(R"({ "usage": null, "id":"x"})"), R"(+{  "id":"x"})");
  // Only the last usage member is the one the gateway caused; a nested one
  // is the provider's content, and a usage object is not null.
  EXPECT_EQ(stripped(R"({"a":{"usage":null},"usage":null})"), R"(+{"a":{"usage":null}})");
  EXPECT_EQ(stripped(R"({"usage":{"total_tokens":1}})"), R"(-{"usage":{"total_tokens":1}})");
  // Not members: text in a string, part of a longer key.
  EXPECT_EQ(stripped(R"({"content":"say \"usage\":null"})"), R"(-{"content":"say \"usage\":null"})");
  EXPECT_EQ(stripped(R"({"x\"usage":null})"), R"(-{"x\"usage":null})");
  // In place after a prefix (the relay's output buffer): the prefix is
  // never touched, even when it ends in a comma or a backslash.
  EXPECT_EQ(stripped(R"(data: x,{"usage":null,"id":"x"})", 9), R"(+data: x,{"id":"x"})");
  EXPECT_EQ(stripped(R"(prefix,"usage":null)", 7), R"(+prefix,)");
  EXPECT_EQ(stripped(R"(pre\"usage":null)", 4), R"(+pre\)");
}

TEST(OpenAiCompatible, ErrorResponsesPassThrough) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  Fixture f(R"({"model":"m","stream":true})", config);
  Headers hh;
  auto handler = p.respond(f.req, UpstreamResponseHead{429, "application/json", &hh}, 1000);
  EXPECT_EQ(handler->head().status, 429);
  EXPECT_TRUE(handler->head().passthrough_bytes);
  std::string out;
  ASSERT_TRUE(handler->onBody("{\"error\":{}}", out));
  EXPECT_EQ(out, "{\"error\":{}}");
}

TEST(OpenAiCompatible, CredentialsForOthersAreNotForwarded) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  Fixture f(R"({"model":"m"})", config);
  f.headers.items = {{"Authorization", "Bearer sk-client"}, {"x-api-key", "sk-ant-for-anthropic"},
                     {"Cookie", "session=gateway-site"}, {"x-gateway-key", "gk"}, {"x-aws-session-token", "t"},
                     {"OpenAI-Organization", "org-1"}};
  auto up = p.prepare(f.req);
  ASSERT_TRUE(up);
  std::map<std::string, std::string> h(up->headers.begin(), up->headers.end());
  EXPECT_EQ(h["authorization"], "Bearer sk-client");
  EXPECT_EQ(h["openai-organization"], "org-1");
  for (const char* gone : {"x-api-key", "cookie", "x-gateway-key", "x-aws-session-token"})
    EXPECT_FALSE(h.contains(gone)) << gone;
}

TEST(OpenAiCompatible, ErrorEchoingTheKeyIsRedacted) {
  auto config = openaiConfig("sk-env-operator-key");
  OpenAiCompatibleProvider p(config);
  Fixture env(R"({"model":"m"})", config);
  auto handler = p.respond(env.req, UpstreamResponseHead{401, "application/json", nullptr}, 1000);
  EXPECT_EQ(handler->head().framing, Framing::kBuffered) << "read whole, so no key is split across pieces";
  EXPECT_TRUE(handler->head().passthrough_bytes);
  std::string out;
  ASSERT_TRUE(handler->onBody(R"({"error":{"message":"Incorrect API key provided: sk-env-operator-key."}})", out));
  EXPECT_EQ(out, R"({"error":{"message":"Incorrect API key provided: [REDACTED]."}})");

  Fixture client(R"({"model":"m"})", config);
  client.headers.items = {{"authorization", "Bearer sk-client-key-123"}};  // the fixture matches names exactly
  auto h2 = p.respond(client.req, UpstreamResponseHead{400, "application/json", nullptr}, 1000);
  std::string out2;
  ASSERT_TRUE(h2->onBody("key sk-client-key-123 and short keys stay: sk-", out2));
  EXPECT_EQ(out2, "key [REDACTED] and short keys stay: sk-");
}

}  // namespace
}  // namespace gw::providers::openai_compatible
