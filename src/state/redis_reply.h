// Redis replies as owning values, and the RESP2 codec around hiredis.
//
// hiredis (libhiredis-dev; Debian 12 ships 0.14.1) parses the server's
// bytes with its redisReader; commands, which are only written, are encoded
// here (appendCommand: RESP's request form, the bytes hiredis's
// redisFormatCommandArgv writes, checked against it by the tests). RespReader gives the reader its own object functions
// (redisReplyObjectFunctions), so a reply is built directly as a RedisReply
// while hiredis parses it, and every allocation is checked against
// ReplyLimits before it is made: an array header announcing 2^31 elements
// or a bulk string announcing gigabytes fails the reply instead of
// allocating. A hostile or broken server can therefore make a reply fail,
// never exhaust memory.
//
// Pure functions and single-owner objects; no I/O, no threads.
#pragma once

#include "gw/error.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gw::state {

// One RESP2 value. A status reply (+OK) is a string like a bulk string; an
// error reply (-ERR ...) keeps its text; a nil bulk or nil array is nil.
struct RedisReply {
  enum class Type : std::uint8_t { nil, integer, string, error, array };

  Type type = Type::nil;
  long long integer = 0;             // Type::integer
  std::string str;                   // Type::string and Type::error
  std::vector<RedisReply> elements;  // Type::array

  bool isNil() const { return type == Type::nil; }
  bool isInteger() const { return type == Type::integer; }
  bool isString() const { return type == Type::string; }
  bool isError() const { return type == Type::error; }
  bool isArray() const { return type == Type::array; }

  static RedisReply makeInteger(long long v);
  static RedisReply makeString(std::string s);
  static RedisReply makeError(std::string s);
  static RedisReply makeArray(std::vector<RedisReply> items);
  friend bool operator==(const RedisReply&, const RedisReply&) = default;
};

struct ReplyLimits {
  // Bytes one reply may take once built: the strings' bytes plus
  // sizeof(RedisReply) per array element. The raw bytes the reader holds
  // for a reply not yet complete are bounded by the same figure.
  std::size_t max_bytes = 64u << 20;
  // Arrays within arrays. Lua scripts and the commands the gateway sends
  // nest at most 2 deep; 7 is also hiredis 0.14's own ceiling.
  int max_depth = 7;
};

// Encodes one command as RESP (an array of bulk strings), appended to
// `out`. Never fails (an allocation failure throws); a Status for callers
// that encode and send in one expression.
Status appendCommand(std::string& out, std::span<const std::string_view> args);

// An incremental parser of a server's reply stream. After a failure it
// stays failed (the connection it reads must be closed: its framing is lost).
class RespReader {
 public:
  explicit RespReader(ReplyLimits limits = {});
  ~RespReader();
  RespReader(const RespReader&) = delete;
  RespReader& operator=(const RespReader&) = delete;

  // Adds bytes read from the server. Call next() until it returns nullopt
  // before feeding more: the reader then holds at most one incomplete reply
  // (at most limits.max_bytes of it) plus what is fed.
  Status feed(std::string_view bytes);
  // The next complete reply; nullopt when more bytes are needed; an Error
  // (code "state_protocol_error") when the stream is not RESP2 or a limit
  // is passed (by the reply built, or by the raw bytes held for a reply
  // not complete yet).
  Result<std::optional<RedisReply>> next();

  bool failed() const { return failed_; }

  struct Budget;  // the per-reply accounting the object functions see

 private:
  Error fail(std::string what);

  ReplyLimits limits_;
  std::unique_ptr<Budget> budget_;
  void* reader_ = nullptr;  // redisReader*; hiredis stays out of this header
  bool failed_ = false;
};

}  // namespace gw::state
