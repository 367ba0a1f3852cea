#include "providers/openai_compatible/openai_compatible_provider.h"

#include "common/openai_usage.h"
#include "common/sse_parser.h"
#include "providers/common/openai_passthrough.h"

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
  // A body that has stream_options (without include_usage) needs the tree.
  Fixture g(R"({"model":"m","stream":true,"stream_options":{}})", config);
  EXPECT_TRUE(p.wantsParsedBody(g.req));
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

// OpenAI ends a failing stream with an error event inside the 200 answer:
// the record's provider_error_type is the event's error.type (else its
// error.code, else "stream_error"), from the first such event.
TEST(OpenAiCompatible, AnInBandStreamErrorEventGivesItsErrorType) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  Fixture f(R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})", config);
  Headers hh;
  const std::string first = "data: {\"id\":\"1\",\"choices\":[]}\n\n";
  const std::pair<std::string, std::string> cases[] = {
      {R"({"error":{"message":"overloaded","type":"server_error","param":null,"code":null}})", "server_error"},
      {R"({"error":{"message":"slow down","type":null,"code":"rate_limit_exceeded"}})", "rate_limit_exceeded"},
      {R"({"error":{"message":"x"}})", "stream_error"},
      {R"({"error":"not an object"})", "stream_error"},
      {R"({"error":{"type":"first"}})"
       "\n\ndata: "
       R"({"error":{"type":"second"}})",
       "first"},
  };
  for (const auto& [event, type] : cases) {
    auto handler = p.respond(f.req, UpstreamResponseHead{200, "text/event-stream", &hh}, 1 << 20);
    std::string out;
    const std::string upstream = first + "data: " + event + "\n\n";
    ASSERT_TRUE(handler->onBody(upstream, out));
    ASSERT_TRUE(handler->onEnd(out));
    EXPECT_EQ(out, upstream) << "relayed unchanged";
    EXPECT_EQ(handler->observation().provider_error_type, type) << event;
  }
  auto clean = p.respond(f.req, UpstreamResponseHead{200, "text/event-stream", &hh}, 1 << 20);
  std::string out;
  ASSERT_TRUE(clean->onBody(first + "data: [DONE]\n\n", out));
  EXPECT_FALSE(clean->observation().provider_error_type);
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

// Relays `upstream` (fed in pieces of `step` bytes) through a chat stream
// handler for `req`; returns the handler, the client's bytes in `out`.
std::unique_ptr<ResponseHandler> relayChat(const OpenAiCompatibleProvider& p, const ClientRequest& req,
                                           std::string_view upstream, std::string& out, std::size_t step = 1 << 20) {
  Headers hh;
  auto handler = p.respond(req, UpstreamResponseHead{200, "text/event-stream", &hh}, 1 << 20);
  for (std::size_t i = 0; i < upstream.size(); i += step)
    EXPECT_TRUE(handler->onBody(upstream.substr(i, step), out));
  EXPECT_TRUE(handler->onEnd(out));
  return handler;
}

std::string usageCounts(const Usage& u) {
  auto f = [](const std::optional<std::int64_t>& v) { return v ? std::to_string(*v) : std::string("-"); };
  return f(u.input) + " " + f(u.output) + " " + f(u.total) + " " + f(u.cached_input);
}

constexpr std::string_view kGroqContent =
    R"({"id":"chatcmpl-g","object":"chat.completion.chunk","created":1,"model":"llama-3.1-8b-instant","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"x_groq":{"id":"req_g"}})";
constexpr std::string_view kGroqLast =
    R"({"id":"chatcmpl-g","object":"chat.completion.chunk","created":1,"model":"llama-3.1-8b-instant","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"id":"req_g","usage":{"queue_time":0.02,"prompt_tokens":18,"prompt_time":0.001,"completion_tokens":50,"completion_time":0.04,"total_tokens":68,"prompt_tokens_details":{"cached_tokens":6}}}})";

// One event per chunk, one "data:" line per line of it, then [DONE].
std::string sse(std::initializer_list<std::string_view> chunks) {
  std::string out;
  for (std::string_view rest : chunks) {
    for (std::size_t lf; (lf = rest.find('\n')) != std::string_view::npos; rest.remove_prefix(lf + 1))
      out.append("data: ").append(rest.substr(0, lf)).append("\n");
    out.append("data: ").append(rest).append("\n\n");
  }
  return out + "data: [DONE]\n\n";
}

