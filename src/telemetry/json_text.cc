#include "telemetry/json_text.h"

#include "common/json_sax_defaults.h"
#include "telemetry/record_builder.h"
#include "telemetry/secret_scrub.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serializer.hpp>

#include <charconv>
#include <cmath>
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

// The characters of a string, without its quotes.
void appendEscaped(std::string& out, std::string_view text) {
  const char* run = text.data();
  const char* const end = text.data() + text.size();
  for (const char* p = run; p != end; ++p) {
    const char escape = kEscapes[static_cast<unsigned char>(*p)];
    if (escape == 0) continue;
    out.append(run, p);
    out += '\\';
    out += escape;
    if (escape == 'u') {
      static constexpr char kHex[] = "0123456789abcdef";
      const auto c = static_cast<unsigned char>(*p);
      const char digits[4] = {'0', '0', kHex[c >> 4], kHex[c & 15]};
      out.append(digits, 4);
    }
    run = p + 1;
  }
  out.append(run, end);
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

  ScrubbingWriter(std::string& out, std::string_view input, ScrubbedJsonFacts* facts, bool serialized_tree)
      : out_(out), input_(input), facts_(facts), serialized_tree_(serialized_tree), check_keys_(!serialized_tree) {}

  bool needs_tree = false;

  bool on_object_begin(boost::system::error_code&) {
    if (!beginValue(false)) {
      skipContainer();
      return true;
    }
    out_ += '{';
    push(true);
    if (depth_ == 1 && facts_) facts_->is_object = true;
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code&) {
    if (endSkipped()) return true;
    if (depth_ == 1 && facts_ && !facts_->members.empty()) closeTopMember();
    pop();
    out_ += '}';
    return true;
  }
  bool on_array_begin(boost::system::error_code&) {
    if (!beginValue(false)) {
      skipContainer();
      return true;
    }
    out_ += '[';
    push(false);
    if (depth_ == 2 && top_member_is_choices_ && facts_) {
      facts_->choices_is_array = true;
      choices_open_ = true;
    }
    return true;
  }
  bool on_array_end(std::size_t, boost::system::error_code&) {
    if (endSkipped()) return true;
    pop();
    out_ += ']';
    return true;
  }

  bool on_key_part(json::string_view s, std::size_t, boost::system::error_code&) {
    if (!skip_depth_) key_part_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, boost::system::error_code& ec) {
    if (skip_depth_) return true;
    std::string_view key(s.data(), s.size());
    if (!key_part_.empty()) {
      key_part_.append(key);
      key = key_part_;
    }
    Level& level = levels_[depth_ - 1];
    if (depth_ == 1 && facts_ && !facts_->members.empty()) closeTopMember();
    if (out_.back() != '{') out_ += ',';
    const std::size_t key_offset = out_.size();
    out_ += '"';
    appendText(key);
    out_ += '"';
    const ScrubbedJsonFacts::Span key_span{key_offset, out_.size() - key_offset};
    if (check_keys_) {
      // A repeated key: the tree keeps its last value at its first place.
      if (keys_.size() - level.keys_begin >= kMaxScannedObjectMembers) return stop(ec);
      const char* written = out_.data() + key_span.offset;
      for (std::size_t i = level.keys_begin; i < keys_.size(); ++i)
        if (keys_[i].size == key_span.size && std::memcmp(out_.data() + keys_[i].offset, written, key_span.size) == 0)
          return stop(ec);
      keys_.push_back(key_span);
    }
    out_ += ':';
    if (depth_ == 1 && facts_) {
      facts_->members.push_back({key_span, {out_.size(), 0}});
      top_member_is_choices_ = key == "choices";
      choices_open_ = false;
    }
    capture_finish_reason_ = choices_open_ && depth_ == 3 && key == "finish_reason";
    if (isSecretKey(key)) {
      out_.append("\"[REDACTED]\"", 12);
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
      out_ += '"';
      if (string_captured_) facts_->choice_finish_reasons.push_back({string_start_, out_.size() - string_start_});
    }
    in_string_ = false;
    return true;
  }

  bool on_int64(std::int64_t v, json::string_view, boost::system::error_code&) {
    number_part_.clear();
    if (beginValue(false)) appendJsonInt(out_, v);
    return true;
  }
  bool on_uint64(std::uint64_t v, json::string_view, boost::system::error_code&) {
    number_part_.clear();
    if (beginValue(false)) appendJsonUint(out_, v);
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
      out_ += number_part_;
      out_.append(s.data(), s.size());
      number_part_.clear();
    } else {
      appendJsonDouble(out_, v);
    }
    return true;
  }
  bool on_bool(bool v, boost::system::error_code&) {
    if (beginValue(false)) v ? out_.append("true", 4) : out_.append("false", 5);
    return true;
  }
  bool on_null(boost::system::error_code&) {
    if (beginValue(false)) out_.append("null", 4);
    return true;
  }

 private:
  struct Level {
    bool is_object = false;
    std::uint32_t keys_begin = 0;  // its keys in keys_
  };

  // Before a value's first byte: false when it is not written (inside a
  // skipped value, or a secret's value), else writes the comma before it.
  bool beginValue(bool is_string) {
    string_captured_ = capture_finish_reason_ && is_string;
    capture_finish_reason_ = false;
    if (skip_depth_) return false;
    if (redact_next_) {
      redact_next_ = false;
      return false;
    }
    if (depth_ > 0 && !levels_[depth_ - 1].is_object && out_.back() != '[') out_ += ',';
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

  void push(bool is_object) { levels_[depth_++] = {is_object, static_cast<std::uint32_t>(keys_.size())}; }
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
        out_ += '"';
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
    if (le(input_.data(), text.data()) && le(text.data() + text.size(), input_.data() + input_.size()))
      out_.append(text.data(), text.size());
    else
      appendEscaped(out_, text);
  }

  bool stop(boost::system::error_code& ec) {
    needs_tree = true;
    ec = json::error::exception;
    return false;
  }

  std::string& out_;
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
};

}  // namespace

