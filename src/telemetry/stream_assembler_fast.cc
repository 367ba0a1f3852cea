// The stream assembler's fast path (StreamAssembler::foldFast, see
// stream_assembler.h): one SAX pass over a chunk of the common shape.
#include "telemetry/stream_assembler.h"

#include "telemetry/record_builder.h"
#include "telemetry/secret_scrub.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

#include <array>
#include <cmath>
#include <cstring>
#include <vector>

namespace gw {

namespace json = boost::json;

namespace {

// Untrusted chunks are parsed with the same nesting limit on both paths, so
// that a chunk one path refuses the other refuses too.
constexpr std::size_t kMaxChunkDepth = kMaxUntrustedJsonDepth;
// Duplicate keys are found by comparing hashes with the object's earlier
// keys; objects with more keys than this take the general path instead.
constexpr std::size_t kMaxFastObjectKeys = 64;

json::parse_options fastParseOptions() {
  json::parse_options options;
  options.max_depth = kMaxChunkDepth;
  return options;
}

// A cheap hash for spotting duplicate keys: the length and the first and
// last eight bytes. Keys that differ only in between collide, which costs
// nothing but a detour through the general path (that decides for real).
std::uint64_t hashKey(std::string_view s) {
  std::uint64_t head = 0, tail = 0;
  if (s.size() >= 8) {
    std::memcpy(&head, s.data(), 8);
    std::memcpy(&tail, s.data() + s.size() - 8, 8);
  } else {
    std::memcpy(&head, s.data(), s.size());
  }
  return (head * 0x9E3779B97F4A7C15ULL) ^ (tail * 0xC2B2AE3D27D4EB4FULL) ^ s.size();
}

}  // namespace

// The fast path: one SAX pass over a chunk that accepts only the common
// shape -- top-level scalars, choices whose delta has role/content strings
// (or nulls), text, finish_reason, index, a usage object (top-level, or
// Groq's in x_groq) -- and refuses (returns false from a callback, which
// stops the parser) anything the general path must see: a secret or
// duplicate key anywhere, a number too large for a double, "error" at the
// top level, other delta members, values of unexpected types. What it picks
// out is applied only once the whole chunk has been accepted.
//
// A usage object is the one tree the fast path builds: the last chunk of
// nearly every stream carries one (the gateway asks for it), and the
// record keeps it as it came. Its parser events go to a value_stack, as
// the general path's parser sends them to its own; being on the fast path,
// it has no secret or repeated key and no number beyond a double, so the
// tree is the one the general path would keep after scrubbing.
class StreamAssembler::FastPass {
 public:
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);

  // Room for a typical chunk's nesting and keys at once: an assembler (and
  // its pass) lives for one record, so growing these from empty would cost
  // a few allocations per stream.
  explicit FastPass(StreamAssembler& owner) : owner_(owner) {
    stack_.reserve(8);
    key_starts_.reserve(8);
    keys_.reserve(32);
  }

  // Before each chunk: `chunk` is the text about to be parsed.
  void begin(std::string_view chunk);
  // After a chunk the parser accepted: folds what it picked out into the
  // owner's response.
  void apply();
  // After a chunk the parser accepted: whether it can be a template (one
  // choice, whose delta's content string is written without escapes, and
  // no legacy "text"), and then its variable spans (that string and the
  // top-level strings nothing reads, written without escapes), in order,
  // and that choice's index.
  bool templateOf(std::vector<TemplateSpan>& spans, std::int64_t& index) const;
  // Responses API: the event's "type" and whether its "response" is an object.
  std::string_view eventType() const { return event_type_; }
  bool hasResponse() const { return has_response_; }

