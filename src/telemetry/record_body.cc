#include "telemetry/record_body.h"

#include "common/strings.h"
#include "telemetry/secret_scrub.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

namespace gw {

namespace json = boost::json;

namespace {
// The longest preview a truncated body keeps.
constexpr std::size_t kMaxPreviewBytes = 4096;
}  // namespace

std::optional<std::string> errorTypeOfMember(const json::value& e) {
  if (!e.is_object()) return std::nullopt;
  const auto& eo = e.get_object();
  for (std::string_view key : {"type", "code"})
    if (const auto* t = eo.if_contains(key); t && t->is_string() && !t->get_string().empty())
      return std::string(t->get_string());
  return std::nullopt;
}

std::optional<json::value> parseUntrustedJson(std::string_view text, json::storage_ptr sp) {
  if (text.empty()) return std::nullopt;
  json::parse_options opt;
  opt.max_depth = kMaxUntrustedJsonDepth;
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec, std::move(sp), opt);
  if (ec) return std::nullopt;
  return v;
}

std::optional<std::string> errorTypeOf(const json::value& v) {
  if (!v.is_object()) return std::nullopt;
  const auto* e = v.as_object().if_contains("error");
  if (!e) return std::nullopt;
  return errorTypeOfMember(*e);
}

std::string_view utf8Prefix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t n = max_bytes;
  // Step back over continuation bytes to the start of the cut sequence, then
  // keep that sequence only if it is complete.
  std::size_t start = n;
  while (start > 0 && (static_cast<unsigned char>(text[start - 1]) & 0xC0) == 0x80 && n - start < 4) --start;
  if (start > 0) {
    auto lead = static_cast<unsigned char>(text[start - 1]);
    std::size_t len = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 1;
    if (lead >= 0x80 && (start - 1) + len > n) n = start - 1;
  }
  return text.substr(0, n);
}

json::value captureBody(std::string_view body, std::size_t max_bytes, bool cut,
                        std::optional<std::uint64_t> original_bytes, json::storage_ptr sp) {
  if (body.empty() && !cut) return json::value(nullptr, sp);
  const std::uint64_t original = original_bytes.value_or(body.size());
  if (!cut && body.size() <= max_bytes) {
    if (auto parsed = parseUntrustedJson(body, sp)) {
      scrubForRecord(*parsed);
      return std::move(*parsed);
    }
    if (!isValidUtf8(body)) {
      // Binary (an upload's bytes): not representable as a JSON string.
      json::object b(sp);
      b["_binary"] = true;
      b["_original_bytes"] = original;
      return b;
    }
    return json::value(json::string_view(scrubSecretsInText(body)), sp);
  }
  // Too large: a preview of the (scrubbed) start of the body.
  std::string scrubbed;
  if (!cut) {
    if (auto parsed = parseUntrustedJson(body)) {
      scrubForRecord(*parsed);
      scrubbed = json::serialize(*parsed);
    }
  }
  if (scrubbed.empty()) scrubbed = scrubSecretsInText(body.substr(0, std::min(body.size(), kMaxPreviewBytes + 256)));
  json::object t(sp);
  t["_truncated"] = true;
  t["_original_bytes"] = original;
  const std::string preview = toValidUtf8(utf8Prefix(scrubbed, std::min(max_bytes, kMaxPreviewBytes)));
  t["_preview"] = std::string_view(preview);
  return t;
}

void appendCapturedBody(std::string& out, std::string_view body, std::size_t max_bytes, bool cut,
                        std::optional<std::uint64_t> original_bytes, ScrubbedJsonFacts* facts) {
  if (facts) *facts = {};
  if (body.empty() && !cut) {
    appendLiteral(out, "null");
    return;
  }
  // A body the direct pass leaves to the tree: parsed, scrubbed, written;
  // empty when the tree parser refuses it too.
  auto scrubbedTreeText = [body]() -> std::string {
    std::optional<json::value> parsed = parseUntrustedJson(body);
    if (!parsed) return {};
    scrubForRecord(*parsed);
    return json::serialize(*parsed);
  };
  const std::uint64_t original = original_bytes.value_or(body.size());
  if (!cut && body.size() <= max_bytes) {
    switch (appendScrubbedJson(body, out, facts)) {
      case ScrubbedJsonResult::kWritten:
        return;
      case ScrubbedJsonResult::kNeedsTree:
        // The tree's text has unique keys and no number out of range: the
        // direct pass copies it as it is, and describes it.
        if (const std::string text = scrubbedTreeText(); !text.empty()) {
          appendScrubbedJson(text, out, facts, true);
          return;
        }
        break;
      case ScrubbedJsonResult::kNotJson:
        break;
    }
    if (!isValidUtf8(body)) {
      // Binary (an upload's bytes): not representable as a JSON string.
      appendLiteral(out, "{\"_binary\":true,\"_original_bytes\":");
      appendJsonUint(out, original);
      out += '}';
      return;
    }
    appendJsonString(out, scrubSecretsInText(body));
    return;
  }
  // Too large: a preview of the (scrubbed) start of the body.
  std::string scrubbed;
  if (!cut && appendScrubbedJson(body, scrubbed) == ScrubbedJsonResult::kNeedsTree) scrubbed = scrubbedTreeText();
  if (scrubbed.empty()) scrubbed = scrubSecretsInText(body.substr(0, std::min(body.size(), kMaxPreviewBytes + 256)));
  appendLiteral(out, "{\"_truncated\":true,\"_original_bytes\":");
  appendJsonUint(out, original);
  appendLiteral(out, ",\"_preview\":");
  appendJsonString(out, toValidUtf8(utf8Prefix(scrubbed, std::min(max_bytes, kMaxPreviewBytes))));
  out += '}';
}

}  // namespace gw
