#include "keys/key_service.h"

#include "common/log.h"
#include "config/core_settings.h"
#include "keys/key_service_impl.h"
#include "keys/key_text.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <charconv>

namespace gw::keys {

namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("keys");
  return l;
}

// -- the Lua scripts (the same rules as LocalState's C++) --------------------

// Adds one accounting batch, at most once: KEYS[1] holds the sequence
// number of the last batch this instance applied (batches are sent in
// order, one at a time, a failed one again as it was), so a batch whose
// answer was lost and that is sent again is not counted twice.
// KEYS: the marker, the usage hashes, the rpm and tpm windows. ARGV: the
// batch's sequence number, the number of usage hashes, five values per hash
// (requests, input tokens, output tokens, picodollars, lifetime or 0), one
// per window (the requests or tokens to add).
const state::RedisScript& accountScript() {
  static const state::RedisScript script(R"lua(
local seq = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if seq <= last then return 0 end
local n = tonumber(ARGV[2])
local a = 3
for i = 2, n + 1 do
  redis.call('HINCRBY', KEYS[i], 'requests', ARGV[a])
  redis.call('HINCRBY', KEYS[i], 'input_tokens', ARGV[a + 1])
  redis.call('HINCRBY', KEYS[i], 'output_tokens', ARGV[a + 2])
  redis.call('HINCRBY', KEYS[i], 'spend_pusd', ARGV[a + 3])
  local ttl = tonumber(ARGV[a + 4])
  if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end
  a = a + 5
end
for i = n + 2, #KEYS do
  redis.call('INCRBY', KEYS[i], ARGV[a])
  redis.call('EXPIRE', KEYS[i], 120)
  a = a + 1
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', 86400)
return 1
)lua");
  return script;
}

// A consistent snapshot of the keys and budgets: {version, keys, budgets}.
const state::RedisScript& loadScript() {
  static const state::RedisScript script(R"lua(
return {redis.call('GET', KEYS[3]) or '0', redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
)lua");
  return script;
}

std::vector<std::pair<std::string, std::string>> pairsOf(const state::RedisReply& r) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!r.isArray()) return out;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) out.emplace_back(r.elements[i].str, r.elements[i + 1].str);
  return out;
}

}  // namespace

std::int64_t integerOf(const state::RedisReply& r) {
  if (r.isInteger()) return r.integer;
  if (r.isString()) {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(r.str.data(), r.str.data() + r.str.size(), v);
    if (ec == std::errc()) return v;
  }
  return 0;
}

std::int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// -- options --------------------------------------------------------------------------

Result<KeyServiceOptions> KeyServiceOptions::fromConfig(const ConfigSource& source) {
  const CoreSettings config(source);
  KeyServiceOptions o;
  o.redis_url = config.getString("REDIS_URL", "");
  auto timeout = config.getInt("REDIS_TIMEOUT_MS", 50, 1, 60000);
  if (!timeout) return timeout.error();
  o.redis_timeout = std::chrono::milliseconds(*timeout);
  const std::string mode = config.getString("REDIS_FAILURE_MODE", "open");
  if (mode == "closed")
    o.fail_closed = true;
  else if (mode != "open")
    return configError("REDIS_FAILURE_MODE", "must be open or closed, not '" + mode.substr(0, 64) + "'");
  o.admin_key = config.getString("GATEWAY_ADMIN_KEY", "");
  o.state_dir = config.getString("GATEWAY_STATE_DIR", "gateway-state");
  if (o.state_dir.empty()) return configError("GATEWAY_STATE_DIR", "must not be empty");
  return o;
}

// -- the service ----------------------------------------------------------------------

