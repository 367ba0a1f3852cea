// A routed request (docs/routing.md): its model names a route, and the
// request tries the route's targets, then its fallbacks', in the order of
// each route's strategy, until one answers. Each attempt is an exchange
// (upstream_exchange.cc) that, while another attempt may follow, ends
// with ExchangeEnd::kRetryable instead of answering the client when it
// fails on a condition of the route's retry list; nothing reaches the
// client before the attempt that answers, so a stream is never repeated.
#include "common/strings.h"
#include "providers/provider_registry.h"
#include "routing/routing_config.h"
#include "server/exchange_guards.h"
#include "server/json_body.h"
#include "server/proxy_context.h"
#include "server/request_head.h"
#include "server/upstream_heads.h"

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <string>

namespace gw::server {

namespace {

double secondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// Whether an answer the client got (the last attempt's) is a failure the
// target's cooldown counts, as the attempts before it were.
bool answeredWithFailure(const RequestRecord& rec, const routing::RetryPolicy& policy) {
  if (rec.error_type == ErrorType::kUpstreamTimeout) return policy.on_timeout;
  if (rec.error_type == ErrorType::kUpstreamUnreachable || rec.error_type == ErrorType::kUpstreamBroken)
    return policy.on_connect_error;
  return rec.provider_status_code && policy.retriesStatus(*rec.provider_status_code);
}

// The error a client gets when no attempt answered it (the last one was
// given up for a Retry-After past the route's cap, or no target could take
// the request): what the last failure was.
Error everyTargetFailed(const routing::Route& route, const AttemptFailure& last, const std::optional<Error>& refused) {
  if (refused) return *refused;
  std::string what = "Every target of route '" + route.model + "' failed";
  if (last.status_code == 429) {
    Error e{429, "rate_limit_error", "rate_limit_exceeded", what + ": the last one is rate limited"};
    if (last.retry_after)
      e.retry_after_seconds = static_cast<int>(std::max<std::int64_t>(1, (last.retry_after->count() + 999) / 1000));
    return e;
  }
  if (last.error_type == ErrorType::kUpstreamTimeout)
    return Error::gatewayTimeout(what + ": the last one did not answer in time");
  if (last.status_code > 0)
    return Error::badGateway("upstream_error", what + ": the last one answered " + std::to_string(last.status_code));
  return Error::badGateway("upstream_unreachable", what + ": the last one could not be reached");
}

}  // namespace

net::awaitable<void> routedExchange(ProxyContext& ctx, const routing::RoutingConfig& config,
                                    const routing::Route& route, ClientRequest& creq, std::string_view requested_model,
                                    std::string_view home_provider, boost::json::object& json,
                                    boost::json::monotonic_resource& json_memory) {
  RequestRecord& rec = *ctx.record;
  rec.route = route.model;
  const bool messages_api = isMessagesApiPath(creq.path);
  auto plan = routing::planAttempts(route, Clock::now(), ctx.worker.rng, [messages_api](const routing::Target& t) {
    return !messages_api || t.provider->servesMessagesApi();
  });
  if (plan.empty()) {
    co_await sendError(ctx,
                       Error::badRequest("no_route_target", "No target of route '" + route.model +
                                                                "' serves the Messages API: give it an anthropic or "
                                                                "bedrock target"),
                       ErrorType::kInvalidRequest);
    co_return;
  }

  // The client's credentials are meant for its home provider (the one the
  // request reaches without routes): a target of that provider without a
  // key of its own (api_key_env) gets them, as an unrouted request would;
  // any other target spends its own key and sees none of them, so that a
  // key the client holds for one provider never travels to another one
  // the route falls back to.
  const HeaderLookup& client_headers = *creq.headers;
  const WithoutClientCredentials without_credentials(client_headers);
  ExchangeGuards guards(ctx);
  bool parsed = false;
  int attempt_number = 0;
  std::optional<Error> refused;  // the last target that could not take the request, and why
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const routing::Target& target = *plan[i].target;
    const routing::RetryPolicy& policy = plan[i].route->retry;
    for (int k = 0; k < policy.attempts; ++k) {
      const bool last = i + 1 == plan.size() && k + 1 == policy.attempts;
      const std::string_view model = target.modelFor(requested_model);
      creq.model.assign(model);
      creq.config = target.config;
      creq.headers = target.provider_name == home_provider && !target.own_key ? &client_headers : &without_credentials;
      creq.body_rewritten = model != requested_model;
      rec.provider = target.provider_name;
      if (ctx.observed) rec.pricing_provider = target.config->pricing_provider;
      rec.model = creq.model;
      rec.provider_status_code.reset();
      rec.provider_request_id.reset();
      rec.provider_address.clear();
      rec.provider_port = 0;
      rec.upstream_sent.reset();
      // The body's tree, built once for the first target that needs it;
      // each attempt names its own model in it.
      if (creq.json_body && !parsed && target.provider->wantsParsedBody(creq)) {
        auto tree = parseJsonBody(creq.body, &json_memory);
        if (!tree) {
          co_await sendError(ctx, tree.error(), ErrorType::kInvalidRequest);
          co_return;
        }
        json = std::move(*tree);
        creq.json = &json;
        parsed = true;
      }
      if (creq.json) (*creq.json)["model"] = model;

      ++attempt_number;
      ctx.routed_by = RoutedBy{target.provider_name, creq.model, attempt_number};
      const Clock::time_point started = Clock::now();
      auto up = target.provider->prepare(creq);
      if (!up) {
        // This target cannot take the request (a key missing, a body its
        // API cannot express): the next one may.
        rec.attempts.push_back({target.provider_name, creq.model, 0, errorTypeFor(up.error()), 0});
        refused = up.error();
        if (last) {
          co_await sendError(ctx, up.error(), errorTypeFor(up.error()));
          co_return;
        }
        break;
      }
      refused.reset();
      if (!target.config->upstream_headers.empty()) addConfiguredHeaders(target.config->upstream_headers, up->headers);

      ctx.retry = last ? nullptr : &policy;
      ctx.attempt_failure = AttemptFailure{};
      ctx.routed_target = &target;
      if (attempt_number > 1) guards.restart();
      target.stats->in_flight.fetch_add(1, std::memory_order_relaxed);
      const ExchangeEnd end = co_await exchange(ctx, *target.provider, creq, *up);
      target.stats->in_flight.fetch_sub(1, std::memory_order_relaxed);
      const Clock::time_point now = Clock::now();
      auto countCooldown = [&](const routing::Target& t) { config.countCooldown(t, requested_model); };

      if (end == ExchangeEnd::kAnswered) {
        rec.attempts.push_back({target.provider_name, creq.model, rec.provider_status_code.value_or(0), rec.error_type,
                                secondsBetween(started, now)});
        if (!ctx.client_gone && answeredWithFailure(rec, policy))
          routing::recordFailure(target, plan[i].route->cooldown, now, countCooldown);
        co_return;
      }
      rec.attempts.push_back({target.provider_name, creq.model, ctx.attempt_failure.status_code,
                              ctx.attempt_failure.error_type, secondsBetween(started, now)});
      routing::recordFailure(target, plan[i].route->cooldown, now, countCooldown);
      if (ctx.client_gone) co_return;
      if (k + 1 == policy.attempts) break;
      // The same target again, after the backoff (doubling each time, up
      // to a cap) or the upstream's Retry-After, whichever is longer; a
      // Retry-After past the route's cap moves on to the next target at once.
      auto delay = std::chrono::duration_cast<Clock::duration>(policy.backoffAfter(k + 1));
      if (auto asked = ctx.attempt_failure.retry_after) {
        if (*asked > policy.max_retry_after) break;
        delay = std::max<Clock::duration>(delay, *asked);
      }
      if (delay > Clock::duration::zero()) {
        // The guards' client watch cancels the wait when the client leaves.
        net::steady_timer timer(ctx.worker.io, delay);
        ctx.retry_wait = &timer;
        co_await timer.async_wait(kAsTuple);
        ctx.retry_wait = nullptr;
      }
      if (ctx.client_gone) co_return;
    }
  }
  ctx.retry = nullptr;
  const Error failed = everyTargetFailed(route, ctx.attempt_failure, refused);
  co_await sendError(ctx, failed, failed.http_status == 429 ? ErrorType::kUpstreamHttpError : errorTypeFor(failed));
}

}  // namespace gw::server
