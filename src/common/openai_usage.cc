#include "common/openai_usage.h"

#include "common/json_sax_defaults.h"
#include "common/saturating.h"
#include "common/strings.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/value.hpp>

#include <cstring>

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

std::optional<UsageMemberPos> findLastUsageMember(std::string_view text, std::size_t before) {
  static constexpr std::string_view kKey = "\"usage\"";
  // Backwards from one 'u' to the previous with memrchr (vectorised; 'u'
  // is rare in JSON text, quotes are everywhere), each checked for the key.
  std::size_t limit = std::min(before, text.size());  // keys beginning before `limit`
  while (limit > 0) {
    // A key's 'u' is one byte after its quote: search text[1 .. limit].
    const void* u = ::memrchr(text.data() + 1, 'u', std::min(limit, text.size() - 1));
    if (!u) break;
    const std::size_t pos = static_cast<std::size_t>(static_cast<const char*>(u) - text.data()) - 1;
    limit = pos;
    if (text.substr(pos, kKey.size()) != kKey) continue;
    std::size_t b = pos;
    while (b > 0 && isJsonWhitespace(text[b - 1])) --b;
    if (b > 0 && text[b - 1] != '{' && text[b - 1] != ',') continue;
    std::size_t i = pos + kKey.size();
    while (i < text.size() && isJsonWhitespace(text[i])) ++i;
    if (i >= text.size() || text[i] != ':') continue;
    ++i;
    while (i < text.size() && isJsonWhitespace(text[i])) ++i;
    return UsageMemberPos{pos, i};
  }
  return std::nullopt;
}

namespace {

// The member names of a usage object: chat/completions (and embeddings) or
// the Responses API.
struct UsageKeys {
  std::string_view input, output, input_details, output_details;
};
constexpr UsageKeys kChatUsageKeys{"prompt_tokens", "completion_tokens", "prompt_tokens_details",
                                   "completion_tokens_details"};
constexpr UsageKeys kResponsesUsageKeys{"input_tokens", "output_tokens", "input_tokens_details",
                                        "output_tokens_details"};

// Handler for json::basic_parser over one OpenAI usage object: keeps the
// numbers readOpenAiUsage (readResponsesUsage) takes from the tree, by the same rules (the last
// of duplicate keys counts; a value that is not a number leaves the field
// unset), without building the tree. Depth 1 is the usage object, depth 2
// its *_details objects.
class UsageHandler : public JsonSaxDefaults {
 public:
  explicit UsageHandler(const UsageKeys& keys) : keys_(keys) {}

  Usage found;
  bool has_completion_key = false;
  bool is_object = false;

  bool on_object_begin(boost::system::error_code&) {
    if (depth_ == 0) is_object = true;
    if (depth_ == 1) details_ = key_;  // which *_details object, if any
    ++depth_;
    key_ = Slot::kNone;
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code&) {
    if (--depth_ == 1) details_ = Slot::kNone;
    key_ = Slot::kNone;
    return true;
  }
  bool on_array_begin(boost::system::error_code&) {
    key_ = Slot::kNone;
    ++depth_;
    return true;
  }
  bool on_array_end(std::size_t, boost::system::error_code&) {
    --depth_;
    return true;
  }
  bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    part_.append(s.data(), s.size());
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    std::string_view k(s.data(), s.size());
    if (!part_.empty()) {
      part_.append(k);
      k = part_;
    }
    key_ = Slot::kNone;
    if (depth_ == 1) {
      if (k == keys_.input) key_ = Slot::kInput;
      else if (k == keys_.output) key_ = Slot::kOutput, has_completion_key = true;
      else if (k == "total_tokens") key_ = Slot::kTotal;
      else if (k == keys_.input_details) key_ = Slot::kPromptDetails;
      else if (k == keys_.output_details) key_ = Slot::kCompletionDetails;
    } else if (depth_ == 2 && details_ == Slot::kPromptDetails && k == "cached_tokens") {
      key_ = Slot::kCachedInput;
    } else if (depth_ == 2 && details_ == Slot::kCompletionDetails && k == "reasoning_tokens") {
      key_ = Slot::kReasoning;
    }
    // A repeated key replaces what the earlier one said.
    if (auto* field = slot(key_)) field->reset();
    if (key_ == Slot::kPromptDetails) found.cached_input.reset();
    if (key_ == Slot::kCompletionDetails) found.reasoning.reset();
    part_.clear();
    return true;
  }
  bool on_int64(std::int64_t v, boost::json::string_view, boost::system::error_code&) { return number(v); }
  bool on_uint64(std::uint64_t v, boost::json::string_view, boost::system::error_code&) {
    return number(saturatingInt64(v));
  }
  bool on_double(double v, boost::json::string_view, boost::system::error_code&) { return number(saturatingInt64(v)); }

 private:
  enum class Slot : std::uint8_t {
    kNone, kInput, kOutput, kTotal, kCachedInput, kReasoning, kPromptDetails, kCompletionDetails
  };
  std::optional<std::int64_t>* slot(Slot s) {
    switch (s) {
      case Slot::kInput: return &found.input;
      case Slot::kOutput: return &found.output;
      case Slot::kTotal: return &found.total;
      case Slot::kCachedInput: return &found.cached_input;
      case Slot::kReasoning: return &found.reasoning;
      default: return nullptr;
    }
  }
  bool number(std::int64_t v) {
    if (auto* field = slot(key_)) *field = v;
    key_ = Slot::kNone;
    return true;
  }

  const UsageKeys& keys_;
  std::size_t depth_ = 0;
  Slot key_ = Slot::kNone;
  Slot details_ = Slot::kNone;
  std::string part_;
};

// The last usage object of `text` read with `keys`; `embeddings` applies
// the embeddings rule (no completion count: output 0).
bool scanUsage(std::string_view text, Usage& out, const UsageKeys& keys, bool embeddings) {
  for (auto m = findLastUsageMember(text); m; m = findLastUsageMember(text, m->key)) {
    if (m->value >= text.size() || text[m->value] != '{') continue;
    // Read by a SAX pass, no tree: the usage object of every response and
    // stream passes here.
    boost::json::basic_parser<UsageHandler> parser(boost::json::parse_options{}, keys);
    boost::system::error_code ec;
    parser.write_some(false, text.data() + m->value, text.size() - m->value, ec);
    if (ec || !parser.handler().is_object) continue;
    const UsageHandler& h = parser.handler();
    const Usage& u = h.found;
    for (auto [from, to] : {std::pair{&u.input, &out.input}, {&u.output, &out.output}, {&u.total, &out.total},
                            {&u.cached_input, &out.cached_input}, {&u.reasoning, &out.reasoning}})
      if (*from) *to = *from;
    if (embeddings && out.input && !out.output && !h.has_completion_key) out.output = 0;
    if (!out.total && out.input && out.output) out.total = saturatingAdd(*out.input, *out.output);
    return true;
  }
  return false;
}

}  // namespace

bool scanOpenAiUsage(std::string_view text, Usage& out) { return scanUsage(text, out, kChatUsageKeys, true); }

bool scanResponsesUsage(std::string_view text, Usage& out) {
  return scanUsage(text, out, kResponsesUsageKeys, false);
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
