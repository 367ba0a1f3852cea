// Fuzzes what the relay does to upstream response bytes, through each
// provider's real respond() handler as src/server/upstream_relay.cc drives it:
// OpenAI-compatible and Azure bodies and streams (observed unchanged, or
// re-framed when the gateway injected include_usage: the usage-only chunk
// hidden, usage extracted), the Responses API's streams and the error event
// that ends a broken one, Azure's error bodies made OpenAI-shaped, Anthropic
// and Bedrock JSON responses and error bodies, their streams, Anthropic's
// native Messages API passthrough, then the
// non-stream usage scan the proxy runs on captured bodies (its SAX reading
// checked against a tree read of the same usage object) and the chunk
// reader of the re-framing (readChatChunk, checked against a tree, and its
// scan for a null usage against readChatChunk).
// The response head (provider, status, content type, whether the client
// asked for a stream and for usage, the API) and the split points come from
// the input.
// Invariants: no crash; a passthrough handler forwards the bytes unchanged;
// what a translating handler or the include_usage re-framing generates is
// well-formed SSE whose events are JSON or [DONE]; a re-framed stream shows
// no usage-only chunk and no top-level usage; Azure's error bodies come out
// in the OpenAI error shape without the operator's key; a broken Responses
// stream ends with one JSON error event; the capture budget holds.
#include "common/anthropic_usage.h"
#include "common/openai_usage.h"
#include "common/sse_parser.h"
#include "fuzz_support.h"
#include "gw/config_source.h"
#include "providers/provider_registry.h"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parser.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view kAzureKey = "azure-fuzz-operator-key";

const gw::ProviderRegistry& registry() {
  static const gw::ProviderRegistry r = [] {
    gw::ProviderRegistry providers;
    gw::registerBuiltinProviders(providers);
    if (!providers.create(gw::ConfigSource({{"AWS_REGION", "us-east-1"},
                                            {"AZURE_OPENAI_ENDPOINT", "https://fuzz.openai.azure.com"},
                                            {"AZURE_OPENAI_API_KEY", std::string(kAzureKey)}},
                                           {}),
                          "openai"))
      std::abort();
    return providers;
  }();
  return r;
}

constexpr std::size_t kCaptureBudget = 4096;

// The data of each event of `sse` (the relay's output: data lines joined).
std::vector<std::string> sseData(std::string_view sse) {
  std::vector<std::string> out;
  gw::SseParser parser(1u << 24);
  parser.feed(sse, [&](const gw::SseEvent& e) {
    out.emplace_back(e.data);
    return true;
  });
  return out;
}

std::optional<boost::json::value> parseTree(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) return std::nullopt;
  return v;
}

bool sameUsage(const gw::Usage& a, const gw::Usage& b) {
  return a.input == b.input && a.output == b.output && a.total == b.total && a.cached_input == b.cached_input &&
         a.reasoning == b.reasoning;
}