// Groq may ignore include_usage and report a stream's usage only under
// x_groq.usage in its last chunk: read there when the stream has no
// top-level usage, whether or not the gateway asked for usage.
TEST(OpenAiCompatible, GroqUsageUnderXGroqIsReadWhenThereIsNoTopLevelUsage) {
  auto config = openaiConfig("gsk-env");
  OpenAiCompatibleProvider p(config);
  for (bool client_asked : {false, true}) {
    Fixture f(client_asked ? R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})"
                           : R"({"model":"m","stream":true})",
              config);
    const std::string upstream = sse({kGroqContent, kGroqLast});
    std::string out;
    auto handler = relayChat(p, f.req, upstream, out, 11);
    EXPECT_EQ(usageCounts(handler->observation().usage), "18 50 68 6") << client_asked;
    EXPECT_EQ(out, upstream) << "chunks without a top-level usage go out unchanged";
    ASSERT_EQ(handler->observation().chunks.size(), 2u);
    EXPECT_EQ(handler->observation().chunks.back(), kGroqLast);
  }
}

// Both reported: the top-level usage wins, and the two are never added up,
// whichever comes first and whether in one chunk or two.
TEST(OpenAiCompatible, TopLevelUsageWinsOverXGroqUsageAndIsNeverSummed) {
  auto config = openaiConfig("gsk-env");
  OpenAiCompatibleProvider p(config);
  const std::string_view usage_chunk =
      R"({"id":"chatcmpl-g","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":51,"total_tokens":71}})";
  const std::string_view both_in_one =
      R"({"id":"chatcmpl-g","choices":[],"x_groq":{"usage":{"prompt_tokens":18,"completion_tokens":50,"total_tokens":68,"prompt_tokens_details":{"cached_tokens":6}}},"usage":{"prompt_tokens":20,"completion_tokens":51,"total_tokens":71}})";
  const std::string_view xgroq_after =
      R"({"id":"chatcmpl-g","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"usage":{"prompt_tokens":18,"completion_tokens":50,"total_tokens":68}}})";
  for (bool client_asked : {false, true}) {
    Fixture f(client_asked ? R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})"
                           : R"({"model":"m","stream":true})",
              config);
    for (const std::string& upstream : {sse({kGroqContent, kGroqLast, usage_chunk}), sse({kGroqContent, both_in_one}),
                                        sse({usage_chunk, xgroq_after}), sse({kGroqLast, both_in_one})}) {
      std::string out;
      auto handler = relayChat(p, f.req, upstream, out);
      EXPECT_EQ(usageCounts(handler->observation().usage), "20 51 71 -") << client_asked << "\n" << upstream;
    }
  }
}

// x_groq.usage on a chunk that is not the last one still counts, and a
// top-level usage after it still replaces it.
TEST(OpenAiCompatible, XGroqUsageOnANonFinalChunk) {
  auto config = openaiConfig("gsk-env");
  OpenAiCompatibleProvider p(config);
  Fixture f(R"({"model":"m","stream":true})", config);
  std::string out;
  auto handler = relayChat(p, f.req, sse({kGroqLast, kGroqContent, kGroqContent}), out);
  EXPECT_EQ(usageCounts(handler->observation().usage), "18 50 68 6");
  std::string out2;
  auto later = relayChat(
      p, f.req,
      sse({kGroqLast, kGroqContent, R"({"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}})"}), out2);
  EXPECT_EQ(usageCounts(later->observation().usage), "1 2 3 -");
  EXPECT_EQ(out2.find("\"choices\":[]"), std::string::npos) << "the usage-only chunk is hidden";
}

