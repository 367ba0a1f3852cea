// The RESP codec around hiredis: commands encoded, replies of every RESP2
// type parsed whole or byte by byte, and the limits that keep a hostile
// server from making the reader allocate.
#include "state/redis_reply.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <random>

#include <string>
#include <vector>

namespace gw::state {
namespace {

using namespace std::string_literals;
using T = RedisReply::Type;

std::vector<RedisReply> parseAll(std::string_view bytes, std::size_t piece = 0, ReplyLimits limits = {}) {
  RespReader reader(limits);
  std::vector<RedisReply> out;
  if (piece == 0) piece = !bytes.empty() ? bytes.size() : 1;
  for (std::size_t i = 0; i < bytes.size(); i += piece) {
    EXPECT_TRUE(reader.feed(bytes.substr(i, piece)));
    for (;;) {
      auto r = reader.next();
      EXPECT_TRUE(r) << r.error().message;
      if (!r || !*r) break;
      out.push_back(std::move(**r));
    }
  }
  return out;
}

// The first error the reader reports for `bytes`, fed in one piece.
std::string failure(std::string_view bytes, ReplyLimits limits = {}) {
  RespReader reader(limits);
  if (auto f = reader.feed(bytes); !f) return f.error().message;
  for (;;) {
    auto r = reader.next();
    if (!r) {
      EXPECT_EQ(r.error().code, "state_protocol_error");
      EXPECT_TRUE(reader.failed());
      EXPECT_FALSE(reader.next());  // stays failed
      return r.error().message;
    }
    if (!*r) return "";
  }
}

TEST(RespCodec, EncodesCommandsAsArraysOfBulkStrings) {
  std::string out;
  const std::string value = "a\r\nb\0c"s;
  std::vector<std::string_view> args{"SET", "k", value};
  ASSERT_TRUE(appendCommand(out, args));
  EXPECT_EQ(out, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\na\r\nb\0c\r\n"s);
  // Many arguments (past the inline argument vectors), appended.
  std::vector<std::string> many(40, "x");
  std::vector<std::string_view> views(many.begin(), many.end());
  ASSERT_TRUE(appendCommand(out, views));
  EXPECT_NE(out.find("*40\r\n$1\r\nx\r\n"), std::string::npos);
}

// The encoder writes what hiredis's own formatter writes, for any arguments.
TEST(RespCodec, CommandsAreEncodedAsHiredisEncodesThem) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> owned(rng() % 300);
    for (auto& a : owned) {
      a.resize(rng() % (round % 10 == 0 ? 100000 : 40));
      for (auto& c : a) c = static_cast<char>(rng());
    }
    if (owned.empty()) owned.emplace_back();
    std::vector<std::string_view> args(owned.begin(), owned.end());
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (auto a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    char* cmd = nullptr;
    const int n = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
    ASSERT_GT(n, 0);
    const std::string expected(cmd, static_cast<std::size_t>(n));
    redisFreeCommand(cmd);
    std::string out = "before";
    ASSERT_TRUE(appendCommand(out, args));
    ASSERT_EQ(out, "before" + expected) << round;
  }
}

TEST(RespCodec, EveryRespTwoType) {
  const std::string stream =
      "+OK\r\n-ERR wrong\r\n:-42\r\n$5\r\nhe\0lo\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n"
      "*3\r\n:1\r\n*2\r\n+a\r\n$-1\r\n-NOSCRIPT x\r\n"s;
  for (std::size_t piece : {std::size_t{0}, std::size_t{1}, std::size_t{3}}) {
    auto r = parseAll(stream, piece);
    ASSERT_EQ(r.size(), 9u) << piece;
    EXPECT_EQ(r[0], RedisReply::makeString("OK"));
    EXPECT_EQ(r[1], RedisReply::makeError("ERR wrong"));
    EXPECT_EQ(r[2], RedisReply::makeInteger(-42));
    EXPECT_EQ(r[3], RedisReply::makeString("he\0lo"s));
    EXPECT_EQ(r[4], RedisReply::makeString(""));
    EXPECT_TRUE(r[5].isNil());
    EXPECT_TRUE(r[6].isNil());
    EXPECT_EQ(r[7], RedisReply::makeArray({}));
    EXPECT_EQ(r[8], RedisReply::makeArray({RedisReply::makeInteger(1),
                                           RedisReply::makeArray({RedisReply::makeString("a"), RedisReply{}}),
                                           RedisReply::makeError("NOSCRIPT x")}));
  }
}

TEST(RespCodec, GarbageIsAProtocolError) {
  EXPECT_NE(failure("hello\r\n").find("Protocol error"), std::string::npos);
  EXPECT_NE(failure("\x00\x01\x02"s), "");
}

TEST(RespCodec, RespThreeTypesAreRefused) {
  // Never asked for (no HELLO 3): a map, a set, a push, a double, a bool.
  for (std::string s : {"%1\r\n+a\r\n+b\r\n", "~1\r\n:1\r\n", ">1\r\n:1\r\n", ",1.5\r\n", "#t\r\n", "_\r\n"})
    EXPECT_NE(failure(s), "") << s;
}

TEST(RespCodec, AnArrayHeaderCannotMakeTheReaderAllocate) {
  EXPECT_NE(failure("*2147483647\r\n").find("reply larger than the limit"), std::string::npos);
  EXPECT_NE(failure("*-5\r\n"), "");
  // Within the element limit but past the byte limit once charged.
  ReplyLimits small{1024, 7};
  EXPECT_NE(failure("*100\r\n", small).find("limit"), std::string::npos);
}

TEST(RespCodec, ABulkStringPastTheLimitIsRefused) {
  ReplyLimits small{800, 7};
  // The announced length alone passes no limit until its bytes are held.
  RespReader reader(small);
  ASSERT_TRUE(reader.feed("$100000000\r\n"));
  ASSERT_TRUE(reader.next());
  std::string chunk(400, 'x');
  ASSERT_TRUE(reader.feed(chunk));
  ASSERT_TRUE(reader.next());
  ASSERT_TRUE(reader.feed(chunk));
  auto third = reader.next();  // 812 bytes held: past the limit
  ASSERT_FALSE(third);
  EXPECT_NE(third.error().message.find("limit"), std::string::npos);
  EXPECT_TRUE(reader.failed());
  EXPECT_FALSE(reader.feed(chunk));
  // A complete bulk string past the limit is refused when built.
  EXPECT_NE(failure("$900\r\n" + std::string(900, 'y') + "\r\n", ReplyLimits{800, 7}).find("limit"), std::string::npos);
}

TEST(RespCodec, ManyElementsAddUpToTheLimit) {
  ReplyLimits limits{std::size_t{64} * 1024, 7};
  std::string s = "*2\r\n$40000\r\n" + std::string(40000, 'a') + "\r\n$40000\r\n" + std::string(40000, 'b') + "\r\n";
  EXPECT_NE(failure(s, limits).find("limit"), std::string::npos);
  // Each alone fits.
  EXPECT_EQ(parseAll("$40000\r\n" + std::string(40000, 'a') + "\r\n", 0, limits).size(), 1u);
}

TEST(RespCodec, TheBudgetIsPerReply) {
  ReplyLimits limits{4096, 7};
  std::string one = "$3000\r\n" + std::string(3000, 'z') + "\r\n";
  EXPECT_EQ(parseAll(one + one + one, 0, limits).size(), 0u + 3);
}

TEST(RespCodec, NestingDepth) {
  std::string deep;
  for (int i = 0; i < 7; ++i) deep += "*1\r\n";
  EXPECT_EQ(parseAll(deep + ":1\r\n").size(), 1u);
  EXPECT_NE(failure("*1\r\n" + deep + ":1\r\n"), "");
  ReplyLimits shallow{1 << 20, 2};
  EXPECT_NE(failure("*1\r\n*1\r\n*1\r\n:1\r\n", shallow).find("nested too deep"), std::string::npos);
  EXPECT_EQ(parseAll("*1\r\n*1\r\n:1\r\n", 0, shallow).size(), 1u);
}

TEST(RespCodec, AFailedReaderStaysFailedAndFreesWhatItBuilt) {
  // A partial array, then garbage: the tree built so far is freed (ASan).
  RespReader reader;
  ASSERT_TRUE(reader.feed("*3\r\n$3\r\nabc\r\n*2\r\n:1\r\n"));
  auto partial = reader.next();
  ASSERT_TRUE(partial);
  EXPECT_FALSE(*partial);
  ASSERT_TRUE(reader.feed("?\r\n"));
  EXPECT_FALSE(reader.next());
  EXPECT_FALSE(reader.feed("+OK\r\n"));
  // Destroyed with a partial reply: freed too.
  RespReader other;
  ASSERT_TRUE(other.feed("*2\r\n$3\r\nabc\r\n"));
  ASSERT_TRUE(other.next());
}

}  // namespace
}  // namespace gw::state
