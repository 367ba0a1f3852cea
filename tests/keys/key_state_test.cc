// The key table, the state store's names and LocalState (src/keys/key_state.h).
#include "keys/key_state.h"

#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace gw::keys {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kDec6 = 1796601599;  // 2026-12-06T23:59:59Z

fs::path tempDir() {
  fs::path dir = fs::temp_directory_path() / ("gw-key-state-" + generateKeyId());
  fs::create_directories(dir);
  return dir;
}

std::string storedKey(const std::string& id, const std::string& hash, std::int64_t created) {
  VirtualKey k;
  k.id = id;
  k.hash = hash;
  k.created_at = created;
  return boost::json::serialize(toStoredJson(k));
}

TEST(KeyStateNames, UsageRpmTpmAndBudgetNames) {
  EXPECT_EQ(usageName(Scope::kKey, "vk_1", Period::kTotal, kDec6), "gw:usage:key:vk_1:t");
  EXPECT_EQ(usageName(Scope::kProject, "p", Period::kDay, 1796601599), "gw:usage:project:p:d20261206");
  EXPECT_EQ(usageName(Scope::kUser, "u", Period::kMonth, 1796601599), "gw:usage:user:u:m202612");
  EXPECT_EQ(rpmName("vk_1", 120), "gw:rpm:vk_1:2");
  EXPECT_EQ(tpmName("vk_1", 179), "gw:tpm:vk_1:2");
  EXPECT_EQ(budgetField(Scope::kProject, "p1"), "project:p1");
  EXPECT_EQ(usageTtlSeconds(Period::kTotal), 0);
  EXPECT_GT(usageTtlSeconds(Period::kDay), 86400);
  EXPECT_GT(usageTtlSeconds(Period::kMonth), 31 * 86400);
}

TEST(KeyTable, BuildsIndexesInCreationOrderAndSkipsCorruptEntries) {
  const std::string h1(64, 'a'), h2(64, 'b');
  const std::string id1 = "vk_" + std::string(24, '1'), id2 = "vk_" + std::string(24, '2');
  std::vector<std::string> problems;
  auto table = buildKeyTable({{id2, storedKey(id2, h2, 5)},
                              {id1, storedKey(id1, h1, 9)},
                              {"vk_bad", "{not json"},
                              {"vk_other", storedKey(id1, h1, 1)}},
                             {{"project:p", R"({"usd":1.5,"period":"day"})"}, {"user:u", R"({"usd":-1})"}}, 7,
                             problems);
  EXPECT_TRUE(table->loaded);
  EXPECT_EQ(table->version, 7);
  ASSERT_EQ(table->in_order.size(), 2u);
  EXPECT_EQ(table->in_order[0]->id, id2);  // created first
  EXPECT_EQ(table->by_hash.at(h1)->id, id1);
  EXPECT_EQ(table->by_id.size(), 2u);
  ASSERT_NE(table->budgetOf(Scope::kProject, "p"), nullptr);
  EXPECT_EQ(table->budgetOf(Scope::kProject, "p")->period, Period::kDay);
  EXPECT_EQ(table->budgetOf(Scope::kUser, "u"), nullptr);
  EXPECT_EQ(table->budgetOf(Scope::kProject, ""), nullptr);
  EXPECT_EQ(problems.size(), 3u);  // not JSON, stored under another id, negative usd
}

AdmissionPlan plan(std::int64_t rpm, std::int64_t tpm, std::vector<std::int64_t> budget_limits) {
  AdmissionPlan p;
  if (rpm) {
    p.rpm = rpm;
    p.rpm_name = "gw:rpm:k:1";
  }
  if (tpm) {
    p.tpm = tpm;
    p.tpm_name = "gw:tpm:k:1";
  }
  for (std::size_t i = 0; i < budget_limits.size(); ++i)
    p.budgets.push_back({Scope::kKey, "gw:usage:key:k" + std::to_string(i) + ":t", budget_limits[i]});
  return p;
}

TEST(LocalStateAdmission, RpmAdmitsExactlyTheLimitPerWindowAndDoesNotCountRefusals) {
  LocalState s({});
  const auto p = plan(3, 0, {});
  for (int i = 1; i <= 3; ++i) {
    auto c = s.admit(p);
    EXPECT_EQ(c.verdict, AdmissionCounts::Verdict::kAdmitted);
    EXPECT_EQ(c.requests, i);
  }
  for (int i = 0; i < 5; ++i) {
    auto c = s.admit(p);
    EXPECT_EQ(c.verdict, AdmissionCounts::Verdict::kRequests);
    EXPECT_EQ(c.requests, 3);
  }
  AdmissionPlan next = p;
  next.rpm_name = "gw:rpm:k:2";  // the next minute
  EXPECT_EQ(s.admit(next).verdict, AdmissionCounts::Verdict::kAdmitted);
}

TEST(LocalStateAdmission, TokensRefuseOnceTheWindowHoldsTpm) {
  LocalState s({});
  const auto p = plan(0, 100, {});
  EXPECT_EQ(s.admit(p).verdict, AdmissionCounts::Verdict::kAdmitted);
  s.addTokens(p.tpm_name, 99);
  auto c = s.admit(p);
  EXPECT_EQ(c.verdict, AdmissionCounts::Verdict::kAdmitted);
  EXPECT_EQ(c.tokens, 99);
  s.addTokens(p.tpm_name, 1);
  c = s.admit(p);
  EXPECT_EQ(c.verdict, AdmissionCounts::Verdict::kTokens);
  EXPECT_EQ(c.tokens, 100);
}