// The gateway added include_usage: the usage-only chunk is recognised by
// its parsed members ("choices":[] and a usage object), however it is
// written, hidden from the client, and kept last for the record.
TEST(OpenAiCompatible, UsageOnlyChunkIsHiddenWhateverItsLayout) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  Fixture f(R"({"model":"m","stream":true})", config);
  const std::string_view content = R"({"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null})";
  const std::string_view variants[] = {
      R"({"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}})",
      R"({"id": "c", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}})",
      R"({"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7},"id":"c","choices":[]})",
      R"({"id":"c","system_fingerprint":"fp_1","choices":[ ],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7},"x_groq":{"id":"req_1"},"obfuscation":"Zz"})",
      "{\n  \"id\": \"c\",\n  \"choices\": [],\n  \"usage\": {\n    \"prompt_tokens\": 3,\n    \"completion_tokens\": 4,\n    \"total_tokens\": 7\n  }\n}",
  };
  for (std::string_view usage_chunk : variants) {
    // The pretty-printed chunk comes as several data lines, as SSE sends it.
    std::string data_lines;
    std::string_view rest = usage_chunk;
    for (std::size_t lf; (lf = rest.find('\n')) != std::string_view::npos; rest.remove_prefix(lf + 1))
      data_lines.append("data: ").append(rest.substr(0, lf)).append("\n");
    data_lines.append("data: ").append(rest).append("\n\n");
    const std::string upstream = "data: " + std::string(content) + "\n\n" + data_lines + "data: [DONE]\n\n";
    for (std::size_t step : {3u, 1000u}) {
      std::string out;
      auto handler = relayChat(p, f.req, upstream, out, step);
      EXPECT_EQ(out, "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n")
          << usage_chunk;
      const auto& obs = handler->observation();
      EXPECT_EQ(usageCounts(obs.usage), "3 4 7 -") << usage_chunk;
      ASSERT_EQ(obs.chunks.size(), 2u);
      EXPECT_EQ(obs.chunks.back(), usage_chunk) << "the usage chunk comes last in the record";
    }
  }
}

// A chunk with choices is never hidden, usage or not; its top-level usage
// member (null or not) is left out for a client that did not ask for
// usage. A chunk that is not JSON goes through as it is.
TEST(OpenAiCompatible, ChunksWithChoicesAreNeverHidden) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  Fixture f(R"({"model":"m","stream":true})", config);
  const std::string upstream = sse({
      R"({"id":"c","choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":3,"completion_tokens":1}})",
      R"({"id":"c", "usage" : null ,"choices":[{"index":0,"delta":{"content":"b"}}]})",
      "{\n\"id\": \"c\",\n\"choices\": [{\"index\":0,\"delta\":{\"content\":\"c\"}}],\n\"usage\": null\n}",
      R"({"choices":[],"usage":null,"prompt_filter_results":[]})",
      "not json",
  });
  std::string out;
  auto handler = relayChat(p, f.req, upstream, out, 5);
  EXPECT_EQ(out,
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"
            "data: {\"id\":\"c\", \"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\n\n"
            "data: {\n"
            "data: \"id\": \"c\",\n"
            "data: \"choices\": [{\"index\":0,\"delta\":{\"content\":\"c\"}}]}\n\n"
            "data: {\"choices\":[],\"prompt_filter_results\":[]}\n\n"
            "data: not json\n\n"
            "data: [DONE]\n\n");
  const auto& obs = handler->observation();
  EXPECT_EQ(usageCounts(obs.usage), "3 1 4 -");
  ASSERT_EQ(obs.chunks.size(), 5u);
  EXPECT_EQ(obs.chunks[2], "{\n\"id\": \"c\",\n\"choices\": [{\"index\":0,\"delta\":{\"content\":\"c\"}}]}");
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

// --- The Responses API (POST /v1/responses).

