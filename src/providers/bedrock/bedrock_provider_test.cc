#include "providers/bedrock/bedrock_provider.h"

#include "common/openai_error.h"
#include "providers/bedrock/bedrock_translate.h"
#include "providers/bedrock/testing/event_stream_encoder.h"
#include "providers/common/openai_chat.h"
#include "providers/common/testing/golden.h"

#include <gtest/gtest.h>

#include <map>

namespace gw::providers::bedrock {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using testing::ClientFixture;

constexpr std::int64_t kCreated = 1700000000;
const fs::path kCases = fs::path(GW_TESTDATA_DIR) / "providers" / "bedrock";

ProviderConfig bedrockConfig() {
  ProviderConfig c;
  c.name = "bedrock";
  c.base_url = "https://bedrock-runtime.{region}.amazonaws.com";
  return c;
}

std::string translateStream(const std::vector<std::string_view>& pieces, bool wants_usage, ResponseObservation& obs) {
  bedrock::StreamTranslator t(obs, 1 << 20, "chatcmpl-golden", "model-from-request", wants_usage, kCreated);
  std::string out;
  for (auto piece : pieces) {
    if (auto st = t.feed(piece, out); !st) {
      t.fail(st.error(), out);
      return out;
    }
  }
  if (auto st = t.finish(out); !st) t.fail(st.error(), out);
  return out;
}

class BedrockGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(BedrockGolden, Case) {
  fs::path dir = kCases / GetParam();
  json::object request = json::parse(testing::readFile(dir / "request.json")).as_object();
  int status = 200;
  std::string error_type_header;
  if (fs::exists(dir / "case.json")) {
    auto c = json::parse(testing::readFile(dir / "case.json")).as_object();
    status = static_cast<int>(c.at("status").as_int64());
    if (auto* t = c.if_contains("x-amzn-errortype")) error_type_header = std::string(t->as_string());
  }
  auto chat = openai_chat::parseChatRequest(request, "bedrock");
  Result<std::string> body = chat ? bedrock::toConverseRequest(*chat) : Result<std::string>(chat.error());
  if (!body) {
    json::object err{{"status", body.error().http_status}, {"body", json::parse(openAiErrorBody(body.error()))}};
    testing::expectJsonGolden(dir / "expected_error.json", json::serialize(err));
    return;
  }
  testing::expectJsonGolden(dir / "upstream_request.json", *body);

  ResponseObservation obs;
  if (status >= 300) {
    std::string upstream = testing::readFile(dir / "upstream_response.json");
    testing::expectJsonGolden(dir / "client_response.json",
                              bedrock::translateError(status, error_type_header, upstream, obs));
  } else if (chat->stream) {
    // The binary stream is encoded here from the JSON-lines transcript.
    std::string upstream = testing::encodeTranscript(testing::readFile(dir / "upstream_response.jsonl"));
    bool wants_usage = false;
    if (auto* so = request.if_contains("stream_options"))
      wants_usage = so->as_object().contains("include_usage") && so->as_object().at("include_usage").as_bool();
    std::string whole = translateStream({upstream}, wants_usage, obs);
    testing::expectTextGolden(dir / "client_response.sse", whole);
    std::string_view all = upstream;
    for (std::size_t at = 0; at <= all.size(); ++at) {
      ResponseObservation o;
      ASSERT_EQ(translateStream({all.substr(0, at), all.substr(at)}, wants_usage, o), whole) << "split at " << at;
    }
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < all.size(); ++i) bytes.push_back(all.substr(i, 1));
    ResponseObservation o;
    EXPECT_EQ(translateStream(bytes, wants_usage, o), whole);
  } else {
    std::string upstream = testing::readFile(dir / "upstream_response.json");
    auto out = bedrock::translateResponse(upstream, "chatcmpl-golden", chat->model, kCreated, obs);
    ASSERT_TRUE(out) << out.error().message;
    testing::expectJsonGolden(dir / "client_response.json", *out);
  }
  testing::expectJsonGolden(dir / "observation.json", json::serialize(testing::observationJson(obs)));
}

std::string testName(const ::testing::TestParamInfo<std::string>& param) {
  std::string n = param.param;
  for (auto& c : n)
    if (c == '-') c = '_';
  return n;
}

std::vector<std::string> caseNames() {
  std::vector<std::string> out;
  for (const auto& d : testing::caseDirs(kCases))
    if (d.filename() != "sigv4" && d.filename() != "messages") out.push_back(d.filename().string());
  return out;
}

