#include "common/openai_usage.h"

#include "common/usage_reader.h"

#include "common/json_sax_defaults.h"
#include "common/saturating.h"
#include "common/strings.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <charconv>
#include <cstring>
#include <system_error>

namespace gw {

namespace {
std::optional<std::int64_t> asInt(const boost::json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return saturatingInt64(v->as_uint64());
  if (v->is_double()) return saturatingInt64(v->as_double());
  return std::nullopt;
}
}  // namespace

void readOpenAiUsage(const boost::json::object& u, Usage& out) {
  if (auto v = asInt(u.if_contains("prompt_tokens"))) out.input = v;
  if (auto v = asInt(u.if_contains("completion_tokens"))) out.output = v;
  if (auto v = asInt(u.if_contains("total_tokens"))) out.total = v;
  if (const auto* d = u.if_contains("prompt_tokens_details"); d && d->is_object())
    if (auto v = asInt(d->as_object().if_contains("cached_tokens"))) out.cached_input = v;
  if (const auto* d = u.if_contains("completion_tokens_details"); d && d->is_object())
    if (auto v = asInt(d->as_object().if_contains("reasoning_tokens"))) out.reasoning = v;
  if (out.input && !out.output && !u.contains("completion_tokens")) out.output = 0;  // embeddings
  if (!out.total && out.input && out.output) out.total = saturatingAdd(*out.input, *out.output);
}

void readResponsesUsage(const boost::json::object& u, Usage& out) {
  if (auto v = asInt(u.if_contains("input_tokens"))) out.input = v;
  if (auto v = asInt(u.if_contains("output_tokens"))) out.output = v;
  if (auto v = asInt(u.if_contains("total_tokens"))) out.total = v;
  if (const auto* d = u.if_contains("input_tokens_details"); d && d->is_object())
    if (auto v = asInt(d->as_object().if_contains("cached_tokens"))) out.cached_input = v;
  if (const auto* d = u.if_contains("output_tokens_details"); d && d->is_object())
    if (auto v = asInt(d->as_object().if_contains("reasoning_tokens"))) out.reasoning = v;
  if (!out.total && out.input && out.output) out.total = saturatingAdd(*out.input, *out.output);
}

std::optional<UsageMemberPos> findLastMember(std::string_view text, std::string_view key, std::size_t before) {
  if (key.size() < 3) return std::nullopt;
  // Backwards from one occurrence of the key's first letter to the previous
  // with memrchr (vectorised; letters are rarer in JSON text than quotes),
  // each checked for the key.
  const char letter = key[1];
  std::size_t limit = std::min(before, text.size());  // keys beginning before `limit`
  while (limit > 0) {
    // A key's letter is one byte after its quote: search text[1 .. limit].
    const void* hit = ::memrchr(text.data() + 1, letter, std::min(limit, text.size() - 1));
    if (!hit) break;
    const std::size_t pos = static_cast<std::size_t>(static_cast<const char*>(hit) - text.data()) - 1;
    limit = pos;
    if (text.substr(pos, key.size()) != key) continue;
    std::size_t b = pos;
    while (b > 0 && isJsonWhitespace(text[b - 1])) --b;
    if (b > 0 && text[b - 1] != '{' && text[b - 1] != ',') continue;
    std::size_t i = pos + key.size();
    while (i < text.size() && isJsonWhitespace(text[i])) ++i;
    if (i >= text.size() || text[i] != ':') continue;
    ++i;
    while (i < text.size() && isJsonWhitespace(text[i])) ++i;
    return UsageMemberPos{pos, i};
  }
  return std::nullopt;
}

std::optional<UsageMemberPos> findLastUsageMember(std::string_view text, std::size_t before) {
  return findLastMember(text, "\"usage\"", before);
}

std::optional<std::int64_t> scanLastSequenceNumber(std::string_view text) {
  static constexpr std::string_view kKey = "\"sequence_number\"";
  for (auto m = findLastMember(text, kKey); m; m = findLastMember(text, kKey, m->key)) {
    std::int64_t value = 0;
    const char* begin = text.data() + m->value;
    const auto [end, ec] = std::from_chars(begin, text.data() + text.size(), value);
    if (ec == std::errc() && end != begin) return value;
  }
  return std::nullopt;
}

namespace {

// The last usage object of `text` read with `keys`; `embeddings` applies
// the embeddings rule (no completion count: output 0).
bool scanUsage(std::string_view text, Usage& out, const UsageKeys& keys, bool embeddings) {
  for (auto m = findLastUsageMember(text); m; m = findLastUsageMember(text, m->key)) {
    if (m->value >= text.size() || text[m->value] != '{') continue;
    // Read by a SAX pass, no tree: the usage object of every response and
    // stream passes here.
    boost::json::basic_parser<UsageReader> parser(boost::json::parse_options{}, keys);
    boost::system::error_code ec;
    parser.write_some(false, text.data() + m->value, text.size() - m->value, ec);
    if (ec || !parser.handler().is_object) continue;
    mergeUsage(parser.handler(), out, embeddings);
    return true;
  }
  return false;
}

// Reads one chat completion chunk for readChatChunk: the top-level
// "choices", "usage" and "x_groq", and where the top-level "usage" member
// is. A usage object is read by a UsageReader that gets its events; every
// other value is only walked over. Keys are located by their text's place
// in the input: Boost.JSON hands over a key without escapes as a view of
// the input itself.
class ChatChunkHandler : public JsonSaxDefaults {
 public:
  explicit ChatChunkHandler(std::string_view text) : text_(text) {}

