// Fuzzes what the relay does to upstream response bytes, through each
// provider's real respond() handler as src/server/upstream_relay.cc drives it:
// OpenAI-compatible bodies and streams on every API path (observed unchanged, or re-framed when
// the gateway injected include_usage: the usage-only chunk hidden, usage
// extracted), Anthropic and Bedrock JSON responses and error bodies, their
// streams, then the non-stream usage scan the proxy runs on captured bodies
// (its SAX reading checked against a tree read of the same usage object).
// The response head (provider, status, content type, whether the client
// asked for a stream and for usage) and the split points come from the input.
// Invariants: no crash; a passthrough handler forwards the bytes unchanged;
// what a translating handler or the include_usage re-framing generates is
// well-formed SSE whose events are JSON or [DONE]; the capture budget holds.
#include "common/anthropic_usage.h"
#include "common/openai_usage.h"
#include "fuzz_support.h"
#include "gw/config_source.h"
#include "providers/provider_registry.h"

#include <boost/json/object.hpp>
#include <boost/json/parser.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

namespace {

const gw::ProviderRegistry& registry() {
  static const gw::ProviderRegistry r = [] {
    gw::ProviderRegistry providers;
    gw::registerBuiltinProviders(providers);
    if (!providers.create(gw::ConfigSource({{"AWS_REGION", "us-east-1"}}, {}), "openai")) std::abort();
    return providers;
  }();
  return r;
}

constexpr std::size_t kCaptureBudget = 4096;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gw::fuzz::FuzzInput in(data, size);
  static constexpr std::string_view kProviders[] = {"openai", "anthropic", "bedrock", "groq"};
  static constexpr std::string_view kTypes[] = {"text/event-stream", "application/json",
                                                "application/vnd.amazon.eventstream", "text/event-stream; charset=utf-8",
                                                "text/plain"};
  static constexpr int kStatuses[] = {200, 200, 200, 400, 401, 429, 500, 503};
  std::uint8_t control = in.byte();
  std::string_view provider_name = kProviders[control % 4];
  bool stream = control & 0x04;
  bool wants_usage = control & 0x08;
  // The API the client spoke: chat/completions, completions, the Responses
  // API or the Messages API.
  static constexpr std::string_view kPaths[] = {"/v1/chat/completions", "/v1/completions", "/v1/responses",
                                                "/v1/messages"};
  std::string_view path = kPaths[(control >> 4) % 4];
  std::uint8_t head_byte = in.byte();
  int status = kStatuses[head_byte % 8];
  std::string_view content_type = kTypes[(head_byte >> 3) % 5];
  std::string_view sizes = in.bytes(16);
  std::string_view body = in.rest();

  const gw::Provider* provider = registry().find(provider_name);
  if (!provider) std::abort();

  // The client's request as the router leaves it.
  boost::json::object json{{"model", "gpt-4o-mini"},
                           {"messages", boost::json::array{boost::json::object{{"role", "user"}, {"content", "hi"}}}}};
  if (stream) json["stream"] = true;
  if (wants_usage) json["stream_options"] = boost::json::object{{"include_usage", true}};
  gw::fuzz::VectorHeaders client_headers;
  gw::ClientRequest creq;
  creq.method = "POST";
  creq.target = creq.path = path;
  creq.json = &json;
  creq.model = "gpt-4o-mini";
  creq.stream = stream;
  creq.client_wants_usage = wants_usage;
  creq.headers = &client_headers;
  creq.config = registry().config(provider_name);

  gw::fuzz::VectorHeaders upstream_headers;
  upstream_headers.fields = {{"content-type", std::string(content_type)}, {"x-request-id", "req_123"}};
  gw::UpstreamResponseHead head{status, content_type, &upstream_headers};
  auto handler = provider->respond(creq, head, kCaptureBudget);

  std::string out;
  bool failed = false;
  for (std::string_view piece : gw::fuzz::pieces(body, sizes, 257)) {
    if (auto st = handler->onBody(piece, out); !st) {
      handler->onUpstreamFailure(st.error(), out);
      failed = true;
      break;
    }
  }
  if (!failed)
    if (auto st = handler->onEnd(out); !st) handler->onUpstreamFailure(st.error(), out);

  const gw::ClientResponseHead& client_head = handler->head();
  if (client_head.passthrough_bytes && !failed && out != body) std::abort();
  bool generated_sse = client_head.content_type.starts_with("text/event-stream") && !client_head.passthrough_bytes;
  if (generated_sse && (provider_name == "anthropic" || provider_name == "bedrock")) gw::fuzz::checkGeneratedSse(out);
  const gw::ResponseObservation& obs = handler->observation();
  if (obs.chunk_bytes > kCaptureBudget) std::abort();

  // proxyRequest(): usage of a non-streamed body, read the way its API says.
  gw::Usage usage;
  (void)gw::scanOpenAiUsage(out, usage);
  (void)gw::scanResponsesUsage(out, usage);
  gw::Usage messages_sax, messages_tree;
  const bool messages_found = gw::scanMessagesUsage(body, messages_sax);

  // The usage scan reads the object with a SAX pass; the same object as a
  // tree, read by readOpenAiUsage, must give the same numbers.
  gw::Usage sax, tree;
  const bool sax_found = gw::scanOpenAiUsage(body, sax);
  bool tree_found = false;
  for (auto m = gw::findLastUsageMember(body); m && !tree_found; m = gw::findLastUsageMember(body, m->key)) {
    if (m->value >= body.size() || body[m->value] != '{') continue;
    boost::json::parser p;
    boost::system::error_code ec;
    p.write_some(body.data() + m->value, body.size() - m->value, ec);
    if (ec) continue;
    boost::json::value v = p.release();
    if (!v.is_object()) continue;
    gw::readOpenAiUsage(v.as_object(), tree);
    gw::readMessagesUsage(v.as_object(), messages_tree);
    tree_found = true;
  }
  // The Messages usage scan reads the same last usage object.
  if (messages_found != tree_found || messages_sax.input != messages_tree.input ||
      messages_sax.output != messages_tree.output || messages_sax.cached_input != messages_tree.cached_input ||
      messages_sax.cache_creation != messages_tree.cache_creation)
    std::abort();
  if (sax_found != tree_found || sax.input != tree.input || sax.output != tree.output || sax.total != tree.total ||
      sax.cached_input != tree.cached_input || sax.reasoning != tree.reasoning)
    std::abort();
  return 0;
}
