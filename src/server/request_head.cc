#include "server/request_head.h"

#include "common/ids.h"
#include "common/strings.h"

#include <algorithm>
#include <cstring>

namespace gw {

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

std::string_view presentedVirtualKey(const HeaderLookup& headers) {
  auto virtualKey = [](std::optional<std::string_view> v) {
    std::string_view t = v ? trim(*v) : std::string_view();
    return t.starts_with("gw-") ? t : std::string_view();
  };
  if (auto k = virtualKey(headers.get("x-gateway-key")); !k.empty()) return k;
  if (auto auth = headers.get("authorization")) {
    std::string_view a = trim(*auth);
    if (a.size() > 7 && iequals(a.substr(0, 7), "bearer "))
      if (auto k = virtualKey(a.substr(7)); !k.empty()) return k;
  }
  return virtualKey(headers.get("x-api-key"));
}

namespace {
bool isClientCredential(std::string_view name) {
  static constexpr std::string_view kNames[] = {"authorization",       "x-api-key",
                                                "api-key",             "x-goog-api-key",
                                                "x-aws-access-key-id", "x-aws-secret-access-key",
                                                "x-aws-session-token"};
  for (std::string_view n : kNames)
    if (iequals(name, n)) return true;
  return false;
}
}  // namespace

std::optional<std::string_view> WithoutClientCredentials::get(std::string_view name) const {
  return isClientCredential(name) ? std::nullopt : headers_.get(name);
}

void WithoutClientCredentials::forEach(const std::function<void(std::string_view, std::string_view)>& visit) const {
  headers_.forEach([&](std::string_view name, std::string_view value) {
    if (!isClientCredential(name)) visit(name, value);
  });
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
  // pass with three compares, where find_first_of would search its set per
  // character.)
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
