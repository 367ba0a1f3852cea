// The worker's side of KeyService (key_service.h): admission of a request
// and the admin API, on the worker's thread with its own state connection.
#include "keys/admin_api.h"
#include "keys/key_service_impl.h"

#include <openssl/crypto.h>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>

namespace gw::keys {

namespace {

// KEYS: rpm window, tpm window, then the usage hashes of the budgets.
// ARGV: rpm (0: none), tpm (0: none), the window's lifetime, the lease
// wanted (requests), whether the caller already holds its rpm count (1/0),
// a request's estimated tokens and cost in picodollars (0: unknown), then
// each budget's limit in picodollars.
// Returns {verdict, budget index, requests, tokens, {spends}, lease}:
// verdict 1 admitted, 2 a budget is spent, 3 the tpm window is full, 4 the
// rpm window is full. Admitted, `lease` requests (this one included) may
// go without asking while the check is fresh; a caller without its rpm
// count gets the counts requests-lease+1 .. requests, reserved here. A
// lease is at most a sixteenth of what is left of every limit (rpm counts,
// tokens and budgets by the estimates), and 1 without an estimate, so the
// leases N workers hold together stay a small part of any limit and shrink
// to one request each near it.
const state::RedisScript& admitScript() {
  static const state::RedisScript script(R"lua(
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local lease = tonumber(ARGV[4])
local holds_count = ARGV[5] == '1'
local est_tokens = tonumber(ARGV[6])
local est_cost = tonumber(ARGV[7])
local spends = {}
for i = 3, #KEYS do
  local spent = tonumber(redis.call('HGET', KEYS[i], 'spend_pusd') or '0')
  local limit = tonumber(ARGV[i + 5])
  spends[#spends + 1] = spent
  if spent >= limit then return {2, i - 3, 0, 0, spends, 0} end
  if est_cost > 0 then lease = math.min(lease, math.floor((limit - spent) / (16 * est_cost))) else lease = 1 end
end
local tokens = 0
if tpm > 0 then
  tokens = tonumber(redis.call('GET', KEYS[2]) or '0')
  if tokens >= tpm then return {3, 0, 0, tokens, spends, 0} end
  if est_tokens > 0 then lease = math.min(lease, math.floor((tpm - tokens) / (16 * est_tokens))) else lease = 1 end
end
local count = 0
if rpm > 0 then
  count = tonumber(redis.call('GET', KEYS[1]) or '0')
  if not holds_count then
    if count >= rpm then return {4, 0, count, tokens, spends, 0} end
    lease = math.max(1, math.min(lease, math.floor((rpm - count) / 16)))
    count = redis.call('INCRBY', KEYS[1], lease)
    if count == lease then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
  end
end
return {1, 0, count, tokens, spends, math.max(1, lease)}
)lua");
  return script;
}

// How long a lease's check of the budgets and tpm holds, and the most
// requests one lease covers.
constexpr auto kLeaseLife = std::chrono::milliseconds(1000);
constexpr std::int64_t kMaxLease = 1024;

// Ends a lease renewal whichever way its call went: the requests waiting
// for it wake up, and the lease may be renewed again.
struct RenewalDone {
  KeyLease* lease;
  std::shared_ptr<net::steady_timer> renewal;
  ~RenewalDone() {
    if (!renewal) return;
    if (lease->renewal == renewal) lease->renewal.reset();
    renewal->cancel();
  }
};

// One limit's three headers, "x-ratelimit-limit-<unit>: ...\r\n" and the
// remaining and reset ones, in OpenAI's format (reset as "45s", "1m0s").
// Written on every keyed request: composed in place in `out`, grown once to
// the most they can take.
void appendLimitHeaders(std::string& out, std::string_view unit, std::int64_t limit, std::int64_t used,
                        std::int64_t reset_seconds) {
  constexpr std::size_t kFixedText = 80;  // the names and separators (72 bytes), without the unit
  constexpr std::size_t kNumber = 20;     // digits of an int64, and a sign
  const std::size_t start = out.size();
  out.resize(start + kFixedText + 3 * unit.size() + 4 * kNumber);
  char* p = out.data() + start;
  auto text = [&](std::string_view t) { p = std::copy(t.begin(), t.end(), p); };
  auto number = [&](std::int64_t v) { p = std::to_chars(p, p + kNumber, v).ptr; };
  text("x-ratelimit-limit-");
  text(unit);
  text(": ");
  number(limit);
  text("\r\nx-ratelimit-remaining-");
  text(unit);
  text(": ");
  number(std::max<std::int64_t>(0, limit - used));
  text("\r\nx-ratelimit-reset-");
  text(unit);
  text(": ");
  if (reset_seconds >= 60) {
    number(reset_seconds / 60);
    text("m");
  }
  number(reset_seconds % 60);
  text("s\r\n");
  out.resize(static_cast<std::size_t>(p - out.data()));
}

Error stateUnavailable() {
  Error e{503, "server_error", "state_unavailable", "The gateway's state store is unavailable; try again"};
  e.retry_after_seconds = 1;
  return e;
}

}  // namespace

// -- the worker side --------------------------------------------------------------------

KeyWorker::KeyWorker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KeyWorker::~KeyWorker() = default;

const std::shared_ptr<const KeyTable>& KeyWorker::Impl::snapshot() {
  const auto generation = service->table_generation.load(std::memory_order_acquire);
  if (generation != cached_generation || !cached) {
    cached = service->currentTable();
    cached_generation = generation;
  }
  return cached;
}

bool KeyWorker::Impl::PresentedKeyEqual::operator()(std::string_view a, std::string_view b) const noexcept {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

const std::string& KeyWorker::Impl::hashOf(std::string_view presented_key) {
  if (auto it = hashes.find(presented_key); it != hashes.end()) return it->second;
  if (hashes.size() >= kMaxCachedHashes) hashes.clear();
  return hashes.emplace(std::string(presented_key), hashKey(presented_key)).first->second;
}

std::optional<std::int64_t> KeyLease::takeCount() {
  if (counts.empty()) return std::nullopt;
  auto& run = counts.front();
  const std::int64_t count = run.first++;
  if (run.first > run.second) counts.pop_front();
  return count;
}

void KeyLease::giveBack(std::int64_t count) { counts.emplace_front(count, count); }

namespace {

// The checks of a request: the key's budget and limits (when a key is
// presented), then the project's and the user's budgets.
void planChecks(AdmissionPlan& plan, const VirtualKey* key, std::string_view project, std::string_view user,
                const KeyTable& table, std::int64_t now) {
  auto addBudget = [&](Scope scope, std::string_view id, const Budget& b) {
    plan.budgets.push_back({scope, usageName(scope, id, b.period, now), usdToPicos(b.usd), b.period});
  };
  if (key && key->budget) addBudget(Scope::kKey, key->id, *key->budget);
  if (const Budget* b = table.budgetOf(Scope::kProject, project)) addBudget(Scope::kProject, project, *b);
  if (const Budget* b = table.budgetOf(Scope::kUser, user)) addBudget(Scope::kUser, user, *b);
  if (key && key->rpm) {
    plan.rpm_name = rpmName(key->id, now);
    plan.rpm = *key->rpm;
  }
  if (key && key->tpm) {
    plan.tpm_name = tpmName(key->id, now);
    plan.tpm = *key->tpm;
  }
}

}  // namespace

KeyLease& KeyWorker::Impl::leaseFor(const VirtualKey& key, const KeyTable& table, std::int64_t now) {
  KeyLease& lease = leases[key.id];
  const std::int64_t minute = now / 60;
  if (lease.generation == cached_generation && lease.minute == minute) return lease;
  lease = KeyLease{};
  lease.generation = cached_generation;
  lease.minute = minute;
  planChecks(lease.plan, &key, key.project_id.value_or(""), key.user_id.value_or(""), table, now);
  return lease;
}

void KeyWorker::close() {
  if (impl_->redis) impl_->redis->close();
}

bool KeyWorker::budgetsApplyWithoutKey() { return impl_->snapshot()->hasEntityBudgets(); }

net::awaitable<Admission> KeyWorker::admit(const AdmissionRequest& request) {
  Impl& im = *impl_;
  KeyService::Impl& svc = *im.service;
  Admission a;
  std::shared_ptr<const KeyTable> held = im.snapshot();  // this request's table, across co_awaits
  const std::int64_t now = unixNow();

  std::optional<std::string_view> project = request.project_header, user = request.user_header;
  if (!request.presented_key.empty()) {
    if (!held->loaded) {
      a.refusal = stateUnavailable();
      co_return a;
    }
    const std::string hash = im.hashOf(request.presented_key);
    auto it = held->by_hash.find(hash);
    if (it == held->by_hash.end() && im.redis) {
      // A key created on another instance a moment ago: the table is
      // reloaded when Redis holds a newer one, not only at the next poll.
      auto version = co_await im.redis->command("GET", kVersionName);
      if (version && integerOf(*version) != held->version && co_await svc.reloadTable(*im.redis)) {
        held = im.snapshot();
        it = held->by_hash.find(hash);
      }
    }
    if (it == held->by_hash.end()) {
      a.refusal = Error::unauthorized("invalid_virtual_key", "Unknown virtual key");
      co_return a;
    }
    a.key = it->second;
    const VirtualKey& key = *a.key;
    if (key.revoked()) {
      a.refusal = Error::unauthorized("virtual_key_revoked", "This virtual key has been revoked");
      co_return a;
    }
    if (key.expired(now)) {
      a.refusal = Error::unauthorized("virtual_key_expired", "This virtual key has expired");
      co_return a;
    }
    if (!request.model.empty() && !key.allows(request.model)) {
      a.refusal = Error{403, "permission_error", "model_not_allowed",
                        "This virtual key may not use the model '" + std::string(request.model.substr(0, 128)) + "'"};
      co_return a;
    }
    project = key.project_id ? std::optional<std::string_view>(*key.project_id) : std::nullopt;
    user = key.user_id ? std::optional<std::string_view>(*key.user_id) : std::nullopt;
  }
  if (project) a.project_id = std::string(*project);
  if (user) a.user_id = std::string(*user);

  // A key's checks come with its lease; a request without a key is
  // checked against the project's and user's budgets alone, one by one.
  KeyLease* lease = a.key ? &im.leaseFor(*a.key, *held, now) : nullptr;
  AdmissionPlan one_off;
  if (!lease) planChecks(one_off, nullptr, a.project_id, a.user_id, *held, now);
  const AdmissionPlan& plan = lease ? lease->plan : one_off;
  a.accounted = a.key || !plan.budgets.empty();
  const bool store_down =
      svc.redis_state.load(std::memory_order_relaxed) == static_cast<std::uint8_t>(state::RedisState::down);
  if (plan.budgets.empty() && plan.rpm == 0 && plan.tpm == 0) {
    // Nothing to count, so no call; but closed means closed: while the
    // state store is down (seen by the accounting thread's polls) even a
    // key without limits is refused, as its revocation could not be seen.
    if (im.redis && svc.options.fail_closed && store_down) a.refusal = stateUnavailable();
    co_return a;
  }

  AdmissionCounts counts;
  bool counted = false;
  if (im.redis) {
    // Within the lease: admitted here, on one of the counts it reserved.
    auto takeFromLease = [&] {
      if (!lease || lease->allowance <= 0 || std::chrono::steady_clock::now() >= lease->checked_at + kLeaseLife ||
          lease->checked_at.time_since_epoch().count() <= svc.last_state_error.load(std::memory_order_relaxed))
        return false;
      auto count = plan.rpm > 0 ? lease->takeCount() : std::optional<std::int64_t>(0);
      if (!count) return false;
      --lease->allowance;
      ++lease->admitted_locally;
      counts.requests = *count;
      counts.tokens = lease->tokens;
      return true;
    };
    // While another request asks for the next lease, wait for its answer
    // and take from what it brings, as long as renewals are in flight.
    for (counted = takeFromLease(); !counted && lease && lease->renewal; counted = takeFromLease()) {
      const std::shared_ptr<net::steady_timer> renewal = lease->renewal;
      boost::system::error_code ignored;
      co_await renewal->async_wait(net::redirect_error(net::use_awaitable, ignored));
    }
    if (!counted) {
      // This request asks; the key's others wait for its answer (a failed
      // one too: they then ask for themselves).
      std::shared_ptr<net::steady_timer> renewal;
      if (lease && !lease->renewal) {
        renewal = std::make_shared<net::steady_timer>(im.io, net::steady_timer::time_point::max());
        lease->renewal = renewal;
      }
      const RenewalDone renewal_done{lease, renewal};
      const auto clock_now = std::chrono::steady_clock::now();
      // Ask Redis: the budgets and tpm afresh, and a new lease. A request
      // that still finds a reserved count keeps it and reserves no more.
      const std::optional<std::int64_t> held_count =
          lease && plan.rpm > 0 ? lease->takeCount() : std::optional<std::int64_t>();
      const std::int64_t want = lease ? std::clamp<std::int64_t>(2 * (lease->admitted_locally + 1), 1, kMaxLease) : 1;
      const UsageEstimate estimate = lease ? svc.estimateOf(a.key->id) : UsageEstimate{};
      const std::uint64_t generation = lease ? lease->generation : 0;
      std::vector<std::string_view> keys{plan.rpm_name.empty() ? std::string_view("gw:none") : plan.rpm_name,
                                         plan.tpm_name.empty() ? std::string_view("gw:none") : plan.tpm_name};
      std::vector<std::string> args{std::to_string(plan.rpm),
                                    std::to_string(plan.tpm),
                                    std::to_string(kWindowTtlSeconds),
                                    std::to_string(want),
                                    held_count ? "1" : "0",
                                    std::to_string(estimate.tokens),
                                    std::to_string(estimate.cost_picos)};
      for (const auto& b : plan.budgets) {
        keys.push_back(b.usage_name);
        args.push_back(std::to_string(b.limit_picos));
      }
      std::vector<std::string_view> arg_views(args.begin(), args.end());
      auto reply = co_await im.redis->evalsha(admitScript(), keys, arg_views);
      // The lease is remade when the table or the minute moved on meanwhile;
      // what this answer grants belongs to the one it was asked for.
      const bool same_lease = lease && lease->generation == generation && lease->minute == now / 60;
      if (reply && reply->isArray() && reply->elements.size() == 6) {
        const auto& e = reply->elements;
        switch (integerOf(e[0])) {
          case 2:
            counts.verdict = AdmissionCounts::Verdict::kBudget;
            break;
          case 3:
            counts.verdict = AdmissionCounts::Verdict::kTokens;
            break;
          case 4:
            counts.verdict = AdmissionCounts::Verdict::kRequests;
            break;
          default:
            counts.verdict = AdmissionCounts::Verdict::kAdmitted;
            break;
        }
        counts.budget_index = static_cast<std::size_t>(std::max<std::int64_t>(0, integerOf(e[1])));
        counts.requests = integerOf(e[2]);
        counts.tokens = integerOf(e[3]);
        for (const auto& spend : e[4].elements) counts.spends.push_back(integerOf(spend));
        const std::int64_t granted = std::max<std::int64_t>(1, integerOf(e[5]));
        svc.local.follow(plan, counts);  // the window's count as Redis holds it
        if (counts.verdict == AdmissionCounts::Verdict::kAdmitted) {
          if (held_count) {
            counts.requests = *held_count;
          } else if (plan.rpm > 0) {
            const std::int64_t first = counts.requests - granted + 1;
            if (granted > 1 && same_lease) lease->counts.emplace_back(first + 1, counts.requests);
            counts.requests = first;
          }
          if (same_lease) {
            lease->allowance = granted - 1;
            lease->admitted_locally = 0;
            lease->checked_at = clock_now;
            lease->tokens = counts.tokens;
          }
        } else if (same_lease) {
          if (held_count) lease->giveBack(*held_count);
          lease->allowance = 0;
        }
        counted = true;
      } else {
        if (same_lease) {
          if (held_count) lease->giveBack(*held_count);
          lease->allowance = 0;
        }
        if (svc.options.fail_closed) {
          a.refusal = stateUnavailable();
          co_return a;
        }
      }
    }
  }
  if (!counted) {
    counts = svc.local.admit(plan);
    // Redis did not answer (open mode): the shared window gets this
    // request with the next accounting batch. A call that timed out after
    // Redis ran it has reserved a lease no one takes, so the window counts
    // more than was admitted, never less.
    if (im.redis && plan.rpm > 0 && counts.verdict == AdmissionCounts::Verdict::kAdmitted)
      svc.oweRequest(plan.rpm_name);
  }

  const std::int64_t reset = 60 - now % 60;
  a.rate_limit_headers.reserve(plan.rpm > 0 && plan.tpm > 0 ? 256 : 128);
  if (plan.rpm > 0) appendLimitHeaders(a.rate_limit_headers, "requests", plan.rpm, counts.requests, reset);
  if (plan.tpm > 0) appendLimitHeaders(a.rate_limit_headers, "tokens", plan.tpm, counts.tokens, reset);
  switch (counts.verdict) {
    case AdmissionCounts::Verdict::kAdmitted:
      break;
    case AdmissionCounts::Verdict::kRequests:
    case AdmissionCounts::Verdict::kTokens: {
      const bool requests = counts.verdict == AdmissionCounts::Verdict::kRequests;
      Error e{429, requests ? "requests" : "tokens", "rate_limit_exceeded",
              requests ? "Rate limit reached for this virtual key: " + std::to_string(plan.rpm) + " requests per minute"
                       : "Rate limit reached for this virtual key: " + std::to_string(plan.tpm) + " tokens per minute"};
      e.retry_after_seconds = static_cast<int>(reset);
      a.refusal = std::move(e);
      a.limited_by = requests ? "rpm" : "tpm";
      break;
    }
    case AdmissionCounts::Verdict::kBudget: {
      const std::size_t i = std::min(counts.budget_index, plan.budgets.size() - 1);
      const auto& check = plan.budgets[i];
      Error e{429, "insufficient_quota", "budget_exceeded",
              "The " + std::string(toString(check.scope)) + " budget of this request is spent"};
      if (auto left = secondsToPeriodEnd(check.period, now))
        e.retry_after_seconds = static_cast<int>(std::max<std::int64_t>(1, *left));
      a.refusal = std::move(e);
      a.limited_by = "budget";
      a.should_not_retry = true;
      break;
    }
  }
  if (!a.limited_by.empty()) svc.rate_limited.add({std::string(a.limited_by)});
  co_return a;
}

net::awaitable<AdminResponse> KeyWorker::dashboardKeys() { co_return co_await serveDashboardKeys(*impl_); }

net::awaitable<AdminResponse> KeyWorker::handleAdmin(std::string_view method, std::string_view path,
                                                     std::string_view authorization, std::string_view body) {
  co_return co_await serveAdmin(*impl_, method, path, authorization, body);
}

}  // namespace gw::keys