KeyService::Impl::Impl(KeyServiceOptions o, MetricsRegistry& metrics)
    : options(std::move(o)),
      local(options.redis_url.empty() ? std::filesystem::path(options.state_dir) : std::filesystem::path()) {
  state_errors = metrics.counter("ai_gateway_state_store_errors_total",
                                 "Failed calls to the state store (Redis), by error code", "1", {"code"});
  rate_limited = metrics.counter("ai_gateway_rate_limited_total",
                                 "Requests refused by a virtual key's limit or a budget, by reason (rpm, tpm, budget)",
                                 "1", {"reason"});
  key_spend = metrics.counter("ai_gateway_key_spend_usd", "Spend of the requests of each virtual key (this instance)",
                              "USD", {"key_id"});
}

std::shared_ptr<const KeyTable> KeyService::Impl::currentTable() const {
  std::lock_guard lock(table_mutex);
  return table;
}

void KeyService::Impl::publish(std::shared_ptr<const KeyTable> next) {
  std::lock_guard lock(table_mutex);
  // With Redis, a snapshot read before a change published meanwhile (by an
  // admin call on a worker) must not replace it.
  if (table && table->loaded && next->version < table->version) return;
  table = std::move(next);
  table_generation.fetch_add(1, std::memory_order_release);
}

void KeyService::Impl::publishLocal() {
  std::vector<std::string> problems;
  publish(buildKeyTable(local.hashGetAll(kKeysHash), local.hashGetAll(kBudgetsHash), 0, problems));
  for (const auto& p : problems) logger()->error("state file entry skipped: {}", p);
}

std::unique_ptr<state::RedisClient> KeyService::Impl::makeClient(net::io_context& on,
                                                                 std::chrono::milliseconds timeout) {
  auto weak = weak_from_this();
  return std::make_unique<state::RedisClient>(on, *endpoint, tls, timeout, [weak](const Error& e) {
    if (auto self = weak.lock()) self->noteStateError(e);
  });
}

void KeyService::Impl::noteStateError(const Error& e) {
  state_errors.add({e.code});
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  last_state_error.store(now, std::memory_order_relaxed);
  auto last = last_error_log.load(std::memory_order_relaxed);
  if (now - last >= std::chrono::nanoseconds(std::chrono::seconds(10)).count() &&
      last_error_log.compare_exchange_strong(last, now))
    logger()->warn(
        "state store: {} (counted in ai_gateway_state_store_errors_total; further errors are logged every 10 s)",
        e.message);
}

net::awaitable<Status> KeyService::Impl::reloadTable(state::RedisClient& client) {
  const std::array<std::string_view, 3> keys{kKeysHash, kBudgetsHash, kVersionName};
  auto reply = co_await client.evalsha(loadScript(), keys, std::span<const std::string_view>());
  if (!reply) co_return reply.error();
  if (!reply->isArray() || reply->elements.size() != 3)
    co_return Error{503, "server_error", "state_protocol_error", "unexpected reply to the key table's load"};
  std::vector<std::string> problems;
  auto next =
      buildKeyTable(pairsOf(reply->elements[1]), pairsOf(reply->elements[2]), integerOf(reply->elements[0]), problems);
  for (const auto& p : problems) logger()->error("Redis entry skipped: {}", p);
  publish(std::move(next));
  co_return ok();
}

// The accounting thread's loop: every poll interval, the keys' version
// (a reload when it moved), the pending accounting, and the local files.
net::awaitable<void> KeyService::Impl::tick() {
  net::steady_timer timer(io);
  std::int64_t last_prune = 0;
  while (!stopping) {
    if (redis) {
      auto version = co_await redis->command("GET", kVersionName);
      const auto current = currentTable();
      if (version && version->isNil() && current->loaded && current->version > 0)
        co_await reseed(*current);
      else if (version && (!current->loaded || integerOf(*version) != current->version))
        co_await reloadTable(*redis);
      redis_state.store(static_cast<std::uint8_t>(redis->state()), std::memory_order_relaxed);
      if (!flushing && (!sealed.empty() || !open.empty())) co_await flush();
      if (cooldown_sink) co_await pollCooldowns();
    }
    const std::int64_t now = unixNow();
    if (now - last_prune >= 1) {
      local.prune(now);
      if (auto st = local.saveUsageIfChanged(); !st) logger()->error("{}", st.error().message);
      last_prune = now;
    }
    timer.expires_after(options.poll_interval);
    co_await timer.async_wait(net::use_awaitable);
  }
}

