// REDIS_URL: where the shared state lives and how to log in to it.
//
//   redis://[[user]:password@]host[:port][/db]     plain TCP
//   rediss://[[user]:password@]host[:port][/db]    TLS (certificate and host name verified)
//
// The port defaults to 6379 and the database to 0. `redis://:secret@host`
// gives a password without a user (AUTH password, the `default` user);
// `redis://app:secret@host` logs in as the ACL user `app`. User and password
// are percent-decoded, so a password holding `@`, `:` or `/` is written
// `%40`, `%3A`, `%2F`. The host may be a name, an IPv4 address or a
// bracketed IPv6 address (`redis://[::1]:6380`).
//
// Rejected, each with a gw::Error whose message starts with "REDIS_URL: "
// and never holds the password (nor the URL, which may hold it): another
// scheme, no host, port 0 or out of range, a path other than `/` or `/<db>`
// (db a decimal number up to 2^31-1), a user without a password, and any
// query string or fragment. Clients such as redis-py read options from the
// query (`?ssl_cert_reqs=none`, `?db=`); ignoring them would silently drop
// what the operator asked for (worst: certificate checks they meant to
// relax, or a database they meant to select), so the gateway refuses them.
#pragma once

#include "gw/error.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace gw::state {

struct RedisEndpoint {
  bool tls = false;  // rediss://
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 6379;
  std::string user;      // empty: AUTH with the password only (the default user)
  std::string password;  // empty: no AUTH
  std::uint32_t db = 0;  // SELECT db when not 0

  // "redis://host:port/db" (or rediss://), with no credentials: safe to log.
  std::string describe() const;
};

Result<RedisEndpoint> parseRedisUrl(std::string_view url);

}  // namespace gw::state