std::vector<std::string> responsesLines(const std::string& name) {
  std::ifstream in(std::string(GW_TESTDATA_DIR "/providers/transcripts/") + name);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

std::string readFile(const std::string& name) {
  std::ifstream in(std::string(GW_TESTDATA_DIR "/providers/transcripts/") + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "event: <type>" and "data: <line>" for each line, as OpenAI sends them.
std::string responsesSse(const std::vector<std::string>& lines, bool with_event_lines = true) {
  std::string out;
  for (const auto& l : lines) {
    if (with_event_lines)
      out += "event: " + std::string(boost::json::parse(l).as_object().at("type").as_string()) + "\n";
    out += "data: " + l + "\n\n";
  }
  return out;
}

struct ResponsesFixture : Fixture {
  explicit ResponsesFixture(std::string b, const ProviderConfig& config) : Fixture(std::move(b), config) {
    req.target = "/v1/responses";
    req.path = "/v1/responses";
  }
};

// Feeds `upstream` to a Responses stream handler in pieces of `step` bytes;
// the client must get the very same bytes.
std::unique_ptr<ResponseHandler> relayResponses(const OpenAiCompatibleProvider& p, const ClientRequest& req,
                                                const std::string& upstream, std::size_t step = 7,
                                                std::size_t budget = 1 << 20) {
  Headers hh;
  auto handler = p.respond(req, UpstreamResponseHead{200, "text/event-stream; charset=utf-8", &hh}, budget);
  EXPECT_TRUE(handler->head().passthrough_bytes);
  std::string out;
  for (std::size_t i = 0; i < upstream.size(); i += step)
    EXPECT_TRUE(handler->onBody(std::string_view(upstream).substr(i, step), out));
  EXPECT_TRUE(handler->onEnd(out));
  EXPECT_EQ(out, upstream) << "the events are relayed byte for byte";
  return handler;
}

TEST(OpenAiCompatible, ResponsesRequestIsForwardedWithoutStreamOptions) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  ResponsesFixture f(R"({"model":"gpt-4o-mini","stream":true,"input":"Hi"})", config);
  EXPECT_FALSE(openai_passthrough::injectsUsage(f.req)) << "the Responses API has no stream_options";
  EXPECT_FALSE(p.wantsParsedBody(f.req));
  auto up = p.prepare(f.req);
  ASSERT_TRUE(up);
  EXPECT_TRUE(up->forwards_client_body);
  EXPECT_EQ(up->bodyFor(f.req), f.body);
  EXPECT_EQ(up->target, "/v1/responses");
}

TEST(OpenAiCompatible, ResponsesStreamUsageAndModelFromTheCompletedEvent) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  ResponsesFixture f(R"({"model":"gpt-4o-mini","stream":true,"input":"Hi"})", config);
  const auto lines = responsesLines("openai-responses-text.chunks.jsonl");
  ASSERT_EQ(lines.size(), 9u);
  for (bool event_lines : {true, false}) {
    auto handler = relayResponses(p, f.req, responsesSse(lines, event_lines));
    const auto& obs = handler->observation();
    EXPECT_EQ(obs.api, ResponseApi::kResponses);
    EXPECT_EQ(obs.usage.input, 12);
    EXPECT_EQ(obs.usage.output, 2);
    EXPECT_EQ(obs.usage.total, 14);
    EXPECT_EQ(obs.usage.cached_input, 0);
    EXPECT_EQ(obs.usage.reasoning, 0);
    EXPECT_FALSE(obs.usage.cache_creation);
    EXPECT_EQ(obs.response_model, "gpt-4o-mini-2024-07-18");
    EXPECT_EQ(obs.chunks, lines) << "every event's data, in order";
    EXPECT_FALSE(obs.provider_error_type);
  }
}

TEST(OpenAiCompatible, ResponsesReasoningStreamUsage) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  ResponsesFixture f(R"({"model":"gpt-5.1-codex-max","stream":true,"input":"Hi"})", config);
  const auto lines = responsesLines("openai-responses-reasoning.chunks.jsonl");
  ASSERT_EQ(lines.size(), 110u);
  // The first of the four recorded streams: up to its response.completed.
  std::vector<std::string> first(lines.begin(), lines.begin() + 56);
  auto one = relayResponses(p, f.req, responsesSse(first), 13);
  EXPECT_EQ(one->observation().usage.input, 134);
  EXPECT_EQ(one->observation().usage.output, 28);
  EXPECT_EQ(one->observation().usage.total, 162);
  EXPECT_EQ(one->observation().usage.cached_input, 0);
  EXPECT_EQ(one->observation().usage.reasoning, 0);
  EXPECT_EQ(one->observation().response_model, "gpt-5.1-codex-max");
  // All four one after another: the last terminal event's usage, not a sum.
  auto all = relayResponses(p, f.req, responsesSse(lines), 4096);
  EXPECT_EQ(all->observation().usage.input, 299);
  EXPECT_EQ(all->observation().usage.output, 12);
  EXPECT_EQ(all->observation().usage.total, 311);
  EXPECT_EQ(all->observation().chunks.size(), 110u);
}

