// The heads of an exchange: the request head the gateway writes upstream,
// and what it takes from the upstream's response head (the headers that
// reach the client, the content-codings, the provider's request id).
// Functions of the bytes only, on the calling thread.
#pragma once

#include "gw/provider.h"
#include "server/upstream_response_parser.h"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gw::server {

// The upstream response's headers, as the providers' HeaderLookup.
struct UpstreamHeaders final : HeaderLookup {
  const UpstreamResponseParser* parser = nullptr;
  std::optional<std::string_view> get(std::string_view name) const override { return parser->find(name); }
  void forEach(const std::function<void(std::string_view, std::string_view)>& visit) const override {
    parser->forEachField(
        [&](boost::beast::http::field, std::string_view name, std::string_view value) { visit(name, value); });
  }
};

// Headers from the upstream response that reach the client (appended to
// `out`). Passthrough responses keep the provider's headers (rate limits,
// processing time...); translated ones keep only what still means the
// same thing. A header whose value holds one of `operator_secrets` is
// dropped.
void forwardableHeaders(const UpstreamResponseParser& upstream, bool passthrough,
                        const std::vector<std::string_view>& operator_secrets,
                        std::vector<std::pair<std::string, std::string>>& out);

// The response's content-codings, every Content-Encoding field joined
// (RFC 9110 section 5.3), or nullopt when it has none.
std::optional<std::string> contentCodings(const UpstreamResponseParser& h);

// Puts in `secrets` the operator's credentials (from `config`, the
// gateway's configuration) that the request sent upstream carries, as their
// bare values: what an echo would contain. Views into `up` and `config`:
// its key, AWS session token, and the values of its configured headers
// whose names are credential names (isSecretKey).
void collectOperatorSecrets(const UpstreamRequest& up, const ProviderConfig* config,
                            std::vector<std::string_view>& secrets);

// Adds the operator's headers for the provider (ProviderConfig::
// upstream_headers, names in lower case) to the headers prepare() wrote
// (names in lower case too): each replaces every header of its name (one
// the client sent and the provider forwarded: the operator's value is the
// one the upstream sees), or is appended.
void addConfiguredHeaders(const std::vector<std::pair<std::string, std::string>>& configured,
                          std::vector<std::pair<std::string, std::string>>& headers);

// The provider's own request id, from the first of the usual headers.
std::optional<std::string> providerRequestId(const UpstreamResponseParser& h);

// How long the upstream asks to be left alone: its retry-after-ms
// (milliseconds, as OpenAI sends it), else its Retry-After (delay-seconds
// or an HTTP date, RFC 9110 section 10.2.3), at most a day; nullopt when
// it sent neither or nothing readable. `now` is the wall clock, for a date.
std::optional<std::chrono::milliseconds> retryAfter(
    const UpstreamResponseParser& h, std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// The upstream request head for `up` with `body` (see the definition), or
// nullopt when its method or target cannot be written safely.
std::optional<std::string> upstreamRequestHead(const UpstreamRequest& up, std::string_view body);

}  // namespace gw::server
