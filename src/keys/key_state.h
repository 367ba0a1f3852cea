// The state behind virtual keys, in the process: the key table requests
// are checked against, the state store's names, and LocalState -- the
// authority without Redis (persisted in GATEWAY_STATE_DIR), and with Redis
// this instance's own view of the counters, used when Redis cannot answer
// (REDIS_FAILURE_MODE=open).
//
// The same names and the same admission rule serve both stores: LocalState
// runs in C++ what the Redis scripts (key_service.cc) run in Lua, on maps
// keyed by the Redis names.
#pragma once

#include "gw/error.h"
#include "keys/virtual_key.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gw::keys {

// -- names (the same in Redis and in LocalState) -----------------------------

inline constexpr std::string_view kKeysHash = "gw:keys";        // id -> stored key JSON
inline constexpr std::string_view kBudgetsHash = "gw:budgets";  // "project:<id>" / "user:<id>" -> budget JSON
inline constexpr std::string_view kVersionName = "gw:state:version";
inline constexpr std::string_view kCooldownsHash = "gw:cooldowns";  // route target -> until (unix ms)
// Rate-limit windows live this long (a window is one minute).
inline constexpr std::int64_t kWindowTtlSeconds = 120;

enum class Scope : std::uint8_t { kKey, kProject, kUser };
std::string_view toString(Scope scope);  // "key", "project", "user"

// "gw:usage:<scope>:<id>:<period id>"
std::string usageName(Scope scope, std::string_view id, Period period, std::int64_t unix_seconds);
// The same, given the period's id (periodId()).
std::string usageName(Scope scope, std::string_view id, std::string_view period_id);
// How long a usage hash is kept: 3 days for a day, 400 days for a month,
// forever (0) for the total.
std::int64_t usageTtlSeconds(Period period);
// "gw:rpm:<key id>:<unix minute>", "gw:tpm:<key id>:<unix minute>"
std::string rpmName(std::string_view key_id, std::int64_t unix_seconds);
std::string tpmName(std::string_view key_id, std::int64_t unix_seconds);
// "project:<id>" / "user:<id>": a budget's field in kBudgetsHash.
std::string budgetField(Scope scope, std::string_view id);

struct UsageCounts {
  std::int64_t requests = 0, input_tokens = 0, output_tokens = 0, spend_picos = 0;
  void add(const UsageCounts& other);
  bool empty() const { return requests == 0 && input_tokens == 0 && output_tokens == 0 && spend_picos == 0; }
};

// -- the key table -------------------------------------------------------------

// An immutable snapshot of every key and budget, shared by the workers.
struct KeyTable {
  // Whether the table holds the store's keys. False only with Redis before
  // the first successful load: a key cannot be checked yet.
  bool loaded = false;
  // Redis's gw:state:version of what the table holds (0 without Redis).
  std::int64_t version = 0;
  std::unordered_map<std::string, std::shared_ptr<const VirtualKey>> by_hash, by_id;
  std::vector<std::shared_ptr<const VirtualKey>> in_order;  // by created_at, then id
  std::unordered_map<std::string, Budget> budgets;          // budgetField() -> budget

  const Budget* budgetOf(Scope scope, std::string_view id) const;
  bool hasEntityBudgets() const { return !budgets.empty(); }
};

// Builds a table from the two hashes' entries. A corrupt entry is skipped
// and described in `problems` (one line each, naming the entry) rather than
// taking every other key down with it.
std::shared_ptr<const KeyTable> buildKeyTable(const std::vector<std::pair<std::string, std::string>>& keys,
                                              const std::vector<std::pair<std::string, std::string>>& budgets,
                                              std::int64_t version, std::vector<std::string>& problems);

// -- admission -------------------------------------------------------------------

// What one admission checks, in this order: budgets (spend in the usage
// hash below its limit), tokens of the tpm window below tpm, requests of
// the rpm window below rpm (and then counts the request there).
struct AdmissionPlan {
  struct BudgetCheck {
    Scope scope = Scope::kKey;
    std::string usage_name;
    std::int64_t limit_picos = 0;
    Period period = Period::kTotal;  // when the budget starts afresh (Retry-After)
  };
  std::vector<BudgetCheck> budgets;  // at most 3: key, project, user
  std::string rpm_name, tpm_name;    // "" when the key has no such limit
  std::int64_t rpm = 0, tpm = 0;
};

struct AdmissionCounts {
  enum class Verdict : std::uint8_t { kAdmitted, kBudget, kTokens, kRequests };
  Verdict verdict = Verdict::kAdmitted;
  std::size_t budget_index = 0;      // kBudget: which of plan.budgets
  std::int64_t requests = 0;         // the rpm window's count (with this request when admitted)
  std::int64_t tokens = 0;           // the tpm window's tokens
  std::vector<std::int64_t> spends;  // per plan.budgets, what the store held
};

// -- LocalState --------------------------------------------------------------------

// Thread-safe (one mutex: admissions, accounting and admin writes are short
// map operations). Without Redis it is the store; the files are written by
// atomic rename (keys.json at every admin change, usage.json by
// saveUsageIfChanged()).
class LocalState {
 public:
  // `dir` empty: nothing is persisted (the instance's view under Redis).
  explicit LocalState(std::filesystem::path dir);

  // Reads keys.json and usage.json when they exist. An unreadable or
  // corrupt file is an error naming it (start-up stops: silently starting
  // without the keys would lock every client out, or lose budgets).
  Status load();

  // The hashes (kKeysHash, kBudgetsHash) as Redis would hold them.
  std::optional<std::string> hashGet(std::string_view hash, std::string_view field) const;
  std::vector<std::pair<std::string, std::string>> hashGetAll(std::string_view hash) const;
  // Sets (value) or deletes (nullopt) a field, and persists keys.json.
  Status hashSet(std::string_view hash, std::string_view field, std::optional<std::string> value);

  AdmissionCounts admit(const AdmissionPlan& plan);
  // With Redis: what Redis answered, so the local view follows it (each
  // counter takes the larger of the two).
  void follow(const AdmissionPlan& plan, const AdmissionCounts& counts);
  // Adds usage to a hash and tokens to a tpm window.
  void addUsage(const std::string& usage_name, const UsageCounts& counts);
  void addTokens(const std::string& tpm_name, std::int64_t tokens);
  UsageCounts usage(const std::string& usage_name) const;

  // Drops rate-limit windows and day/month usage past their time (names
  // carry their period). Called by the accounting thread now and then.
  void prune(std::int64_t now_unix);
  // Writes usage.json if usage changed since the last write.
  Status saveUsageIfChanged();

  const std::filesystem::path& dir() const { return dir_; }

 private:
  Status saveKeys();  // with mutex_ held

  std::filesystem::path dir_;
  mutable std::mutex mutex_;
  std::map<std::string, std::map<std::string, std::string, std::less<>>, std::less<>> hashes_;
  std::unordered_map<std::string, std::int64_t> windows_;  // rpm/tpm name -> count
  std::unordered_map<std::string, UsageCounts> usage_;
  bool usage_changed_ = false;
};

}  // namespace gw::keys