TEST(OpenAiCompatible, ResponsesIncompleteAndFailedEventsCarryUsage) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  ResponsesFixture f(R"({"model":"gpt-5-mini","stream":true,"input":"Hi"})", config);
  const std::vector<std::string> incomplete = {
      R"({"type":"response.created","response":{"id":"resp_1","model":"gpt-5-mini-2025-08-07","status":"in_progress","usage":null},"sequence_number":0})",
      R"({"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hel","sequence_number":1})",
      R"({"type":"response.incomplete","response":{"id":"resp_1","model":"gpt-5-mini-2025-08-07","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":100,"input_tokens_details":{"cached_tokens":40},"output_tokens":50,"output_tokens_details":{"reasoning_tokens":30}}},"sequence_number":2})"};
  auto a = relayResponses(p, f.req, responsesSse(incomplete));
  EXPECT_EQ(a->observation().usage.input, 100);
  EXPECT_EQ(a->observation().usage.output, 50);
  EXPECT_EQ(a->observation().usage.total, 150) << "input + output without total_tokens";
  EXPECT_EQ(a->observation().usage.cached_input, 40);
  EXPECT_EQ(a->observation().usage.reasoning, 30);

  const std::vector<std::string> failed = {
      R"({"type":"response.created","response":{"id":"resp_2","model":"gpt-5-mini-2025-08-07","status":"in_progress","usage":null},"sequence_number":0})",
      R"({"type":"response.failed","response":{"id":"resp_2","model":"gpt-5-mini-2025-08-07","status":"failed","error":{"code":"server_error","message":"boom"},"usage":{"input_tokens":7,"output_tokens":0,"total_tokens":7}},"sequence_number":1})"};
  auto b = relayResponses(p, f.req, responsesSse(failed, false));
  EXPECT_EQ(b->observation().usage.input, 7);
  EXPECT_EQ(b->observation().usage.output, 0);
  EXPECT_EQ(b->observation().usage.total, 7);
  EXPECT_FALSE(b->observation().usage.cached_input);
}

TEST(OpenAiCompatible, ResponsesUsageIsReadFromTheTerminalEventOnly) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  ResponsesFixture f(R"({"model":"m","stream":true,"input":"Hi"})", config);
  // A usage in a non-terminal event is not the response's final usage.
  const std::vector<std::string> lines = {
      R"({"type":"response.in_progress","response":{"id":"r","model":"m","usage":{"input_tokens":1,"output_tokens":1}}})"};
  auto h = relayResponses(p, f.req, responsesSse(lines));
  EXPECT_FALSE(h->observation().usage.input);
  EXPECT_EQ(h->observation().response_model, "m");
}

TEST(OpenAiCompatible, MalformedResponsesEventsNeverCrashAndLeaveUsageAbsent) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  ResponsesFixture f(R"({"model":"m","stream":true,"input":"Hi"})", config);
  const std::vector<std::string> bodies = {
      "event: response.completed\ndata: {not json\n\n",
      "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":\"x\"}}\n\n",
      "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":\n\n",
      "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":\"many\"}}}\n\n",
      "data: {\"type\":\"response.completed\"\n\n",
      "data: {\"type\":\"\n\n",
      "data: [DONE]\n\n",
      "event: response.completed\ndata: \n\n",
      ": comment only\n\n",
  };
  for (const auto& body : bodies) {
    auto h = relayResponses(p, f.req, body, 3);
    EXPECT_FALSE(h->observation().usage.input) << body;
    EXPECT_FALSE(h->observation().usage.output) << body;
  }
}

