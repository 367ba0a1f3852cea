// Request routing decisions that need no I/O: which provider serves a
// request, what model it names, which tracking headers go into the record.
// Pure functions; called from worker threads; unit-tested in tests/server.
#pragma once

#include "gw/provider.h"
#include "gw/request_record.h"

#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw {

class ProviderRegistry;

struct Route {
  const Provider* provider = nullptr;
  const ProviderConfig* config = nullptr;
  std::string provider_name;
  std::string model;           // after prefix removal
  bool model_rewritten = false;  // the body's "model" was changed
};

// SPEC section 3: x-provider wins; else a "provider/model" prefix naming a
// known provider is taken (and removed from the body); else the default.
// An unknown x-provider is a 400.
Result<Route> selectProvider(const HeaderLookup& headers, boost::json::object* body,
                             const ProviderRegistry& providers, std::string_view default_provider);
// The same decision from the body's "model" alone (nullopt: no body, or no
// string "model"); a taken prefix is only reported (model_rewritten), the
// caller applies it to the body it sends.
Result<Route> selectProvider(const HeaderLookup& headers, std::optional<std::string_view> model,
                             const ProviderRegistry& providers, std::string_view default_provider);

// What the proxy needs to know of a JSON request body before deciding
// whether to build its tree: the top-level "model" (when a string),
// "stream" and "stream_options"."include_usage" (when true). For a repeated
// key the last one counts, as in the tree boost::json::parse builds.
struct JsonBodyFacts {
  std::optional<std::string> model;
  bool stream = false;
  bool include_usage = false;
  bool has_stream_options = false;  // a top-level "stream_options" key, whatever its value
};
// Checks the body as parseJsonBody does (valid JSON, an object at the top,
// the same depth limit and errors) with Boost.JSON's SAX parser, building
// no tree -- a third of the cost of parsing it (callgrind), which is all an
// OpenAI-compatible passthrough request ever needs.
Result<JsonBodyFacts> scanJsonBody(std::string_view body);

// Whether the endpoint's request body is by definition a JSON object, so
// that an empty one is a malformed request (400 invalid_json) rather than
// something to forward: POST to chat/completions, completions, embeddings,
// responses, messages, messages/count_tokens, moderations,
// images/generations and audio/speech under /v1. Other POSTs (cancel
// actions, uploads) may have an empty body.
bool requiresJsonBody(std::string_view method, std::string_view path);

// Parses a request body as a JSON object, with a depth limit, its values
// allocated from `storage` (default: the heap). Returns an Error (400
// invalid_json) for malformed JSON or a non-object top level.
Result<boost::json::object> parseJsonBody(std::string_view body, boost::json::storage_ptr storage = {});

// The x-request-id to use: the client's if it is sane (printable ASCII, at
// most 128 bytes), else a new UUID.
std::string requestIdFor(const HeaderLookup& headers);

// Copies the tracking headers of SPEC section 3 into the record.
void copyTrackingHeaders(const HeaderLookup& headers, RequestRecord& record);

// True when `key` is one of the configured gateway keys (constant time).
bool gatewayKeyAccepted(std::string_view key, const std::vector<std::string>& keys);


// --- Request hygiene checks (docs/security.md). Pure functions so that the
// session and the unit tests share them.

// Where a request head ends in `bytes` (the bytes a client sent, starting at
// the request line) and what it contains that the gateway refuses before
// Beast parses it: obsolete line folding (a header line starting with SP or
// HTAB) and bare LF line ends. Beast would unfold obs-fold into a space and
// fail on a bare LF somewhere; refusing both up front means no front proxy
// can read a header differently from the gateway.
struct HeadScan {
  bool complete = false;  // a blank line ends the head within `bytes`
  std::size_t end = 0;    // bytes of the head, terminator included (when complete)
  bool obs_fold = false;
  bool bare_lf = false;
  std::size_t resume = 0;  // pass as `from` once more bytes were appended
};
// `from`: the previous scan's `resume`, so that a head trickled in one byte
// at a time is scanned once in all, not once per read (quadratic).
HeadScan scanRequestHead(std::string_view bytes, std::size_t from = 0);

// Why a request's framing is ambiguous (RFC 9112 section 6.3), or "" when it
// is not: Transfer-Encoding in HTTP/1.0, more than one Transfer-Encoding
// field, any coding but a lone "chunked" (the gateway decodes no other, and
// "chunked, identity" leaves the length undefined), or Transfer-Encoding
// together with Content-Length. Beast alone accepts several of these.
std::string framingProblem(unsigned http_version, const std::vector<std::string_view>& transfer_encodings,
                           bool has_content_length);

// Why a /v1 request target must not be forwarded, or "" when it is fine:
// dot segments ("/v1/../admin", also percent-encoded: "%2e%2e", "..%2f") and
// backslashes would let a client leave the provider's base path on an
// upstream (or a proxy in front of it) that normalises paths, reaching other
// endpoints of that host with the operator's key attached.
std::string targetPathProblem(std::string_view path);

}  // namespace gw