  ChatChunkFacts facts;
  // Offsets of the top-level "usage" key's quote and of the next top-level
  // key's quote, npos when there is none or it is not in the input.
  std::size_t usage_key = npos;
  std::size_t next_key = npos;
  bool usage_bytes_unknown = false;

  bool on_object_begin(boost::system::error_code& ec) {
    if (depth_ == 0) {
      facts.is_object = true;
    } else if (depth_ == 1) {
      topLevelValue(key_ == Key::kUsage ? ChatChunkFacts::UsageValue::kObject : kNotUsage);
      if (key_ == Key::kUsage) startUsage(&facts.usage);
      if (key_ == Key::kXGroq) in_x_groq_ = true;
    } else if (depth_ == 2 && in_x_groq_ && key_ == Key::kUsage) {
      facts.has_x_groq_usage = true;
      startUsage(&facts.x_groq_usage);
    }
    if (reader_) reader_->on_object_begin(ec);
    ++depth_;
    key_ = Key::kOther;
    return true;
  }
  bool on_object_end(std::size_t n, boost::system::error_code& ec) {
    --depth_;
    if (reader_) {
      reader_->on_object_end(n, ec);
      if (depth_ == reader_depth_) finishUsage();
    }
    if (depth_ == 1) in_x_groq_ = false;
    key_ = Key::kOther;
    return true;
  }
  bool on_array_begin(boost::system::error_code& ec) {
    if (depth_ == 1) topLevelValue(key_ == Key::kUsage ? ChatChunkFacts::UsageValue::kOther : kNotUsage);
    if (depth_ == 1 && key_ == Key::kChoices) in_choices_ = true;
    if (reader_) reader_->on_array_begin(ec);
    ++depth_;
    key_ = Key::kOther;
    return true;
  }
  bool on_array_end(std::size_t n, boost::system::error_code& ec) {
    --depth_;
    if (reader_) reader_->on_array_end(n, ec);
    if (depth_ == 1 && in_choices_) {
      facts.empty_choices = n == 0;
      in_choices_ = false;
    }
    return true;
  }
  bool on_key_part(boost::json::string_view s, std::size_t n, boost::system::error_code& ec) {
    key_split_ = true;
    part_.append(s.data(), s.size());
    if (reader_) reader_->on_key_part(s, n, ec);
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t n, boost::system::error_code& ec) {
    if (reader_) reader_->on_key(s, n, ec);
    std::string_view key(s.data(), s.size());
    std::size_t at = npos;  // the key's opening quote in text_
    if (!key_split_ && s.data() > text_.data() && s.data() <= text_.data() + text_.size())
      at = static_cast<std::size_t>(s.data() - text_.data()) - 1;
    if (key_split_) {
      part_.append(key);
      key = part_;
    }
    key_ = Key::kOther;
    if (depth_ == 1) {
      if (waiting_for_next_key_) {
        next_key = at;
        if (at == npos) usage_bytes_unknown = true;
        waiting_for_next_key_ = false;
      }
      if (key == "usage") {
        key_ = Key::kUsage;
        if (usage_key != npos || at == npos) usage_bytes_unknown = true;  // a repeated key, or one with escapes
        usage_key = at;
        next_key = npos;
        waiting_for_next_key_ = true;
      } else if (key == "choices") {
        key_ = Key::kChoices;
      } else if (key == "x_groq") {
        key_ = Key::kXGroq;
      }
    } else if (depth_ == 2 && in_x_groq_ && key == "usage") {
      key_ = Key::kUsage;
    }
    part_.clear();
    key_split_ = false;
    return true;
  }
  bool on_string(boost::json::string_view, std::size_t, boost::system::error_code&) { return scalar(); }
  bool on_bool(bool, boost::system::error_code&) { return scalar(); }
  bool on_null(boost::system::error_code&) {
    if (depth_ == 1) topLevelValue(key_ == Key::kUsage ? ChatChunkFacts::UsageValue::kNull : kNotUsage);
    key_ = Key::kOther;
    return true;
  }
  bool on_int64(std::int64_t v, boost::json::string_view s, boost::system::error_code& ec) {
    if (reader_) reader_->on_int64(v, s, ec);
    return scalar();
  }
  bool on_uint64(std::uint64_t v, boost::json::string_view s, boost::system::error_code& ec) {
    if (reader_) reader_->on_uint64(v, s, ec);
    return scalar();
  }
  bool on_double(double v, boost::json::string_view s, boost::system::error_code& ec) {
    if (reader_) reader_->on_double(v, s, ec);
    return scalar();
  }