void appendJsonString(std::string& out, std::string_view text) {
  out += '"';
  appendEscaped(out, text);
  out += '"';
}

void appendJsonInt(std::string& out, std::int64_t value) {
  char buffer[24];
  const auto end = std::to_chars(buffer, buffer + sizeof(buffer), value).ptr;
  out.append(buffer, end);
}

void appendJsonUint(std::string& out, std::uint64_t value) {
  char buffer[24];
  const auto end = std::to_chars(buffer, buffer + sizeof(buffer), value).ptr;
  out.append(buffer, end);
}

void appendJsonDouble(std::string& out, double value) { appendJsonValue(out, json::value(value)); }

void appendJsonValue(std::string& out, const json::value& value) {
  json::serializer serializer;
  serializer.reset(&value);
  char buffer[4096];
  while (!serializer.done()) {
    const json::string_view written = serializer.read(buffer, sizeof(buffer));
    out.append(written.data(), written.size());
  }
}

const ScrubbedJsonFacts::Span* ScrubbedJsonFacts::member(std::string_view out, std::string_view name) const {
  for (const Member& m : members)
    if (m.key.size == name.size() + 2 && out.substr(m.key.offset + 1, name.size()) == name) return &m.value;
  return nullptr;
}

ScrubbedJsonResult appendScrubbedJson(std::string_view body, std::string& out, ScrubbedJsonFacts* facts,
                                      bool serialized_tree) {
  if (facts) *facts = {};
  json::parse_options options;
  options.max_depth = kMaxUntrustedJsonDepth;
  const std::size_t original_size = out.size();
  json::basic_parser<ScrubbingWriter> parser(options, out, body, facts, serialized_tree);
  boost::system::error_code ec;
  const std::size_t consumed = parser.write_some(false, body.data(), body.size(), ec);
  if (!ec && consumed == body.size()) return ScrubbedJsonResult::kWritten;
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
