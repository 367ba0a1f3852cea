// The worker's side of KeyService (key_service.h): admission of a request
// and the admin API, on the worker's thread with its own state connection.
#include "keys/admin_api.h"
#include "keys/key_service_impl.h"

#include <algorithm>
#include <array>

namespace gw::keys {

namespace {

// KEYS: rpm window, tpm window, then the usage hashes of the budgets.
// ARGV: rpm (0: none), tpm (0: none), each budget's limit in picodollars,
// then the window's lifetime.
// Returns {verdict, budget index, requests, tokens, {spends}}: verdict 1
// admitted (and counted), 2 a budget is spent, 3 the tpm window is full,
// 4 the rpm window is full.
const state::RedisScript& admitScript() {
  static const state::RedisScript script(R"lua(
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local spends = {}
for i = 3, #KEYS do
  local spent = tonumber(redis.call('HGET', KEYS[i], 'spend_pusd') or '0')
  spends[#spends + 1] = spent
  if spent >= tonumber(ARGV[i]) then return {2, i - 3, 0, 0, spends} end
end
local tokens = 0
if tpm > 0 then
  tokens = tonumber(redis.call('GET', KEYS[2]) or '0')
  if tokens >= tpm then return {3, 0, 0, tokens, spends} end
end
local count = 0
if rpm > 0 then
  count = tonumber(redis.call('GET', KEYS[1]) or '0')
  if count >= rpm then return {4, 0, count, tokens, spends} end
  count = redis.call('INCR', KEYS[1])
  if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[#ARGV]) end
end
return {1, 0, count, tokens, spends}
)lua");
  return script;
}

std::string secondsText(std::int64_t seconds) {
  return seconds >= 60 ? std::to_string(seconds / 60) + "m" + std::to_string(seconds % 60) + "s"
                       : std::to_string(seconds) + "s";
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
    const std::string hash = hashKey(request.presented_key);
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

  AdmissionPlan plan;
  std::vector<Period> periods;
  auto addBudget = [&](Scope scope, std::string_view id, const Budget& b) {
    plan.budgets.push_back({scope, usageName(scope, id, b.period, now), usdToPicos(b.usd)});
    periods.push_back(b.period);
  };
  if (a.key && a.key->budget) addBudget(Scope::kKey, a.key->id, *a.key->budget);
  if (const Budget* b = held->budgetOf(Scope::kProject, a.project_id)) addBudget(Scope::kProject, a.project_id, *b);
  if (const Budget* b = held->budgetOf(Scope::kUser, a.user_id)) addBudget(Scope::kUser, a.user_id, *b);
  if (a.key && a.key->rpm) {
    plan.rpm_name = rpmName(a.key->id, now);
    plan.rpm = *a.key->rpm;
  }
  if (a.key && a.key->tpm) {
    plan.tpm_name = tpmName(a.key->id, now);
    plan.tpm = *a.key->tpm;
  }
  a.accounted = a.key || !plan.budgets.empty();
  if (plan.budgets.empty() && plan.rpm == 0 && plan.tpm == 0) {
    // Nothing to count, so no call; but closed means closed: while the
    // state store is down (seen by the accounting thread's polls) even a
    // key without limits is refused, as its revocation could not be seen.
    if (im.redis && svc.options.fail_closed &&
        svc.redis_state.load(std::memory_order_relaxed) == static_cast<std::uint8_t>(state::RedisState::down))
      a.refusal = stateUnavailable();
    co_return a;
  }

  AdmissionCounts counts;
  bool counted = false;
  if (im.redis) {
    std::vector<std::string_view> keys{plan.rpm_name.empty() ? std::string_view("gw:none") : plan.rpm_name,
                                       plan.tpm_name.empty() ? std::string_view("gw:none") : plan.tpm_name};
    std::vector<std::string> args{std::to_string(plan.rpm), std::to_string(plan.tpm)};
    for (const auto& b : plan.budgets) {
      keys.push_back(b.usage_name);
      args.push_back(std::to_string(b.limit_picos));
    }
    args.push_back(std::to_string(kWindowTtlSeconds));
    std::vector<std::string_view> arg_views(args.begin(), args.end());
    auto reply = co_await im.redis->evalsha(admitScript(), keys, arg_views);
    if (reply && reply->isArray() && reply->elements.size() == 5) {
      const auto& e = reply->elements;
      switch (integerOf(e[0])) {
        case 2: counts.verdict = AdmissionCounts::Verdict::kBudget; break;
        case 3: counts.verdict = AdmissionCounts::Verdict::kTokens; break;
        case 4: counts.verdict = AdmissionCounts::Verdict::kRequests; break;
        default: counts.verdict = AdmissionCounts::Verdict::kAdmitted; break;
      }
      counts.budget_index = static_cast<std::size_t>(std::max<std::int64_t>(0, integerOf(e[1])));
      counts.requests = integerOf(e[2]);
      counts.tokens = integerOf(e[3]);
      for (const auto& s : e[4].elements) counts.spends.push_back(integerOf(s));
      svc.local.follow(plan, counts);
      counted = true;
    } else if (svc.options.fail_closed) {
      a.refusal = stateUnavailable();
      co_return a;
    }
  }
  if (!counted) counts = svc.local.admit(plan);

  const std::int64_t reset = 60 - now % 60;
  if (plan.rpm > 0) {
    a.rate_limit_headers += "x-ratelimit-limit-requests: " + std::to_string(plan.rpm) +
                            "\r\nx-ratelimit-remaining-requests: " +
                            std::to_string(std::max<std::int64_t>(0, plan.rpm - counts.requests)) +
                            "\r\nx-ratelimit-reset-requests: " + secondsText(reset) + "\r\n";
  }
  if (plan.tpm > 0) {
    a.rate_limit_headers += "x-ratelimit-limit-tokens: " + std::to_string(plan.tpm) +
                            "\r\nx-ratelimit-remaining-tokens: " +
                            std::to_string(std::max<std::int64_t>(0, plan.tpm - counts.tokens)) +
                            "\r\nx-ratelimit-reset-tokens: " + secondsText(reset) + "\r\n";
  }
  switch (counts.verdict) {
    case AdmissionCounts::Verdict::kAdmitted: break;
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
      if (auto left = secondsToPeriodEnd(periods[i], now)) e.retry_after_seconds = static_cast<int>(std::max<std::int64_t>(1, *left));
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
