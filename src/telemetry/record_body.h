// A captured body as the request record holds it (docs/records.md,
// "Bodies"): parsed and scrubbed, a string, a binary marker, or a
// truncated preview; and the parsing limits for untrusted JSON.
//
// appendCapturedBody writes the record's text directly; captureBody is the
// tree path, the reference it is checked against (json_text_test,
// fuzz_record_body). Pure functions, callable from any thread; the record
// builder and the stream assembler call them on the telemetry thread.
#pragma once

#include "telemetry/json_text.h"

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gw {

// The longest prefix of `text` of at most `max_bytes` bytes that does not
// end inside a UTF-8 sequence.
std::string_view utf8Prefix(std::string_view text, std::size_t max_bytes);

// The tree path: a body as it goes into the record, parsed JSON (scrubbed)
// or the string,
// or the {"_truncated":true,...} object when over `max_bytes` (or when
// `cut` says the capture already stopped at the budget; `original_bytes` is
// then the full size). Built in `sp`'s memory resource.
boost::json::value captureBody(std::string_view body, std::size_t max_bytes, bool cut = false,
                               std::optional<std::uint64_t> original_bytes = std::nullopt,
                               boost::json::storage_ptr sp = {});

// captureBody's text, written without the tree (appendScrubbedJson): the
// bytes serialising captureBody's value gives. When the body is captured
// as JSON, `facts` (may be null) describes it as written to `out`;
// otherwise it is left empty.
void appendCapturedBody(std::string& out, std::string_view body, std::size_t max_bytes, bool cut = false,
                        std::optional<std::uint64_t> original_bytes = std::nullopt, ScrubbedJsonFacts* facts = nullptr);

// Nesting limit for parsing untrusted bodies and chunks (their size is
// already bounded by MAX_REQUEST_BODY_BYTES and the capture budget; depth
// guards the stack).
inline constexpr std::size_t kMaxUntrustedJsonDepth = 256;

// `text` parsed with kMaxUntrustedJsonDepth into `sp`'s memory; nullopt
// when it is not JSON.
std::optional<boost::json::value> parseUntrustedJson(std::string_view text, boost::json::storage_ptr sp = {});

// error.type (else a non-empty error.code) of an OpenAI/Anthropic-shaped
// error body.
std::optional<std::string> errorTypeOf(const boost::json::value& v);

// error.type (else a non-empty error.code) of an "error" member's value.
std::optional<std::string> errorTypeOfMember(const boost::json::value& error);

}  // namespace gw