  // Handler interface of json::basic_parser.
  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code& ec);
  bool on_object_end(std::size_t n, boost::system::error_code&) {
    if (usage_depth_ > 0) usage_stack_.push_object(n);
    return closeUsage() && close();
  }
  bool on_array_begin(boost::system::error_code& ec);
  bool on_array_end(std::size_t n, boost::system::error_code&) {
    if (usage_depth_ > 0) usage_stack_.push_array(n);
    return closeUsage() && close();
  }
  bool on_key_part(json::string_view s, std::size_t, boost::system::error_code&) {
    part_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, boost::system::error_code& ec);
  bool on_string_part(json::string_view s, std::size_t, boost::system::error_code&) {
    part_.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t, boost::system::error_code& ec);
  bool on_number_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, boost::system::error_code& ec);
  bool on_uint64(std::uint64_t u, json::string_view, boost::system::error_code& ec) {
    if (usage_depth_ > 0) {
      usage_stack_.push_uint64(u);
      return true;
    }
    return scalar(json::value(u), ec);
  }
  bool on_double(double d, json::string_view, boost::system::error_code& ec) {
    // A number no double holds (1e999) is rewritten by the general path.
    if (!std::isfinite(d)) return refuse(ec);
    if (usage_depth_ > 0) {
      usage_stack_.push_double(d);
      return true;
    }
    return scalar(json::value(d), ec);
  }
  bool on_bool(bool b, boost::system::error_code& ec) {
    if (usage_depth_ > 0) {
      usage_stack_.push_bool(b);
      return true;
    }
    return scalar(json::value(b), ec);
  }
  bool on_null(boost::system::error_code& ec);
  bool on_comment_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(json::string_view, boost::system::error_code&) { return true; }

 private:
  // Where the parser is: the innermost open container.
  enum class Ctx : std::uint8_t { kRoot, kChoices, kChoice, kDelta, kXGroq, kSkip, kUsage };
  // What the next value is, from the last key (in an object) or the container (in an array).
  enum class Slot : std::uint8_t {
    kIgnore,
    kTopLevel,  // one of kTopLevelKeys, index in top_key_
    kChoices,
    kUsage,
    kChoiceElement,
    kIndex,
    kDelta,
    kText,
    kFinishReason,
    kContent,
    kRole,
    kOtherDeltaMember,
    kRefuse,     // "error" at the top level
    kEventType,  // Responses API: "type" at the top level
    kResponse,   // Responses API: "response" at the top level
    kXGroq,      // "x_groq" at the top level (Groq's usage may be in it)
  };
  struct ChoiceFacts {
    std::int64_t index = 0;
    bool has_role = false, has_content = false, has_text = false, has_finish_reason = false;
    std::string role, content, text, finish_reason;
  };

  bool refuse(boost::system::error_code& ec) {
    ec = json::error::syntax;  // any error stops the parser: foldFast() then declines the chunk
    return false;
  }
  Slot top(std::size_t k) {
    top_key_ = k;
    return Slot::kTopLevel;
  }
  Slot nextSlot() const {
    if (stack_.empty()) return Slot::kIgnore;
    switch (stack_.back()) {
      case Ctx::kChoices:
        return Slot::kChoiceElement;
      case Ctx::kSkip:
      case Ctx::kUsage:
        return Slot::kIgnore;
      default:
        return slot_;
    }
  }
  bool push(Ctx c) {
    stack_.push_back(c);
    key_starts_.push_back(keys_.size());
    return true;
  }
  bool close() {
    stack_.pop_back();
    keys_.resize(key_starts_.back());
    key_starts_.pop_back();
    return true;
  }
  bool scalar(json::value v, boost::system::error_code& ec);
  // A usage object or array in it ends: when it is the usage object
  // itself, its tree is kept for apply().
  bool closeUsage() {
    if (usage_depth_ > 0 && --usage_depth_ == 0)
      (usage_in_groq_ ? groq_usage_ : usage_).emplace(usage_stack_.release());
    return true;
  }
  Slot classify(Ctx where, std::string_view key);
  ChoiceFacts& currentChoice() { return choices_[choice_count_ - 1]; }
  // The string just read is a span a template may vary, when the parser
  // handed over the chunk's own bytes (no escapes, no parts).
  void noteSpan(json::string_view s, bool content) {
    const auto at = reinterpret_cast<std::uintptr_t>(s.data());
    const auto from = reinterpret_cast<std::uintptr_t>(chunk_.data());
    if (!part_.empty() || spans_.size() == kMaxTemplateSpans || at <= from || at + s.size() >= from + chunk_.size())
      return;
    spans_.push_back({at - from - 1, at - from + s.size(), content});
  }
  // The text of the string or key just completed (parts included).
  std::string_view complete(json::string_view s) {
    if (part_.empty()) return {s.data(), s.size()};
    part_.append(s.data(), s.size());
    return part_;
  }

  StreamAssembler& owner_;
  std::vector<Ctx> stack_;
  std::vector<std::uint64_t> keys_;      // hashes of the keys of every open object
  std::vector<std::size_t> key_starts_;  // where each open container's keys start in keys_
  Slot slot_ = Slot::kIgnore;
  std::size_t top_key_ = 0;
  std::string part_;
  // Picked out of the chunk, applied when it is accepted. Vectors reused
  // from chunk to chunk (their strings keep their capacity).
  std::array<std::optional<json::value>, kTopLevelKeys.size()> top_{};
  std::vector<ChoiceFacts> choices_;
  std::size_t choice_count_ = 0;
  std::string event_type_;
  bool has_response_ = false;
  std::string_view chunk_;           // the text being parsed
  std::vector<TemplateSpan> spans_;  // strings of chunk_ a template may vary, in order
  // The usage object being read (usage_depth_ > 0: the containers open in
  // it, itself included), and those read: top-level and Groq's.
  json::value_stack usage_stack_;
  std::size_t usage_depth_ = 0;
  bool usage_in_groq_ = false;
  std::optional<json::value> usage_, groq_usage_;
  static constexpr std::size_t kMaxTemplateSpans = 8;  // more: the rest stay fixed bytes
};