INSTANTIATE_TEST_SUITE_P(Transcripts, BedrockGolden, ::testing::ValuesIn(caseNames()), testName);

TEST(BedrockGoldenSet, CoversTheRequiredCases) {
  auto names = caseNames();
  for (const char* required : {"text", "text-stream", "multi-turn-system", "tool", "tool-stream", "max-tokens",
                               "max-tokens-stream", "error", "error-mid-stream"})
    EXPECT_NE(std::find(names.begin(), names.end(), required), names.end()) << required;
}

// ---- Stream meaning, independent of the golden bytes.

TEST(BedrockStream, AssembledTextAndUsageMatchTheTranscript) {
  std::string upstream = testing::encodeTranscript(testing::readFile(kCases / "text-stream-usage" / "upstream_response.jsonl"));
  ResponseObservation obs;
  auto events = testing::sseData(translateStream({upstream}, true, obs));
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text, finish;
  json::value usage;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    auto chunk = json::parse(events[i]).as_object();
    EXPECT_EQ(chunk.at("id"), "chatcmpl-golden");
    EXPECT_EQ(chunk.at("model"), "model-from-request");
    if (auto* u = chunk.if_contains("usage")) usage = *u;
    if (chunk.at("choices").as_array().empty()) continue;
    auto& choice = chunk.at("choices").as_array().at(0).as_object();
    if (auto* c = choice.at("delta").as_object().if_contains("content")) text += c->as_string();
    if (!choice.at("finish_reason").is_null()) finish = choice.at("finish_reason").as_string();
  }
  EXPECT_EQ(text, "Let me count the \"r\"s in \"strawberry\":\n\ns-t-**r**-a-w-b-e-**r**-**r**-y\n\nThere are **3** r's in "
                  "\"strawberry.\"");
  EXPECT_EQ(finish, "stop");
  EXPECT_EQ(usage, json::parse(R"({"prompt_tokens":22,"completion_tokens":55,"total_tokens":77})"));
  EXPECT_EQ(obs.usage.input, 22);
  EXPECT_EQ(obs.usage.output, 55);
  EXPECT_EQ(obs.usage.total, 77);
}

TEST(BedrockStream, MetadataBeforeMessageStopStillEndsTheStreamOnce) {
  // The tool transcript sends metadata first, then messageStop.
  std::string upstream = testing::encodeTranscript(testing::readFile(kCases / "tool-stream" / "upstream_response.jsonl"));
  ResponseObservation obs;
  std::string out = translateStream({upstream}, true, obs);
  EXPECT_TRUE(out.ends_with("data: [DONE]\n\n"));
  EXPECT_EQ(out.find("[DONE]"), out.rfind("[DONE]"));
  EXPECT_EQ(obs.usage.input, 125);
  EXPECT_EQ(obs.usage.output, 45);
}

TEST(BedrockStream, CacheTokensAreCountedInPromptAndKeptApart) {
  std::string upstream = testing::encodeTranscript(
      "{\"messageStart\":{\"role\":\"assistant\"}}\n"
      "{\"messageStop\":{\"stopReason\":\"end_turn\"}}\n"
      "{\"metadata\":{\"usage\":{\"inputTokens\":10,\"outputTokens\":3,\"totalTokens\":133,\"cacheReadInputTokens\":100,"
      "\"cacheWriteInputTokens\":20}}}\n");
  ResponseObservation obs;
  translateStream({upstream}, false, obs);
  EXPECT_EQ(obs.usage.input, 130);
  EXPECT_EQ(obs.usage.cached_input, 100);
  EXPECT_EQ(obs.usage.cache_creation, 20);
  EXPECT_EQ(obs.usage.total, 133);
}

TEST(BedrockStream, TruncatedFrameEndsWithAnErrorEvent) {
  std::string upstream = testing::encodeTranscript(testing::readFile(kCases / "text-stream" / "upstream_response.jsonl"));
  upstream.resize(upstream.size() - 7);  // mid-way through the last message
  ResponseObservation obs;
  std::string out = translateStream({upstream}, false, obs);
  auto events = testing::sseData(out);
  auto last = json::parse(events.back()).as_object();
  EXPECT_EQ(last.at("error").at("code"), "upstream_stream_truncated");
  EXPECT_EQ(out.find("[DONE]"), std::string::npos);
}

