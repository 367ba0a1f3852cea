// What the gateway reads from a client's request head before anything is
// forwarded: the request id and tracking headers for the record, the
// gateway key, and the hygiene checks of docs/security.md (head screening,
// framing, target paths). Pure functions so that the session and the unit
// tests share them; called from worker threads.
#pragma once

#include "gw/provider.h"
#include "gw/request_record.h"

#include <cstddef>
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