namespace {
std::int64_t unixMillisNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// KEYS: the cooldowns hash. ARGV: target, until (unix ms), now (unix ms).
// Keeps the later end of a cooldown and drops the ended ones.
const state::RedisScript& shareCooldownScript() {
  static const state::RedisScript script(R"lua(
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > old then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) <= tonumber(ARGV[3]) then redis.call('HDEL', KEYS[1], all[i]) end
end
return 1
)lua");
  return script;
}
}  // namespace

// Redis restarted without persistence or flushed: the keys and budgets
// this instance holds are written back (by the first instance to notice;
// the script does nothing once the version exists again), so clients keep
// their keys. Usage counted before is lost but for what is still pending.
net::awaitable<void> KeyService::Impl::reseed(const KeyTable& table) {
  static const state::RedisScript script(R"lua(
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local n = tonumber(ARGV[2])
local a = 3
for i = 1, n do
  redis.call('HSET', KEYS[1], ARGV[a], ARGV[a + 1])
  a = a + 2
end
while a <= #ARGV do
  redis.call('HSET', KEYS[2], ARGV[a], ARGV[a + 1])
  a = a + 2
end
redis.call('SET', KEYS[3], ARGV[1])
return 1
)lua");
  std::vector<std::string> args{std::to_string(table.version), std::to_string(table.in_order.size())};
  for (const auto& key : table.in_order) {
    args.push_back(key->id);
    args.push_back(boost::json::serialize(toStoredJson(*key)));
  }
  for (const auto& [field, budget] : table.budgets) {
    args.push_back(field);
    args.push_back(boost::json::serialize(toAdminJson(budget)));
  }
  const std::array<std::string_view, 3> keys{kKeysHash, kBudgetsHash, kVersionName};
  std::vector<std::string_view> arg_views(args.begin(), args.end());
  auto reply = co_await redis->evalsha(script, keys, arg_views);
  if (reply && reply->isInteger() && reply->integer == 1)
    logger()->warn(
        "state store: Redis had lost the keys and budgets (restarted without persistence, or flushed): "
        "{} keys and {} budgets written back",
        table.in_order.size(), table.budgets.size());
}

net::awaitable<void> KeyService::Impl::pollCooldowns() {
  auto reply = co_await redis->command("HGETALL", kCooldownsHash);
  if (!reply) co_return;
  const std::int64_t now = unixMillisNow();
  for (const auto& [target, until_text] : pairsOf(*reply)) {
    std::int64_t until = 0;
    std::from_chars(until_text.data(), until_text.data() + until_text.size(), until);
    if (until > now) cooldown_sink(target, until);
  }
}

// How long the first record of a batch waits for others before it is
// accounted and sent: a small part of the time a request takes, so a
// budget is still seen as spent at once.
constexpr auto kAccountingBatchDelay = std::chrono::milliseconds(2);

void KeyService::Impl::accountBatch(const std::vector<UsageEvent>& events) {
  const auto table_now = currentTable();
  // Events with the same key, project, user and second add to the same
  // counters: a busy key's batch is many records of one group, so the names
  // are built and the maps updated once per group. Looking back a few groups
  // finds the group of nearly every event; one missed makes a second group
  // of the same names, which adds to the same counters.
  constexpr std::size_t kGroupsSearched = 8;
  groups.clear();
  {
    std::lock_guard lock(estimates_mutex);
    const std::string* estimated_key = nullptr;
    UsageEstimate* estimate = nullptr;
    for (const UsageEvent& e : events) {
      UsageGroup* group = nullptr;
      for (std::size_t i = groups.size(); i > 0 && i + kGroupsSearched > groups.size(); --i) {
        const UsageEvent& first = *groups[i - 1].first;
        if (first.unix_seconds == e.unix_seconds && first.key_id == e.key_id && first.project_id == e.project_id &&
            first.user_id == e.user_id) {
          group = &groups[i - 1];
          break;
        }
      }
      if (!group) group = &groups.emplace_back(UsageGroup{&e, {}, 0});
      group->counts.add(UsageCounts{1, e.input_tokens, e.output_tokens, e.cost_picos});
      const std::int64_t tokens = e.input_tokens + e.output_tokens;
      group->tokens += tokens;
      // The estimate follows every request, in order: it is of one request.
      if (e.key_id.empty()) continue;
      if (!estimated_key || *estimated_key != e.key_id) {
        estimated_key = &e.key_id;
        estimate = table_now->by_id.contains(e.key_id) ? &estimates[e.key_id] : nullptr;
      }
      if (estimate) estimate->add(tokens, e.cost_picos);
    }
  }
  for (const UsageGroup& group : groups) accountGroup(*table_now, group);
}

