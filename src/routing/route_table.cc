#include "routing/route_table.h"

#include "common/strings.h"
#include "providers/provider_registry.h"

#include <algorithm>
#include <map>
#include <set>

namespace gw::routing {

bool globMatch(std::string_view pattern, std::string_view text) {
  // Iterative matching with one backtrack point (the last '*'): linear in
  // practice, never exponential.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {

bool isGlob(std::string_view model) { return model.find_first_of("*?") != std::string_view::npos; }

Strategy strategyOf(std::string_view name) {
  if (name == "ordered") return Strategy::kOrdered;
  if (name == "least_busy") return Strategy::kLeastBusy;
  if (name == "lowest_latency") return Strategy::kLowestLatency;
  return Strategy::kWeighted;
}

// Depth-first: the route, then each fallback's chain; a route already in
// the chain is not added again. `path` holds the routes being expanded, so
// that a fallback back to one of them is reported as a cycle.
Status expandChain(const Route& route, const std::map<std::string_view, const Route*>& by_model,
                   const std::map<const Route*, const RouteEntry*>& entry_of, std::vector<const Route*>& path,
                   std::vector<const Route*>& chain) {
  path.push_back(&route);
  if (std::find(chain.begin(), chain.end(), &route) == chain.end()) chain.push_back(&route);
  const RouteEntry& entry = *entry_of.at(&route);
  for (std::size_t i = 0; i < entry.fallbacks.size(); ++i) {
    const std::string field = entry.field + ".fallbacks[" + std::to_string(i) + "]";
    auto it = by_model.find(entry.fallbacks[i]);
    if (it == by_model.end())
      return configError(field, "unknown route '" + printableExcerpt(entry.fallbacks[i]) + "' (a fallback names the model of another route)");
    if (std::find(path.begin(), path.end(), it->second) != path.end()) {
      std::string cycle;
      for (const Route* r : path) cycle += r->model + " -> ";
      return configError(field, "a cycle of fallbacks: " + cycle + it->second->model);
    }
    if (auto st = expandChain(*it->second, by_model, entry_of, path, chain); !st) return st;
  }
  path.pop_back();
  return ok();
}

}  // namespace

Result<RouteTable> RouteTable::build(const std::vector<RouteEntry>& entries, const ProviderRegistry& providers,
                                     const ConfigSource& source,
                                     const std::function<bool(const std::function<bool(std::string_view)>&)>& known_model) {
  RouteTable table;
  std::map<std::string_view, const Route*> by_model;
  std::map<const Route*, const RouteEntry*> entry_of;
  for (const RouteEntry& entry : entries) {
    auto route = std::make_unique<Route>();
    route->field = entry.field;
    route->model = entry.model;
    route->glob = isGlob(entry.model);
    route->strategy = strategyOf(entry.strategy);
    route->retry.attempts = static_cast<int>(entry.attempts);
    route->retry.statuses = entry.retry_statuses;
    route->retry.on_connect_error = entry.retry_connect_error;
    route->retry.on_timeout = entry.retry_timeout;
    route->retry.backoff = std::chrono::milliseconds(entry.backoff_ms);
    route->retry.max_retry_after = std::chrono::milliseconds(entry.max_retry_after_ms);
    route->cooldown.failures = static_cast<int>(entry.cooldown_failures);
    route->cooldown.window = std::chrono::milliseconds(entry.cooldown_window_ms);
    route->cooldown.duration = std::chrono::milliseconds(entry.cooldown_for_ms);
    for (const RouteTargetEntry& te : entry.targets) {
      Target t;
      t.field = te.field;
      t.provider_name = te.provider;
      t.model = te.model;
      t.weight = te.weight;
      if (!providers.config(te.provider)) {
        std::string known;
        for (const auto& n : providers.providerNames()) known += (known.empty() ? "" : ", ") + n;
        return configError(te.field + ".provider",
                           "unknown provider \"" + printableExcerpt(te.provider) + "\" (known: " + known + ")");
      }
      if (auto reason = providers.notConfigured(te.provider); !reason.empty())
        return configError(te.field + ".provider", "provider '" + te.provider + "' " + std::string(reason));
      if (te.api_key_env) {
        auto made = providers.makeWithOwnKey(te.provider, *te.api_key_env, te.field, source);
        if (!made) return made.error();
        t.own_key = std::make_unique<ConfiguredProvider>(std::move(*made));
        t.provider = t.own_key->provider.get();
        t.config = &t.own_key->config;
      } else {
        t.provider = providers.find(te.provider);
        t.config = providers.config(te.provider);
      }
      route->targets.push_back(std::move(t));
    }
    if (by_model.contains(route->model))
      return configError(entry.field + ".model",
                         "'" + printableExcerpt(route->model) + "' is already the model of " + by_model.at(route->model)->field);
    by_model.emplace(route->model, route.get());
    entry_of.emplace(route.get(), &entry);
    table.routes_.push_back(std::move(route));
  }
  // A glob must match some model the gateway knows: the price table's, or
  // a target's. One that matches none is most likely a typo that would
  // leave the route unused.
  for (const auto& route : table.routes_) {
    if (!route->glob) continue;
    auto matches = [&](std::string_view model) { return globMatch(route->model, model); };
    bool any = known_model && known_model(matches);
    for (const auto& other : table.routes_)
      for (const Target& t : other->targets)
        if (t.model && matches(*t.model)) any = true;
    if (!any)
      return configError(route->field + ".model", "the glob '" + printableExcerpt(route->model) +
                                                      "' matches no model the gateway knows (the price table's "
                                                      "models and the routes' target models)");
  }
  for (auto& route : table.routes_) {
    std::vector<const Route*> path, chain;
    if (auto st = expandChain(*route, by_model, entry_of, path, chain); !st) return st.error();
    route->chain = std::move(chain);
  }
  return table;
}

const Route* RouteTable::match(std::string_view model) const {
  const Route* first_glob = nullptr;
  for (const auto& route : routes_) {
    if (!route->glob) {
      if (route->model == model) return route.get();
    } else if (!first_glob && globMatch(route->model, model)) {
      first_glob = route.get();
    }
  }
  return first_glob;
}

namespace {

// Appends `route`'s targets that pass `keep`, in the order of its strategy.
template <class Keep>
void orderTargets(const Route& route, std::minstd_rand& rng, Keep keep, std::vector<Candidate>& out) {
  const std::size_t first = out.size();
  for (const Target& t : route.targets)
    if (keep(t)) out.push_back({&t, &route});
  auto begin = out.begin() + static_cast<std::ptrdiff_t>(first);
  const std::size_t n = out.size() - first;
  if (n < 2) return;
  switch (route.strategy) {
    case Strategy::kOrdered:
      return;
    case Strategy::kWeighted: {
      // Weighted sampling without replacement: each place drawn among the
      // targets left, in proportion to their weights.
      for (std::size_t i = first; i + 1 < out.size(); ++i) {
        double total = 0;
        for (std::size_t j = i; j < out.size(); ++j) total += out[j].target->weight;
        double x = std::uniform_real_distribution<double>(0, total)(rng);
        std::size_t pick = out.size() - 1;
        for (std::size_t j = i; j < out.size(); ++j) {
          x -= out[j].target->weight;
          if (x < 0) {
            pick = j;
            break;
          }
        }
        std::swap(out[i], out[pick]);
      }
      return;
    }
    case Strategy::kLeastBusy:
    case Strategy::kLowestLatency: {
      // Ties (all idle, all unmeasured) are broken at random, so that equal
      // targets share the load.
      std::shuffle(begin, out.end(), rng);
      const bool busy = route.strategy == Strategy::kLeastBusy;
      std::stable_sort(begin, out.end(), [busy](const Candidate& a, const Candidate& b) {
        const TargetStats& sa = *a.target->stats;
        const TargetStats& sb = *b.target->stats;
        if (busy) return sa.in_flight.load(std::memory_order_relaxed) < sb.in_flight.load(std::memory_order_relaxed);
        return sa.ttfb_ewma_ns.load(std::memory_order_relaxed) < sb.ttfb_ewma_ns.load(std::memory_order_relaxed);
      });
      return;
    }
  }
}

}  // namespace

std::vector<Candidate> planAttempts(const Route& route, Clock::time_point now, std::minstd_rand& rng,
                                    const std::function<bool(const Target&)>& usable) {
  std::vector<Candidate> out;
  for (const Route* r : route.chain)
    orderTargets(*r, rng, [&](const Target& t) { return usable(t) && !t.coolingDown(now); }, out);
  if (out.empty()) {
    // Every usable target is cooling down: trying them beats refusing a
    // request no target was asked about.
    for (const Route* r : route.chain) orderTargets(*r, rng, usable, out);
  }
  return out;
}

void recordFailure(const Target& target, const CooldownPolicy& policy, Clock::time_point now,
                   const CooldownCounter& on_cooldown) {
  TargetStats& stats = *target.stats;
  bool starts = false;
  {
    std::lock_guard lock(stats.failures_mutex);
    auto& f = stats.failures;
    while (!f.empty() && f.front() <= now - policy.window) f.pop_front();
    f.push_back(now);
    if (static_cast<int>(f.size()) >= policy.failures && !target.coolingDown(now) && policy.duration.count() > 0) {
      stats.cooldown_until_ns.store((now + policy.duration).time_since_epoch().count(), std::memory_order_relaxed);
      f.clear();
      starts = true;
    }
    // Bounded whatever the policy: only the last `failures` matter.
    while (static_cast<int>(f.size()) > policy.failures) f.pop_front();
  }
  if (starts && on_cooldown) on_cooldown(target);
}

std::string sharedTargetId(const Target& target) {
  return target.field + "|" + target.provider_name + "|" + target.model.value_or("*");
}

const Target* RouteTable::findTarget(std::string_view shared_id) const {
  for (const auto& route : routes_)
    for (const auto& target : route->targets)
      if (sharedTargetId(target) == shared_id) return &target;
  return nullptr;
}

void applySharedCooldown(const Target& target, Clock::time_point until) {
  auto& slot = target.stats->cooldown_until_ns;
  const std::int64_t next = until.time_since_epoch().count();
  std::int64_t current = slot.load(std::memory_order_relaxed);
  while (current < next && !slot.compare_exchange_weak(current, next, std::memory_order_relaxed)) {
  }
}

void recordTimeToFirstByte(const Target& target, Clock::duration ttfb) {
  // Weight 1/4 for the newest sample: a target that slows down is noticed
  // within a few requests, one slow answer does not dominate.
  const std::int64_t sample = std::chrono::duration_cast<std::chrono::nanoseconds>(ttfb).count();
  auto& avg = target.stats->ttfb_ewma_ns;
  std::int64_t old = avg.load(std::memory_order_relaxed);
  const std::int64_t next = old == 0 ? std::max<std::int64_t>(sample, 1) : old + (sample - old) / 4;
  avg.store(std::max<std::int64_t>(next, 1), std::memory_order_relaxed);
}

}  // namespace gw::routing
