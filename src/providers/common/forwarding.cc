#include "providers/common/forwarding.h"
#include "common/saturating.h"

#include "common/strings.h"

#include <boost/json/object.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/value.hpp>

namespace gw {

bool isGatewayOnlyHeader(std::string_view n) {
  static constexpr std::string_view kNames[] = {
      "connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate",
      "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length", "accept-encoding",
      "x-gateway-key", "x-provider", "expect"};
  for (auto k : kNames)
    if (n == k) return true;
  return n.starts_with("x-aws-");
}

std::string_view bearerToken(std::string_view authorization) {
  std::string_view v = trim(authorization);
  if (v.size() > 7 && iequals(v.substr(0, 7), "bearer ")) return trim(v.substr(7));
  return {};
}

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

bool scanOpenAiUsage(std::string_view text, Usage& out) {
  static constexpr std::string_view kKey = "\"usage\"";
  std::size_t pos = text.rfind(kKey);
  while (pos != std::string_view::npos) {
    // Skip an escaped occurrence inside a string value (\"usage\").
    if (pos == 0 || text[pos - 1] != '\\') {
      std::size_t i = pos + kKey.size();
      while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) ++i;
      if (i < text.size() && text[i] == ':') {
        ++i;
        while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) ++i;
        if (i < text.size() && text[i] == '{') {
          boost::json::parser p;
          boost::system::error_code ec;
          p.write_some(text.data() + i, text.size() - i, ec);
          if (!ec) {
            boost::json::value v = p.release();
            if (v.is_object()) {
              readOpenAiUsage(v.as_object(), out);
              return true;
            }
          }
        }
      }
    }
    if (pos == 0) break;
    pos = text.rfind(kKey, pos - 1);
  }
  return false;
}

std::string scanModel(std::string_view text) {
  static constexpr std::string_view kKey = "\"model\":\"";
  auto pos = findBytes(text, kKey);
  if (pos == std::string_view::npos) return {};
  pos += kKey.size();
  auto end = text.find('"', pos);
  if (end == std::string_view::npos || end - pos > 256) return {};
  std::string_view m = text.substr(pos, end - pos);
  if (m.find('\\') != std::string_view::npos) return {};
  return std::string(m);
}

}  // namespace gw