void StreamAssembler::FastPass::begin(std::string_view chunk) {
  chunk_ = chunk;
  spans_.clear();
  stack_.clear();
  keys_.clear();
  key_starts_.clear();
  part_.clear();
  slot_ = Slot::kIgnore;
  for (auto& t : top_) t.reset();
  choice_count_ = 0;
  event_type_.clear();
  has_response_ = false;
  usage_depth_ = 0;
  usage_.reset();
  groq_usage_.reset();
}

void StreamAssembler::FastPass::apply() {
  for (std::size_t k = 0; k < top_.size(); ++k)
    if (top_[k]) owner_.setTopLevel(k, *top_[k]);
  for (std::size_t i = 0; i < choice_count_; ++i) {
    const ChoiceFacts& f = choices_[i];
    json::object& choice = owner_.choiceAt(f.index);
    json::object& delta = choice["delta"].as_object();
    if (f.has_role) {
      auto& role = delta["role"];
      if (role.is_null()) role = f.role;
    }
    if (f.has_content) appendOrSet(delta["content"], f.content);
    if (f.has_text) appendOrSet(choice["text"], f.text);
    if (f.has_finish_reason) choice["finish_reason"] = f.finish_reason;
  }
  if (usage_) owner_.usage_ = std::move(*usage_);
  if (groq_usage_) owner_.x_groq_usage_ = std::move(*groq_usage_);
}

bool StreamAssembler::FastPass::templateOf(std::vector<TemplateSpan>& spans, std::int64_t& index) const {
  if (choice_count_ != 1) return false;
  const ChoiceFacts& f = choices_[0];
  if (!f.has_content || f.has_text) return false;
  std::size_t contents = 0;
  for (const TemplateSpan& span : spans_) {
    // Each span is a string's own bytes between its quotes, without escapes.
    const std::string_view inside = chunk_.substr(span.open + 1, span.close - span.open - 1);
    if (chunk_[span.open] != '"' || chunk_[span.close] != '"' || inside.find('\\') != std::string_view::npos)
      return false;
    if (span.content) ++contents;
  }
  if (contents != 1) return false;
  spans = spans_;
  index = f.index;
  return true;
}

void StreamAssembler::FastParserDelete::operator()(json::basic_parser<FastPass>* p) const { delete p; }

bool StreamAssembler::foldFast(std::string_view chunk) {
  // A line break would have to go (streamed_data is on the record's one line).
  if (std::memchr(chunk.data(), '\n', chunk.size()) || std::memchr(chunk.data(), '\r', chunk.size())) return false;
  if (!fast_) fast_.reset(new json::basic_parser<FastPass>(fastParseOptions(), *this));
  fast_->reset();
  FastPass& pass = fast_->handler();
  pass.begin(chunk);
  boost::system::error_code ec;
  const std::size_t used = fast_->write_some(false, chunk.data(), chunk.size(), ec);
  if (ec || !fast_->done()) return false;
  for (char c : chunk.substr(used))
    if (c != ' ' && c != '\t') return false;
  if (api_ == ResponseApi::kResponses) {
    noteResponsesEvent(chunk, pass.eventType(), pass.hasResponse());
    return true;
  }
  pass.apply();
  std::int64_t index = 0;
  if (templates_ && pass.templateOf(template_spans_, index)) {
    template_.assign(chunk);
    // A string: apply() just appended the chunk's content to it.
    template_content_ = &choiceAt(index)["delta"].as_object()["content"].as_string();
  }
  return true;
}

