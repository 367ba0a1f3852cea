// Writing a record's JSON text directly, without a Boost.JSON tree: the
// writer of its own values, and the one-pass scrub of captured bodies.
//
// Every function here writes exactly the bytes Boost.JSON's serializer
// writes for the same value (compact, the same escapes, the same number
// forms), so a record's text does not depend on whether a body took the
// tree or the direct path. Pure functions, callable from any thread; the
// record builder calls them on the telemetry thread.
#pragma once

#include "common/usage_reader.h"

#include <boost/json/fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw {

// `text` as a JSON string, quotes included: '"', '\\' and the control
// characters escaped as Boost.JSON's serializer escapes them (\b \t \n \f
// \r, else \u00xx), every other byte copied as it is (the caller passes
// UTF-8).
void appendJsonString(std::string& out, std::string_view text);

void appendJsonInt(std::string& out, std::int64_t value);
void appendJsonUint(std::string& out, std::uint64_t value);

// `value` in Boost.JSON's form ("1.5E-1", "1E0").
void appendJsonDouble(std::string& out, double value);

// A tree's compact text, byte for byte as Boost.JSON's serializer writes
// it. The object overload spares a caller holding an object the copy a
// conversion to a value would make.
void appendJsonValue(std::string& out, const boost::json::value& value);
void appendJsonValue(std::string& out, const boost::json::object& object);

// Text the caller wrote as JSON already (keys, punctuation, null): its bytes.
template <std::size_t N>
void appendLiteral(std::string& out, const char (&text)[N]) {
  out.append(text, N - 1);
}

// What one pass over a body found, for the record's own fields. Places are
// offsets into the `out` the pass wrote to (its text as written: compact,
// escaped).
struct ScrubbedJsonFacts {
  struct Span {
    std::size_t offset = 0, size = 0;
  };
  struct Member {
    Span key;    // the key as written, quotes included
    Span value;  // its value as written (after scrubbing)
  };
  bool is_object = false;         // the body is one JSON object
  std::vector<Member> members;    // its members, in order (keys are unique)
  bool choices_is_array = false;  // its "choices" member is an array
  // The value of each "finish_reason" member of the objects in that array,
  // in order.
  std::vector<Span> choice_finish_reasons;
  // Its top-level "usage" object as written, read with the keys the pass
  // was given (none: not read); mergeUsage gives its counts.
  std::optional<UsageReader> usage;

  // The value of the top-level member `name` (a plain ASCII name, nothing
  // to escape), or nullptr.
  const Span* member(std::string_view out, std::string_view name) const;
};

enum class ScrubbedJsonResult {
  kWritten,    // `out` holds the scrubbed body
  kNotJson,    // the body is no JSON (kMaxUntrustedJsonDepth applies); `out` unchanged
  kNeedsTree,  // what this pass does not write (below); `out` unchanged. The
               // pass stops there: the tree parser decides whether the body is JSON
};

// Appends `body` (untrusted JSON) to `out` as the record holds it: exactly
// what parsing it with parseUntrustedJson, scrubForRecord and serialising
// the tree would write, in one SAX pass (Boost.JSON's basic_parser, the
// tree parser's limits) that copies each string's bytes without building a
// tree. kNeedsTree, for the caller to take the tree path, when the tree
// would not be a copy of the text: an object with a repeated key (the tree
// keeps the last), or a number out of a double's range (scrubbed to a
// string), and for objects of more than kMaxScannedObjectMembers members
// (repeats are looked for member by member). `facts` (may be null) is
// filled when kWritten. With `serialized_tree`, `body` is the serializer's
// text of a scrubbed tree (unique keys, no secret left): it is copied as it
// is, its doubles' digits too, and only described. With `usage_keys` (and
// `facts`), the body's top-level "usage" object is read as it is written
// (facts->usage), so that a response's usage costs no second parse.
ScrubbedJsonResult appendScrubbedJson(std::string_view body, std::string& out, ScrubbedJsonFacts* facts = nullptr,
                                      bool serialized_tree = false, const UsageKeys* usage_keys = nullptr);

inline constexpr std::size_t kMaxScannedObjectMembers = 64;

// The string a JSON value's text holds (a value written by this file: a
// quoted string), or nothing when it is no string.
std::optional<std::string> jsonTextString(std::string_view value_text);

}  // namespace gw
