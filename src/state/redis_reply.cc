#include "state/redis_reply.h"

#include <hiredis/hiredis.h>

#include <array>
#include <charconv>
#include <cstdlib>
#include <new>
#include <type_traits>

namespace gw::state {

RedisReply RedisReply::makeInteger(long long v) {
  RedisReply r;
  r.type = Type::integer;
  r.integer = v;
  return r;
}

RedisReply RedisReply::makeString(std::string s) {
  RedisReply r;
  r.type = Type::string;
  r.str = std::move(s);
  return r;
}

RedisReply RedisReply::makeError(std::string s) {
  RedisReply r;
  r.type = Type::error;
  r.str = std::move(s);
  return r;
}

RedisReply RedisReply::makeArray(std::vector<RedisReply> items) {
  RedisReply r;
  r.type = Type::array;
  r.elements = std::move(items);
  return r;
}

Status appendCommand(std::string& out, std::span<const std::string_view> args) {
  // RESP's request form, "*<count>\r\n" then "$<length>\r\n<bytes>\r\n" per
  // argument, written here rather than by hiredis's formatter, which
  // printf()s every length: an accounting batch has hundreds of arguments.
  constexpr std::size_t kHeader = 24;  // '*' or '$', the digits of a size_t, CRLF
  std::size_t size = kHeader;
  for (auto a : args) size += kHeader + a.size() + 2;
  const std::size_t start = out.size();
  out.resize(start + size);
  char* p = out.data() + start;
  auto header = [&p](char kind, std::size_t n) {
    *p++ = kind;
    p = std::to_chars(p, p + 20, n).ptr;
    *p++ = '\r';
    *p++ = '\n';
  };
  header('*', args.size());
  for (auto a : args) {
    header('$', a.size());
    p = std::copy(a.begin(), a.end(), p);
    *p++ = '\r';
    *p++ = '\n';
  }
  out.resize(static_cast<std::size_t>(p - out.data()));
  return ok();
}

// ---------------------------------------------------------------------------
// The reader's object functions. hiredis calls them as it parses; each
// returns the object it made, or nullptr to refuse it (hiredis then fails
// the reader with an "out of memory" error, which next() reports with the
// reason recorded here). The root of a reply is allocated; an element is
// built in place in its parent's vector, sized by the array header, so the
// root owns the whole tree and freeing the root (all hiredis ever frees)
// frees everything.

struct RespReader::Budget {
  std::size_t used = 0;
  std::size_t max = 0;
  int max_depth = 0;
  const char* refusal = nullptr;  // why the last object was refused