bool StreamAssembler::FastPass::on_object_begin(boost::system::error_code& ec) {
  if (stack_.empty()) return push(Ctx::kRoot);
  if (usage_depth_ > 0) {
    ++usage_depth_;
    return push(Ctx::kUsage);
  }
  switch (nextSlot()) {
    case Slot::kChoiceElement:
      if (choice_count_ == choices_.size()) choices_.emplace_back();
      {
        ChoiceFacts& f = choices_[choice_count_++];
        f.index = 0;
        f.has_role = f.has_content = f.has_text = f.has_finish_reason = false;
      }
      return push(Ctx::kChoice);
    case Slot::kDelta:
      return push(Ctx::kDelta);
    case Slot::kXGroq:
      return push(Ctx::kXGroq);
    case Slot::kUsage:
      // The Responses API's usage is in its response object: a top-level
      // one is left to the general path.
      if (owner_.api_ != ResponseApi::kChatCompletions) return refuse(ec);
      usage_depth_ = 1;
      usage_in_groq_ = stack_.back() == Ctx::kXGroq;
      usage_stack_.reset(owner_.sp_);
      return push(Ctx::kUsage);
    case Slot::kResponse:
      has_response_ = true;
      return push(Ctx::kSkip);
    case Slot::kIgnore:
    case Slot::kEventType:
    case Slot::kChoices:  // not an array: the general path ignores it too
    case Slot::kText:     // not a string: ignored
      return push(Ctx::kSkip);
    default:
      return refuse(ec);  // usage, a top-level member, index, finish_reason, a delta member
  }
}

bool StreamAssembler::FastPass::on_array_begin(boost::system::error_code& ec) {
  if (stack_.empty()) return refuse(ec);  // not an object: the general path lists it without folding
  if (usage_depth_ > 0) {
    ++usage_depth_;
    return push(Ctx::kUsage);
  }
  switch (nextSlot()) {
    case Slot::kChoices:
      return push(Ctx::kChoices);
    case Slot::kIgnore:
    case Slot::kChoiceElement:
    case Slot::kDelta:
    case Slot::kText:
    case Slot::kUsage:
    case Slot::kEventType:
    case Slot::kResponse:
    case Slot::kXGroq:
      return push(Ctx::kSkip);
    default:
      return refuse(ec);
  }
}

bool StreamAssembler::FastPass::on_key(json::string_view s, std::size_t, boost::system::error_code& ec) {
  const std::string_view key = complete(s);
  const std::uint64_t h = hashKey(key);
  const std::size_t start = key_starts_.back();
  if (keys_.size() - start >= kMaxFastObjectKeys) return refuse(ec);
  for (std::size_t i = start; i < keys_.size(); ++i)
    if (keys_[i] == h) return refuse(ec);  // a duplicate (or a hash collision: the general path decides)
  keys_.push_back(h);

  slot_ = classify(stack_.back(), key);
  // The names classify() gives a slot of their own are none of the secret
  // names (kKnownChunkNames in the unit tests): only the others are checked.
  const bool unknown = slot_ == Slot::kIgnore || slot_ == Slot::kOtherDeltaMember;
  if (slot_ == Slot::kRefuse || (unknown && isSecretKey(key))) {
    part_.clear();
    return refuse(ec);
  }
  if (usage_depth_ > 0) usage_stack_.push_key(key);
  part_.clear();
  return true;
}

