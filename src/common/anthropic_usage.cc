#include "common/anthropic_usage.h"

#include "common/cache_aware_usage.h"
#include "common/openai_usage.h"
#include "common/saturating.h"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/value.hpp>

namespace gw {

namespace {
std::optional<std::int64_t> count(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return std::max<std::int64_t>(0, v->as_int64());
  if (v->is_uint64()) return saturatingInt64(v->as_uint64());
  return std::nullopt;
}
}  // namespace

void readMessagesUsage(const boost::json::object& u, Usage& out) {
  readCacheAwareUsage(count(u, "input_tokens"), count(u, "cache_read_input_tokens"),
                      count(u, "cache_creation_input_tokens"), count(u, "output_tokens"), out);
  if (const auto* d = u.if_contains("output_tokens_details"); d && d->is_object())
    if (auto thinking = count(d->as_object(), "thinking_tokens")) out.reasoning = thinking;
}

bool scanMessagesUsage(std::string_view text, Usage& out) {
  for (auto m = findLastUsageMember(text); m; m = findLastUsageMember(text, m->key)) {
    if (m->value >= text.size() || text[m->value] != '{') continue;
    // Only the usage object is parsed (write_some stops where it ends), in
    // scratch memory: a usage object is a handful of numbers.
    unsigned char scratch[1024];
    boost::json::monotonic_resource memory(scratch, sizeof scratch);
    boost::json::parser parser(&memory);
    boost::system::error_code ec;
    parser.write_some(text.data() + m->value, text.size() - m->value, ec);
    if (ec) continue;
    boost::json::value usage = parser.release();
    if (!usage.is_object()) continue;
    readMessagesUsage(usage.as_object(), out);
    return true;
  }
  return false;
}

}  // namespace gw
