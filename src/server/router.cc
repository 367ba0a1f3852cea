#include "server/router.h"

#include "common/ids.h"
#include "common/json_sax_defaults.h"
#include "common/strings.h"
#include "config/settings.h"
#include "providers/provider_registry.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace gw {

Result<Route> selectProvider(const HeaderLookup& headers, boost::json::object* body,
                             const ProviderRegistry& providers, std::string_view default_provider) {
  std::optional<std::string_view> model;
  if (body) {
    if (auto* m = body->if_contains("model"); m && m->is_string()) model = std::string_view(m->as_string());
  }
  auto route = selectProvider(headers, model, providers, default_provider);
  if (route && route->model_rewritten) (*body)["model"] = route->model;
  return route;
}

Result<Route> selectProvider(const HeaderLookup& headers, std::optional<std::string_view> model,
                             const ProviderRegistry& providers, std::string_view default_provider) {
  Route route;
  if (model) route.model = std::string(*model);
  if (auto xp = headers.get("x-provider"); xp && !trim(*xp).empty()) {
    route.provider_name = toLower(trim(*xp));
    if (!providers.config(route.provider_name)) {
      std::string known;
      for (const auto& n : knownProviderNames()) known += (known.empty() ? "" : ", ") + n;
      return Error::badRequest("unknown_provider", "Unknown provider in x-provider header (known: " + known + ")");
    }
  } else {
    route.provider_name = std::string(default_provider);
    if (auto slash = route.model.find('/'); slash != std::string::npos && slash > 0) {
      std::string prefix = toLower(std::string_view(route.model).substr(0, slash));
      if (providers.config(prefix)) {
        route.provider_name = prefix;
        route.model.erase(0, slash + 1);
        route.model_rewritten = true;
      }
    }
  }
  route.provider = providers.find(route.provider_name);
  route.config = providers.config(route.provider_name);
  if (!route.provider)
    return Error::badRequest("unknown_provider", "Provider '" + route.provider_name + "' is not available in this build");
  return route;
}

namespace {
// A number no double holds (1e999) is valid JSON, but Boost.JSON reads it as
// infinity and would write it back as the bare word Infinity, which is not:
// the gateway refuses it rather than send an upstream invalid JSON (checked
// after syntax and the top-level object, in both readings below).
Error numberOutOfRange() {
  return Error::badRequest("invalid_json", "Request body has a number beyond the range of a double");
}

bool hasNonFiniteNumber(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::double_: return !std::isfinite(v.get_double());
    case boost::json::kind::array:
      for (const auto& e : v.get_array())
        if (hasNonFiniteNumber(e)) return true;
      return false;
    case boost::json::kind::object:
      for (const auto& kv : v.get_object())
        if (hasNonFiniteNumber(kv.value())) return true;
      return false;
    default: return false;
  }
}
}  // namespace

Result<boost::json::object> parseJsonBody(std::string_view body, boost::json::storage_ptr storage) {
  boost::json::parse_options opts;
  opts.max_depth = 64;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec, std::move(storage), opts);
  if (ec) return Error::badRequest("invalid_json", "Request body is not valid JSON: " + ec.message());
  if (!v.is_object()) return Error::badRequest("invalid_json", "Request body must be a JSON object");
  if (hasNonFiniteNumber(v)) return numberOutOfRange();
  return std::move(v.as_object());
}

namespace {

// Handler for json::basic_parser: follows the depth and the last key, and
// keeps the three top-level facts. Everything else is only validated.
class BodyFactsHandler : public JsonSaxDefaults {
 public:
  JsonBodyFacts facts;
  bool top_is_object = false;
  bool number_out_of_range = false;  // see numberOutOfRange()

