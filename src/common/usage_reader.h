// A SAX reader of one OpenAI-shaped usage object (chat completions and
// embeddings, or the Responses API): the events of the object, from its
// opening brace to its closing one, are handed to it by a parser's handler
// (json::basic_parser<UsageReader> directly, or a handler reading a larger
// document that meets a usage object). Used on whichever thread parses.
#pragma once

#include "common/json_sax_defaults.h"
#include "common/saturating.h"
#include "gw/provider.h"

#include <boost/json/string_view.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gw {

// The member names of a usage object: chat/completions (and embeddings) or
// the Responses API.
struct UsageKeys {
  std::string_view input, output, input_details, output_details;
};
inline constexpr UsageKeys kChatUsageKeys{"prompt_tokens", "completion_tokens", "prompt_tokens_details",
                                          "completion_tokens_details"};
inline constexpr UsageKeys kResponsesUsageKeys{"input_tokens", "output_tokens", "input_tokens_details",
                                               "output_tokens_details"};

// Handler for json::basic_parser over one OpenAI usage object: keeps the
// numbers readOpenAiUsage (readResponsesUsage) takes from the tree, by the same rules (the last
// of duplicate keys counts; a value that is not a number leaves the field
// unset), without building the tree. Depth 1 is the usage object, depth 2
// its *_details objects.
class UsageReader : public JsonSaxDefaults {
 public:
  explicit UsageReader(const UsageKeys& keys) : keys_(&keys) {}

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
      if (k == keys_->input)
        key_ = Slot::kInput;
      else if (k == keys_->output)
        key_ = Slot::kOutput, has_completion_key = true;
      else if (k == "total_tokens")
        key_ = Slot::kTotal;
      else if (k == keys_->input_details)
        key_ = Slot::kPromptDetails;
      else if (k == keys_->output_details)
        key_ = Slot::kCompletionDetails;
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
    kNone,
    kInput,
    kOutput,
    kTotal,
    kCachedInput,
    kReasoning,
    kPromptDetails,
    kCompletionDetails
  };
  std::optional<std::int64_t>* slot(Slot s) {
    switch (s) {
      case Slot::kInput:
        return &found.input;
      case Slot::kOutput:
        return &found.output;
      case Slot::kTotal:
        return &found.total;
      case Slot::kCachedInput:
        return &found.cached_input;
      case Slot::kReasoning:
        return &found.reasoning;
      default:
        return nullptr;
    }
  }
  bool number(std::int64_t v) {
    if (auto* field = slot(key_)) *field = v;
    key_ = Slot::kNone;
    return true;
  }

  const UsageKeys* keys_;  // outlives the reader (kChatUsageKeys or kResponsesUsageKeys)
  std::size_t depth_ = 0;
  Slot key_ = Slot::kNone;
  Slot details_ = Slot::kNone;
  std::string part_;
};

// The keys of an API's usage object, or nullptr for the Messages API
// (Anthropic's counts, read by anthropic_usage.h's rules).
inline const UsageKeys* usageKeysFor(ResponseApi api) {
  switch (api) {
    case ResponseApi::kChatCompletions:
      return &kChatUsageKeys;
    case ResponseApi::kResponses:
      return &kResponsesUsageKeys;
    case ResponseApi::kMessages:
      return nullptr;
  }
  return nullptr;
}

// Copies what a UsageReader found into `out` (each count it found replaces
// out's), with readOpenAiUsage's rules: `embeddings` (no completion count:
// output 0), and total = input + output when the object has no total.
void mergeUsage(const UsageReader& reader, Usage& out, bool embeddings);

}  // namespace gw
