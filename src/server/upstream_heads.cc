#include "server/upstream_heads.h"

#include "common/strings.h"
#include "telemetry/secret_scrub.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace gw::server {

namespace http = boost::beast::http;
using namespace std::string_view_literals;  // "..."sv: appends without strlen()

// Headers from the upstream response that reach the client. Passthrough
// responses keep the provider's headers (rate limits, processing time...);
// translated ones keep only what still means the same thing.
// A header whose value holds one of the operator's credentials (an
// upstream, or a proxy before it, echoing the request) never reaches the
// client.
void forwardableHeaders(const UpstreamResponseParser& upstream, bool passthrough,
                        const std::vector<std::string_view>& operator_secrets,
                        std::vector<std::pair<std::string, std::string>>& out) {
  upstream.forEachField([&](http::field id, std::string_view name, std::string_view value) {
    // Framing, connection management and the gateway's own headers are the
    // gateway's to write. Compared by Beast's field enum where the name is
    // a known one: no lower-cased copy of each name.
    switch (id) {
      case http::field::content_type:
      case http::field::content_length:
      case http::field::content_encoding:  // bodies reach the client decoded
      case http::field::transfer_encoding:
      case http::field::connection:
      case http::field::keep_alive:
      case http::field::set_cookie:
      case http::field::proxy_connection:
      case http::field::upgrade:
      case http::field::trailer:
      case http::field::te:
      case http::field::alt_svc:
      case http::field::date:
      case http::field::server:
        return;
      default:
        break;
    }
    if (iequals(name, "x-request-id")) return;
    // A plain search: header values are short, where memmem's set-up per
    // call would cost more than the search.
    for (std::string_view secret : operator_secrets)
      if (value.size() >= secret.size() && value.find(secret) != std::string_view::npos) return;
    // The gateway's CORS policy (CORS_ALLOWED_ORIGINS) decides what a
    // browser may read, never the upstream's.
    if (name.size() >= 15 && iequals(name.substr(0, 15), "access-control-")) return;
    if (!passthrough && !iequals(name, "retry-after") && toLower(name).find("ratelimit") == std::string::npos) return;
    out.emplace_back(std::string(name), std::string(value));
  });
}

// The response's content-codings, every Content-Encoding field joined
// (RFC 9110 section 5.3), or nullopt when it has none.
std::optional<std::string> contentCodings(const UpstreamResponseParser& h) {
  if (!h.find(http::field::content_encoding)) return std::nullopt;  // the usual case: one scan by enum
  std::optional<std::string> codings;
  h.forEachField([&](http::field id, std::string_view, std::string_view value) {
    if (id != http::field::content_encoding) return;
    if (codings)
      codings->append(", ");
    else
      codings.emplace();
    codings->append(value);
  });
  return codings;
}

// The operator's credentials (the gateway's configuration) among those in
// the request sent upstream, as their bare values: what an echo would
// contain. A client's own key is not among them: echoed back to that client
// it tells nothing new. Providers write header names in lower case (see
// Provider::prepare). Values shorter than kMinSecretBytes are left out:
// they would match unrelated text, and no provider issues keys that short.
void collectOperatorSecrets(const UpstreamRequest& up, const ProviderConfig* config,
                            std::vector<std::string_view>& secrets) {
  static constexpr std::size_t kMinSecretBytes = 8;
  secrets.clear();
  if (config == nullptr) return;
  // The operator's own headers (a custom provider's `headers:`) whose name
  // says credential by the records' rule (x-team-api-key, x-auth-token):
  // their values are in every request of the provider.
  for (const auto& [name, value] : config->upstream_headers) {
    const std::string_view v = trim(value);
    if (v.size() >= kMinSecretBytes && isSecretKey(name)) secrets.push_back(v);
  }
  const std::string_view api_key = trim(config->env_api_key);
  const std::string_view session_token = trim(config->env_aws_session_token);
  if (api_key.size() < kMinSecretBytes && session_token.size() < kMinSecretBytes) return;
  for (const auto& [header, value] : up.headers) {
    const std::string_view name = header;  // compared by size first, unlike std::string == const char*
    std::string_view v = trim(value);
    if (name == "authorization"sv) {
      // "Bearer KEY": the key alone is what gets echoed in most places.
      if (std::size_t space = v.find(' '); space != std::string_view::npos) v = trim(v.substr(space + 1));
    } else if (name != "x-api-key"sv && name != "api-key"sv && name != "x-goog-api-key"sv &&
               name != "x-amz-security-token"sv) {
      continue;
    }
    if (v.size() >= kMinSecretBytes && (v == api_key || v == session_token)) secrets.push_back(v);
  }
}

void addConfiguredHeaders(const std::vector<std::pair<std::string, std::string>>& configured,
                          std::vector<std::pair<std::string, std::string>>& headers) {
  for (const auto& header : configured) {
    std::erase_if(headers, [&header](const auto& h) { return h.first == header.first; });
    headers.push_back(header);
  }
}