  bool on_object_begin(boost::system::error_code&) {
    if (depth_ == 0) {
      top_is_object = true;
    } else if (depth_ == 1 && key_ == Key::kStreamOptions) {
      // The value of a top-level "stream_options": it replaces any before.
      in_stream_options_ = true;
      facts.include_usage = false;
    } else {
      valueAt(Key::kOther);
    }
    return open();
  }
  bool on_object_end(std::size_t, boost::system::error_code&) { return close(); }
  bool on_array_begin(boost::system::error_code&) {
    valueAt(Key::kOther);
    return open();
  }
  bool on_array_end(std::size_t, boost::system::error_code&) { return close(); }
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
    key_ = Key::kOther;
    if (depth_ == 1) {
      if (k == "model") key_ = Key::kModel;
      else if (k == "stream") key_ = Key::kStream;
      else if (k == "stream_options") {
        key_ = Key::kStreamOptions;
        facts.has_stream_options = true;
      }
    } else if (depth_ == 2 && in_stream_options_ && k == "include_usage") {
      key_ = Key::kIncludeUsage;
    }
    part_.clear();
    return true;
  }
  bool on_string_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    if (depth_ == 1 && key_ == Key::kModel) part_.append(s.data(), s.size());
    return true;
  }
  bool on_string(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    if (depth_ == 1 && key_ == Key::kModel) {
      part_.append(s.data(), s.size());
      facts.model = std::move(part_);
    } else {
      valueAt(Key::kOther);
    }
    part_.clear();
    return true;
  }
  bool on_int64(std::int64_t, boost::json::string_view, boost::system::error_code&) { return other(); }
  bool on_uint64(std::uint64_t, boost::json::string_view, boost::system::error_code&) { return other(); }
  bool on_double(double v, boost::json::string_view, boost::system::error_code&) {
    if (!std::isfinite(v)) number_out_of_range = true;
    return other();
  }
  bool on_bool(bool b, boost::system::error_code&) {
    if (depth_ == 1 && key_ == Key::kStream) facts.stream = b;
    else if (depth_ == 2 && key_ == Key::kIncludeUsage) facts.include_usage = b;
    else valueAt(Key::kOther);
    return true;
  }
  bool on_null(boost::system::error_code&) { return other(); }

 private:
  enum class Key : std::uint8_t { kOther, kModel, kStream, kStreamOptions, kIncludeUsage };

  // A value of another type under a fact's key replaces what an earlier
  // repeat of that key said (the last key counts).
  void valueAt(Key) {
    if (depth_ == 1) {
      if (key_ == Key::kModel) facts.model.reset();
      else if (key_ == Key::kStream) facts.stream = false;
      else if (key_ == Key::kStreamOptions) facts.include_usage = false;
    } else if (depth_ == 2 && key_ == Key::kIncludeUsage) {
      facts.include_usage = false;
    }
  }
  bool other() {
    valueAt(Key::kOther);
    return true;
  }
  bool open() {
    ++depth_;
    key_ = Key::kOther;
    return true;
  }
  bool close() {
    --depth_;
    if (depth_ < 2) in_stream_options_ = false;
    key_ = Key::kOther;
    return true;
  }

  std::size_t depth_ = 0;
  Key key_ = Key::kOther;
  bool in_stream_options_ = false;
  std::string part_;
};

}  // namespace

bool requiresJsonBody(std::string_view method, std::string_view path) {
  static constexpr std::string_view kJsonEndpoints[] = {
      "/v1/chat/completions", "/v1/completions", "/v1/embeddings",       "/v1/responses",   "/v1/messages",
      "/v1/messages/count_tokens", "/v1/moderations", "/v1/images/generations", "/v1/audio/speech"};
  if (method != "POST") return false;
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  for (std::string_view endpoint : kJsonEndpoints)
    if (path == endpoint) return true;
  return false;
}

Result<JsonBodyFacts> scanJsonBody(std::string_view body) {
  boost::json::parse_options opts;
  opts.max_depth = 64;  // as parseJsonBody
  boost::json::basic_parser<BodyFactsHandler> parser(opts);
  boost::system::error_code ec;
  std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
  if (!ec && used < body.size()) {
    // What follows the document may only be whitespace (parse() says
    // "extra data" otherwise).
    for (char c : body.substr(used))
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
        ec = boost::json::error::extra_data;
        break;
      }
  }
  if (ec) return Error::badRequest("invalid_json", "Request body is not valid JSON: " + ec.message());
  if (!parser.handler().top_is_object) return Error::badRequest("invalid_json", "Request body must be a JSON object");
  if (parser.handler().number_out_of_range) return numberOutOfRange();
  return std::move(parser.handler().facts);
}

std::string requestIdFor(const HeaderLookup& headers) {
  if (auto id = headers.get("x-request-id")) {
    std::string_view v = trim(*id);
    bool sane = !v.empty() && v.size() <= 128;
    for (char c : v) sane = sane && c > 0x20 && c < 0x7f;
    if (sane) return std::string(v);
  }
  return newRequestId();
}