TEST(BedrockStream, StreamWithoutMessageStopIsTruncated) {
  std::string upstream = testing::encodeTranscript("{\"messageStart\":{\"role\":\"assistant\"}}\n");
  ResponseObservation obs;
  std::string out = translateStream({upstream}, false, obs);
  EXPECT_NE(out.find("upstream_stream_truncated"), std::string::npos);
}

TEST(BedrockStream, CorruptCrcMidStreamIsAnErrorEventAfterTheGoodDeltas) {
  std::string upstream = testing::encodeTranscript(testing::readFile(kCases / "text-stream" / "upstream_response.jsonl"));
  upstream[upstream.size() - 2] ^= 0x01;  // the last message's CRC
  ResponseObservation obs;
  std::string out = translateStream({upstream}, false, obs);
  EXPECT_NE(out.find("\"content\":\"Let\""), std::string::npos);
  EXPECT_NE(out.find("CRC"), std::string::npos);
  EXPECT_EQ(out.find("[DONE]"), std::string::npos);
}

TEST(BedrockStream, ErrorMessageTypeUsesItsHeaders) {
  std::string upstream = testing::encodeEventStreamMessage(
      {{":message-type", "error"}, {":error-code", "InternalFailure"}, {":error-message", "boom"}}, "");
  ResponseObservation obs;
  std::string out = translateStream({upstream}, false, obs);
  EXPECT_EQ(obs.provider_error_type, "InternalFailure");
  EXPECT_EQ(obs.provider_error_message, "boom");
  EXPECT_NE(out.find(R"({"error":{"message":"boom","type":"api_error","code":"InternalFailure"}})"), std::string::npos);
}

TEST(BedrockStream, NonJsonEventPayloadIsAnError) {
  std::string upstream = testing::encodeEventStreamMessage(
      {{":message-type", "event"}, {":event-type", "contentBlockDelta"}}, "not json");
  ResponseObservation obs;
  std::string out = translateStream({upstream}, false, obs);
  EXPECT_NE(out.find("upstream_stream_malformed"), std::string::npos);
}

// ---- Region validation and the provider's request.

TEST(BedrockRegion, AcceptsRealRegionsOnly) {
  for (const char* ok : {"us-east-1", "eu-central-2", "ap-southeast-3", "us-gov-west-1", "cn-northwest-1", "me-south-1",
                         "us-isob-east-1", "il-central-1", "ca-west-12"})
    EXPECT_TRUE(isValidAwsRegion(ok)) << ok;
  for (const char* bad : {"", "us-east", "useast-1", "us-east-123", "US-EAST-1", "us--east-1", "us-east-1.evil.com",
                          "evil.com/x", "us-east-1#", "u-east-1", "us-1", "us-east-1 ", "-east-1", "us-east-1-",
                          "us-ea5t-1", "127.0.0.1", "us-east-1\r\nx: y"})
    EXPECT_FALSE(isValidAwsRegion(bad)) << bad;
}

struct ProviderFixture {
  ProviderConfig config = bedrockConfig();
  BedrockProvider provider{config, [] { return std::string("20240517T093000Z"); }};
};

TEST(BedrockProvider, SignedConverseRequestFromClientCredentials) {
  ProviderFixture p;
  ClientFixture f(R"({"model":"anthropic.claude-3-haiku-20240307-v1:0","messages":[{"role":"user","content":"x"}]})",
                  p.config);
  f.headers.items = {{"x-aws-access-key-id", "AKIDCLIENT"},
                     {"x-aws-secret-access-key", "secretclient"},
                     {"x-aws-session-token", "tok"},
                     {"x-aws-region", "eu-west-3"},
                     {"Authorization", "Bearer should-not-be-sent"},
                     {"x-project-id", "p"}};
  auto up = p.provider.prepare(f.req);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(up->endpoint.host, "bedrock-runtime.eu-west-3.amazonaws.com");
  EXPECT_TRUE(up->endpoint.tls);
  EXPECT_EQ(up->endpoint.port, 443);
  EXPECT_EQ(up->target, "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse");
  std::map<std::string, std::string> h(up->headers.begin(), up->headers.end());
  EXPECT_EQ(h["host"], "bedrock-runtime.eu-west-3.amazonaws.com");
  EXPECT_EQ(h["x-amz-security-token"], "tok");
  EXPECT_EQ(h["content-type"], "application/json");
  EXPECT_TRUE(h["authorization"].starts_with(
      "AWS4-HMAC-SHA256 Credential=AKIDCLIENT/20240517/eu-west-3/bedrock/aws4_request, "
      "SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token, Signature="))
      << h["authorization"];
  EXPECT_FALSE(h.contains("x-project-id"));
  EXPECT_EQ(up->headers.size(), h.size());
  // Secrets appear only where AWS needs them: the secret key nowhere.
  for (const auto& [k, v] : up->headers) EXPECT_EQ(v.find("secretclient"), std::string::npos) << k;
  EXPECT_EQ(up->body.find("secretclient"), std::string::npos);
}

