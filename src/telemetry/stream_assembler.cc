#include "telemetry/stream_assembler.h"

#include "common/strings.h"
#include "telemetry/record_builder.h"

#include <boost/json/monotonic_resource.hpp>

namespace gw {

namespace json = boost::json;

void StreamAssembler::appendOrSet(json::value& slot, std::string_view text) {
  if (slot.is_string()) slot.as_string().append(text);
  else slot = text;
}

StreamAssembler::StreamAssembler(json::storage_ptr sp, bool general_path_only, ResponseApi api, bool templates)
    : sp_(std::move(sp)),
      general_path_only_(general_path_only),
      api_(api),
      top_level_{json::value(nullptr, sp_), json::value("chat.completion.chunk", sp_), json::value(nullptr, sp_),
                 json::value(nullptr, sp_), json::value(nullptr, sp_)},
      usage_(nullptr, sp_),
      x_groq_usage_(nullptr, sp_),
      message_(sp_),
      templates_(templates && !general_path_only && api == ResponseApi::kChatCompletions) {}

StreamAssembler::~StreamAssembler() = default;

void StreamAssembler::setTopLevel(std::size_t k, const json::value& v) {
  if (top_level_[k] != v) top_level_[k] = v;
}

json::object& StreamAssembler::choiceAt(std::int64_t index) {
  auto [it, fresh] = choices_.try_emplace(index, sp_);
  json::object& choice = it->second;
  if (fresh) {
    choice["index"] = index;
    json::object delta(sp_);
    delta["role"] = nullptr;
    delta["content"] = nullptr;
    choice["delta"] = std::move(delta);
    choice["finish_reason"] = nullptr;
  }
  return choice;
}

void StreamAssembler::add(std::string_view chunk, std::string* streamed_entry) {
  if (!template_.empty()) {
    if (foldLikeTemplate(chunk)) {
      ++fast_chunks_;
      ++template_chunks_;
      if (streamed_entry) streamed_entry->append(chunk);
      return;
    }
    template_.clear();
    template_content_ = nullptr;
  }
  if (!general_path_only_ && api_ != ResponseApi::kMessages && foldFast(chunk)) {
    ++fast_chunks_;
    if (streamed_entry) streamed_entry->append(chunk);
    return;
  }
  // The general path: a tree in scratch memory, freed with the chunk.
  json::monotonic_resource scratch;
  std::optional<json::value> parsed = parseUntrustedJson(chunk, &scratch);
  if (!parsed) {
    if (streamed_entry) appendJsonString(*streamed_entry, toValidUtf8(scrubSecretsInText(chunk)));
    return;
  }
  if (api_ == ResponseApi::kChatCompletions && !error_type_) error_type_ = errorTypeOf(*parsed);
  if (api_ == ResponseApi::kResponses && parsed->is_object()) noteResponsesTree(chunk, *parsed);
  scrubForRecord(*parsed);
  if (api_ == ResponseApi::kChatCompletions && parsed->is_object()) foldTree(parsed->as_object());
  if (api_ == ResponseApi::kMessages && parsed->is_object()) foldMessagesEvent(parsed->as_object());
  if (streamed_entry) appendJsonValue(*streamed_entry, *parsed);
}

json::object StreamAssembler::finish() {
  if (api_ == ResponseApi::kResponses) return finishResponses();
  if (api_ == ResponseApi::kMessages) return finishMessages();
  json::object out(sp_);
  out.reserve(kTopLevelKeys.size() + 2);
  for (std::size_t k = 0; k < kTopLevelKeys.size(); ++k)
    if (k + 1 < kTopLevelKeys.size() || !top_level_[k].is_null())  // system_fingerprint only when a chunk had one
      out[kTopLevelKeys[k]] = std::move(top_level_[k]);
  json::array choices(sp_);
  choices.reserve(choices_.size());
  for (auto& [index, choice] : choices_) choices.push_back(std::move(choice));
  choices_.clear();
  out["choices"] = std::move(choices);
  // Groq's x_groq.usage stands for a usage the stream did not report at the
  // top level; never added to one.
  out["usage"] = usage_.is_object() ? std::move(usage_) : std::move(x_groq_usage_);
  return out;
}

}  // namespace gw
