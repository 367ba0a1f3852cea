// The OpenAI passthrough's own interface: when include_usage is added and
// how the body goes upstream, the SSE framing helper, and which handler a
// response gets (the error relay's redaction and rewrite hook included).
// The relay of streams through a provider is tested with the providers that
// use it (openai_compatible, azure).
#include "providers/common/openai_passthrough.h"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <string>

namespace gw::providers::openai_passthrough {
namespace {

struct Request {
  boost::json::object json;
  std::string body;
  ClientRequest req;

  explicit Request(std::string b, std::string_view path = "/v1/chat/completions") : body(std::move(b)) {
    json = boost::json::parse(body).as_object();
    req.method = "POST";
    req.target = req.path = path;
    req.body = body;
    req.json = &json;
    req.json_body = true;
    if (auto* s = json.if_contains("stream")) req.stream = s->is_bool() && s->as_bool();
    if (auto* so = json.if_contains("stream_options"); so && so->is_object()) {
      if (auto* iu = so->as_object().if_contains("include_usage"))
        req.client_wants_usage = iu->is_bool() && iu->as_bool();
    }
    req.has_stream_options = json.contains("stream_options");
  }
};

TEST(OpenAiPassthrough, IncludeUsageIsAddedOnlyWhereTheGatewayNeedsIt) {
  EXPECT_TRUE(injectsUsage(Request(R"({"stream":true})").req));
  EXPECT_TRUE(injectsUsage(Request(R"({"stream":true})", "/v1/completions").req));
  EXPECT_FALSE(injectsUsage(Request(R"({"stream":false})").req)) << "not a stream";
  EXPECT_FALSE(injectsUsage(Request(R"({"stream":true,"stream_options":{"include_usage":true}})").req))
      << "the client asked for it";
  EXPECT_FALSE(injectsUsage(Request(R"({"stream":true})", "/v1/responses").req)) << "no stream_options there";
  EXPECT_FALSE(injectsUsage(Request(R"({"stream":true})", "/v1/embeddings").req));
  Request unobserved(R"({"stream":true})");
  unobserved.req.observed = false;
  EXPECT_FALSE(injectsUsage(unobserved.req)) << "nobody reads the usage";
}

TEST(OpenAiPassthrough, TheBodyGoesUpstreamAsTheClientSentItUnlessChanged) {
  // Unchanged: the client's bytes, not a copy.
  Request plain(R"({"model":"m",  "messages":[]})");
  EXPECT_FALSE(needsParsedBody(plain.req));
  UpstreamRequest up;
  setUpstreamBody(plain.req, up);
  EXPECT_TRUE(up.forwards_client_body);
  EXPECT_TRUE(up.body.empty());
  EXPECT_EQ(up.bodyFor(plain.req), plain.body);

  // include_usage spliced into the text (no tree needed).
  Request stream(R"({"model":"m","stream":true})");
  stream.req.json = nullptr;
  EXPECT_FALSE(needsParsedBody(stream.req));
  UpstreamRequest spliced;
  setUpstreamBody(stream.req, spliced);
  EXPECT_EQ(spliced.body, R"({"stream_options":{"include_usage":true},"model":"m","stream":true})");

  // An existing stream_options is changed through the tree.
  Request with_options(R"({"model":"m","stream":true,"stream_options":{"x":1}})");
  EXPECT_TRUE(needsParsedBody(with_options.req));
  UpstreamRequest tree;
  setUpstreamBody(with_options.req, tree);
  EXPECT_EQ(boost::json::parse(tree.body),
            boost::json::parse(R"({"model":"m","stream":true,"stream_options":{"x":1,"include_usage":true}})"));

  // A model whose provider prefix the router removed.
  Request prefixed(R"({"model":"azure/dep"})");
  prefixed.json["model"] = "dep";
  prefixed.req.body_rewritten = true;
  EXPECT_TRUE(needsParsedBody(prefixed.req));
  UpstreamRequest rewritten;
  setUpstreamBody(prefixed.req, rewritten);
  EXPECT_EQ(rewritten.body, R"({"model":"dep"})");
}

TEST(OpenAiPassthrough, WithIncludeUsage) {
  EXPECT_EQ(withIncludeUsage("{}"), R"({"stream_options":{"include_usage":true}})");
  EXPECT_EQ(withIncludeUsage("{ }"), R"({"stream_options":{"include_usage":true} })");
  EXPECT_EQ(withIncludeUsage(" \n{\"a\":1}"), " \n{\"stream_options\":{\"include_usage\":true},\"a\":1}");
}

TEST(OpenAiPassthrough, EachResponseGetsItsHandler) {
  Request chat(R"({"model":"m","stream":true})");
  auto sse = makeResponseHandler(chat.req, {200, "text/event-stream; charset=utf-8", nullptr}, 100, {});
  EXPECT_EQ(sse->head().framing, Framing::kRelay);
  EXPECT_FALSE(sse->head().passthrough_bytes) << "re-framed: the gateway added include_usage";
  auto json = makeResponseHandler(chat.req, {200, "application/json", nullptr}, 100, {});
  EXPECT_TRUE(json->head().passthrough_bytes);
  EXPECT_EQ(json->observation().api, ResponseApi::kChatCompletions);
  std::string out;
  ASSERT_TRUE(json->onBody("{\"x\":", out));
  ASSERT_TRUE(json->onBody("1}", out));
  EXPECT_EQ(out, "{\"x\":1}");

  // The Responses API: a new response's usage is its own; a stored one's is not.
  Request create(R"({"model":"m"})", "/v1/responses");
  auto created = makeResponseHandler(create.req, {200, "application/json", nullptr}, 100, {});
  EXPECT_EQ(created->observation().api, ResponseApi::kResponses);
  EXPECT_TRUE(created->observation().own_usage);
  Request get(R"({})", "/v1/responses/resp_1");
  get.req.method = "GET";
  auto stored = makeResponseHandler(get.req, {200, "application/json", nullptr}, 100, {});
  EXPECT_EQ(stored->observation().api, ResponseApi::kResponses);
  EXPECT_FALSE(stored->observation().own_usage);
}

TEST(OpenAiPassthrough, ErrorBodiesAreRedactedThenRewrittenWhenAsked) {
  Request chat(R"({"model":"m"})");
  // Without a rewrite: the provider's bytes, keys redacted.
  auto plain = makeResponseHandler(chat.req, {401, "application/json", nullptr}, 100, {{"sk-operator-123"}, {}});
  EXPECT_EQ(plain->head().status, 401);
  EXPECT_EQ(plain->head().framing, Framing::kBuffered);
  std::string out;
  ASSERT_TRUE(plain->onBody(R"({"error":{"message":"bad key sk-operator-123"}})", out));
  EXPECT_EQ(out, R"({"error":{"message":"bad key [REDACTED]"}})");

  // With one: it sees the redacted body, may note the error, and what it
  // writes is redacted again.
  ErrorRelay relay;
  relay.secrets = {"sk-operator-123"};
  std::string seen;
  relay.rewrite = [&seen](int status, std::string& body, ResponseObservation& obs) {
    seen = body;
    obs.provider_error_type = "DeploymentNotFound";
    obs.provider_error_message = "no sk-operator-123";
    body = "{\"status\":" + std::to_string(status) + ",\"echo\":\"sk-operator-123\"}";
  };
  auto rewritten = makeResponseHandler(chat.req, {404, "application/json", nullptr}, 100, std::move(relay));
  std::string out2;
  ASSERT_TRUE(rewritten->onBody("key sk-operator-123", out2));
  EXPECT_EQ(seen, "key [REDACTED]");
  EXPECT_EQ(out2, R"({"status":404,"echo":"[REDACTED]"})");
  EXPECT_EQ(rewritten->observation().provider_error_type, "DeploymentNotFound");
  EXPECT_EQ(rewritten->observation().provider_error_message, "no [REDACTED]");
}

}  // namespace
}  // namespace gw::providers::openai_passthrough
