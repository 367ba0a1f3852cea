#include "telemetry/json_text.h"

#include "common/json_sax_defaults.h"
#include "telemetry/record_builder.h"
#include "telemetry/secret_scrub.h"
#include "telemetry/text_cursor.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/detail/format.hpp>
#include <boost/json/error.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <functional>

namespace gw {

namespace json = boost::json;

namespace {

// Boost.JSON's serializer's escapes: 'u' for \u00xx, 0 for none.
constexpr char kEscapes[256] = {'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',  //
                                'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',  //
                                0,   0,   '"', 0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    //
                                0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    //
                                0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    //
                                0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   '\\'};

// The first byte in [p, end) that Boost.JSON's serializer escapes (a
// quote, a backslash or a control character), or end. Eight bytes at a
// time: a word holds one when one of its bytes is below 0x20, or equal to
// '"' or '\\' (the exact tests of "some byte is zero / below n").
const char* findEscape(const char* p, const char* const end) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ull, kHighs = 0x8080808080808080ull;
  while (end - p >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    const std::uint64_t quote = w ^ (kOnes * '"'), backslash = w ^ (kOnes * '\\');
    const std::uint64_t hits =
        ((w - kOnes * 0x20) & ~w) | ((quote - kOnes) & ~quote) | ((backslash - kOnes) & ~backslash);
    if (hits & kHighs) break;
    p += 8;
  }
  while (p != end && kEscapes[static_cast<unsigned char>(*p)] == 0) ++p;
  return p;
}

// The escape sequence of a byte that has one (kEscapes): its length, 2 or 6.
std::size_t writeEscape(char* to, unsigned char c) {
  const char escape = kEscapes[c];
  to[0] = '\\';
  to[1] = escape;
  if (escape != 'u') return 2;
  static constexpr char kHex[] = "0123456789abcdef";
  to[2] = '0';
  to[3] = '0';
  to[4] = kHex[c >> 4];
  to[5] = kHex[c & 15];
  return 6;
}

// Handler for json::basic_parser that writes the scrubbed body as it is
// read (appendScrubbedJson). A secret member's key is written with
// "[REDACTED]" and its value is only read (skipped) to its end.
class ScrubbingWriter : public JsonSaxDefaults {
 public:
  // The tree parser's limits (boost/json/detail/handler.hpp).
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  ScrubbingWriter(std::string& out, std::string_view input, ScrubbedJsonFacts* facts, bool serialized_tree,
                  const UsageKeys* usage_keys)
      : out_(out, input.size() + kRoomPerEvent),
        input_(input),
        facts_(facts),
        serialized_tree_(serialized_tree),
        check_keys_(!serialized_tree),
        usage_keys_(facts ? usage_keys : nullptr) {
    if (check_keys_) keys_.reserve(kMaxScannedObjectMembers);
  }

  bool needs_tree = false;

  // Cuts the output to what was written; after a pass that wrote the body.
  void finish() { out_.finish(); }

  bool on_object_begin(boost::system::error_code& ec) {
    const bool usage_begins = usage_next_;
    if (!beginValue(false)) {
      skipContainer();
      return true;
    }
    out_.put('{');
    push(true);
    if (depth_ == 1 && facts_) facts_->is_object = true;
    if (usage_begins) {
      facts_->usage.emplace(*usage_keys_);
      usage_open_ = true;
    }
    if (usage_open_) facts_->usage->on_object_begin(ec);
    return true;
  }
  bool on_object_end(std::size_t n, boost::system::error_code& ec) {
    if (endSkipped()) return true;
    if (depth_ == 1 && facts_ && !facts_->members.empty()) closeTopMember();
    if (usage_open_) {
      facts_->usage->on_object_end(n, ec);
      usage_open_ = depth_ > 2;  // else the usage object itself closes
    }
    pop();
    out_.ensure(1);
    out_.put('}');
    return true;
  }
  bool on_array_begin(boost::system::error_code& ec) {
    if (!beginValue(false)) {
      skipContainer();
      return true;
    }
    if (usage_open_) facts_->usage->on_array_begin(ec);
    out_.put('[');
    push(false);
    if (depth_ == 2 && top_member_is_choices_ && facts_) {
      facts_->choices_is_array = true;
      choices_open_ = true;
    }
    return true;
  }
  bool on_array_end(std::size_t n, boost::system::error_code& ec) {
    if (endSkipped()) return true;
    if (usage_open_) facts_->usage->on_array_end(n, ec);
    pop();
    out_.ensure(1);
    out_.put(']');
    return true;
  }

