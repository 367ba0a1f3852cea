// The proxy: one /v1/* request from its checks and routing to the last
// byte sent and its record. Read top-down: proxyRequest() checks the
// request, picks the provider, runs the exchange (upstream_exchange.cc)
// under its guards (exchange_guards.h) and completes the record.
#include "common/anthropic_usage.h"
#include "common/openai_usage.h"
#include "common/strings.h"
#include "common/usage_reader.h"
#include "providers/provider_registry.h"
#include "routing/routing_config.h"
#include "server/exchange_guards.h"
#include "server/json_body.h"
#include "server/proxy_context.h"
#include "server/request_head.h"
#include "server/routing.h"
#include "server/upstream_heads.h"
#include "telemetry/telemetry_sink.h"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>

#include <algorithm>
#include <charconv>

namespace gw::server {

namespace {
// See proxyRequest: the least the request path keeps of a response.
constexpr std::size_t kMinCaptureBytes = 1u << 20;

// After the exchange: the record's outcome when the client left, usage
// read from a captured body that is not a stream, and the record handed to
// telemetry (`finish`). Returns whether the connection may be reused.
template <class Finish>
bool completeRequest(ProxyContext& ctx, bool keep_bodies, Finish& finish);
}  // namespace

net::awaitable<bool> proxyRequest(Worker& w, beast::tcp_stream& client, beast::flat_buffer& client_buffer,
                                  HttpRequest& request, Clock::time_point received) {
  const Settings& s = w.shared.settings();
  w.shared.in_flight.fetch_add(1, std::memory_order_relaxed);
  TelemetrySink& telemetry = *w.shared.deps.telemetry;
  telemetry.requestStarted();

  ProxyContext ctx(w, client, client_buffer, request);
  auto& rec = *ctx.record;
  RequestHeaders headers(request);
  ctx.request_id = requestIdFor(headers);
  ctx.keep_alive = keepAlive(request) && !w.shared.draining.load(std::memory_order_relaxed);
  ctx.cors_origin = corsOriginFor(s, request);
  // What the request path keeps of a response for the record builder: the
  // body (or stream chunks) up to TELEMETRY_MAX_BODY_BYTES, but at least
  // kMinCaptureBytes so that a small cap still leaves usage and the
  // assembled stream intact; the builder applies the cap itself.
  // Nothing is kept when no exporter consumes records (metrics only).
  const bool keep_bodies = s.capture_bodies && telemetry.recordsWanted();
  ctx.observed = telemetry.observationsWanted();
  ctx.recorded = telemetry.recordsWanted();
  ctx.capture_budget = keep_bodies ? std::max<std::size_t>(s.telemetry_max_body_bytes, kMinCaptureBytes) : 0;
  rec.id = ctx.request_id;
  rec.wall_start = std::chrono::system_clock::now() -
                   std::chrono::duration_cast<std::chrono::system_clock::duration>(Clock::now() - received);
  rec.received = received;
  rec.method = std::string(request.method_string());
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  rec.path = std::string(path);
  rec.request_size = request.body().size();
  if (ctx.observed) copyTrackingHeaders(headers, rec);  // only the record reads them

  auto finish = [&]() {
    rec.finished = Clock::now();
    if (!rec.request_body.size() && keep_bodies) {
      // A body past the capture budget can only be previewed: the record
      // keeps its start, not a large body that would outlive the request
      // in the telemetry queues (MAX_INFLIGHT_BODY_BYTES counts requests
      // in flight only).
      if (request.body().size() > ctx.capture_budget) {
        rec.request_body.assign(request.body(), 0, ctx.capture_budget);
        rec.request_body_truncated = true;
      } else {
        rec.request_body = std::move(request.body());
      }
    }
    telemetry.submit(std::move(ctx.record));
    telemetry.requestEnded();
    w.shared.in_flight.fetch_sub(1, std::memory_order_relaxed);
  };

  // Access control. A virtual key is checked by admission below, and
  // stands for a gateway key too.
  const std::string_view virtual_key = w.keys ? presentedVirtualKey(headers) : std::string_view();
  if (!s.gateway_api_keys.empty() && virtual_key.empty()) {
    auto key = headers.get("x-gateway-key");
    if (!key || !gatewayKeyAccepted(trim(*key), s.gateway_api_keys)) {
      co_await sendError(ctx, Error::unauthorized("invalid_gateway_key", "Missing or invalid x-gateway-key"),
                         ErrorType::kAuthentication);
      finish();
      co_return ctx.keep_alive;
    }
  }

  // Body: checked when it is JSON, passed through as bytes otherwise
  // (multipart uploads to /v1/files, /v1/audio/...). A JSON body is first
  // only scanned (valid, an object, its model and stream flags); its tree is
  // built only when the provider needs it (Provider::wantsParsedBody): an
  // OpenAI-compatible request the gateway forwards unchanged never does.
  // The tree's values live in scratch memory inside this request's frame
  // (the heap only past it): a typical chat request is ~15 small values,
  // which the default resource would allocate one by one. Everything that
  // holds them (json, creq) is declared after the resource and dies before it.
  alignas(std::max_align_t) unsigned char json_scratch[4096];
  boost::json::monotonic_resource json_memory(json_scratch, sizeof json_scratch);
  boost::json::object json(&json_memory);
  ClientRequest creq;
  JsonBodyFacts facts;
  bool has_json = false;
  if (!request.body().empty()) {
    std::string_view ctype = request.find(http::field::content_type).value_or(std::string_view());
    auto typeIs = [ctype](std::string_view prefix) {
      return ctype.size() >= prefix.size() && iequals(ctype.substr(0, prefix.size()), prefix);
    };
    // Everything is JSON except uploads. curl -d sends JSON as
    // application/x-www-form-urlencoded, so that type does not opt out.
    bool json_type = !(typeIs("multipart/") || typeIs("application/octet-stream") || typeIs("audio/") ||
                       typeIs("image/") || typeIs("video/"));
    if (json_type) {
      auto scanned = scanJsonBody(request.body());
      if (!scanned) {
        co_await sendError(ctx, scanned.error(), ErrorType::kInvalidRequest);
        finish();
        co_return ctx.keep_alive;
      }
      facts = std::move(*scanned);
      has_json = true;
    }
  } else if (requiresJsonBody(request.method_string(), path)) {
    co_await sendError(ctx,
                       Error::badRequest("invalid_json", "Request body is empty: this endpoint takes a JSON object"),
                       ErrorType::kInvalidRequest);
    finish();
    co_return ctx.keep_alive;
  }
  // The Messages API (Anthropic's): its own checks, and its own default provider.
  std::string_view default_provider = s.default_provider;
  // The providers and routes this request is served by, to its end, even
  // if a reload swaps them meanwhile.
  const std::shared_ptr<const routing::RoutingConfig> routing = w.routing;
  const ProviderRegistry& providers = routing->providers;
  if (isMessagesApiPath(path)) {
    if (has_json && request.method() == http::verb::post) {
      if (auto checked = checkMessagesBody(path, facts); !checked) {
        co_await sendError(ctx, checked.error(), ErrorType::kInvalidRequest);
        finish();
        co_return ctx.keep_alive;
      }
    }
    const Provider* configured_default = providers.find(default_provider);
    if (!configured_default || !configured_default->servesMessagesApi()) default_provider = "anthropic";
  }
  // Virtual keys, limits and budgets (docs/keys-and-budgets.md): before
  // anything goes upstream.
  const WithoutClientCredentials without_credentials(headers);
  bool keyed = false;
  if (!virtual_key.empty() || (w.keys && w.keys->budgetsApplyWithoutKey())) {
    keys::AdmissionRequest areq;
    areq.presented_key = virtual_key;
    if (facts.model) areq.model = *facts.model;
    if (virtual_key.empty()) {
      areq.project_header = headers.get("x-project-id");
      areq.user_header = headers.get("x-user-id");
    }
    keys::Admission admission = co_await w.keys->admit(areq);
    ctx.gateway_headers = std::move(admission.rate_limit_headers);
    if (admission.accounted && !admission.refusal) {
      // The counters need the response's usage even when no exporter does.
      if (!ctx.observed) copyTrackingHeaders(headers, rec);
      ctx.observed = true;
      rec.usage_accounted = true;
    }
    if (admission.key) {
      const keys::VirtualKey& key = *admission.key;
      rec.virtual_key_id = key.id;
      // The key's attribution is the record's: headers do not override it.
      rec.project_id = key.project_id;
      rec.org_id = key.org_id;
      rec.user_id = key.user_id;
      keyed = true;
    }
    if (admission.refusal) {
      if (admission.should_not_retry) ctx.gateway_headers += "x-should-retry: false\r\n";
      co_await sendError(ctx, *admission.refusal, errorTypeFor(*admission.refusal));
      finish();
      co_return ctx.keep_alive;
    }
  }
  creq.method = request.method_string();
  creq.target = target;
  creq.path = path;
  creq.body = request.body();
  creq.json_body = has_json;
  // With a virtual key the provider's key is the gateway's own: the
  // client's credential headers (the virtual key) never go upstream.
  creq.headers = keyed ? static_cast<const HeaderLookup*>(&without_credentials) : &headers;
  creq.observed = ctx.observed;
  creq.stream = facts.stream;
  creq.client_wants_usage = facts.include_usage;
  creq.has_stream_options = facts.has_stream_options;

  // A model a route names goes to the route's targets, unless the client
  // chose a provider itself (x-provider).
  const routing::Route* route_of_model = nullptr;
  if (facts.model && !routing->routes.empty() && !headers.get("x-provider"))
    route_of_model = routing->routes.match(*facts.model);
  if (route_of_model) {
    co_await routedExchange(ctx, *routing, *route_of_model, creq, *facts.model, default_provider, json, json_memory);
    co_return completeRequest(ctx, keep_bodies, finish);
  }

  auto route = selectProvider(headers, facts.model ? std::optional<std::string_view>(*facts.model) : std::nullopt,
                              providers, default_provider);
  if (!route) {
    co_await sendError(ctx, route.error(), ErrorType::kInvalidRequest);
    finish();
    co_return ctx.keep_alive;
  }
  rec.provider = route->provider_name;
  if (ctx.observed) rec.pricing_provider = route->config->pricing_provider;  // prices observed usage only
  rec.model = route->model;
  creq.body_rewritten = route->model_rewritten;
  creq.model = route->model;
  creq.config = route->config;
  if (has_json && route->provider->wantsParsedBody(creq)) {
    auto parsed = parseJsonBody(request.body(), &json_memory);
    if (!parsed) {  // scanJsonBody accepted it: not expected
      co_await sendError(ctx, parsed.error(), ErrorType::kInvalidRequest);
      finish();
      co_return ctx.keep_alive;
    }
    json = std::move(*parsed);
    if (route->model_rewritten) json["model"] = route->model;
    creq.json = &json;
  }

  auto up = route->provider->prepare(creq);
  if (!up) {
    co_await sendError(ctx, up.error(), errorTypeFor(up.error()));
    finish();
    co_return ctx.keep_alive;
  }
  // The operator's headers for this provider (a custom provider's
  // `headers:`) are added here, after prepare(), rather than by each
  // provider: every provider gets them, once, and none can forget them. A
  // provider's credential and framing headers cannot be replaced: the
  // registry refused their names at start-up. A provider without any pays
  // one test.
  if (!route->config->upstream_headers.empty()) addConfiguredHeaders(route->config->upstream_headers, up->headers);

  {
    ExchangeGuards guards(ctx);
    co_await exchange(ctx, *route->provider, creq, *up);
  }
  co_return completeRequest(ctx, keep_bodies, finish);
}

namespace {

template <class Finish>
bool completeRequest(ProxyContext& ctx, bool keep_bodies, Finish& finish) {
  RequestRecord& rec = *ctx.record;
  if (ctx.client_gone) {
    rec.outcome = RequestOutcome::kCancelled;
    rec.error_type = ErrorType::kClientDisconnected;
    // status_code stays what the client received (null when no head was
    // sent); provider_latency stays null: the upstream response never finished.
    if (ctx.response_progress == ResponseProgress::kNothingSent) rec.status_code = 0;
    rec.upstream_finished.reset();
    ctx.keep_alive = false;
  } else if (ctx.response_progress != ResponseProgress::kComplete) {
    ctx.keep_alive = false;
  }
  // Usage of a non-streamed OpenAI-shaped body, read from what was captured.
  // A whole body that the record captures is read by the record builder's
  // one pass over it for the record (telemetry/record_response.cc), which
  // reads its usage too: the request path does not parse the same bytes
  // first. Every reader of the usage (metrics, key counters, the record)
  // reads the builder's. A body that is not JSON has no usage then: its
  // counts would be as untrustworthy as the rest of it.
  const bool builder_reads_usage = keep_bodies && !rec.response_body_truncated &&
                                   rec.response_body.size() <= ctx.worker.shared.settings().telemetry_max_body_bytes &&
                                   usageKeysFor(rec.observation.api) != nullptr;
  if (ctx.observed && !rec.streamed && !rec.observation.usage.input && rec.observation.own_usage &&
      !rec.observation.usage_from_handler && rec.status_code < 400 && !builder_reads_usage) {
    const std::string_view body = rec.response_body_truncated ? std::string_view(ctx.usage_tail) : rec.response_body;
    switch (rec.observation.api) {
      case ResponseApi::kResponses:
        scanResponsesUsage(body, rec.observation.usage);
        break;
      case ResponseApi::kMessages:
        scanMessagesUsage(body, rec.observation.usage);
        break;
      case ResponseApi::kChatCompletions:
        scanOpenAiUsage(body, rec.observation.usage);
        break;
    }
    // The model that answered, for pricing: the record builder reads it from
    // a whole body, so a body past the budget gives it here (an embeddings
    // response names it after its vectors, in the tail).
    if (rec.response_body_truncated && !rec.observation.response_model) {
      std::string model = scanModel(rec.response_body);
      if (model.empty()) model = scanModel(ctx.usage_tail);
      if (!model.empty()) rec.observation.response_model = std::move(model);
    }
  }
  if (!keep_bodies) rec.response_body.clear();
  finish();
  return ctx.keep_alive;
}

// The record of a request refused before it was proxied.
void submitRefusedRecord(Worker& w, ProxyContext& ctx, HttpRequest& request, Clock::time_point received,
                         const RequestHeaders& headers, std::string_view path);
}  // namespace

net::awaitable<void> rejectRequest(Worker& w, beast::tcp_stream& client, beast::flat_buffer& client_buffer,
                                   HttpRequest& request, Clock::time_point received, const Error& error,
                                   RefusedBody body) {
  const Settings& s = w.shared.settings();
  ProxyContext ctx(w, client, client_buffer, request);
  RequestHeaders headers(request);
  ctx.request_id = requestIdFor(headers);
  ctx.keep_alive = false;  // the connection is not trusted for another request
  ctx.cors_origin = corsOriginFor(s, request);
  ctx.capture_budget = s.capture_bodies ? s.telemetry_max_body_bytes : 0;
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  co_await sendError(ctx, error, errorTypeFor(error));
  if (path == "/v1" || path.starts_with("/v1/")) {
    // A /v1 request the gateway refused still gets its one record.
    submitRefusedRecord(w, ctx, request, received, headers, path);
  }
  if (body == RefusedBody::kUnread) {
    boost::system::error_code ec;
    client.socket().shutdown(tcp::socket::shutdown_send, ec);
    co_await lingerBeforeClose(client, s.max_request_body_bytes);
  }
}

namespace {

void submitRefusedRecord(Worker& w, ProxyContext& ctx, HttpRequest& request, Clock::time_point received,
                         const RequestHeaders& headers, std::string_view path) {
  auto& rec = *ctx.record;
  rec.id = ctx.request_id;
  rec.wall_start = std::chrono::system_clock::now() -
                   std::chrono::duration_cast<std::chrono::system_clock::duration>(Clock::now() - received);
  rec.received = received;
  rec.method = std::string(request.method_string());
  rec.path = std::string(path);
  if (auto cl = request.find(http::field::content_length)) {
    std::uint64_t n = 0;
    std::string_view v = *cl;
    if (std::from_chars(v.data(), v.data() + v.size(), n).ec == std::errc()) rec.request_size = n;
  }
  copyTrackingHeaders(headers, rec);
  rec.finished = Clock::now();
  w.shared.deps.telemetry->submit(std::move(ctx.record));
}

}  // namespace

}  // namespace gw::server
