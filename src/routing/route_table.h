// The routes of the config file (docs/routing.md), checked against the
// providers and ready to serve: which route a model name selects, the
// order in which a request tries the targets of that route and of its
// fallbacks, and what every target's past says (requests in flight, time
// to first byte, failures and cooldown).
//
// Threads: a RouteTable is built on main()'s thread (at start-up or on a
// reload) and is then immutable but for each target's TargetStats, which
// every worker thread updates (atomics; a failure takes a lock).
#pragma once

#include "gw/config_source.h"
#include "gw/provider.h"
#include "gw/provider_plugin.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace gw {
class ProviderRegistry;
}

namespace gw::routing {

using Clock = std::chrono::steady_clock;

enum class Strategy { kWeighted, kOrdered, kLeastBusy, kLowestLatency };

// What one target has done lately, shared by every worker.
struct TargetStats {
  std::atomic<std::int64_t> in_flight{0};
  // Moving average of the time to the response head, in nanoseconds; 0 =
  // not measured yet (such a target is tried first by lowest_latency).
  std::atomic<std::int64_t> ttfb_ewma_ns{0};
  // Until when the target is skipped (Clock's nanoseconds since its epoch).
  std::atomic<std::int64_t> cooldown_until_ns{0};
  std::mutex failures_mutex;
  std::deque<Clock::time_point> failures;  // within the cooldown window, oldest first
};

struct Target {
  std::string field;  // "routes[0].targets[1]"
  std::string provider_name;
  const Provider* provider = nullptr;
  const ProviderConfig* config = nullptr;
  std::optional<std::string> model;  // nullopt: the model the client asked for
  double weight = 1;
  std::unique_ptr<TargetStats> stats = std::make_unique<TargetStats>();
  // With api_key_env: the provider made with that key, which `provider`
  // and `config` point into.
  std::unique_ptr<ConfiguredProvider> own_key;

  // The model sent upstream when the client asked for `requested`.
  std::string_view modelFor(std::string_view requested) const { return model ? std::string_view(*model) : requested; }
  bool coolingDown(Clock::time_point now) const {
    return stats->cooldown_until_ns.load(std::memory_order_relaxed) > now.time_since_epoch().count();
  }
};

struct RetryPolicy {
  int attempts = 2;  // per target
  std::vector<int> statuses;
  bool on_connect_error = true;
  bool on_timeout = true;
  std::chrono::milliseconds backoff{100};
  std::chrono::milliseconds max_retry_after{10000};

  bool retriesStatus(int status) const {
    for (int s : statuses)
      if (s == status) return true;
    return false;
  }

  // The longest wait between two attempts at one target: the doubling of
  // `backoff` stops there, as it does in Envoy (whose cap is ten times the
  // base), so that ten attempts at the largest backoff do not wait hours.
  static constexpr std::chrono::milliseconds kMaxBackoff{60000};

  // The wait before the attempt after `failed_attempts` failed ones (1 or
  // more) at the same target: backoff, doubled for each further attempt,
  // at most kMaxBackoff (or backoff itself when that is larger).
  std::chrono::milliseconds backoffAfter(int failed_attempts) const {
    std::chrono::milliseconds delay = backoff;
    const auto cap = std::max(backoff, kMaxBackoff);
    for (int i = 1; i < failed_attempts && delay < cap; ++i) delay *= 2;
    return std::min(delay, cap);
  }
};

struct CooldownPolicy {
  int failures = 3;
  std::chrono::milliseconds window{10000};
  std::chrono::milliseconds duration{30000};
};

struct Route {
  std::string field;  // "routes[0]"
  std::string model;  // as written: a name or a glob
  bool glob = false;
  Strategy strategy = Strategy::kWeighted;
  std::vector<Target> targets;
  RetryPolicy retry;
  CooldownPolicy cooldown;
  // This route, then its fallbacks depth-first, each route once: the
  // order a request tries them in.
  std::vector<const Route*> chain;
};

// One target a request may try, with the route whose policy applies.
struct Candidate {
  const Target* target = nullptr;
  const Route* route = nullptr;
};

// Whether `text` matches `pattern`, where '*' stands for any run of
// characters (none included) and '?' for one; everything else for itself.
bool globMatch(std::string_view pattern, std::string_view text);

// Counts a cooldown that starts (ai_gateway_target_cooldowns_total).
using CooldownCounter = std::function<void(const Target&)>;

class RouteTable {
 public:
  RouteTable() = default;
  RouteTable(RouteTable&&) = default;
  RouteTable& operator=(RouteTable&&) = default;

  // Checks `entries` against `providers` (created) and makes the routes.
  // Errors name the field: a target's unknown provider or one that cannot
  // serve, a fallback naming no route, a cycle of fallbacks, a model
  // named by two routes, a glob that matches no model `known_model` knows
  // nor any target's model, a target's key variable that is unset.
  // `source` gives the variables the targets' api_key_env name.
  static Result<RouteTable> build(const std::vector<RouteEntry>& entries, const ProviderRegistry& providers,
                                  const ConfigSource& source,
                                  const std::function<bool(const std::function<bool(std::string_view)>&)>& known_model);

  // The route of a requested model: the route named exactly so, else the
  // first glob (in file order) that matches; nullptr when none.
  const Route* match(std::string_view model) const;
  bool empty() const { return routes_.empty(); }
  std::size_t size() const { return routes_.size(); }

  // The target `sharedTargetId` names, or nullptr (another instance's
  // configuration may differ).
  const Target* findTarget(std::string_view shared_id) const;

 private:
  std::vector<std::unique_ptr<Route>> routes_;  // file order; stable addresses
};

// The targets a request for `route` tries, in order: for each route of its
// chain, its targets in the order of its strategy; targets cooling down
// left out (unless that leaves none: then all are tried), and targets
// `usable` refuses (a provider that cannot serve the request's API).
// `rng` is the calling worker's.
std::vector<Candidate> planAttempts(const Route& route, Clock::time_point now, std::minstd_rand& rng,
                                    const std::function<bool(const Target&)>& usable);

// After an attempt of `target` failed on a condition of `policy`'s retry
// list: counts the failure, and starts a cooldown when `policy.failures`
// fell within its window (calling `on_cooldown`). Any worker thread.
void recordFailure(const Target& target, const CooldownPolicy& policy, Clock::time_point now,
                   const CooldownCounter& on_cooldown);

// How instances sharing a state store (REDIS_URL) name a target, so that a
// cooldown one of them starts is kept by all: its field, provider and
// model ("routes[0].targets[1]|openai|gpt-4o"; "*" for the requested model).
std::string sharedTargetId(const Target& target);
// A cooldown another instance started: `target` is skipped until `until`
// (a cooldown already running longer stays). Not counted again. Any thread.
void applySharedCooldown(const Target& target, Clock::time_point until);

// After a response head came from `target` `ttfb` after the request went:
// folds it into the target's moving average. Any worker thread.
void recordTimeToFirstByte(const Target& target, Clock::duration ttfb);

}  // namespace gw::routing
