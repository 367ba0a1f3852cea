#include "providers/bedrock/sigv4.h"

#include "providers/bedrock/bedrock_provider.h"
#include "providers/common/testing/golden.h"

#include <gtest/gtest.h>

#include <map>

namespace gw::providers::bedrock::sigv4 {
namespace {

namespace json = boost::json;
const std::string kDir = std::string(GW_TESTDATA_DIR) + "/providers/bedrock/sigv4/";

std::vector<std::pair<std::string, std::string>> pairs(const json::value& v) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : v.as_array())
    out.emplace_back(std::string(p.as_array()[0].as_string()), std::string(p.as_array()[1].as_string()));
  return out;
}

TEST(SigV4, AwsTestSuiteVectors) {
  auto doc = json::parse(testing::readFile(kDir + "aws_sigv4_test_suite.json")).as_object();
  Credentials creds{std::string(doc.at("access_key_id").as_string()), std::string(doc.at("secret_access_key").as_string()), ""};
  std::size_t n = 0;
  for (const auto& vec : doc.at("vectors").as_array()) {
    const auto& v = vec.as_object();
    std::string body(v.at("body").as_string());
    std::string method(v.at("method").as_string());
    Request r;
    r.method = method;
    r.canonical_uri = uriEncode(v.at("path").as_string(), false);  // the suite's paths are raw
    r.query = pairs(v.at("query"));
    r.headers = pairs(v.at("headers"));
    r.payload = body;
    Credentials c = creds;
    for (const auto& [k, val] : r.headers)
      if (k == "X-Amz-Security-Token") c.session_token = val;
    auto s = sign(r, c, doc.at("region").as_string(), doc.at("service").as_string(), doc.at("amz_date").as_string());
    EXPECT_EQ(s.authorization, v.at("authorization").as_string()) << v.at("name").as_string() << "\n" << s.canonical_request;
    ++n;
  }
  EXPECT_GE(n, 20u);
}

TEST(SigV4, GetVanillaIntermediateStepsMatchTheSuite) {
  Request r;
  r.method = "GET";
  r.canonical_uri = "/";
  r.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
  auto s = sign(r, {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""}, "us-east-1", "service",
                "20150830T123600Z");
  // get-vanilla.creq and get-vanilla.sts from the suite.
  EXPECT_EQ(s.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
}

// The Bedrock provider's signed requests against botocore's SigV4Auth.
TEST(SigV4, BedrockRequestsMatchBotocore) {
  auto doc = json::parse(testing::readFile(kDir + "botocore_vectors.json")).as_object();
  for (const auto& vec : doc.at("vectors").as_array()) {
    const auto& v = vec.as_object();
    std::string host(v.at("host").as_string());
    ProviderConfig config;
    config.name = "bedrock";
    config.base_url = host.starts_with("127.") ? "http://" + host : "https://bedrock-runtime.{region}.amazonaws.com";
    std::string amz_date(v.at("amz_date").as_string());
    BedrockProvider p(config, [amz_date] { return amz_date; });

    // The provider must build exactly the request botocore signed.
    json::object client{{"model", v.at("model")},
                        {"messages", json::array{json::object{{"role", "user"}, {"content", "x"}}}}};
    if (v.at("stream").as_bool()) client["stream"] = true;
    testing::ClientFixture f(json::serialize(client), config);
    f.headers.items = {{"x-aws-access-key-id", std::string(doc.at("access_key_id").as_string())},
                       {"x-aws-secret-access-key", std::string(doc.at("secret_access_key").as_string())},
                       {"x-aws-region", std::string(v.at("region").as_string())}};
    if (!v.at("session_token").as_string().empty())
      f.headers.items.emplace_back("x-aws-session-token", std::string(v.at("session_token").as_string()));
    auto up = p.prepare(f.req);
    ASSERT_TRUE(up) << up.error().message;
    EXPECT_EQ(up->target, v.at("path").as_string());

    EXPECT_EQ(up->body, v.at("body").as_string());
    std::map<std::string, std::string> h(up->headers.begin(), up->headers.end());
    EXPECT_EQ(h["host"], host);
    EXPECT_EQ(h["x-amz-date"], amz_date);
    EXPECT_EQ(h["authorization"], v.at("authorization").as_string()) << v.at("name").as_string();

    // And the signer's canonical request is botocore's.
    Request r;
    r.method = "POST";
    r.canonical_uri = uriEncode(up->target, false);
    for (const auto& [k, val] : up->headers)
      if (k != "authorization") r.headers.emplace_back(k, val);
    r.payload = up->body;
    Credentials c{std::string(doc.at("access_key_id").as_string()), std::string(doc.at("secret_access_key").as_string()),
                  std::string(v.at("session_token").as_string())};
    auto s = sign(r, c, v.at("region").as_string(), "bedrock", amz_date);
    EXPECT_EQ(s.canonical_request, v.at("canonical_request").as_string()) << v.at("name").as_string();
  }
}

TEST(SigV4, UriEncoding) {
  EXPECT_EQ(uriEncode("a-b_c.d~e", true), "a-b_c.d~e");
  EXPECT_EQ(uriEncode("a/b c:d", true), "a%2Fb%20c%3Ad");
  EXPECT_EQ(uriEncode("a/b c:d", false), "a/b%20c%3Ad");
  EXPECT_EQ(uriEncode("%3A", false), "%253A");
  EXPECT_EQ(uriEncode("\xE1\x88\xB4", true), "%E1%88%B4");
}

TEST(SigV4, Sha256OfEmptyString) {
  EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(SigV4, AmzDateHasTheBasicIsoForm) {
  std::string d = amzDateNow();
  ASSERT_EQ(d.size(), 16u);
  EXPECT_EQ(d[8], 'T');
  EXPECT_EQ(d[15], 'Z');
}

}  // namespace
}  // namespace gw::providers::bedrock::sigv4