void copyTrackingHeaders(const HeaderLookup& headers, RequestRecord& record) {
  auto take = [&](std::string_view name, std::optional<std::string>& out) {
    if (auto v = headers.get(name)) {
      auto t = trim(*v);
      if (!t.empty()) out = std::string(t.substr(0, 256));
    }
  };
  take("x-project-id", record.project_id);
  take("x-project-name", record.project_name);
  take("x-organisation-id", record.org_id);
  if (!record.org_id) take("x-organization-id", record.org_id);
  take("x-user-id", record.user_id);
  take("x-experiment-id", record.experiment_id);
  take("x-thread-id", record.thread_id);
}

bool gatewayKeyAccepted(std::string_view key, const std::vector<std::string>& keys) {
  bool accepted = false;
  // Check every key so the time taken does not reveal which one matched.
  for (const auto& k : keys) accepted |= constantTimeEquals(key, k);
  return accepted;
}

HeadScan scanRequestHead(std::string_view b, std::size_t from) {
  HeadScan scan;
  std::size_t pos = std::min(from, b.size());
  for (;;) {
    const void* hit = pos < b.size() ? std::memchr(b.data() + pos, '\n', b.size() - pos) : nullptr;
    if (!hit) {
      scan.resume = b.size();
      return scan;
    }
    std::size_t lf = static_cast<std::size_t>(static_cast<const char*>(hit) - b.data());
    scan.resume = lf;  // until this line end is settled, resume from it
    if (lf == 0 || b[lf - 1] != '\r') {
      // Beast fails on it too, but somewhere later; say it now.
      scan.bare_lf = true;
      return scan;
    }
    std::size_t next = lf + 1;
    if (next >= b.size()) return scan;  // what follows decides: wait for it
    if (b[next] == ' ' || b[next] == '\t') {
      // A line starting with whitespace continues the previous header line
      // (obs-fold), except right after the request line, where RFC 9112
      // calls it invalid anyway. Both are refused.
      scan.obs_fold = true;
      return scan;
    }
    if (b[next] == '\r') {
      if (next + 1 >= b.size()) return scan;
      if (b[next + 1] == '\n') {
        // The blank line that ends the head.
        scan.complete = true;
        scan.end = next + 2;
        return scan;
      }
    }
    pos = next;
  }
}

std::string framingProblem(unsigned http_version, const std::vector<std::string_view>& te, bool has_content_length) {
  if (te.empty()) return {};
  if (http_version < 11) return "Transfer-Encoding is not allowed in an HTTP/1.0 request";
  if (has_content_length) return "both Transfer-Encoding and Content-Length are present";
  if (te.size() > 1) return "more than one Transfer-Encoding field";
  if (!iequals(trim(te.front()), "chunked")) return "unsupported Transfer-Encoding (only chunked is accepted)";
  return {};
}

namespace {
int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string targetPathProblem(std::string_view path) {
  // The usual path has no escape, backslash or dot: nothing to decode. (One
  // pass with three compares: find_first_of searches its set per character,
  // ~600 instructions for /v1/chat/completions, measured with callgrind.)
  if (std::none_of(path.begin(), path.end(), [](char c) { return c == '%' || c == '\\' || c == '.'; })) return {};
  // Percent-decode once, then look at the segments between '/' and '\\':
  // what an upstream that decodes before normalising would see.
  std::string decoded;
  decoded.reserve(path.size());
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size() && hexValue(path[i + 1]) >= 0 && hexValue(path[i + 2]) >= 0) {
      char c = static_cast<char>(hexValue(path[i + 1]) * 16 + hexValue(path[i + 2]));
      if (c == '\0') return "the request path contains an encoded NUL";
      decoded.push_back(c);
      i += 2;
    } else {
      decoded.push_back(path[i]);
    }
  }
  if (path.find('\\') != std::string_view::npos || decoded.find('\\') != std::string::npos)
    return "the request path contains a backslash";
  std::string_view d = decoded;
  std::size_t start = 0;
  while (start <= d.size()) {
    std::size_t end = d.find('/', start);
    std::string_view seg = d.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (seg == "." || seg == "..") return "the request path contains a dot segment";
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return {};
}

}  // namespace gw