// What the value after `key` is. By length first: this runs for every key
// of every chunk.
StreamAssembler::FastPass::Slot StreamAssembler::FastPass::classify(Ctx where, std::string_view key) {
  switch (where) {
    case Ctx::kRoot:
      switch (key.size()) {
        case 2:
          if (key == "id") return top(0);
          break;
        case 4:
          if (key == "type" && owner_.api_ == ResponseApi::kResponses) return Slot::kEventType;
          break;
        case 5:
          if (key == "model") return top(3);
          if (key == "usage") return Slot::kUsage;
          if (key == "error") return Slot::kRefuse;
          break;
        case 6:
          if (key == "object") return top(1);
          if (key == "x_groq") return Slot::kXGroq;
          break;
        case 7:
          if (key == "created") return top(2);
          if (key == "choices") return Slot::kChoices;
          break;
        case 8:
          if (key == "response" && owner_.api_ == ResponseApi::kResponses) return Slot::kResponse;
          break;
        case 18:
          if (key == "system_fingerprint") return top(4);
          break;
        default:
          break;
      }
      return Slot::kIgnore;
    case Ctx::kChoice:
      switch (key.size()) {
        case 4:
          if (key == "text") return Slot::kText;
          break;
        case 5:
          if (key == "index") return Slot::kIndex;
          if (key == "delta") return Slot::kDelta;
          break;
        case 13:
          if (key == "finish_reason") return Slot::kFinishReason;
          break;
        default:
          break;
      }
      return Slot::kIgnore;
    case Ctx::kDelta:
      if (key == "content") return Slot::kContent;
      if (key == "role") return Slot::kRole;
      return Slot::kOtherDeltaMember;
    case Ctx::kXGroq:
      // A usage object there is read by the general path.
      return key == "usage" ? Slot::kUsage : Slot::kIgnore;
    default:
      return Slot::kIgnore;
  }
}

bool StreamAssembler::FastPass::on_string(json::string_view s, std::size_t, boost::system::error_code& ec) {
  const std::string_view text = complete(s);
  if (usage_depth_ > 0) {
    usage_stack_.push_string(text);
    part_.clear();
    return true;
  }
  bool ok = true;
  switch (nextSlot()) {
    case Slot::kTopLevel: {
      const json::value& current = owner_.top_level_[top_key_];
      if (!current.is_string() || current.as_string() != text) top_[top_key_].emplace(text);
      break;
    }
    case Slot::kText: {
      ChoiceFacts& f = currentChoice();
      f.has_text = true;
      f.text.assign(text);
      break;
    }
    case Slot::kFinishReason: {
      ChoiceFacts& f = currentChoice();
      f.has_finish_reason = true;
      f.finish_reason.assign(text);
      break;
    }
    case Slot::kContent: {
      ChoiceFacts& f = currentChoice();
      f.has_content = true;
      f.content.assign(text);
      noteSpan(s, true);
      break;
    }
    case Slot::kRole: {
      ChoiceFacts& f = currentChoice();
      f.has_role = true;
      f.role.assign(text);
      break;
    }
    case Slot::kEventType:
      event_type_.assign(text);
      ok = text != "error";  // an error event: the general path reads its code
      break;
    case Slot::kIndex:
    case Slot::kOtherDeltaMember:
      ok = false;
      break;
    case Slot::kIgnore:
      if (stack_.size() == 1) noteSpan(s, false);  // a top-level member nothing reads
      break;
    default:
      break;  // ignored, as the general path ignores it
  }
  part_.clear();
  return ok ? true : refuse(ec);
}

bool StreamAssembler::FastPass::on_int64(std::int64_t i, json::string_view, boost::system::error_code& ec) {
  if (usage_depth_ > 0) {
    usage_stack_.push_int64(i);
    return true;
  }
  if (nextSlot() == Slot::kIndex) {
    currentChoice().index = i;
    return true;
  }
  return scalar(json::value(i), ec);
}

bool StreamAssembler::FastPass::on_null(boost::system::error_code&) {
  if (usage_depth_ > 0) usage_stack_.push_null();
  return true;  // a null is skipped wherever the general path reads one
}

// A number or boolean (not an int64 index).
bool StreamAssembler::FastPass::scalar(json::value v, boost::system::error_code& ec) {
  switch (nextSlot()) {
    case Slot::kTopLevel: {
      if (owner_.top_level_[top_key_] != v) top_[top_key_].emplace(std::move(v));
      return true;
    }
    case Slot::kIndex:
    case Slot::kFinishReason:
    case Slot::kContent:
    case Slot::kRole:
    case Slot::kOtherDeltaMember:
      return refuse(ec);
    default:
      return true;  // ignored by the general path too (usage, text, delta or choices of another type)
  }
}

}  // namespace gw
