// What the gateway reads from a client's request head before anything is
// forwarded: the request id and tracking headers for the record, the
// gateway key, and the hygiene checks of docs/security.md (head screening,
// framing, target paths). Pure functions so that the session and the unit
// tests share them; called from worker threads.
#pragma once

#include "gw/provider.h"
#include "gw/request_record.h"

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw {

// The x-request-id to use: the client's if it is sane (printable ASCII, at
// most 128 bytes), else a new UUID.
std::string requestIdFor(const HeaderLookup& headers);

// Copies the tracking headers of docs/configuration.md into the record.
void copyTrackingHeaders(const HeaderLookup& headers, RequestRecord& record);

// True when `key` is one of the configured gateway keys (constant time).
bool gatewayKeyAccepted(std::string_view key, const std::vector<std::string>& keys);

// The virtual key a request presents (docs/keys-and-budgets.md): a value
// starting with "gw-" in x-gateway-key, Authorization (Bearer) or
// x-api-key, in that order; "" when none does.
std::string_view presentedVirtualKey(const HeaderLookup& headers);

// The client's headers without its provider credentials (Authorization,
// x-api-key, api-key, x-goog-api-key, the AWS headers): what a provider
// gets when the gateway's own key is to be used -- a route target other
// than the client's home provider, or a request made with a virtual key.
class WithoutClientCredentials final : public HeaderLookup {
 public:
  explicit WithoutClientCredentials(const HeaderLookup& headers) : headers_(headers) {}
  std::optional<std::string_view> get(std::string_view name) const override;
  void forEach(const std::function<void(std::string_view, std::string_view)>& visit) const override;

 private:
  const HeaderLookup& headers_;
};

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