 private:
  static constexpr std::size_t npos = std::string_view::npos;
  static constexpr auto kNotUsage = static_cast<ChatChunkFacts::UsageValue>(0xff);
  enum class Key : std::uint8_t { kOther, kUsage, kChoices, kXGroq };

  // A top-level value begins: what it says about "usage" when it is the
  // value of "usage" (a repeated "choices" or "usage" key: the last counts).
  void topLevelValue(ChatChunkFacts::UsageValue usage) {
    if (usage != kNotUsage) {
      facts.usage_value = usage;
      facts.usage = Usage{};
    }
    if (key_ == Key::kChoices) facts.empty_choices = false;
  }
  bool scalar() {
    if (depth_ == 1) topLevelValue(key_ == Key::kUsage ? ChatChunkFacts::UsageValue::kOther : kNotUsage);
    key_ = Key::kOther;
    return true;
  }
  void startUsage(Usage* into) {
    reader_.emplace(kChatUsageKeys);
    reader_into_ = into;
    reader_depth_ = depth_;
  }
  void finishUsage() {
    *reader_into_ = Usage{};
    mergeUsage(*reader_, *reader_into_, true);
    reader_.reset();
  }

  std::string_view text_;
  std::size_t depth_ = 0;  // containers open; the chunk's own members are at depth 1
  Key key_ = Key::kOther;  // the key of the value about to begin
  bool in_x_groq_ = false;
  bool in_choices_ = false;
  bool waiting_for_next_key_ = false;
  bool key_split_ = false;
  std::string part_;
  std::optional<UsageReader> reader_;  // inside a usage object
  Usage* reader_into_ = nullptr;
  std::size_t reader_depth_ = 0;
};

}  // namespace

// Copies what a UsageReader found into `out` (each count it found replaces
// out's), with readOpenAiUsage's rules: `embeddings` (no completion count:
// output 0), and total = input + output when the object has no total.
void mergeUsage(const UsageReader& h, Usage& out, bool embeddings) {
  const Usage& u = h.found;
  for (auto [from, to] : {std::pair{&u.input, &out.input},
                          {&u.output, &out.output},
                          {&u.total, &out.total},
                          {&u.cached_input, &out.cached_input},
                          {&u.reasoning, &out.reasoning}})
    if (*from) *to = *from;
  if (embeddings && out.input && !out.output && !h.has_completion_key) out.output = 0;
  if (!out.total && out.input && out.output) out.total = saturatingAdd(*out.input, *out.output);
}

bool scanOpenAiUsage(std::string_view text, Usage& out) { return scanUsage(text, out, kChatUsageKeys, true); }

bool scanResponsesUsage(std::string_view text, Usage& out) {
  return scanUsage(text, out, kResponsesUsageKeys, false);
}

ChatChunkFacts readChatChunk(std::string_view text) {
  boost::json::basic_parser<ChatChunkHandler> parser(boost::json::parse_options{}, text);
  boost::system::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  ChatChunkHandler& h = parser.handler();
  ChatChunkFacts facts = std::move(h.facts);
  if (ec || !parser.done() || !facts.is_object) return ChatChunkFacts{};
  for (char c : text.substr(used))
    if (!isJsonWhitespace(c)) return ChatChunkFacts{};
  if (facts.usage_value == ChatChunkFacts::UsageValue::kAbsent || h.usage_bytes_unknown ||
      h.usage_key == std::string_view::npos)
    return facts;
  if (h.next_key != std::string_view::npos) {
    // A member follows: the key, its value, the comma and the whitespace up
    // to the next key go.
    facts.usage_member_bytes.emplace(h.usage_key, h.next_key);
    return facts;
  }
  // The last member: from the comma before it (or the key itself, when it is
  // the only member) up to the object's closing brace.
  std::size_t close = used;
  while (close > 0 && isJsonWhitespace(text[close - 1])) --close;
  if (close == 0 || text[close - 1] != '}') return facts;
  --close;
  std::size_t before = h.usage_key;
  while (before > 0 && isJsonWhitespace(text[before - 1])) --before;
  if (before > 0 && text[before - 1] == ',') facts.usage_member_bytes.emplace(before - 1, close);
  else if (before > 0 && text[before - 1] == '{') facts.usage_member_bytes.emplace(h.usage_key, close);
  return facts;
}

namespace {

// Whether `text` holds the bytes "usage" (quotes included). Found from the
// 'g' of each candidate: memchr skips most of a chunk in one call, and a
// 'g' is rare in JSON keys and chunk text, where memmem's set-up for a
// short needle would cost more than the search itself.
bool containsUsageKeyText(std::string_view text) {
  static constexpr std::string_view kKey = "\"usage\"";
  constexpr std::size_t kG = 4;  // the 'g' in kKey
  const char* const begin = text.data();
  const char* const end = begin + text.size();
  if (text.size() < kKey.size()) return false;
  for (const char* p = begin + kG; p < end;) {
    const void* g = std::memchr(p, 'g', static_cast<std::size_t>(end - p));
    if (g == nullptr) return false;
    const char* at = static_cast<const char*>(g) - kG;
    if (end - at >= static_cast<std::ptrdiff_t>(kKey.size()) && at[0] == '"' && at[1] == 'u' && at[2] == 's' &&
        at[3] == 'a' && at[5] == 'e' && at[6] == '"')
      return true;
    p = static_cast<const char*>(g) + 1;
  }
  return false;
}

}  // namespace

std::optional<ChatChunkFacts> scanChatChunkWithNullUsage(std::string_view text) {
  static constexpr std::string_view kKey = "\"usage\"";
  // Without a backslash no string holds an escaped quote, and no key is
  // written with escapes: the bytes can be read backwards from the end.
  if (std::memchr(text.data(), '\\', text.size()) != nullptr) return std::nullopt;
  std::size_t end = text.size();
  auto skipBack = [&](std::size_t i) {
    while (i > 0 && isJsonWhitespace(text[i - 1])) --i;
    return i;
  };
  // `... , "usage" : null }`: the object's last member, read from its end.
  end = skipBack(end);
  if (end == 0 || text[end - 1] != '}') return std::nullopt;
  const std::size_t close = end - 1;
  std::size_t i = skipBack(close);
  if (i < 4 || std::memcmp(text.data() + i - 4, "null", 4) != 0) return std::nullopt;
  i = skipBack(i - 4);
  if (i == 0 || text[i - 1] != ':') return std::nullopt;
  i = skipBack(i - 1);
  if (i < kKey.size() || std::memcmp(text.data() + i - kKey.size(), kKey.data(), kKey.size()) != 0)
    return std::nullopt;
  const std::size_t key = i - kKey.size();
  const std::size_t before = skipBack(key);
  if (before == 0 || (text[before - 1] != ',' && text[before - 1] != '{')) return std::nullopt;
  // The text is the object that brace opens, and "usage" is its only key so
  // named: its bytes are nowhere before this key (none can overlap it, as
  // what precedes the key is whitespace, ',' or '{'), and what follows it
  // was just read.
  std::size_t first = 0;
  while (first < text.size() && isJsonWhitespace(text[first])) ++first;
  if (first >= text.size() || text[first] != '{') return std::nullopt;
  if (text[before - 1] == '{' && before - 1 != first) return std::nullopt;
  if (containsUsageKeyText(text.substr(0, key))) return std::nullopt;
  ChatChunkFacts facts;
  facts.is_object = true;
  facts.usage_value = ChatChunkFacts::UsageValue::kNull;
  facts.usage_member_bytes.emplace(text[before - 1] == ',' ? before - 1 : key, close);
  return facts;
}

void appendWithoutTopLevelUsage(std::string_view text, const ChatChunkFacts& facts, std::string& out) {
  if (facts.usage_value == ChatChunkFacts::UsageValue::kAbsent) {
    out.append(text);
  } else if (facts.usage_member_bytes) {
    const auto [first, second] = *facts.usage_member_bytes;
    out.append(text.substr(0, first)).append(text.substr(second));
  } else {
    // Keys the bytes alone cannot place: through a tree (rare: escaped or
    // repeated keys).
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(text, ec);
    if (ec || !v.is_object()) {
      out.append(text);
      return;
    }
    v.as_object().erase("usage");
    out.append(boost::json::serialize(v));
  }
}

std::string scanModel(std::string_view text) {
  // The first "model" key (a quoted key followed by ':', whitespace allowed
  // around it, as pretty-printed bodies have), and its string value.
  static constexpr std::string_view kKey = "\"model\"";
  for (std::size_t from = 0;;) {
    const std::size_t found = findBytes(text.substr(from), kKey);
    if (found == std::string_view::npos) return {};
    std::size_t i = from + found + kKey.size();
    from += found + 1;
    while (i < text.size() && isJsonWhitespace(text[i])) ++i;
    if (i >= text.size() || text[i] != ':') continue;
    ++i;
    while (i < text.size() && isJsonWhitespace(text[i])) ++i;
    if (i >= text.size() || text[i] != '"') continue;
    ++i;
    auto end = text.find('"', i);
    if (end == std::string_view::npos || end - i > 256) return {};
    std::string_view m = text.substr(i, end - i);
    if (m.find('\\') != std::string_view::npos) return {};
    return std::string(m);
  }
}

}  // namespace gw