  bool on_key_part(json::string_view s, std::size_t, boost::system::error_code&) {
    if (!skip_depth_) key_part_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, boost::system::error_code& ec) {
    if (skip_depth_) return true;
    std::string_view key(s.data(), s.size());
    if (!key_part_.empty()) [[unlikely]] {
      key_part_.append(key);
      key = key_part_;
    }
    const bool top = depth_ == 1 && facts_;
    if (top && !facts_->members.empty()) closeTopMember();
    out_.ensure(2);
    if (out_.last() != '{') out_.put(',');
    const std::size_t key_offset = out_.size();
    out_.put('"');
    appendText(key);
    out_.ensure(2 + sizeof(kRedactedValue));
    out_.put('"');
    const ScrubbedJsonFacts::Span key_span{key_offset, out_.size() - key_offset};
    if (check_keys_ && !keepKey(levels_[depth_ - 1], key_span)) return stop(ec);
    out_.put(':');
    if (top) {
      facts_->members.push_back({key_span, {out_.size(), 0}});
      top_member_is_choices_ = key == "choices";
      choices_open_ = false;
      usage_next_ = usage_keys_ && key == "usage";
    } else {
      capture_finish_reason_ = choices_open_ && depth_ == 3 && key == "finish_reason";
      if (usage_open_) facts_->usage->on_key(json::string_view(key.data(), key.size()), key.size(), ec);
    }
    if (isSecretKey(key)) [[unlikely]] {
      out_.putLiteral(kRedactedValue);
      redact_next_ = true;
    }
    key_part_.clear();
    return true;
  }