void KeyService::Impl::accountGroup(const KeyTable& table_now, const UsageGroup& group) {
  const UsageEvent& e = *group.first;
  const UsageCounts& counts = group.counts;
  if (const std::int64_t day = detail::dayOf(e.unix_seconds); day != period_ids_day) {
    period_ids_day = day;
    period_ids = {periodId(Period::kDay, e.unix_seconds), periodId(Period::kMonth, e.unix_seconds), "t"};
  }
  auto add = [&](Scope scope, const std::string& id) {
    constexpr std::array<Period, 3> kPeriods{Period::kDay, Period::kMonth, Period::kTotal};
    for (std::size_t i = 0; i < kPeriods.size(); ++i) {
      std::string name = usageName(scope, id, period_ids[i]);
      local.addUsage(name, counts);
      if (redis) open.add(std::move(name), counts, usageTtlSeconds(kPeriods[i]));
    }
  };
  if (!e.key_id.empty()) {
    add(Scope::kKey, e.key_id);
    key_spend.add({e.key_id}, picosToUsd(counts.spend_picos));
    auto it = table_now.by_id.find(e.key_id);
    if (it != table_now.by_id.end() && it->second->tpm && group.tokens > 0) {
      std::string name = tpmName(e.key_id, e.unix_seconds);
      local.addTokens(name, group.tokens);
      if (redis) open.windows[name] += group.tokens;
    }
  }
  if (!e.project_id.empty() && table_now.budgetOf(Scope::kProject, e.project_id)) add(Scope::kProject, e.project_id);
  if (!e.user_id.empty() && table_now.budgetOf(Scope::kUser, e.user_id)) add(Scope::kUser, e.user_id);
}

void UsageEstimate::add(std::int64_t request_tokens, std::int64_t request_cost_picos) {
  tokens = std::max(request_tokens, tokens - tokens / 8);
  cost_picos = std::max(request_cost_picos, cost_picos - cost_picos / 8);
}

UsageEstimate KeyService::Impl::estimateOf(const std::string& key_id) const {
  std::lock_guard lock(estimates_mutex);
  auto it = estimates.find(key_id);
  return it == estimates.end() ? UsageEstimate{} : it->second;
}

void AccountingBatch::add(std::string name, const UsageCounts& counts, std::int64_t ttl) {
  auto& entry = usage[std::move(name)];
  entry.first.add(counts);
  entry.second = ttl;
}

