// Fuzzes what a client's bytes go through before anything is sent upstream,
// in the order the server runs it (src/server/gateway_server.cc session(),
// src/server/proxy.cc proxyRequest()), without sockets:
//   Beast request_parser with the gateway's header and body limits (several
//   pipelined requests per input) -> request id and tracking headers ->
//   gateway-key check -> JSON body parsing -> provider selection ->
//   the provider's prepare(): OpenAI-compatible passthrough with the
//   include_usage injection, the Anthropic translation, the Bedrock
//   translation and SigV4 signing (fixed fake credentials).
// Invariants: no crash; nothing that goes upstream can split the upstream
// request (no CR/LF/NUL in the target or a header); a translated body is JSON.
#include "config/settings.h"
#include "fuzz_support.h"
#include "providers/provider_registry.h"
#include "server/router.h"
#include "server/testing/json_body_facts_reference.h"
#include "common/strings.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

namespace {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;

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
        {"GROQ_API_KEY", "gsk-fuzz"},
        {"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
        {"AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
        {"AWS_REGION", "us-east-1"},
        {"GATEWAY_API_KEYS", "gw-key-1,gw-key-2"},
    };
    auto settings = gw::loadSettings(gw::ConfigSource(env, {}), 2);
    if (!settings) std::abort();
    auto providers = gw::ProviderRegistry::create(settings->providers);
    return Gateway{std::move(*settings), std::move(providers)};
  }();
  return g;
}

// gw::server::BeastHeaders, which lives in a Beast-heavy server TU.
class RequestHeaders final : public gw::HeaderLookup {
 public:
  explicit RequestHeaders(const Request& r) : r_(r) {}
  std::optional<std::string_view> get(std::string_view name) const override {
    auto it = r_.find(name);
    if (it == r_.end()) return std::nullopt;
    return it->value();
  }
  void forEach(const std::function<void(std::string_view, std::string_view)>& visit) const override {
    for (const auto& f : r_) visit(f.name_string(), f.value());
  }

 private:
  const Request& r_;
};

void checkUpstream(const gw::UpstreamRequest& up, std::string_view provider) {
  if (gw::fuzz::hasLineBreakOrNul(up.target) || gw::fuzz::hasLineBreakOrNul(up.method)) std::abort();
  for (const auto& [name, value] : up.headers)
    if (name.empty() || gw::fuzz::hasLineBreakOrNul(name) || gw::fuzz::hasLineBreakOrNul(value)) std::abort();
  if ((provider == "anthropic" || provider == "bedrock") && !gw::fuzz::isJson(up.body)) std::abort();
}

// proxyRequest() from the access check to prepare().
void proxy(Request& request) {
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
    auto ct = request.find(http::field::content_type);
    std::string lower = gw::toLower(ct == request.end() ? std::string_view() : std::string_view(ct->value()));
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

// Feeds `in` to the parser until it has what `done` asks for. Returns false
// when the request is malformed, too large or incomplete (the server then
// answers 400/413/431 or waits for more bytes).
template <class Done>
bool feed(http::request_parser<http::string_body>& parser, std::string_view& in, Done done) {
  while (!done()) {
    boost::beast::error_code ec;
    std::size_t n = parser.put(boost::asio::buffer(in.data(), in.size()), ec);
    in.remove_prefix(n);
    if (ec || n == 0) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const gw::Settings& s = gateway().settings;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // A keep-alive connection: requests are read one after another from the
  // same bytes, as pipelined requests are.
  for (int i = 0; i < 4 && !in.empty(); ++i) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(s.max_header_bytes);
    parser.body_limit(boost::none);
    // async_read_header stops after the head: the body limit below must
    // apply to every body byte.
    parser.eager(false);
    if (!feed(parser, in, [&] { return parser.is_header_done(); })) return 0;
    if (auto cl = parser.content_length(); cl && *cl > s.max_request_body_bytes) {
      // rejectRequest(): 413, but the record still gets the request id.
      RequestHeaders headers(parser.get());
      gw::RequestRecord rec;
      rec.id = gw::requestIdFor(headers);
      gw::copyTrackingHeaders(headers, rec);
      return 0;
    }
    parser.body_limit(s.max_request_body_bytes);
    parser.eager(true);
    if (!feed(parser, in, [&] { return parser.is_done(); })) return 0;
    Request request = parser.release();
    proxy(request);
  }
  return 0;
}