namespace {

// A non-negative decimal number of `unit`s ("2", "1.5"), at most a day.
std::optional<std::chrono::milliseconds> delayValue(std::string_view v, double ms_per_unit) {
  v = trim(v);
  if (v.empty() || v.size() > 32) return std::nullopt;
  double value = 0, scale = 0;
  for (char c : v) {
    if (c == '.' && scale == 0) {
      scale = 1;
    } else if (c >= '0' && c <= '9') {
      if (scale == 0) {
        value = value * 10 + (c - '0');
      } else {
        scale /= 10;
        value += (c - '0') * scale;
      }
    } else {
      return std::nullopt;
    }
  }
  const double ms = std::min(value * ms_per_unit, 86400000.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

// An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), the only form a
// sender may generate.
std::optional<std::chrono::system_clock::time_point> httpDate(std::string_view v) {
  v = trim(v);
  if (v.size() != 29 || v.substr(25) != " GMT") return std::nullopt;
  static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  auto num = [&](std::size_t at, std::size_t len) {
    int n = 0;
    for (std::size_t i = at; i < at + len; ++i) {
      if (v[i] < '0' || v[i] > '9') return -1;
      n = n * 10 + (v[i] - '0');
    }
    return n;
  };
  const int day = num(5, 2), year = num(12, 4), hour = num(17, 2), minute = num(20, 2), second = num(23, 2);
  const auto month = kMonths.find(v.substr(8, 3));
  if (day < 1 || day > 31 || year < 1970 || hour > 23 || minute > 59 || second > 60 ||
      month == std::string_view::npos || month % 3 != 0 || v[4] != ' ' || v[7] != ' ' || v[11] != ' ' || v[16] != ' ' ||
      v[19] != ':' || v[22] != ':')
    return std::nullopt;
  using namespace std::chrono;
  const year_month_day date{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month / 3 + 1)),
                            std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return std::nullopt;
  return sys_days(date) + hours(hour) + minutes(minute) + seconds(second);
}

}  // namespace

std::optional<std::chrono::milliseconds> retryAfter(const UpstreamResponseParser& h,
                                                    std::chrono::system_clock::time_point now) {
  if (auto ms = h.find("retry-after-ms")) {
    if (auto d = delayValue(*ms, 1)) return d;
  }
  auto v = h.find("retry-after");
  if (!v) return std::nullopt;
  if (auto d = delayValue(*v, 1000)) return d;
  if (auto date = httpDate(*v)) {
    auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(*date - now);
    return std::clamp(delay, std::chrono::milliseconds(0), std::chrono::milliseconds(86400000));
  }
  return std::nullopt;
}

std::optional<std::string> providerRequestId(const UpstreamResponseParser& h) {
  // In order of preference; one pass over the fields.
  static constexpr std::array<std::string_view, 6> kNames = {
      "x-request-id", "request-id", "x-amzn-requestid", "x-amz-request-id", "x-fireworks-request-id", "cf-ray"};
  std::size_t best = kNames.size();
  std::string_view found;
  h.forEachField([&](http::field, std::string_view name, std::string_view value) {
    if (value.empty()) return;
    for (std::size_t i = 0; i < best; ++i)
      if (iequals(name, kNames[i])) {
        best = i;
        found = value;
        break;
      }
  });
  if (best == kNames.size()) return std::nullopt;
  return std::string(found.substr(0, 256));
}

// The upstream request head, serialised once (and reused by the retry on a
// fresh connection). Header names and values come from the provider, which
// only forwards client headers Beast already validated; anything holding
// CR, LF or NUL is still dropped here so that no header can be injected.
std::optional<std::string> upstreamRequestHead(const UpstreamRequest& up, std::string_view body) {
  if (hasHeaderUnsafeBytes(up.method) || hasHeaderUnsafeBytes(up.target) || up.target.find(' ') != std::string::npos ||
      up.method.find(' ') != std::string::npos)
    return std::nullopt;
  std::string head;
  head.reserve(320 + up.target.size() + up.headers.size() * 48);
  appendPieces(head, up.method, " "sv, up.target, " HTTP/1.1\r\nHost: "sv);
  // A provider that signs its requests (bedrock) sets Host itself.
  auto signed_host = std::find_if(up.headers.begin(), up.headers.end(), [](const auto& h) {
    return iequals(h.first, "host") && !hasHeaderUnsafeBytes(h.second);
  });
  if (signed_host != up.headers.end()) {
    appendPieces(head, signed_host->second, "\r\n"sv);
  } else {
    bool ipv6 = up.endpoint.host.find(':') != std::string::npos;
    char port_digits[8];
    std::string_view port;
    if (up.endpoint.port != (up.endpoint.tls ? 443 : 80))
      port = std::string_view(port_digits,
                              std::to_chars(port_digits, port_digits + sizeof port_digits, up.endpoint.port).ptr);
    appendPieces(head, ipv6 ? "["sv : ""sv, up.endpoint.host, ipv6 ? "]"sv : ""sv, port.empty() ? ""sv : ":"sv, port,
                 "\r\n"sv);
  }
  for (const auto& [k, v] : up.headers) {
    if (iequals(k, "host") || hasHeaderUnsafeBytes(k) || hasHeaderUnsafeBytes(v) || k.empty()) continue;
    appendPieces(head, k, ": "sv, v, "\r\n"sv);
  }
  // The gateway reads every body it relays (usage, redaction, records), so
  // it asks for none in a content-coding (the client's Accept-Encoding is
  // not forwarded); an upstream that sends one anyway is decoded.
  // The body is always sent with its own Content-Length (the gateway
  // re-frames every request: nothing the client wrote about framing reaches
  // the upstream). Methods that carry a body get one even when it is empty.
  if (!body.empty() || up.method == "POST" || up.method == "PUT" || up.method == "PATCH") {
    char length_digits[24];
    std::string_view length(length_digits,
                            std::to_chars(length_digits, length_digits + sizeof length_digits, body.size()).ptr);
    appendPieces(head, "Accept-Encoding: identity\r\nContent-Length: "sv, length, "\r\n\r\n"sv);
  } else {
    appendPieces(head, "Accept-Encoding: identity\r\n\r\n"sv);
  }
  return head;
}

}  // namespace gw::server