// Sends the sealed batches in order, one at a time, sealing the open one
// when they are sent; a failed one stays first, to be sent again as it was
// at the next tick.
net::awaitable<void> KeyService::Impl::flush() {
  flushing = true;
  for (;;) {
    if (sealed.empty()) {
      if (open.empty()) break;
      open.sequence = ++last_sequence;
      sealed.push_back(std::move(open));
      open = AccountingBatch{};
    }
    const AccountingBatch& batch = sealed.front();
    std::vector<std::string> args;
    std::vector<std::string_view> keys;
    keys.reserve(1 + batch.usage.size() + batch.windows.size());
    args.reserve(2 + 5 * batch.usage.size() + batch.windows.size());
    keys.push_back(marker_name);
    args.push_back(std::to_string(batch.sequence));
    args.push_back(std::to_string(batch.usage.size()));
    for (const auto& [name, entry] : batch.usage) {
      keys.push_back(name);
      args.push_back(std::to_string(entry.first.requests));
      args.push_back(std::to_string(entry.first.input_tokens));
      args.push_back(std::to_string(entry.first.output_tokens));
      args.push_back(std::to_string(entry.first.spend_picos));
      args.push_back(std::to_string(entry.second));
    }
    for (const auto& [name, added] : batch.windows) {
      keys.push_back(name);
      args.push_back(std::to_string(added));
    }
    std::vector<std::string_view> arg_views(args.begin(), args.end());
    auto reply = co_await redis->evalsha(accountScript(), keys, arg_views);
    if (!reply) {
      if (!outage_logged) {
        logger()->warn("state store: accounting is kept in memory until Redis answers again: {}",
                       reply.error().message);
        outage_logged = true;
      }
      break;
    }
    if (outage_logged) {
      logger()->info("state store: Redis answers again; accounting kept meanwhile is added");
      outage_logged = false;
    }
    sealed.pop_front();
  }
  flushing = false;
}

Result<std::unique_ptr<KeyService>> KeyService::start(KeyServiceOptions options, MetricsRegistry& metrics) {
  auto impl = std::make_shared<Impl>(std::move(options), metrics);
  if (!impl->options.redis_url.empty()) {
    auto endpoint = state::parseRedisUrl(impl->options.redis_url);
    if (!endpoint) return endpoint.error();
    impl->endpoint = std::move(*endpoint);
    if (impl->endpoint->tls) {
      impl->tls = std::make_shared<net::ssl::context>(net::ssl::context::tls_client);
      impl->tls->set_default_verify_paths();
      impl->tls->set_verify_mode(net::ssl::verify_peer);
    }
    impl->marker_name = "gw:acct:" + generateKeyId();
    auto empty = std::make_shared<KeyTable>();  // not loaded until Redis answers
    impl->publish(std::move(empty));
  } else {
    if (auto st = impl->local.load(); !st) return st.error();
    impl->publishLocal();
  }
  if (!impl->options.admin_key.empty() && impl->options.admin_key.size() < 16)
    logger()->warn("GATEWAY_ADMIN_KEY is shorter than 16 characters: anyone who guesses it manages the keys");
  impl->work.emplace(impl->io.get_executor());
  impl->thread = std::thread([impl] {
    if (impl->endpoint) {
      // Accounting is not on the request path: its calls may wait longer
      // than REDIS_TIMEOUT_MS, so a slow moment does not fail a batch.
      impl->redis = impl->makeClient(impl->io, std::max(impl->options.redis_timeout, std::chrono::milliseconds(1000)));
      impl->redis->start();
    }
    net::co_spawn(impl->io, impl->tick(), net::detached);
    impl->io.run();
    impl->redis.reset();
  });
  return std::unique_ptr<KeyService>(new KeyService(std::move(impl)));
}

