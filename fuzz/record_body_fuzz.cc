// Fuzzes the record builder's one-pass body scrub (gw::appendScrubbedJson,
// gw::appendCapturedBody in src/telemetry), which writes every captured
// body into a record, differentially: its text must be byte for byte what
// the tree path writes (gw::captureBody: parse, scrubForRecord, Boost.JSON's
// serializer), for a body under the cap and for the preview of one over
// it; it must refuse only what the tree parser refuses; and what it
// says of the body (the top-level members, the choices' finish reasons,
// the counts of its usage object for the chat and the Responses API) must
// be what the tree says. The input is the body.
#include "common/openai_usage.h"
#include "telemetry/json_text.h"
#include "telemetry/record_builder.h"
#include "telemetry/record_json.h"

#include <boost/json/serialize.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

namespace json = boost::json;

void check(bool ok) {
  if (!ok) std::abort();
}

// The facts against the tree of the text they describe.
void checkFacts(const std::string& out, const gw::ScrubbedJsonFacts& facts) {
  const auto tree = gw::parseUntrustedJson(out);
  check(tree.has_value());
  check(facts.is_object == tree->is_object());
  if (!tree->is_object()) return;
  const json::object& object = tree->get_object();
  check(facts.members.size() == object.size());
  std::size_t i = 0;
  for (const auto& [key, value] : object) {
    const auto& member = facts.members[i++];
    check(gw::jsonTextString(out.substr(member.key.offset, member.key.size)) == std::string(key));
    check(gw::parseUntrustedJson(out.substr(member.value.offset, member.value.size)) == value);
  }
  const auto* choices = object.if_contains("choices");
  check(facts.choices_is_array == (choices && choices->is_array()));
  if (!facts.choices_is_array) return;
  std::size_t reasons = 0;
  for (const auto& choice : choices->get_array())
    if (const auto* c = choice.if_object())
      if (const auto* reason = c->if_contains("finish_reason"); reason && reason->is_string()) {
        check(reasons < facts.choice_finish_reasons.size());
        const auto& span = facts.choice_finish_reasons[reasons++];
        check(gw::jsonTextString(out.substr(span.offset, span.size)) == std::string(reason->get_string()));
      }
  check(reasons == facts.choice_finish_reasons.size());
}

bool sameUsage(const gw::Usage& a, const gw::Usage& b) {
  return a.input == b.input && a.output == b.output && a.total == b.total && a.cached_input == b.cached_input &&
         a.cache_creation == b.cache_creation && a.reasoning == b.reasoning;
}

// The usage the pass read with `keys` against the tree's usage object, as
// the record builder's tree path reads it.
void checkUsage(const std::string& out, const gw::ScrubbedJsonFacts& facts, const gw::UsageKeys& keys) {
  const auto tree = gw::parseUntrustedJson(out);
  const json::value* usage = tree && tree->is_object() ? tree->get_object().if_contains("usage") : nullptr;
  check(facts.usage.has_value() == (usage && usage->is_object()));
  if (!facts.usage) return;
  const bool chat = &keys == &gw::kChatUsageKeys;
  gw::Usage read, expected;
  gw::mergeUsage(*facts.usage, read, chat);
  if (chat)
    gw::readOpenAiUsage(usage->get_object(), expected);
  else
    gw::readResponsesUsage(usage->get_object(), expected);
  check(sameUsage(read, expected));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  std::string direct;
  gw::ScrubbedJsonFacts facts;
  const gw::ScrubbedJsonResult result = gw::appendScrubbedJson(body, direct, &facts, false, &gw::kChatUsageKeys);
  const auto tree = gw::parseUntrustedJson(body);
  // The pass stops at what it leaves to the tree, which then decides.
  if (result == gw::ScrubbedJsonResult::kNotJson) check(!tree.has_value());
  if (result == gw::ScrubbedJsonResult::kWritten) check(tree.has_value());
  if (result != gw::ScrubbedJsonResult::kWritten) check(direct.empty());
  if (result == gw::ScrubbedJsonResult::kWritten) {
    json::value scrubbed = *tree;
    gw::scrubForRecord(scrubbed);
    check(direct == json::serialize(scrubbed));
    checkFacts(direct, facts);
    checkUsage(direct, facts, gw::kChatUsageKeys);
    std::string responses_text;
    gw::ScrubbedJsonFacts responses_facts;
    check(gw::appendScrubbedJson(body, responses_text, &responses_facts, false, &gw::kResponsesUsageKeys) ==
          gw::ScrubbedJsonResult::kWritten);
    check(responses_text == direct);
    checkUsage(direct, responses_facts, gw::kResponsesUsageKeys);
  }

  // The record's body, under the cap and over it (a preview).
  for (std::size_t cap : {std::size_t{1} << 20, size / 2}) {
    std::string out = "{\"request\":";
    const std::size_t start = out.size();
    gw::ScrubbedJsonFacts body_facts;
    gw::appendCapturedBody(out, body, cap, false, std::nullopt, &body_facts);
    check(out.substr(start) == json::serialize(gw::captureBody(body, cap)));
    if (!body_facts.members.empty() || body_facts.is_object) {
      // Places are in `out`; check them against the body's own text.
      for (auto& member : body_facts.members) {
        member.key.offset -= start;
        member.value.offset -= start;
      }
      for (auto& span : body_facts.choice_finish_reasons) span.offset -= start;
      checkFacts(out.substr(start), body_facts);
    }
  }
  return 0;
}