  bool on_string_part(json::string_view s, std::size_t, boost::system::error_code&) {
    appendStringPart(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, boost::system::error_code&) {
    appendStringPart(s);
    if (string_written_) {
      out_.ensure(1);
      out_.put('"');
      if (string_captured_) facts_->choice_finish_reasons.push_back({string_start_, out_.size() - string_start_});
    }
    in_string_ = false;
    return true;
  }

  bool on_int64(std::int64_t v, json::string_view s, boost::system::error_code& ec) {
    number_part_.clear();
    if (!beginValue(false)) return true;
    out_.putJsonInt(v);
    if (usage_open_) facts_->usage->on_int64(v, s, ec);
    return true;
  }
  bool on_uint64(std::uint64_t v, json::string_view s, boost::system::error_code& ec) {
    number_part_.clear();
    if (!beginValue(false)) return true;
    out_.putJsonUint(v);
    if (usage_open_) facts_->usage->on_uint64(v, s, ec);
    return true;
  }
  bool on_number_part(json::string_view s, boost::system::error_code&) {
    if (serialized_tree_) number_part_.append(s.data(), s.size());
    return true;
  }
  bool on_double(double v, json::string_view s, boost::system::error_code& ec) {
    if (!beginValue(false)) {
      number_part_.clear();
      return true;
    }
    if (!std::isfinite(v)) return stop(ec);  // scrubForRecord writes a string instead
    if (serialized_tree_) {
      // Already the serializer's form, which Boost.JSON 1.81 does not
      // always read back as the same double.
      out_.ensure(number_part_.size() + s.size());
      out_.put(number_part_.data(), number_part_.size());
      out_.put(s.data(), s.size());
      number_part_.clear();
    } else {
      out_.putJsonDouble(v);
    }
    if (usage_open_) facts_->usage->on_double(v, s, ec);
    return true;
  }
  bool on_bool(bool v, boost::system::error_code&) {
    if (beginValue(false)) v ? out_.putLiteral("true") : out_.putLiteral("false");
    return true;
  }
  bool on_null(boost::system::error_code&) {
    if (beginValue(false)) out_.putLiteral("null");
    return true;
  }

 private:
  struct Level {
    bool is_object;
    std::uint32_t keys_begin;  // its keys in keys_
    // One bit per key written in it, at keyBit: a key whose bit is clear
    // is no repeat, without comparing it to the others.
    std::uint64_t key_bits;
  };

  // The bit of a written key (quotes included) in Level::key_bits: from its
  // size and the characters at its two ends.
  static std::uint64_t keyBit(const char* written, std::size_t size) {
    const auto first = static_cast<unsigned char>(written[1]), last = static_cast<unsigned char>(written[size - 2]);
    return std::uint64_t{1} << ((size * 5 + first * 3 + last) & 63);
  }

  // Records the key just written at `span` in `level`; false for what the
  // pass does not write: a repeated key (the tree keeps its last value at
  // its first place), or more than kMaxScannedObjectMembers keys.
  bool keepKey(Level& level, ScrubbedJsonFacts::Span span) {
    if (keys_.size() - level.keys_begin >= kMaxScannedObjectMembers) return false;
    const char* written = out_.data() + span.offset;
    const std::uint64_t bit = keyBit(written, span.size);
    if (level.key_bits & bit) {
      for (std::size_t i = level.keys_begin; i < keys_.size(); ++i)
        if (keys_[i].size == span.size && std::memcmp(out_.data() + keys_[i].offset, written, span.size) == 0)
          return false;
    }
    level.key_bits |= bit;
    keys_.push_back(span);
    return true;
  }

  // The most a value's event writes besides a string's characters: a comma
  // and a number's digits, or the comma and a container's or string's
  // first byte, a literal.
  static constexpr std::size_t kRoomPerEvent = 32;
  static constexpr std::size_t kShortCopy = 16;
  static constexpr char kRedactedValue[] = "\"[REDACTED]\"";

  // Before a value's first byte: false when it is not written (inside a
  // skipped value, or a secret's value), else makes room for kRoomPerEvent
  // bytes and writes the comma before it.
  bool beginValue(bool is_string) {
    string_captured_ = capture_finish_reason_ && is_string;
    capture_finish_reason_ = false;
    usage_next_ = false;
    if (skip_depth_) return false;
    if (redact_next_) {
      redact_next_ = false;
      return false;
    }
    out_.ensure(kRoomPerEvent);
    if (depth_ > 0 && !levels_[depth_ - 1].is_object && out_.last() != '[') out_.put(',');
    return true;
  }

  // A container that is not written: read to its end.
  void skipContainer() {
    ++depth_;
    if (!skip_depth_) skip_depth_ = depth_;
  }
  bool endSkipped() {
    if (!skip_depth_) return false;
    if (depth_-- == skip_depth_) skip_depth_ = 0;
    return true;
  }

  void push(bool is_object) { levels_[depth_++] = {is_object, static_cast<std::uint32_t>(keys_.size()), 0}; }
  void pop() {
    --depth_;
    if (levels_[depth_].is_object && check_keys_) keys_.resize(levels_[depth_].keys_begin);
    if (depth_ == 1) choices_open_ = false;
  }

  void closeTopMember() {
    auto& value = facts_->members.back().value;
    if (value.size == 0) value.size = out_.size() - value.offset;
  }

  void appendStringPart(json::string_view s) {
    if (!in_string_) {
      in_string_ = true;
      string_written_ = beginValue(true);
      if (string_written_) {
        string_start_ = out_.size();
        out_.put('"');
      }
    }
    if (string_written_) appendText(std::string_view(s.data(), s.size()));
  }

  // A decoded string's or key's characters. Boost.JSON hands over the text
  // between escapes as a view of the input itself: such bytes hold nothing
  // to escape (a quote, backslash or control character cannot stand
  // unescaped in a JSON string), and are copied as they are.
  void appendText(std::string_view text) {
    const std::less_equal<const char*> le;
    const char* const input_end = input_.data() + input_.size();
    if (le(input_.data(), text.data()) && le(text.data() + text.size(), input_end)) {
      // Most keys and many strings are short: when 16 bytes of input
      // follow, they are copied as one block of a constant size, of which
      // the bytes past the text are written over by what follows (or cut).
      if (text.size() <= kShortCopy && input_end - text.data() >= static_cast<std::ptrdiff_t>(kShortCopy)) {
        out_.ensure(kShortCopy);
        out_.putBlock<kShortCopy>(text.data(), text.size());
        return;
      }
      out_.ensure(text.size());
      out_.put(text.data(), text.size());
    } else {
      out_.putEscaped(text);
    }
  }

  bool stop(boost::system::error_code& ec) {
    needs_tree = true;
    ec = json::error::exception;
    return false;
  }

  TextCursor out_;
  const std::string_view input_;
  ScrubbedJsonFacts* const facts_;
  const bool serialized_tree_;
  const bool check_keys_;
  std::string number_part_;
  // Open containers (basic_parser stops at kMaxUntrustedJsonDepth before
  // calling on_*_begin once more).
  Level levels_[kMaxUntrustedJsonDepth + 1];
  std::size_t depth_ = 0;
  std::size_t skip_depth_ = 0;  // the depth of the outermost skipped container, 0 when none
  bool redact_next_ = false;
  std::vector<ScrubbedJsonFacts::Span> keys_;  // the keys of every open object, outermost first
  std::string key_part_;
  bool in_string_ = false, string_written_ = false;
  std::size_t string_start_ = 0;
  bool top_member_is_choices_ = false, choices_open_ = false;
  bool capture_finish_reason_ = false, string_captured_ = false;
  // The top-level "usage" object: its value is next (usage_next_), or it is
  // open and every event written inside it goes to facts_->usage too.
  const UsageKeys* const usage_keys_;
  bool usage_next_ = false, usage_open_ = false;
};

}  // namespace

// The digits of any 64-bit integer, and its sign.
constexpr std::size_t kMaxIntegerChars = 21;

void TextCursor::putEscaped(std::string_view text) {
  const char* p = text.data();
  const char* const end = text.data() + text.size();
  while (true) {
    const char* q = findEscape(p, end);
    ensure(static_cast<std::size_t>(q - p) + 6);
    put(p, static_cast<std::size_t>(q - p));
    if (q == end) return;
    cur_ += writeEscape(cur_, static_cast<unsigned char>(*q));
    p = q + 1;
  }
}

void TextCursor::grow(std::size_t n) {
  const std::size_t used = size();
  out_.resize(std::max(out_.size() * 2, used + n));
  reset(used);
}

void TextCursor::putJsonString(std::string_view text) {
  ensure(text.size() + 2);
  put('"');
  const char* const end = text.data() + text.size();
  if (findEscape(text.data(), end) == end) {
    put(text.data(), text.size());
  } else {
    putEscaped(text);
    ensure(1);
  }
  put('"');
}

void TextCursor::putJsonInt(std::int64_t value) {
  ensure(kMaxIntegerChars);
  cur_ = std::to_chars(cur_, cur_ + kMaxIntegerChars, value).ptr;
}

void TextCursor::putJsonUint(std::uint64_t value) {
  ensure(kMaxIntegerChars);
  cur_ = std::to_chars(cur_, cur_ + kMaxIntegerChars, value).ptr;
}

// The serializer's own formatting of a double: Boost.JSON's serializer
// calls format_double for every double it writes.
void TextCursor::putJsonDouble(double value) {
  ensure(json::detail::max_number_chars);
  cur_ += json::detail::format_double(cur_, value);
}

// The std::string writers are the cursor's, for a caller with one value
// to write.
void appendJsonString(std::string& out, std::string_view text) {
  TextCursor cursor(out, text.size() + 2);
  cursor.putJsonString(text);
  cursor.finish();
}

void appendJsonInt(std::string& out, std::int64_t value) {
  TextCursor cursor(out, kMaxIntegerChars);
  cursor.putJsonInt(value);
  cursor.finish();
}

void appendJsonUint(std::string& out, std::uint64_t value) {
  TextCursor cursor(out, kMaxIntegerChars);
  cursor.putJsonUint(value);
  cursor.finish();
}

void appendJsonDouble(std::string& out, double value) {
  TextCursor cursor(out, json::detail::max_number_chars);
  cursor.putJsonDouble(value);
  cursor.finish();
}

namespace {

// The serializer's text, written by the cursor's own writers (the same
// escapes, integer and double formats). Recursive: the trees written here
// were parsed with kMaxUntrustedJsonDepth or built by the gateway.
void putTree(TextCursor& c, const json::value& v);

void putObject(TextCursor& c, const json::object& o) {
  c.literal("{");
  bool first = true;
  for (const auto& member : o) {
    if (!first) c.literal(",");
    first = false;
    c.putJsonString({member.key().data(), member.key().size()});
    c.literal(":");
    putTree(c, member.value());
  }
  c.literal("}");
}

void putTree(TextCursor& c, const json::value& v) {
  switch (v.kind()) {
    case json::kind::object:
      putObject(c, v.get_object());
      return;
    case json::kind::array: {
      c.literal("[");
      bool first = true;
      for (const auto& item : v.get_array()) {
        if (!first) c.literal(",");
        first = false;
        putTree(c, item);
      }
      c.literal("]");
      return;
    }
    case json::kind::string:
      c.putJsonString({v.get_string().data(), v.get_string().size()});
      return;
    case json::kind::int64:
      c.putJsonInt(v.get_int64());
      return;
    case json::kind::uint64:
      c.putJsonUint(v.get_uint64());
      return;
    case json::kind::double_:
      c.putJsonDouble(v.get_double());
      return;
    case json::kind::bool_:
      if (v.get_bool())
        c.literal("true");
      else
        c.literal("false");
      return;
    case json::kind::null:
      c.literal("null");
      return;
  }
}

}  // namespace

void appendJsonValue(std::string& out, const json::value& value) {
  TextCursor cursor(out, 256);
  putTree(cursor, value);
  cursor.finish();
}

void appendJsonValue(std::string& out, const json::object& object) {
  TextCursor cursor(out, 256);
  putObject(cursor, object);
  cursor.finish();
}

const ScrubbedJsonFacts::Span* ScrubbedJsonFacts::member(std::string_view out, std::string_view name) const {
  for (const Member& m : members)
    if (m.key.size == name.size() + 2 && out.substr(m.key.offset + 1, name.size()) == name) return &m.value;
  return nullptr;
}

ScrubbedJsonResult appendScrubbedJson(std::string_view body, std::string& out, ScrubbedJsonFacts* facts,
                                      bool serialized_tree, const UsageKeys* usage_keys) {
  if (facts) {
    *facts = {};
    facts->members.reserve(16);
  }
  json::parse_options options;
  options.max_depth = kMaxUntrustedJsonDepth;
  const std::size_t original_size = out.size();
  json::basic_parser<ScrubbingWriter> parser(options, out, body, facts, serialized_tree, usage_keys);
  boost::system::error_code ec;
  const std::size_t consumed = parser.write_some(false, body.data(), body.size(), ec);
  if (!ec && consumed == body.size()) {
    parser.handler().finish();
    return ScrubbedJsonResult::kWritten;
  }
  out.resize(original_size);
  if (facts) *facts = {};
  return parser.handler().needs_tree ? ScrubbedJsonResult::kNeedsTree : ScrubbedJsonResult::kNotJson;
}

std::optional<std::string> jsonTextString(std::string_view text) {
  if (text.size() < 2 || text.front() != '"') return std::nullopt;
  if (text.find('\\') == std::string_view::npos) return std::string(text.substr(1, text.size() - 2));
  boost::system::error_code ec;
  const json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec || !v.is_string()) return std::nullopt;
  return std::string(v.get_string());
}

}  // namespace gw