TEST(BedrockProvider, StreamingUsesConverseStreamAndEventStreamAccept) {
  ProviderFixture p;
  p.config.env_aws_access_key_id = "AKIDENV";
  p.config.env_aws_secret_access_key = "envsecret";
  p.config.env_aws_region = "us-west-2";
  BedrockProvider provider(p.config, [] { return std::string("20240517T093000Z"); });
  ClientFixture f(R"({"model":"us.anthropic.claude-3-5-haiku-20241022-v1:0","messages":[{"role":"user","content":"x"}],"stream":true})",
                  p.config);
  auto up = provider.prepare(f.req);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(up->target, "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream");
  std::map<std::string, std::string> h(up->headers.begin(), up->headers.end());
  EXPECT_EQ(h["accept"], "application/vnd.amazon.eventstream");
  EXPECT_FALSE(h.contains("x-amz-security-token"));
  EXPECT_NE(h["authorization"].find("Credential=AKIDENV/20240517/us-west-2/bedrock/aws4_request"), std::string::npos);
}

TEST(BedrockProvider, LocalBaseUrlWithPortSignsHostWithPort) {
  ProviderConfig config = bedrockConfig();
  config.base_url = "http://127.0.0.1:8080/prefix";
  config.env_aws_access_key_id = "A";
  config.env_aws_secret_access_key = "S";
  config.env_aws_region = "us-east-1";
  BedrockProvider provider(config, [] { return std::string("20240517T093000Z"); });
  ClientFixture f(R"({"model":"m/with slash","messages":[{"role":"user","content":"x"}]})", config);
  auto up = provider.prepare(f.req);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->target, "/prefix/model/m%2Fwith%20slash/converse");
  std::map<std::string, std::string> h(up->headers.begin(), up->headers.end());
  EXPECT_EQ(h["host"], "127.0.0.1:8080");
}

TEST(BedrockProvider, CredentialAndRegionErrors) {
  ProviderFixture p;
  auto prepare = [&](std::vector<std::pair<std::string, std::string>> headers) {
    ClientFixture f(R"({"model":"m","messages":[{"role":"user","content":"x"}]})", p.config);
    f.headers.items = std::move(headers);
    return p.provider.prepare(f.req);
  };
  auto none = prepare({{"x-aws-region", "us-east-1"}});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().http_status, 401);

  auto half = prepare({{"x-aws-access-key-id", "A"}, {"x-aws-region", "us-east-1"}});
  ASSERT_FALSE(half);
  EXPECT_EQ(half.error().http_status, 401);

  auto no_region = prepare({{"x-aws-access-key-id", "A"}, {"x-aws-secret-access-key", "S"}});
  ASSERT_FALSE(no_region);
  EXPECT_EQ(no_region.error().code, "missing_aws_region");

  auto evil = prepare({{"x-aws-access-key-id", "A"}, {"x-aws-secret-access-key", "TOPSECRET"},
                       {"x-aws-region", "evil.example.com/x?"}});
  ASSERT_FALSE(evil);
  EXPECT_EQ(evil.error().http_status, 400);
  EXPECT_EQ(evil.error().code, "invalid_aws_region");
  EXPECT_EQ(evil.error().message.find("TOPSECRET"), std::string::npos);

  auto injected = prepare({{"x-aws-access-key-id", "A"}, {"x-aws-secret-access-key", "S"},
                           {"x-aws-session-token", "t\r\nx-evil: 1"}, {"x-aws-region", "us-east-1"}});
  ASSERT_FALSE(injected);
  EXPECT_EQ(injected.error().http_status, 401);
}

