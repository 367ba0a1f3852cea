// Internals of KeyService and KeyWorker, shared by key_service.cc and
// admin_api.cc only.
#pragma once

#include "keys/key_service.h"
#include "keys/key_state.h"
#include "state/redis_client.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

namespace gw::keys {

std::int64_t unixNow();
// A Redis integer reply, or a string reply holding one; 0 otherwise.
std::int64_t integerOf(const state::RedisReply& reply);

// Accounting not yet in Redis: usage per hash (with its lifetime) and
// tokens per tpm window, added up.
struct AccountingBatch {
  std::uint64_t sequence = 0;
  std::map<std::string, std::pair<UsageCounts, std::int64_t>> usage;
  std::map<std::string, std::int64_t> tokens;
  void add(std::string name, const UsageCounts& counts, std::int64_t ttl);
  bool empty() const { return usage.empty() && tokens.empty(); }
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

  Counter state_errors, rate_limited, key_spend;
  std::atomic<std::int64_t> last_error_log{0};
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
  net::awaitable<void> tick();
  net::awaitable<void> pollCooldowns();
  net::awaitable<void> reseed(const KeyTable& table);
  net::awaitable<void> flush();
  void accountOne(const UsageEvent& event);
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
};

}  // namespace gw::keys
