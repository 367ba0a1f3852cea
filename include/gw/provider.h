// The provider extension point.
//
// A Provider turns a client's OpenAI-shaped request into the request its
// upstream expects, and creates a ResponseHandler that turns the upstream's
// response back into what an OpenAI client expects. One Provider object is
// shared by all worker threads: prepare() and respond() are const and must be
// thread-safe. A ResponseHandler belongs to one request and is only ever used
// from that request's worker thread, never concurrently.
//
// Nothing here blocks or throws on the request path; failures are gw::Error.
//
// Registration: a provider folder registers its providers' names, settings
// tables, factories and pricing names, and the factory of its type's custom
// providers, with GW_REGISTER_PROVIDER (gw/provider_plugin.h) and adds
// itself with gw_add_provider() in its CMakeLists.txt. See
// docs/providers.md, "Adding a provider".
#pragma once

#include "gw/error.h"

#include <boost/json/fwd.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gw {

// Read access to the client's request headers (names are case-insensitive).
class HeaderLookup {
 public:
  virtual ~HeaderLookup() = default;
  virtual std::optional<std::string_view> get(std::string_view name) const = 0;
  // Visits every header in order received (names as sent by the client).
  virtual void forEach(const std::function<void(std::string_view name, std::string_view value)>& visit) const = 0;
};

// Where a provider lives: parsed from its *_BASE_URL.
struct UpstreamEndpoint {
  bool tls = true;
  std::string host;
  std::uint16_t port = 443;
  std::string base_path;  // no trailing slash, e.g. "/v1" or ""
};

// Static configuration of one provider, read by its factory from the
// environment / config file (gw/provider_plugin.h).
struct ProviderConfig {
  std::string name;
  std::string base_url;             // as configured, may contain "{region}"
  std::string env_api_key;          // e.g. OPENAI_API_KEY; empty when unset
  // Where the operator sets env_api_key, for the error that asks for a key:
  // "ANTHROPIC_API_KEY", or a custom provider's "providers[2].api_key_env".
  std::string api_key_setting;
  // AWS (bedrock only)
  std::string env_aws_access_key_id;
  std::string env_aws_secret_access_key;
  std::string env_aws_session_token;
  std::string env_aws_region;

  // Set by the provider registry (providers/provider_registry.h) from the
  // registration or the custom provider's entry; factories leave them empty.
  //
  // LiteLLM's name for the provider ("fireworks_ai" for fireworks), under
  // which the record's cost is looked up in the price table.
  std::string pricing_provider;
  // Headers added to every upstream request of the provider (a custom
  // provider's `headers:`), names in lower case. The proxy adds them after
  // prepare(), replacing a header of the same name; providers do not add
  // them. None is a header a provider writes for credentials or framing:
  // the registry refuses those names at start-up.
  std::vector<std::pair<std::string, std::string>> upstream_headers;
};

// The client's request after routing.
struct ClientRequest {
  std::string_view method;
  std::string_view target;  // as received, e.g. "/v1/chat/completions?x=1"
  std::string_view path;    // target without the query
  std::string_view body;    // raw body bytes
  // Parsed body when it is a JSON object (POST with a body) and the
  // provider wants it parsed (Provider::wantsParsedBody), else nullptr.
  // The router may have rewritten "model" (provider prefix removed).
  boost::json::object* json = nullptr;
  bool json_body = false;  // the body is a JSON object (whether parsed or not)
  bool body_rewritten = false;  // json differs from body; re-serialise it
  std::string model;            // model after prefix removal, "" if none
  bool stream = false;          // "stream": true
  bool client_wants_usage = false;  // stream_options.include_usage
  bool has_stream_options = false;  // the body has a top-level "stream_options"
  // Whether the gateway reads the response at all (usage, model, chunks
  // for the record). False when telemetry is off (ENABLED_EXPORTERS=none):
  // a provider then adds nothing to the request for its own use (OpenAI's
  // stream_options.include_usage) and relays the response without parsing
  // what it passes through unchanged.
  bool observed = true;
  const HeaderLookup* headers = nullptr;
  const ProviderConfig* config = nullptr;
};

// The request to send upstream.
struct UpstreamRequest {
  UpstreamEndpoint endpoint;
  std::string method;
  std::string target;  // path + query on the upstream
  std::vector<std::pair<std::string, std::string>> headers;
  // The body the provider wrote. When it forwards the client's body
  // unchanged it sets forwards_client_body instead and leaves `body` empty:
  // a large request is then held once, not twice.
  std::string body;
  bool forwards_client_body = false;

  // What goes upstream: `body`, or the client's bytes.
  std::string_view bodyFor(const ClientRequest& client) const {
    return forwards_client_body ? client.body : std::string_view(body);
  }
};

// Token usage as the provider reported it. Unknown values stay empty.
struct Usage {
  std::optional<std::int64_t> input;
  std::optional<std::int64_t> output;
  std::optional<std::int64_t> total;
  std::optional<std::int64_t> cached_input;    // prompt tokens read from cache
  std::optional<std::int64_t> cache_creation;  // tokens written to cache
  std::optional<std::int64_t> reasoning;       // included in output
};