// readChatChunk against a tree of the same text: the same facts, and the
// text without its usage member is the tree without "usage".
void checkChatChunkReader(std::string_view text) {
  const gw::ChatChunkFacts facts = gw::readChatChunk(text);
  auto tree = parseTree(text);
  const bool object = tree && tree->is_object();
  if (facts.is_object != object) std::abort();
  if (!object) return;
  const boost::json::object& root = tree->as_object();
  const auto* choices = root.if_contains("choices");
  if (facts.empty_choices != (choices && choices->is_array() && choices->as_array().empty())) std::abort();
  using UsageValue = gw::ChatChunkFacts::UsageValue;
  const auto* usage = root.if_contains("usage");
  const UsageValue kind = !usage              ? UsageValue::kAbsent
                          : usage->is_null()  ? UsageValue::kNull
                          : usage->is_object() ? UsageValue::kObject
                                               : UsageValue::kOther;
  if (facts.usage_value != kind) std::abort();
  if (kind == UsageValue::kObject) {
    gw::Usage from_tree;
    gw::readOpenAiUsage(usage->as_object(), from_tree);
    if (!sameUsage(facts.usage, from_tree)) std::abort();
  }
  const boost::json::object* x_groq_usage = nullptr;
  if (const auto* x = root.if_contains("x_groq"); x && x->is_object())
    if (const auto* u = x->as_object().if_contains("usage"); u && u->is_object()) x_groq_usage = &u->as_object();
  if (facts.has_x_groq_usage != (x_groq_usage != nullptr)) std::abort();
  if (x_groq_usage) {
    gw::Usage from_tree;
    gw::readOpenAiUsage(*x_groq_usage, from_tree);
    if (!sameUsage(facts.x_groq_usage, from_tree)) std::abort();
  }
  std::string without;
  gw::appendWithoutTopLevelUsage(text, facts, without);
  auto stripped = parseTree(without);
  boost::json::object expected = root;
  expected.erase("usage");
  if (!stripped || !stripped->is_object() || stripped->as_object() != expected) std::abort();
  // The scan for a null usage, where it answers, says what the parse says.
  if (auto scanned = gw::scanChatChunkWithNullUsage(text)) {
    if (kind != UsageValue::kNull || !facts.usage_member_bytes ||
        scanned->usage_member_bytes != facts.usage_member_bytes || facts.has_x_groq_usage)
      std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gw::fuzz::FuzzInput in(data, size);
  static constexpr std::string_view kProviders[] = {"openai", "anthropic", "bedrock", "groq"};
  static constexpr std::string_view kTypes[] = {"text/event-stream", "application/json",
                                                "application/vnd.amazon.eventstream", "text/event-stream; charset=utf-8",
                                                "text/plain"};
  static constexpr int kStatuses[] = {200, 200, 200, 400, 401, 429, 500, 503};
  std::uint8_t control = in.byte();
  std::string_view provider_name = (control & 0x20) ? std::string_view("azure") : kProviders[control % 4];
  bool stream = control & 0x04;
  bool wants_usage = control & 0x08;
  bool chat = !(control & 0x10);
  bool upstream_breaks = control & 0x80;  // the body ends in a failure, not a clean end
  // 0x40: another API than chat/completions and completions: the Responses API, or with 0x10 the
  // Messages API (Anthropic's).
  bool responses = (control & 0x40) && !(control & 0x10);  // POST /v1/responses
  bool messages = (control & 0x40) && (control & 0x10);    // POST /v1/messages
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
  creq.target = creq.path = responses ? "/v1/responses"
                            : messages ? "/v1/messages"
                            : chat     ? "/v1/chat/completions"
                                       : "/v1/completions";
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
  // As the relay drives it: a buffered handler gets the whole body at once,
  // a relaying one each piece as it arrives.
  std::vector<std::string_view> pieces = gw::fuzz::pieces(body, sizes, 257);
  if (handler->head().framing == gw::Framing::kBuffered) pieces = {body};
  for (std::string_view piece : pieces) {
    if (auto st = handler->onBody(piece, out); !st) {
      handler->onUpstreamFailure(st.error(), out);
      failed = true;
      break;
    }
  }
  std::size_t failure_at = std::string::npos;  // where the error event starts in `out`
  if (!failed && upstream_breaks) {
    failure_at = out.size();
    handler->onUpstreamFailure(gw::Error::badGateway("upstream_broken", "the upstream connection was reset"), out);
    failed = true;
  }
  if (!failed)
    if (auto st = handler->onEnd(out); !st) handler->onUpstreamFailure(st.error(), out);

  const gw::ClientResponseHead& client_head = handler->head();
  const bool openai_shaped = provider_name == "openai" || provider_name == "groq" || provider_name == "azure";
  const bool sse = status < 300 && content_type.starts_with("text/event-stream");
  if (client_head.passthrough_bytes && !failed && out != body && !(provider_name == "azure" && status >= 400))
    std::abort();
  // A broken Responses stream: its last event is the Responses API's error
  // event, whole and JSON.
  if (openai_shaped && responses && sse && failure_at != std::string::npos) {
    std::string_view tail = std::string_view(out).substr(failure_at);
    if (!tail.starts_with("event: error\ndata: ") || !tail.ends_with("\n\n")) std::abort();
    auto event = parseTree(tail.substr(19, tail.size() - 21));
    if (!event || !event->is_object() || event->as_object().at("type") != "error" ||
        !event->as_object().at("sequence_number").is_int64())
      std::abort();
  }
  // include_usage re-framing: no usage-only chunk and no top-level usage
  // reach a client that did not ask for them.
  if (openai_shaped && !responses && sse && stream && !wants_usage && !client_head.passthrough_bytes) {
    for (const std::string& event : sseData(out)) {
      auto chunk = parseTree(event);
      if (chunk && chunk->is_object() && chunk->as_object().contains("usage")) std::abort();
    }
  }
  // Azure's errors: the OpenAI error shape, never the operator's key.
  if (provider_name == "azure" && status >= 400) {
    auto doc = parseTree(out);
    if (!doc || !doc->is_object()) std::abort();
    const auto* error = doc->as_object().if_contains("error");
    if (!error || !error->is_object() || !error->as_object().contains("code")) std::abort();
    const auto* message = error->as_object().if_contains("message");
    const auto* type = error->as_object().if_contains("type");
    if (!message || !message->is_string() || !type || !type->is_string()) std::abort();
    if (out.find(kAzureKey) != std::string::npos) std::abort();
  }
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

  // The re-framing's chunk reader, on the body as one chunk and on each of
  // its events.
  checkChatChunkReader(body);
  for (const std::string& event : sseData(body)) checkChatChunkReader(event);
  return 0;
}
