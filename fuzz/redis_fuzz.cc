// Fuzzes the Redis state store's parsers of bytes it does not control
// (src/state): REDIS_URL (parseRedisUrl) and the server's reply stream
// (RespReader: hiredis's redisReader building RedisReply values under
// ReplyLimits).
//
// The control byte's low two bits pick the mode:
//  0  REDIS_URL: an accepted URL has a host, a port and no credentials in
//     describe(); a refused one has one of the fixed "REDIS_URL: ..."
//     messages, so nothing of the URL (a password) can be in it.
//  1  replies: the stream parsed in one piece and in input-chosen pieces
//     gives the same replies and the same verdict; each reply, written back
//     as RESP by this harness and parsed again, is the same value; with a
//     small byte limit the reader gives a prefix of those replies, each
//     within the limit.
//  2  commands: arguments from the input, encoded by appendCommand, parse
//     back as an array of exactly those bulk strings.
#include "fuzz_support.h"
#include "state/redis_reply.h"
#include "state/redis_url.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace {

using gw::state::RedisReply;
using gw::state::ReplyLimits;
using gw::state::RespReader;

// The messages parseRedisUrl gives (src/state/redis_url.cc).
constexpr std::string_view kMessages[] = {
    "not a valid URL (expected redis://[[user]:password@]host[:port][/db])",
    "the scheme must be redis:// or rediss://",
    "missing host (expected redis://host...)",
    "unsupported host",
    "missing host",
    "invalid host",
    "invalid port",
    "a user needs a password (redis://user:password@host; a password alone: redis://:password@host)",
    "query parameters are not supported",
    "a fragment is not supported",
    "the path must be /<database number>",
};

void checkUrl(std::string_view url) {
  auto r = gw::state::parseRedisUrl(url);
  if (r) {
    if (r->host.empty() || r->port == 0) std::abort();
    if (r->db > 0x7fffffffu) std::abort();
    // describe() is made of scheme, host, port and db only.
    const bool v6 = r->host.find(':') != std::string::npos;
    const std::string expected = std::string(r->tls ? "rediss://" : "redis://") + (v6 ? "[" : "") + r->host +
                                 (v6 ? "]" : "") + ":" + std::to_string(r->port) + "/" + std::to_string(r->db);
    if (r->describe() != expected) std::abort();
    if (!r->user.empty() && r->password.empty()) std::abort();
    return;
  }
  // Every refusal is one of the fixed messages: nothing of the URL (which
  // may hold a password) goes into it.
  const std::string& m = r.error().message;
  if (m.rfind("REDIS_URL: ", 0) != 0) std::abort();
  if (std::find(std::begin(kMessages), std::end(kMessages), std::string_view(m).substr(11)) == std::end(kMessages))
    std::abort();
}

// RESP2 for a reply (the harness's own writer; the gateway only reads).
void write(const RedisReply& r, std::string& out) {
  switch (r.type) {
    case RedisReply::Type::nil:
      out += "$-1\r\n";
      break;
    case RedisReply::Type::integer:
      out += ":" + std::to_string(r.integer) + "\r\n";
      break;
    case RedisReply::Type::string:
      out += "$" + std::to_string(r.str.size()) + "\r\n" + r.str + "\r\n";
      break;
    case RedisReply::Type::error:
      out += "-" + r.str + "\r\n";
      break;
    case RedisReply::Type::array:
      out += "*" + std::to_string(r.elements.size()) + "\r\n";
      for (const auto& e : r.elements) write(e, out);
      break;
  }
}

std::size_t footprint(const RedisReply& r) {
  std::size_t n = r.str.size();
  for (const auto& e : r.elements) n += sizeof(RedisReply) + footprint(e);
  return n;
}

struct Parsed {
  std::vector<RedisReply> replies;
  bool failed = false;
};

Parsed parse(const std::vector<std::string_view>& pieces, ReplyLimits limits) {
  RespReader reader(limits);
  Parsed p;
  for (std::string_view piece : pieces) {
    if (!reader.feed(piece)) {
      p.failed = true;
      return p;
    }
    for (;;) {
      auto r = reader.next();
      if (!r) {
        if (r.error().code != "state_protocol_error") std::abort();
        p.failed = true;
        return p;
      }
      if (!*r) break;
      p.replies.push_back(std::move(**r));
    }
  }
  return p;
}

void checkReplies(std::string_view sizes, std::string_view bytes) {
  const ReplyLimits large{};  // 64 MiB: no fuzz input comes near it
  Parsed whole = parse({bytes}, large);
  Parsed split = parse(gw::fuzz::pieces(bytes, sizes, 64), large);
  // Whole replies are the same however the bytes arrive. (A stream that
  // fails may fail after fewer replies in one piece: hiredis parses ahead
  // of the reply it returns.)
  if (whole.failed != split.failed) std::abort();
  if (!whole.failed && whole.replies != split.replies) std::abort();
  const auto& shortest = whole.replies.size() < split.replies.size() ? whole.replies : split.replies;
  const auto& longest = whole.replies.size() < split.replies.size() ? split.replies : whole.replies;
  if (!std::equal(shortest.begin(), shortest.end(), longest.begin())) std::abort();

  for (const auto& r : longest) {
    std::string again;
    write(r, again);
    Parsed round = parse({again}, large);
    if (round.failed || round.replies.size() != 1 || round.replies[0] != r) std::abort();
  }

  const ReplyLimits small{512, 3};
  Parsed limited = parse(gw::fuzz::pieces(bytes, sizes, 64), small);
  if (limited.replies.size() > longest.size()) std::abort();
  for (std::size_t i = 0; i < limited.replies.size(); ++i) {
    if (limited.replies[i] != longest[i]) std::abort();
    if (footprint(limited.replies[i]) > small.max_bytes) std::abort();
  }
}

void checkCommand(gw::fuzz::FuzzInput& in) {
  std::vector<std::string> args;
  while (!in.empty() && args.size() < 40) args.emplace_back(in.bytes());
  if (args.empty()) return;
  std::vector<std::string_view> views(args.begin(), args.end());
  std::string encoded;
  if (!gw::state::appendCommand(encoded, views)) std::abort();
  Parsed p = parse({encoded}, ReplyLimits{});
  if (p.failed || p.replies.size() != 1 || !p.replies[0].isArray()) std::abort();
  const auto& items = p.replies[0].elements;
  if (items.size() != args.size()) std::abort();
  for (std::size_t i = 0; i < args.size(); ++i)
    if (!items[i].isString() || items[i].str != args[i]) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gw::fuzz::FuzzInput in(data, size);
  switch (in.byte() & 3) {
    case 0:
      checkUrl(in.rest());
      break;
    case 1: {
      std::string_view sizes = in.bytes(32);
      checkReplies(sizes, in.rest());
      break;
    }
    default:
      checkCommand(in);
      break;
  }
  return 0;
}