TEST(OpenAiCompatible, ResponsesBodiesAreMarkedForTheRecordAndUsageScans) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  ResponsesFixture f(R"({"model":"gpt-5-mini","input":"Hi"})", config);
  Headers hh;
  auto h = p.respond(f.req, UpstreamResponseHead{200, "application/json", &hh}, 1 << 20);
  EXPECT_EQ(h->observation().api, ResponseApi::kResponses);
  const std::string body = readFile("openai-responses-reasoning.json");
  std::string out;
  ASSERT_TRUE(h->onBody(body, out));
  EXPECT_EQ(out, body);

  // What the proxy reads from the captured body.
  Usage u;
  ASSERT_TRUE(scanResponsesUsage(body, u));
  EXPECT_EQ(u.input, 865);
  EXPECT_EQ(u.output, 163);
  EXPECT_EQ(u.total, 1028);
  EXPECT_EQ(u.cached_input, 0);
  EXPECT_EQ(u.reasoning, 128);
  Usage chat;
  scanOpenAiUsage(body, chat);
  EXPECT_FALSE(chat.input) << "chat's reader does not take Responses usage";
  Usage text;
  ASSERT_TRUE(scanResponsesUsage(readFile("openai-responses-text.json"), text));
  EXPECT_EQ(text.input, 12);
  EXPECT_EQ(text.output, 2);
  EXPECT_EQ(text.total, 14);
  EXPECT_EQ(text.cached_input, 0);
  EXPECT_EQ(text.reasoning, 0);
  // The tree reader agrees.
  Usage tree;
  readResponsesUsage(boost::json::parse(body).as_object().at("usage").as_object(), tree);
  EXPECT_EQ(tree.input, u.input);
  EXPECT_EQ(tree.output, u.output);
  EXPECT_EQ(tree.total, u.total);
  EXPECT_EQ(tree.cached_input, u.cached_input);
  EXPECT_EQ(tree.reasoning, u.reasoning);

  // Retrieving or deleting a stored response is not a new response.
  for (std::string_view method : {"GET", "DELETE"}) {
    ResponsesFixture g(R"({})", config);
    g.req.method = method;
    g.req.target = g.req.path = "/v1/responses/resp_1";
    auto other = p.respond(g.req, UpstreamResponseHead{200, "application/json", &hh}, 1 << 20);
    EXPECT_EQ(other->observation().api, ResponseApi::kResponses) << method;
    EXPECT_FALSE(other->observation().own_usage) << method;
  }
  EXPECT_TRUE(h->observation().own_usage);
  // A stored response streamed again: its events, not its usage.
  ResponsesFixture g(R"({})", config);
  g.req.method = "GET";
  g.req.target = "/v1/responses/resp_1?stream=true";
  g.req.path = "/v1/responses/resp_1";
  auto again = relayResponses(p, g.req, responsesSse(responsesLines("openai-responses-text.chunks.jsonl")));
  EXPECT_FALSE(again->observation().usage.input);
  EXPECT_EQ(again->observation().chunks.size(), 9u);
}

// A Responses stream that breaks ends with the Responses API's own error
// event, numbered one past the last event the client got, whether or not
// the gateway reads the events for a record.
TEST(OpenAiCompatible, ResponsesStreamCutMidWayEndsWithTheResponsesErrorEvent) {
  auto config = openaiConfig("sk-env");
  OpenAiCompatibleProvider p(config);
  ResponsesFixture f(R"({"model":"gpt-4o-mini","stream":true,"input":"Hi"})", config);
  const auto text = responsesLines("openai-responses-text.chunks.jsonl");
  // The reasoning recording writes sequence_number before the response.
  const auto reasoning = responsesLines("openai-responses-reasoning.chunks.jsonl");
  struct Case {
    std::vector<std::string> whole;
    std::string half;
    int next;
  };
  const Case cases[] = {
      {{text.begin(), text.begin() + 5}, text[5].substr(0, 40), 5},
      {{reasoning.begin(), reasoning.begin() + 3}, reasoning[3].substr(0, 30), 3},
      {{}, text[0].substr(0, 10), 0},
  };
  for (const Case& c : cases)
    for (bool observed : {true, false})
      for (std::size_t step : {1u, 9u, 4096u}) {
        f.req.observed = observed;
        const std::string complete = responsesSse(c.whole);
        const std::string upstream = complete + "event: response.output_text.delta\ndata: " + c.half;
        Headers hh;
        auto handler = p.respond(f.req, UpstreamResponseHead{200, "text/event-stream", &hh}, 1 << 20);
        std::string out;
        for (std::size_t i = 0; i < upstream.size(); i += step)
          ASSERT_TRUE(handler->onBody(std::string_view(upstream).substr(i, step), out));
        handler->onUpstreamFailure(Error::badGateway("upstream_stream_truncated", "the upstream stream ended early"),
                                   out);
        EXPECT_EQ(out, complete + "event: error\ndata: {\"type\":\"error\",\"code\":\"upstream_stream_truncated\","
                                  "\"message\":\"the upstream stream ended early\",\"param\":null,\"sequence_number\":" +
                           std::to_string(c.next) + "}\n\n")
            << observed << " " << step;
      }
}

}  // namespace
}  // namespace gw::providers::openai_compatible
