// Writes to the client that the proxy's rooms share: the body kept for the
// record, gateway-made errors and how they are classified.
#include "common/anthropic_error.h"
#include "common/openai_error.h"
#include "server/json_body.h"
#include "server/proxy_context.h"

#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>

namespace gw::server {

namespace {
// Bytes kept from the end of an over-budget body to read its usage.
constexpr std::size_t kUsageTailBytes = 16u << 10;
}  // namespace

void captureResponseBytes(ProxyContext& ctx, std::string_view bytes) {
  if (!ctx.observed) return;  // telemetry off: nothing reads it
  auto& body = ctx.record->response_body;
  if (ctx.record->response_body_truncated) {
    // Past the budget only the tail is kept, because OpenAI-shaped bodies
    // put "usage" last: a large embeddings response still has its tokens.
    ctx.usage_tail.append(bytes);
    if (ctx.usage_tail.size() > 2 * kUsageTailBytes) ctx.usage_tail.erase(0, ctx.usage_tail.size() - kUsageTailBytes);
    return;
  }
  if (body.size() + bytes.size() > ctx.capture_budget) {
    body.append(bytes.substr(0, ctx.capture_budget - body.size()));
    ctx.record->response_body_truncated = true;
    ctx.usage_tail.assign(bytes.substr(bytes.size() > kUsageTailBytes ? bytes.size() - kUsageTailBytes : 0));
    return;
  }
  body.append(bytes);
}

ErrorShape ProxyContext::errorShape() const {
  const std::string_view target = request.target();
  return isMessagesApiPath(target.substr(0, target.find('?'))) ? ErrorShape::kAnthropic : ErrorShape::kOpenAi;
}

// A gateway-generated error (before any response byte was sent).
net::awaitable<void> sendError(ProxyContext& ctx, const Error& e, ErrorType error_type) {
  ctx.record->status_code = e.http_status;
  ctx.record->outcome = RequestOutcome::kError;
  if (!ctx.record->error_type) ctx.record->error_type = error_type;
  std::string body = ctx.errorShape() == ErrorShape::kAnthropic ? anthropicErrorBody(e) : openAiErrorBody(e);
  ResponseHeadParams p;
  p.status = e.http_status;
  p.content_type = "application/json";
  p.request_id = ctx.request_id;
  p.keep_alive = ctx.keep_alive;
  p.cors_origin = ctx.cors_origin;
  p.content_length = body.size();
  std::vector<std::pair<std::string, std::string>> retry_after;
  if (e.retry_after_seconds > 0) {
    retry_after.emplace_back("Retry-After", std::to_string(e.retry_after_seconds));
    p.extra = &retry_after;
  }
  if (ctx.routed_by.attempts > 0) p.routed_by = &ctx.routed_by;
  p.gateway_headers = ctx.gateway_headers;
  std::string head = buildResponseHead(p);
  captureResponseBytes(ctx, body);
  ClientWrite write(ctx, head, body, BodyFraming::kContentLength, true);
  if (!write.sendNow()) co_await write.sendRest();
  if (!write.ok()) ctx.keep_alive = false;
}

bool retriesTransportFailure(ProxyContext& ctx, ErrorType type) {
  const bool timeout = type == ErrorType::kUpstreamTimeout || ctx.upstream_timed_out;
  const bool connection = type == ErrorType::kUpstreamUnreachable || type == ErrorType::kUpstreamBroken;
  if (!ctx.retry || (timeout ? !ctx.retry->on_timeout : !(connection && ctx.retry->on_connect_error))) return false;
  ctx.attempt_failure = AttemptFailure{0, timeout ? ErrorType::kUpstreamTimeout : type, std::nullopt};
  return true;
}

ErrorType errorTypeFor(const Error& e) {
  if (e.http_status == 504) return ErrorType::kUpstreamTimeout;
  if (e.code == "upstream_unreachable" || e.code == "upstream_connection_limit") return ErrorType::kUpstreamUnreachable;
  if (e.http_status == 502) return ErrorType::kUpstreamBroken;
  if (e.http_status == 401) return ErrorType::kAuthentication;
  if (e.http_status == 413) return ErrorType::kRequestTooLarge;
  if (e.code == "overloaded") return ErrorType::kOverloaded;
  if (e.http_status >= 400 && e.http_status < 500) return ErrorType::kInvalidRequest;
  return ErrorType::kInternal;
}

Error transportError(const ProxyContext& ctx, const boost::system::error_code& ec, std::string_view stage) {
  if (ctx.upstream_timed_out || ec == beast::error::timeout)
    return Error::gatewayTimeout("The upstream did not answer in time");
  return Error::badGateway("upstream_broken", "Upstream connection failed while " + std::string(stage) + ": " +
                                                  ec.message());
}

}  // namespace gw::server
