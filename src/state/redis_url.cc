#include "state/redis_url.h"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <charconv>

namespace gw::state {
namespace {

Error urlError(std::string what) { return Error{2, "config_error", "REDIS_URL", "REDIS_URL: " + std::move(what)}; }

bool isIpv6(std::string_view host) { return host.find(':') != std::string_view::npos; }

}  // namespace

std::string RedisEndpoint::describe() const {
  std::string s = tls ? "rediss://" : "redis://";
  if (isIpv6(host)) {
    s.append("[").append(host).append("]");
  } else {
    s.append(host);
  }
  s.append(":").append(std::to_string(port)).append("/").append(std::to_string(db));
  return s;
}

Result<RedisEndpoint> parseRedisUrl(std::string_view url) {
  // The text of the URL never goes into a message: it may hold the password.
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return urlError("not a valid URL (expected redis://[[user]:password@]host[:port][/db])");
  const boost::urls::url_view& u = *parsed;
  RedisEndpoint ep;
  std::string scheme(u.scheme());
  for (char& c : scheme) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (scheme == "rediss") {
    ep.tls = true;
  } else if (scheme != "redis") {
    return urlError("the scheme must be redis:// or rediss://");
  }
  if (!u.has_authority()) return urlError("missing host (expected redis://host...)");
  switch (u.host_type()) {
    case boost::urls::host_type::name:
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::ipv6:
      break;
    default:
      return urlError("unsupported host");
  }
  ep.host = u.host_address();
  if (ep.host.empty()) return urlError("missing host");
  for (char c : ep.host) {
    // A decoded name with a control character or a space cannot be a host.
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return urlError("invalid host");
  }
  if (u.has_port()) {
    std::string_view port = u.port();
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
      return urlError("invalid port");
    ep.port = static_cast<std::uint16_t>(value);
  }
  if (u.has_userinfo()) {
    ep.user = u.user();
    if (u.has_password()) ep.password = u.password();
    if (!ep.user.empty() && ep.password.empty())
      return urlError("a user needs a password (redis://user:password@host; a password alone: redis://:password@host)");
  }
  if (u.has_query()) return urlError("query parameters are not supported");
  if (u.has_fragment()) return urlError("a fragment is not supported");
  std::string_view path = u.encoded_path();
  if (!path.empty() && path != "/") {
    std::string_view digits = path.substr(1);
    std::uint32_t db = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), db);
    if (path.front() != '/' || digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
        db > 0x7fffffffu)
      return urlError("the path must be /<database number>");
    ep.db = db;
  }
  return ep;
}

}  // namespace gw::state
