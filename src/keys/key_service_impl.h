// Internals of KeyService and KeyWorker, shared by key_service.cc and
// admin_api.cc only.
#pragma once

#include "keys/key_service.h"
#include "keys/key_state.h"
#include "state/redis_client.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gw::keys {

std::int64_t unixNow();
// A Redis integer reply, or a string reply holding one; 0 otherwise.
std::int64_t integerOf(const state::RedisReply& reply);

// Accounting not yet in Redis: usage per hash (with its lifetime) and
// tokens per tpm window, added up.
struct AccountingBatch {
  std::uint64_t sequence = 0;
  std::map<std::string, std::pair<UsageCounts, std::int64_t>> usage;
  // What to add to rpm and tpm windows, by window name.
  std::map<std::string, std::int64_t> windows;
  void add(std::string name, const UsageCounts& counts, std::int64_t ttl);
  bool empty() const { return usage.empty() && windows.empty(); }
};

// What one request of a key has recently cost, for sizing its leases
// (key_worker.cc): the largest of the recent records' tokens and spend,
// decaying by an eighth at each record (so one large request counts at
// once, and is forgotten after a few dozen small ones).
struct UsageEstimate {
  std::int64_t tokens = 0, cost_picos = 0;
  void add(std::int64_t request_tokens, std::int64_t request_cost_picos);
};

struct KeyService::Impl : std::enable_shared_from_this<KeyService::Impl> {
  Impl(KeyServiceOptions options, MetricsRegistry& metrics);

  KeyServiceOptions options;
  std::optional<state::RedisEndpoint> endpoint;  // set: Redis is the store
  std::shared_ptr<net::ssl::context> tls;        // rediss://
  // Without Redis the store; with Redis this instance's view.
  LocalState local;

  // The key table, swapped whole; workers cache it by generation.
  mutable std::mutex table_mutex;
  std::shared_ptr<const KeyTable> table;
  std::atomic<std::uint64_t> table_generation{0};
  std::shared_ptr<const KeyTable> currentTable() const;
  void publish(std::shared_ptr<const KeyTable> next);
  void publishLocal();  // rebuilds the table from LocalState's hashes

  // Per key id; written on the accounting thread, read by workers when
  // they ask for a lease.
  mutable std::mutex estimates_mutex;
  std::unordered_map<std::string, UsageEstimate> estimates;
  UsageEstimate estimateOf(const std::string& key_id) const;

  Counter state_errors, rate_limited, key_spend;
  std::atomic<std::int64_t> last_error_log{0};
  // When a call to the state store last failed (steady clock, ns), from any
  // thread: a lease checked before it is not used after it.
  std::atomic<std::int64_t> last_state_error{0};
  void noteStateError(const Error& e);
  std::unique_ptr<state::RedisClient> makeClient(net::io_context& on, std::chrono::milliseconds timeout);
  // Reads the keys and budgets from Redis and publishes them.
  net::awaitable<Status> reloadTable(state::RedisClient& client);

  // -- the accounting thread (everything below runs on it) --
  net::io_context io;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::thread thread;
  std::unique_ptr<state::RedisClient> redis;
  std::atomic<std::uint8_t> redis_state{static_cast<std::uint8_t>(state::RedisState::connecting)};
  std::string marker_name;  // "gw:acct:<instance>": the last batch applied
  std::uint64_t last_sequence = 0;
  AccountingBatch open;
  std::deque<AccountingBatch> sealed;
  bool flushing = false;
  bool outage_logged = false;
  bool stopping = false;
  KeyService::CooldownSink cooldown_sink;
  // Events from the telemetry thread (account()): handed over in bursts,
  // one wake-up of this thread for all that arrived meanwhile.
  std::mutex arriving_mutex;
  std::vector<UsageEvent> arriving;  // under arriving_mutex
  bool arriving_posted = false;      // under arriving_mutex
  std::vector<UsageEvent> taking;    // this thread's, being accounted
  // Requests a worker admitted on its local view because its Redis call
  // failed (REDIS_FAILURE_MODE=open), by rpm window name: added to the
  // shared window with the next batch, so that the instances' common count
  // includes them once Redis answers again.
  std::map<std::string, std::int64_t> owed_requests;  // under arriving_mutex
  // From a worker thread: one request admitted so, in window rpm_name.
  void oweRequest(const std::string& rpm_name);
  // Wakes this thread to take what arrived, unless a wake-up is pending.
  // Called with arriving_mutex held.
  void wakeForArrivals();
  net::steady_timer arriving_timer{io};
  void accountArrived();
  // The day, month and total period ids of period_ids_day (a unix day),
  // which name the usage hashes of the records accounted that day.
  std::int64_t period_ids_day = -1;
  std::array<std::string, 3> period_ids;
  net::awaitable<void> tick();
  net::awaitable<void> pollCooldowns();
  net::awaitable<void> reseed(const KeyTable& table);
  net::awaitable<void> flush();
  // Adds a batch of usage events to the counters (local and Redis's next
  // batch), grouped by the names they add to.
  void accountBatch(const std::vector<UsageEvent>& events);
  struct UsageGroup {
    const UsageEvent* first;  // its key, project, user and second
    UsageCounts counts;
    std::int64_t tokens;  // input and output, for tpm
  };
  std::vector<UsageGroup> groups;  // accountBatch's, reused
  void accountGroup(const KeyTable& table_now, const UsageGroup& group);
};