TEST(LocalStateAdmission, BudgetsAreCheckedFirstInOrderAndNameTheSpentOne) {
  LocalState s({});
  const auto p = plan(1, 10, {1000, 500});
  s.addUsage(p.budgets[1].usage_name, UsageCounts{1, 1, 1, 500});
  auto c = s.admit(p);
  EXPECT_EQ(c.verdict, AdmissionCounts::Verdict::kBudget);
  EXPECT_EQ(c.budget_index, 1u);
  EXPECT_EQ(c.spends, (std::vector<std::int64_t>{0, 500}));
  // A refusal by budget counts no request: the rpm window is still empty.
  AdmissionPlan rpm_only = plan(1, 0, {});
  EXPECT_EQ(s.admit(rpm_only).verdict, AdmissionCounts::Verdict::kAdmitted);
}

TEST(LocalStateAdmission, FollowTakesTheLargerOfRedisAndTheLocalView) {
  LocalState s({});
  const auto p = plan(10, 100, {1000});
  s.admit(p);  // local: 1 request
  AdmissionCounts from_redis;
  from_redis.requests = 7;
  from_redis.tokens = 40;
  from_redis.spends = {900};
  s.follow(p, from_redis);
  auto c = s.admit(p);
  EXPECT_EQ(c.requests, 8);
  EXPECT_EQ(c.tokens, 40);
  EXPECT_EQ(c.spends, (std::vector<std::int64_t>{900}));
  from_redis.requests = 2;  // older than what the local view saw since
  s.follow(p, from_redis);
  EXPECT_EQ(s.admit(p).requests, 9);
}

TEST(LocalStatePersistence, KeysAndUsageSurviveARestart) {
  const fs::path dir = tempDir();
  const std::string id = "vk_" + std::string(24, '3');
  {
    LocalState s(dir);
    ASSERT_TRUE(s.load());
    ASSERT_TRUE(s.hashSet(kKeysHash, id, storedKey(id, std::string(64, 'c'), 3)));
    ASSERT_TRUE(s.hashSet(kBudgetsHash, "user:u", R"({"usd":2,"period":"total"})"));
    s.addUsage("gw:usage:key:" + id + ":t", UsageCounts{2, 10, 20, 123456789});
    ASSERT_TRUE(s.saveUsageIfChanged());
  }
  LocalState again(dir);
  ASSERT_TRUE(again.load());
  EXPECT_TRUE(again.hashGet(kKeysHash, id).has_value());
  EXPECT_EQ(again.hashGetAll(kBudgetsHash).size(), 1u);
  const UsageCounts u = again.usage("gw:usage:key:" + id + ":t");
  EXPECT_EQ(u.requests, 2);
  EXPECT_EQ(u.input_tokens, 10);
  EXPECT_EQ(u.output_tokens, 20);
  EXPECT_EQ(u.spend_picos, 123456789);
  ASSERT_TRUE(again.hashSet(kKeysHash, id, std::nullopt));
  LocalState third(dir);
  ASSERT_TRUE(third.load());
  EXPECT_FALSE(third.hashGet(kKeysHash, id).has_value());
  fs::remove_all(dir);
}

TEST(LocalStatePersistence, ACorruptFileStopsStartUpNamingIt) {
  const fs::path dir = tempDir();
  std::ofstream(dir / "keys.json") << "{\"gw:keys\": [";
  LocalState s(dir);
  auto st = s.load();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("GATEWAY_STATE_DIR"), std::string::npos);
  EXPECT_NE(st.error().message.find("keys.json"), std::string::npos);
  fs::remove_all(dir);
}

TEST(LocalStatePersistence, AWriteThatFailsLeavesTheStateAsItWas) {
  const fs::path dir = tempDir();
  LocalState s(dir / "file-in-the-way" / "state");
  std::ofstream(dir / "file-in-the-way") << "x";  // the directory cannot be made
  EXPECT_FALSE(s.hashSet(kKeysHash, "vk_x", "{}"));
  EXPECT_FALSE(s.hashGet(kKeysHash, "vk_x").has_value());
  fs::remove_all(dir);
}

TEST(LocalStatePrune, DropsPastWindowsAndPastDaysAndMonthsOnly) {
  LocalState s({});
  const std::int64_t now = 1796601599;  // 2026-12-06T23:59:59Z
  const std::string old_window = rpmName("k", now - 180), live_window = rpmName("k", now);
  AdmissionPlan p;
  p.rpm = 100;
  p.rpm_name = old_window;
  s.admit(p);
  p.rpm_name = live_window;
  s.admit(p);
  for (const auto& name : {usageName(Scope::kKey, "k", Period::kDay, now - 86400),
                           usageName(Scope::kKey, "k", Period::kDay, now),
                           usageName(Scope::kKey, "k", Period::kMonth, now - 40 * 86400),
                           usageName(Scope::kKey, "k", Period::kMonth, now),
                           usageName(Scope::kKey, "k", Period::kTotal, now)})
    s.addUsage(name, UsageCounts{1, 0, 0, 1});
  s.prune(now);
  EXPECT_EQ(s.usage(usageName(Scope::kKey, "k", Period::kDay, now - 86400)).requests, 0);
  EXPECT_EQ(s.usage(usageName(Scope::kKey, "k", Period::kDay, now)).requests, 1);
  EXPECT_EQ(s.usage(usageName(Scope::kKey, "k", Period::kMonth, now - 40 * 86400)).requests, 0);
  EXPECT_EQ(s.usage(usageName(Scope::kKey, "k", Period::kMonth, now)).requests, 1);
  EXPECT_EQ(s.usage(usageName(Scope::kKey, "k", Period::kTotal, now)).requests, 1);
  p.rpm_name = old_window;
  EXPECT_EQ(s.admit(p).requests, 1);  // the old window started again from nothing
  p.rpm_name = live_window;
  EXPECT_EQ(s.admit(p).requests, 2);
}

}  // namespace
}  // namespace gw::keys