// The OpenAI API a response belongs to, which says how its record is made.
enum class ResponseApi {
  // chat/completions, completions, embeddings and everything else: "usage"
  // with prompt_tokens/completion_tokens; stream chunks are
  // chat.completion.chunk objects, assembled into one.
  kChatCompletions,
  // /v1/responses and below: "usage" with input_tokens/output_tokens; stream
  // chunks are the data of the Responses events (each with a "type"), and
  // the record's response is the last "response" object they carried.
  kResponses,
  // /v1/messages (Anthropic Messages API, native): "usage" with
  // input_tokens/output_tokens and the cache counts (the handler reads them
  // into ResponseObservation::usage); stream chunks are the data of the
  // Messages events (each with a "type": message_start,
  // content_block_delta, ...), and the record's response is the message
  // they assemble. Errors are in Anthropic's shape (common/anthropic_error.h).
  kMessages,
};

// What a ResponseHandler saw, for the request record. Filled incrementally.
struct ResponseObservation {
  Usage usage;
  ResponseApi api = ResponseApi::kChatCompletions;
  // False when a usage the response holds is not this request's: a stored
  // response retrieved again (GET /v1/responses/{id}). The record then has
  // no tokens and no cost.
  bool own_usage = true;
  // True when the handler reads the provider's usage itself, translating
  // the response: `usage` then holds every count the provider gave, and the
  // counts in the body the client received (placeholders the gateway wrote
  // before the provider gave any) are never read for the record.
  bool usage_from_handler = false;
  // Streams: each chunk's JSON as sent to the client (OpenAI chunk form, or
  // the data of each event for ResponseApi::kResponses), in
  // order, then the usage chunk the gateway asked for itself. Capped by the
  // capture budget; chunks past it are counted, not kept.
  std::vector<std::string> chunks;
  std::size_t chunk_bytes = 0;
  std::size_t chunks_not_captured = 0;
  std::optional<std::string> response_model;
  // Set when the upstream reported an error (status >= 400 or an error event).
  std::optional<std::string> provider_error_type;
  std::optional<std::string> provider_error_message;
};

enum class Framing {
  kBuffered,  // the core reads the whole upstream body, then calls onBody once
  kRelay,     // the core forwards each piece of output as soon as it exists
};

struct ClientResponseHead {
  int status = 200;
  std::string content_type;
  Framing framing = Framing::kRelay;
  // True when the handler forwards the upstream bytes unchanged, so the
  // upstream's Content-Length (if any) can be forwarded too.
  bool passthrough_bytes = false;
};

// The upstream's response status and headers, as the core read them.
struct UpstreamResponseHead {
  int status = 0;
  std::string_view content_type;
  const HeaderLookup* headers = nullptr;
};

class ResponseHandler {
 public:
  virtual ~ResponseHandler() = default;

  virtual const ClientResponseHead& head() const = 0;

  // Upstream body bytes, in order, split anywhere. Appends what the client
  // should receive to `out`. An Error means the upstream's bytes were
  // malformed; the core then calls onUpstreamFailure.
  virtual Status onBody(std::string_view upstream_bytes, std::string& out) = 0;

  // The upstream body ended normally. Appends any final client bytes (for a
  // stream: the terminating "data: [DONE]").
  virtual Status onEnd(std::string& out) = 0;

  // The upstream broke (reset, timeout, malformed data) after head() was sent
  // to the client. For streams, appends a final error event and terminator.
  virtual void onUpstreamFailure(const Error& error, std::string& out) = 0;

  virtual ResponseObservation& observation() = 0;
};

class Provider {
 public:
  virtual ~Provider() = default;

  virtual std::string_view name() const = 0;

  // Whether the provider serves the Anthropic Messages API (/v1/messages
  // and /v1/messages/count_tokens). A Messages request that names no
  // provider (no x-provider, no model prefix) goes to DEFAULT_PROVIDER when
  // it does, else to "anthropic": the Messages API is Anthropic's.
  virtual bool servesMessagesApi() const { return false; }

  // Whether prepare() needs the body's JSON tree (ClientRequest::json).
  // Asked once the request's other fields are set; when false, `json` is
  // null and the proxy never builds the tree (the body was still checked).
  virtual bool wantsParsedBody(const ClientRequest&) const { return true; }

  // Builds the upstream request, its header names in lower case (the proxy
  // finds the credentials in it by name, to keep an upstream from echoing
  // them back). Errors (missing credentials, a body the provider cannot
  // express) go to the client as they are.
  virtual Result<UpstreamRequest> prepare(const ClientRequest& request) const = 0;

  // Creates the handler for one upstream response. `capture_budget` bounds
  // the bytes of chunks kept in the observation.
  virtual std::unique_ptr<ResponseHandler> respond(const ClientRequest& request,
                                                   const UpstreamResponseHead& head,
                                                   std::size_t capture_budget) const = 0;
};

}  // namespace gw