// A worker's lease for one key in one minute (key_worker.cc): what this
// worker may admit without asking the state store. With Redis, each
// admission that asks reserves a run of the rpm window's counts for this
// worker (never more in total than rpm) and checks the budgets and tpm;
// the next requests take those counts locally while the check is fresh.
// Without Redis it only caches the key's admission plan.
struct KeyLease {
  std::uint64_t generation = 0;  // of the key table it was made under
  std::int64_t minute = -1;      // unix minute of its rpm/tpm window
  AdmissionPlan plan;            // the key's checks in this minute
  // The rpm window's counts reserved for this worker and not yet used,
  // as runs [first, last], oldest first.
  std::deque<std::pair<std::int64_t, std::int64_t>> counts;
  // Requests that may still be admitted without asking, for a while after
  // checked_at; and those admitted so (which size the next lease).
  std::int64_t allowance = 0, admitted_locally = 0;
  std::chrono::steady_clock::time_point checked_at{};
  std::int64_t tokens = 0;  // the tpm window's tokens at the last check
  // Set while one of this worker's requests asks Redis for the next lease:
  // the key's other requests that find the lease spent meanwhile wait for
  // that answer (the timer is cancelled when it comes) instead of each
  // asking, which would split the lease into many small ones.
  std::shared_ptr<net::steady_timer> renewal;

  bool checksNothing() const { return plan.budgets.empty() && plan.rpm == 0 && plan.tpm == 0; }
  std::optional<std::int64_t> takeCount();
  void giveBack(std::int64_t count);
};

struct KeyWorker::Impl {
  Impl(std::shared_ptr<KeyService::Impl> s, net::io_context& i) : service(std::move(s)), io(i) {}
  std::shared_ptr<KeyService::Impl> service;
  net::io_context& io;
  std::unique_ptr<state::RedisClient> redis;  // the worker's own connection (Redis mode)
  std::uint64_t cached_generation = 0;
  std::shared_ptr<const KeyTable> cached;
  // The newest published table (cached until the generation moves).
  const std::shared_ptr<const KeyTable>& snapshot();
  // By key id; at most one per key of the table.
  std::unordered_map<std::string, KeyLease> leases;
  // The SHA-256 of the keys presented lately (hashKey), so a key is hashed
  // once and not at each of its requests. It holds presented keys, as the
  // request buffers do, in this process only; compared in constant time;
  // emptied when it reaches kMaxCachedHashes.
  struct PresentedKeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const noexcept { return std::hash<std::string_view>{}(key); }
  };
  struct PresentedKeyEqual {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const noexcept;
  };
  static constexpr std::size_t kMaxCachedHashes = 4096;
  std::unordered_map<std::string, std::string, PresentedKeyHash, PresentedKeyEqual> hashes;
  const std::string& hashOf(std::string_view presented_key);
  // The key's lease, made afresh when the table or the minute moved on.
  KeyLease& leaseFor(const VirtualKey& key, const KeyTable& table, std::int64_t now);
};

}  // namespace gw::keys