KeyService::KeyService(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

KeyService::~KeyService() { stop(std::chrono::milliseconds(0)); }

bool KeyService::adminEnabled() const { return !impl_->options.admin_key.empty(); }

// Handlers posted to the accounting thread hold the Impl by raw pointer:
// they live in impl->io, which the Impl owns and which runs only on the
// thread stop() joins before the Impl can go. A shared_ptr there would make
// a cycle (Impl -> io_context -> a handler posted after the loop stopped ->
// Impl) that is never freed.
void KeyService::account(UsageEvent event) {
  Impl* impl = impl_.get();
  std::lock_guard lock(impl->arriving_mutex);
  impl->arriving.push_back(std::move(event));
  impl->wakeForArrivals();
}

void KeyService::Impl::oweRequest(const std::string& rpm_name) {
  std::lock_guard lock(arriving_mutex);
  ++owed_requests[rpm_name];
  wakeForArrivals();
}

void KeyService::Impl::wakeForArrivals() {
  if (arriving_posted) return;  // the posted handler takes these too
  arriving_posted = true;
  // The first arrival of a batch wakes the accounting thread, which takes
  // the batch a moment later: waking it for every record would switch
  // threads about as often as requests are served.
  Impl* impl = this;
  net::post(io, [impl] {
    impl->arriving_timer.expires_after(kAccountingBatchDelay);
    impl->arriving_timer.async_wait([impl](boost::system::error_code) { impl->accountArrived(); });
  });
}

void KeyService::Impl::accountArrived() {
  std::map<std::string, std::int64_t> owed;
  {
    std::lock_guard lock(arriving_mutex);
    arriving.swap(taking);
    owed.swap(owed_requests);
    arriving_posted = false;
  }
  accountBatch(taking);
  taking.clear();
  if (redis)
    for (const auto& [name, requests] : owed) open.windows[name] += requests;
  if (redis && !flushing && !open.empty()) net::co_spawn(io, flush(), net::detached);
}

void KeyService::shareCooldown(std::string target_id, std::int64_t until_unix_ms) {
  if (!impl_->endpoint) return;
  Impl* impl = impl_.get();
  net::post(impl->io, [impl, target_id = std::move(target_id), until_unix_ms] {
    net::co_spawn(
        impl->io,
        [impl, target_id, until_unix_ms]() -> net::awaitable<void> {
          if (!impl->redis) co_return;
          const std::string until = std::to_string(until_unix_ms), now = std::to_string(unixMillisNow());
          const std::array<std::string_view, 1> keys{kCooldownsHash};
          const std::array<std::string_view, 3> args{target_id, until, now};
          co_await impl->redis->evalsha(shareCooldownScript(), keys, args);
        },
        net::detached);
  });
}

void KeyService::setCooldownSink(CooldownSink sink) {
  Impl* impl = impl_.get();
  net::post(impl->io, [impl, sink = std::move(sink)]() mutable { impl->cooldown_sink = std::move(sink); });
}

boost::json::object KeyService::health() const {
  boost::json::object o;
  if (impl_->endpoint) {
    o["backend"] = "redis";
    o["state"] = state::toString(static_cast<state::RedisState>(impl_->redis_state.load(std::memory_order_relaxed)));
    o["endpoint"] = impl_->endpoint->describe();
  } else {
    o["backend"] = "local";
    o["state"] = "up";
    o["dir"] = impl_->options.state_dir;
  }
  return o;
}

void KeyService::stop(std::chrono::milliseconds budget) {
  Impl& im = *impl_;
  if (!im.thread.joinable()) return;
  // The last accounting reaches Redis within the budget, then the loop ends.
  Impl* impl = impl_.get();
  net::post(im.io, [impl, budget]() {
    net::co_spawn(
        impl->io,
        [impl, budget]() -> net::awaitable<void> {
          const auto deadline = std::chrono::steady_clock::now() + budget;
          impl->accountArrived();  // the last records, without waiting for their batch
          net::steady_timer pause(impl->io);
          while (impl->redis && (!impl->sealed.empty() || !impl->open.empty() || impl->flushing) &&
                 std::chrono::steady_clock::now() < deadline) {
            if (!impl->flushing) co_await impl->flush();
            pause.expires_after(std::chrono::milliseconds(20));
            co_await pause.async_wait(net::use_awaitable);
          }
          impl->stopping = true;
          if (impl->redis) impl->redis->close();
          impl->work.reset();
          impl->io.stop();
        },
        net::detached);
  });
  im.thread.join();
  if (auto st = im.local.saveUsageIfChanged(); !st) logger()->error("{}", st.error().message);
}

std::unique_ptr<KeyWorker> KeyService::attachWorker(net::io_context& io) {
  auto impl = std::make_unique<KeyWorker::Impl>(impl_, io);
  if (impl_->endpoint) {
    impl->redis = impl_->makeClient(io, impl_->options.redis_timeout);
    impl->redis->start();
  }
  return std::unique_ptr<KeyWorker>(new KeyWorker(std::move(impl)));
}

}  // namespace gw::keys