TEST(BedrockProvider, RespondHandlers) {
  ProviderFixture p;
  ClientFixture stream(R"({"model":"m1","messages":[],"stream":true})", p.config);
  ClientFixture plain(R"({"model":"m1","messages":[]})", p.config);
  auto s = p.provider.respond(stream.req, UpstreamResponseHead{200, "application/vnd.amazon.eventstream", nullptr}, 1 << 20);
  EXPECT_EQ(s->head().content_type, "text/event-stream");
  EXPECT_EQ(s->head().framing, Framing::kRelay);
  std::string upstream = testing::encodeTranscript(testing::readFile(kCases / "text-stream" / "upstream_response.jsonl"));
  std::string out;
  ASSERT_TRUE(s->onBody(upstream, out));
  ASSERT_TRUE(s->onEnd(out));
  EXPECT_TRUE(out.ends_with("data: [DONE]\n\n"));
  auto first = json::parse(testing::sseData(out).front()).as_object();
  EXPECT_TRUE(first.at("id").as_string().starts_with("chatcmpl-"));
  EXPECT_EQ(first.at("model"), "m1");
  EXPECT_EQ(s->observation().usage.total, 77);
  EXPECT_EQ(s->observation().response_model, "m1");

  auto j = p.provider.respond(plain.req, UpstreamResponseHead{200, "application/json", nullptr}, 1 << 20);
  EXPECT_EQ(j->head().framing, Framing::kBuffered);
  std::string jout;
  ASSERT_TRUE(j->onBody(testing::readFile(kCases / "text" / "upstream_response.json"), jout));
  ASSERT_TRUE(j->onEnd(jout));
  EXPECT_EQ(json::parse(jout).at("choices").at(0).at("finish_reason"), "stop");

  testing::Headers upstream_headers;
  upstream_headers.items = {{"x-amzn-ErrorType", "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"}};
  auto e = p.provider.respond(stream.req, UpstreamResponseHead{429, "application/json", &upstream_headers}, 1 << 20);
  EXPECT_EQ(e->head().status, 429);
  std::string eout;
  ASSERT_TRUE(e->onBody(R"({"message":"Too many requests, please wait before trying again."})", eout));
  ASSERT_TRUE(e->onEnd(eout));
  EXPECT_EQ(json::parse(eout), json::parse(R"({"error":{"message":"Too many requests, please wait before trying again.",
                                                "type":"rate_limit_error","code":"ThrottlingException"}})"));
  EXPECT_EQ(e->observation().provider_error_type, "ThrottlingException");
}

TEST(BedrockProvider, ModelIdCannotChangeThePath) {
  ProviderFixture p;
  auto prepare = [&](std::string_view model) {
    std::string body = R"({"model":")" + std::string(model) + R"(","messages":[{"role":"user","content":"x"}]})";
    ClientFixture f(body, p.config);
    f.headers.items = {{"x-aws-access-key-id", "A"}, {"x-aws-secret-access-key", "S"}, {"x-aws-region", "us-east-1"}};
    return p.provider.prepare(f.req);
  };
  auto traversal = prepare("../../x");
  ASSERT_TRUE(traversal);
  EXPECT_EQ(traversal->target, "/model/..%2F..%2Fx/converse");
  auto query = prepare("a?b#c%2F");
  ASSERT_TRUE(query);
  EXPECT_EQ(query->target, "/model/a%3Fb%23c%252F/converse");
  EXPECT_EQ(query->endpoint.host, "bedrock-runtime.us-east-1.amazonaws.com");
  for (std::string_view dots : {".", ".."}) {
    auto refused = prepare(dots);
    ASSERT_FALSE(refused) << dots;
    EXPECT_EQ(refused.error().http_status, 400);
    EXPECT_EQ(refused.error().code, "invalid_model");
  }
}

TEST(BedrockProvider, ErrorEchoingTheSessionTokenIsRedacted) {
  ProviderFixture p;
  p.config.env_aws_session_token = "EnvSessionToken/With+Slash==";
  BedrockProvider provider(p.config, [] { return std::string("20240517T093000Z"); });
  ClientFixture f(R"({"model":"m1","messages":[]})", p.config);
  f.headers.items = {{"x-aws-session-token", "ClientSessionToken1234"}};
  auto e = provider.respond(f.req, UpstreamResponseHead{403, "application/json", nullptr}, 1 << 20);
  std::string out;
  ASSERT_TRUE(e->onBody(R"({"message":"bad token ClientSessionToken1234 and EnvSessionToken\/With+Slash=="})", out));
  ASSERT_TRUE(e->onEnd(out));
  EXPECT_EQ(out.find("SessionToken"), std::string::npos) << out;
  EXPECT_NE(out.find("[REDACTED]"), std::string::npos) << out;
  ASSERT_TRUE(e->observation().provider_error_message.has_value());
  EXPECT_EQ(e->observation().provider_error_message->find("SessionToken"), std::string::npos);
}

}  // namespace
}  // namespace gw::providers::bedrock