  bool charge(std::size_t bytes, const char* what) {
    if (bytes > max - used) {
      refusal = what;
      return false;
    }
    used += bytes;
    return true;
  }
};

namespace {

using Budget = RespReader::Budget;

Budget& budgetOf(const redisReadTask* task) { return *static_cast<Budget*>(task->privdata); }

// Puts `value` where the task says: a new root, or its slot in the parent.
void* place(const redisReadTask* task, RedisReply&& value) noexcept {
  if (task->parent == nullptr) return new (std::nothrow) RedisReply(std::move(value));
  auto* parent = static_cast<RedisReply*>(task->parent->obj);
  if (parent == nullptr || task->idx < 0 || static_cast<std::size_t>(task->idx) >= parent->elements.size()) {
    budgetOf(task).refusal = "malformed reply";
    return nullptr;
  }
  RedisReply& slot = parent->elements[static_cast<std::size_t>(task->idx)];
  slot = std::move(value);
  return &slot;
}

// A root is charged its own node; an element was charged by its array.
bool chargeNode(const redisReadTask* task, std::size_t extra) {
  std::size_t node = task->parent == nullptr ? sizeof(RedisReply) : 0;
  Budget& budget = budgetOf(task);
  return budget.charge(node, "reply larger than the limit") && budget.charge(extra, "reply larger than the limit");
}

void* createString(const redisReadTask* task, char* str, std::size_t len) noexcept {
  RedisReply::Type type;
  switch (task->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      type = RedisReply::Type::string;
      break;
    case REDIS_REPLY_ERROR:
      type = RedisReply::Type::error;
      break;
    default:  // RESP3 verbatim strings and big numbers: never asked for
      budgetOf(task).refusal = "unexpected RESP3 reply type";
      return nullptr;
  }
  if (!chargeNode(task, len)) return nullptr;
  try {
    RedisReply r;
    r.type = type;
    r.str.assign(str, len);
    return place(task, std::move(r));
  } catch (const std::bad_alloc&) {
    budgetOf(task).refusal = "out of memory";
    return nullptr;
  }
}

// Not noexcept: the address is taken with the count type deduced, which a
// noexcept template would not match. It throws nothing.
template <class Count>
void* createArray(const redisReadTask* task, Count count) {
  Budget& budget = budgetOf(task);
  if (task->type != REDIS_REPLY_ARRAY) {  // RESP3 maps, sets, pushes
    budget.refusal = "unexpected RESP3 reply type";
    return nullptr;
  }
  int depth = 1;
  for (const redisReadTask* p = task->parent; p != nullptr; p = p->parent) ++depth;
  if (depth > budget.max_depth) {
    budget.refusal = "reply nested too deep";
    return nullptr;
  }
  if constexpr (std::is_signed_v<Count>) {
    if (count < 0) {
      budget.refusal = "malformed array length";
      return nullptr;
    }
  }
  auto n = static_cast<unsigned long long>(count);
  if (n > budget.max / sizeof(RedisReply)) {
    budget.refusal = "reply larger than the limit";
    return nullptr;
  }
  if (!chargeNode(task, static_cast<std::size_t>(n) * sizeof(RedisReply))) return nullptr;
  try {
    RedisReply r;
    r.type = RedisReply::Type::array;
    r.elements.resize(static_cast<std::size_t>(n));
    return place(task, std::move(r));
  } catch (const std::bad_alloc&) {
    budget.refusal = "out of memory";
    return nullptr;
  }
}

void* createInteger(const redisReadTask* task, long long value) noexcept {
  if (!chargeNode(task, 0)) return nullptr;
  return place(task, RedisReply::makeInteger(value));
}

void* createNil(const redisReadTask* task) noexcept {
  if (!chargeNode(task, 0)) return nullptr;
  return place(task, RedisReply{});
}

void freeObject(void* obj) noexcept { delete static_cast<RedisReply*>(obj); }

// hiredis 1.x adds RESP3 doubles and booleans to the table; a RESP2
// connection never sees them, and a server that sends one anyway gets the
// reply refused rather than a placeholder pointer hiredis would otherwise
// hand back as an object.
template <class Fns>
void refuseResp3(Fns& fns) {
  if constexpr (requires { fns.createDouble; }) {
    fns.createDouble = [](const redisReadTask* task, double, char*, std::size_t) -> void* {
      budgetOf(task).refusal = "unexpected RESP3 reply type";
      return nullptr;
    };
  }
  if constexpr (requires { fns.createBool; }) {
    fns.createBool = [](const redisReadTask* task, int) -> void* {
      budgetOf(task).refusal = "unexpected RESP3 reply type";
      return nullptr;
    };
  }
}

redisReplyObjectFunctions* objectFunctions() {
  static redisReplyObjectFunctions fns = [] {
    redisReplyObjectFunctions f{};
    f.createString = &createString;
    f.createArray = &createArray;  // deduces the count type of this hiredis version
    f.createInteger = &createInteger;
    f.createNil = &createNil;
    f.freeObject = &freeObject;
    refuseResp3(f);
    return f;
  }();
  return &fns;
}

redisReader* asReader(void* r) { return static_cast<redisReader*>(r); }

}  // namespace

RespReader::RespReader(ReplyLimits limits) : limits_(limits), budget_(std::make_unique<Budget>()) {
  budget_->max = limits_.max_bytes;
  budget_->max_depth = limits_.max_depth;
  redisReader* r = redisReaderCreateWithFunctions(objectFunctions());
  if (r == nullptr) {
    failed_ = true;
    return;
  }
  r->privdata = budget_.get();
  reader_ = r;
}

RespReader::~RespReader() {
  if (reader_ != nullptr) redisReaderFree(asReader(reader_));
}

Error RespReader::fail(std::string what) {
  failed_ = true;
  return Error{503, "server_error", "state_protocol_error", "Redis protocol error: " + std::move(what)};
}

Status RespReader::feed(std::string_view bytes) {
  if (failed_ || reader_ == nullptr) return fail("the reply stream already failed");
  redisReader* r = asReader(reader_);
  // next() checks what an incomplete reply holds; this catches a caller
  // that feeds without draining.
  if (r->len - r->pos > limits_.max_bytes) return fail("reply larger than the limit");
  if (bytes.empty()) return ok();
  if (redisReaderFeed(r, bytes.data(), bytes.size()) != REDIS_OK) return fail("out of memory");
  return ok();
}

Result<std::optional<RedisReply>> RespReader::next() {
  if (failed_ || reader_ == nullptr) return fail("the reply stream already failed");
  redisReader* r = asReader(reader_);
  budget_->refusal = nullptr;
  void* obj = nullptr;
  if (redisReaderGetReply(r, &obj) != REDIS_OK) {
    // A refused object shows as hiredis's "Out of memory": say why instead.
    return fail(budget_->refusal != nullptr ? budget_->refusal : r->errstr);
  }
  if (obj == nullptr) {
    // Incomplete: the bytes hiredis holds for it count against the limit
    // (a bulk string is held whole until its last byte arrives).
    if (r->len - r->pos > limits_.max_bytes) return fail("reply larger than the limit");
    return std::optional<RedisReply>{};
  }
  std::unique_ptr<RedisReply> reply(static_cast<RedisReply*>(obj));
  budget_->used = 0;
  return std::optional<RedisReply>(std::move(*reply));
}

}  // namespace gw::state
