// Fuzzes what a client's bytes go through before anything is sent upstream,
// in the order the server runs it (src/server/gateway_server.cc session(),
// src/server/proxy.cc proxyRequest()), without sockets:
//   the head scan and HttpRequestParser (src/server/http_request.h) with the
//   gateway's header and body limits (several pipelined requests per
//   input), checked against Beast's own request_parser on the same bytes ->
//   request id and tracking headers ->
//   gateway-key check -> JSON body parsing -> provider selection ->
//   the provider's prepare(): OpenAI-compatible passthrough with the
//   include_usage injection, the Anthropic and Gemini translations, the Bedrock
//   translation and SigV4 signing (fixed fake credentials).
// Invariants: no crash; nothing that goes upstream can split the upstream
// request (no CR/LF/NUL in the target or a header); a translated body is JSON.
#include "common/strings.h"
#include "config/settings.h"
#include "fuzz_support.h"
#include "providers/provider_registry.h"
#include "server/http_request.h"
#include "server/json_body.h"
#include "server/request_head.h"
#include "server/routing.h"
#include "server/testing/http_request_differential.h"
#include "server/testing/json_body_facts_reference.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

namespace {

namespace http = boost::beast::http;
using gw::server::HttpRequest;
using gw::server::HttpRequestParser;
using gw::server::RequestHeaders;

// The gateway as configured by an operator: every provider has credentials
// in the environment (so Bedrock requests get signed), and gateway keys are on.
struct Gateway {
  gw::Settings settings;
  gw::ProviderRegistry providers;
};

const Gateway& gateway() {
  static const Gateway g = [] {
    std::map<std::string, std::string> env = {
        {"OPENAI_API_KEY", "sk-fuzz-openai"},
        {"ANTHROPIC_API_KEY", "sk-ant-fuzz"},
        {"GEMINI_API_KEY", "AIza-fuzz"},
        {"GROQ_API_KEY", "gsk-fuzz"},
        {"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
        {"AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
        {"AWS_REGION", "us-east-1"},
        {"GATEWAY_API_KEYS", "gw-key-1,gw-key-2"},
    };
    const gw::ConfigSource config(env, {});
    auto settings = gw::loadSettings(config, 2);
    if (!settings) std::abort();
    gw::ProviderRegistry providers;
    gw::registerBuiltinProviders(providers);
    if (!providers.create(config, settings->default_provider)) std::abort();
    return Gateway{std::move(*settings), std::move(providers)};
  }();
  return g;
}

void checkUpstream(const gw::UpstreamRequest& up, std::string_view provider) {
  if (gw::fuzz::hasLineBreakOrNul(up.target) || gw::fuzz::hasLineBreakOrNul(up.method)) std::abort();
  for (const auto& [name, value] : up.headers)
    if (name.empty() || gw::fuzz::hasLineBreakOrNul(name) || gw::fuzz::hasLineBreakOrNul(value)) std::abort();
  // A body the translating providers write is JSON; one they forward
  // unchanged (the native Messages API on anthropic) is the client's bytes.
  if ((provider == "anthropic" || provider == "bedrock" || provider == "gemini") && !up.forwards_client_body &&
      !gw::fuzz::isJson(up.body))
    std::abort();
}

// proxyRequest() from the access check to prepare().
void proxy(HttpRequest& request) {
  const Gateway& g = gateway();
  const gw::Settings& s = g.settings;
  RequestHeaders headers(request);

  gw::RequestRecord rec;
  rec.id = gw::requestIdFor(headers);
  gw::copyTrackingHeaders(headers, rec);
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));

  // The check is run whatever its outcome, so that requests without a valid
  // key still reach the rest of the path.
  if (auto key = headers.get("x-gateway-key")) (void)gw::gatewayKeyAccepted(gw::trim(*key), s.gateway_api_keys);

  // As proxyRequest does: the body is scanned, its tree built only when the
  // provider wants it. Both readings are checked against each other here:
  // the scan must accept exactly what the tree parser accepts, with the
  // same facts (model, stream, include_usage).
  boost::json::object json;
  gw::JsonBodyFacts facts;
  bool has_json = false;
  if (!request.body().empty()) {
    std::string lower = gw::toLower(request.find(http::field::content_type).value_or(std::string_view()));
    bool json_type = !(lower.starts_with("multipart/") || lower.starts_with("application/octet-stream") ||
                       lower.starts_with("audio/") || lower.starts_with("image/") || lower.starts_with("video/"));
    if (json_type) {
      auto scanned = gw::scanJsonBody(request.body());
      auto parsed = gw::parseJsonBody(request.body());
      if (bool(scanned) != bool(parsed)) __builtin_trap();
      if (!parsed) {
        if (scanned.error().message != parsed.error().message) __builtin_trap();
        return;
      }
      const gw::JsonBodyFacts expected = gw::testing_support::factsFromTree(*parsed);
      if (scanned->model != expected.model || scanned->stream != expected.stream ||
          scanned->include_usage != expected.include_usage || scanned->has_stream_options != expected.has_stream_options)
        __builtin_trap();
      facts = std::move(*scanned);
      json = std::move(*parsed);
      has_json = true;
    }
  }
  auto route = gw::selectProvider(headers, facts.model ? std::optional<std::string_view>(*facts.model) : std::nullopt,
                                  g.providers, s.default_provider);
  if (!route) return;

  gw::ClientRequest creq;
  creq.method = request.method_string();
  creq.target = target;
  creq.path = path;
  creq.body = request.body();
  creq.json_body = has_json;
  creq.body_rewritten = route->model_rewritten;
  creq.model = route->model;
  creq.headers = &headers;
  creq.config = route->config;
  creq.stream = facts.stream;
  creq.client_wants_usage = facts.include_usage;
  creq.has_stream_options = facts.has_stream_options;
  if (has_json && route->provider->wantsParsedBody(creq)) {
    if (route->model_rewritten) json["model"] = route->model;
    creq.json = &json;
  }
  if (auto up = route->provider->prepare(creq)) checkUpstream(*up, route->provider_name);
}

// Feeds `in` to the parser until it is done. Returns false when the body is
// malformed, too large or incomplete (the server then answers 400/413 or
// waits for more bytes).
bool feedBody(HttpRequestParser& parser, std::string_view& in) {
  while (!parser.is_done()) {
    boost::beast::error_code ec;
    std::size_t n = parser.put(boost::asio::buffer(in.data(), in.size()), ec);
    in.remove_prefix(n);
    if (ec || n == 0) return false;
  }
  return true;
}

// The flat parser must read every request as Beast's request_parser does
// (the session's header limit; the rest of the input as the body, in
// pieces). The body limit is smaller than the gateway's: Beast's string_body
// reserves what Content-Length claims, and the limit works alike in both.
void checkAgainstBeast(std::string_view head, std::string_view rest, std::size_t piece, const gw::Settings& s) {
  namespace diff = gw::server::request_differential;
  diff::Limits limits{static_cast<std::uint32_t>(s.max_header_bytes), 64u << 10};
  HttpRequest request;
  if (!(diff::withBeast(head, rest, piece, limits) == diff::withFlat(request, head, rest, piece, limits)))
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const gw::Settings& s = gateway().settings;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // A keep-alive connection: requests are read one after another from the
  // same bytes, as pipelined requests are.
  HttpRequest request;  // one per connection, as the session keeps it
  for (int i = 0; i < 4 && !in.empty(); ++i) {
    // As the session: the head is screened and gathered whole first.
    gw::HeadScan scan = gw::scanRequestHead(in);
    if (!scan.complete || scan.obs_fold || scan.bare_lf || scan.end > s.max_header_bytes) return 0;
    std::string_view head = in.substr(0, scan.end);
    checkAgainstBeast(head, in.substr(scan.end), 1 + (size % 97), s);
    HttpRequestParser parser(request);
    parser.header_limit(static_cast<std::uint32_t>(s.max_header_bytes));
    // The body limit is applied after the head, so that a refused request
    // still has its headers.
    parser.body_limit(boost::none);
    boost::beast::error_code ec;
    parser.putHead(head, ec);
    if (ec || !parser.is_header_done()) return 0;
    in.remove_prefix(scan.end);
    if (auto cl = parser.content_length(); cl && *cl > s.max_request_body_bytes) {
      // rejectRequest(): 413, but the record still gets the request id.
      RequestHeaders headers(request);
      gw::RequestRecord rec;
      rec.id = gw::requestIdFor(headers);
      gw::copyTrackingHeaders(headers, rec);
      return 0;
    }
    parser.body_limit(s.max_request_body_bytes);
    parser.eager(true);
    if (!feedBody(parser, in)) return 0;
    proxy(request);
  }
  return 0;
}
