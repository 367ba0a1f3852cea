#include "providers/openai_compatible/openai_compatible_provider.h"

#include "common/openai_error.h"
#include "common/openai_usage.h"
#include "common/sse_parser.h"
#include "common/strings.h"
#include "config/settings.h"
#include "providers/common/forwarding.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace gw::providers::openai_compatible {

OpenAiCompatibleProvider::OpenAiCompatibleProvider(const ProviderConfig& config, ApiKey api_key)
    : name_(config.name), api_key_(api_key) {
  // The factory checked the URL at start-up.
  if (auto ep = parseBaseUrl(config.base_url)) endpoint_ = *ep;
  if (!config.env_api_key.empty()) env_authorization_ = "Bearer " + config.env_api_key;
}

bool OpenAiCompatibleProvider::injectsUsage(const ClientRequest& r) {
  return r.observed && r.stream && !r.client_wants_usage && r.json_body &&
         (r.path == "/v1/chat/completions" || r.path == "/v1/completions");
}

bool OpenAiCompatibleProvider::wantsParsedBody(const ClientRequest& r) const {
  // The body goes upstream as the client sent it unless the gateway changes
  // it: a provider prefix taken off "model" needs the tree; include_usage
  // is spliced into the text (see prepare) unless the body already has a
  // "stream_options" to change.
  return r.body_rewritten || (injectsUsage(r) && r.has_stream_options);
}

std::string withIncludeUsage(std::string_view body) {
  // The body is a JSON object (checked): the member goes right after its
  // opening brace, followed by a comma unless the object is empty.
  static constexpr std::string_view kMember = "\"stream_options\":{\"include_usage\":true}";
  std::size_t open = body.find('{');
  std::size_t next = body.find_first_not_of(" \t\r\n", open + 1);
  bool empty = next != std::string_view::npos && body[next] == '}';
  std::string out;
  out.reserve(body.size() + kMember.size() + 1);
  out.append(body.substr(0, open + 1)).append(kMember);
  if (!empty) out.push_back(',');
  out.append(body.substr(open + 1));
  return out;
}

Result<UpstreamRequest> OpenAiCompatibleProvider::prepare(const ClientRequest& r) const {
  UpstreamRequest up;
  up.endpoint = endpoint_;
  up.method = std::string(r.method);
  std::string_view rest = r.target;
  if (rest.starts_with("/v1")) rest.remove_prefix(3);
  up.target.reserve(endpoint_.base_path.size() + rest.size());
  up.target.append(endpoint_.base_path).append(rest);
  if (up.target.empty() || up.target[0] != '/') up.target.insert(0, 1, '/');

  bool have_auth = false;
  up.headers.reserve(16);
  r.headers->forEach([&](std::string_view name, std::string_view value) {
    std::string lower = toLower(name);
    if (isGatewayOnlyHeader(lower)) return;
    // Credentials meant for someone else: Anthropic's key header (a client
    // configured for several providers may send it to all of them) and the
    // cookies of the gateway's own site. Neither is part of the OpenAI API.
    if (lower == "x-api-key" || lower == "cookie") return;
    if (lower == "authorization") {
      if (trim(value).empty()) return;
      have_auth = true;
    }
    up.headers.emplace_back(std::move(lower), std::string(value));
  });
  if (!have_auth && !(env_authorization_.empty() && api_key_ == ApiKey::kOptional)) {
    if (env_authorization_.empty())
      return Error::unauthorized("missing_api_key",
                                 "No API key: send 'Authorization: Bearer <key>' or configure the gateway's " +
                                     toUpper(name_) + "_API_KEY");
    up.headers.emplace_back("authorization", env_authorization_);
  }

  if (injectsUsage(r) && r.json) {
    auto& so = (*r.json)["stream_options"];
    if (!so.is_object()) so = boost::json::object();
    so.as_object()["include_usage"] = true;
    up.body = boost::json::serialize(*r.json);
  } else if (injectsUsage(r) && !r.has_stream_options) {
    up.body = withIncludeUsage(r.body);
  } else if (r.body_rewritten && r.json) {
    up.body = boost::json::serialize(*r.json);
  } else {
    up.forwards_client_body = true;
  }
  return up;
}

namespace {

// The bytes [first, second) of `chunk` that make up the member at `m` when
// its value is null, with the comma that separates it from its neighbour
// (before it, or after it when it is the first member).
std::optional<std::pair<std::size_t, std::size_t>> nullMemberBytes(std::string_view chunk, UsageMemberPos m) {
  if (chunk.substr(m.value, 4) != "null") return std::nullopt;
  std::size_t begin = m.key, end = m.value + 4;
  std::size_t b = begin;
  while (b > 0 && isJsonWhitespace(chunk[b - 1])) --b;
  if (b > 0 && chunk[b - 1] == ',') return std::pair{b - 1, end};
  std::size_t e = end;
  while (e < chunk.size() && isJsonWhitespace(chunk[e])) ++e;
  if (e < chunk.size() && chunk[e] == ',') end = e + 1;
  return std::pair{begin, end};
}

bool isObjectValue(std::string_view chunk, const std::optional<UsageMemberPos>& m) {
  return m && m->value < chunk.size() && chunk[m->value] == '{';
}
}  // namespace

bool stripNullUsage(std::string& s, std::size_t from) {
  const std::string_view chunk = std::string_view(s).substr(from);
  auto m = findLastUsageMember(chunk);
  if (!m) return false;
  auto bytes = nullMemberBytes(chunk, *m);
  if (!bytes) return false;
  s.erase(from + bytes->first, bytes->second - bytes->first);
  return true;
}

namespace {

// Non-SSE responses (JSON bodies, errors, files, audio): bytes unchanged.
class PassthroughHandler final : public ResponseHandler {
 public:
  PassthroughHandler(const UpstreamResponseHead& h, ResponseApi api, bool own_usage) {
    obs_.api = api;
    obs_.own_usage = own_usage;
    head_.status = h.status;
    head_.content_type = std::string(h.content_type);
    head_.framing = Framing::kRelay;
    head_.passthrough_bytes = true;
  }
  const ClientResponseHead& head() const override { return head_; }
  Status onBody(std::string_view in, std::string& out) override {
    out.append(in);
    return ok();
  }
  Status onEnd(std::string&) override { return ok(); }
  void onUpstreamFailure(const Error&, std::string&) override {}
  ResponseObservation& observation() override { return obs_; }

 private:
  ClientResponseHead head_;
  ResponseObservation obs_;
};

// Error responses (status >= 400): still the provider's bytes, but read
// whole (they are small) so that the API key the gateway sent can be
// redacted should the provider echo it: the client may be spending the
// operator's key, and records must hold no key at all.
class ErrorPassthroughHandler final : public ResponseHandler {
 public:
  ErrorPassthroughHandler(const UpstreamResponseHead& h, std::vector<std::string> secrets)
      : secrets_(std::move(secrets)) {
    head_.status = h.status;
    head_.content_type = std::string(h.content_type);
    head_.framing = Framing::kBuffered;
    head_.passthrough_bytes = true;  // the provider's headers (Retry-After...) still apply
  }
  const ClientResponseHead& head() const override { return head_; }
  Status onBody(std::string_view in, std::string& out) override {
    // Framing::kBuffered: `in` is the whole body, so no secret is split.
    std::string body(in);
    redactSecrets(body, secrets_);
    out.append(body);
    return ok();
  }
  Status onEnd(std::string&) override { return ok(); }
  void onUpstreamFailure(const Error&, std::string&) override {}
  ResponseObservation& observation() override { return obs_; }

 private:
  std::vector<std::string> secrets_;
  ClientResponseHead head_;
  ResponseObservation obs_;
};

// The "type" of a Responses API event: its SSE event name, else the first
// "type" string member of its data (OpenAI writes the event's own first).
std::string_view responsesEventType(const SseEvent& e) {
  if (!e.event.empty()) return e.event;
  static constexpr std::string_view kKey = "\"type\":\"";
  auto pos = findBytes(e.data, kKey);
  if (pos == std::string_view::npos) return {};
  pos += kKey.size();
  auto end = e.data.find('"', pos);
  if (end == std::string_view::npos) return {};
  return e.data.substr(pos, end - pos);
}

// text/event-stream responses. When the gateway did not change the request,
// bytes are forwarded exactly as received and only observed; when it added
// include_usage, events are re-framed so that the usage-only chunk and the
// "usage":null members can be left out. A Responses API stream is always
// forwarded unchanged; its usage is read from its terminal event only.
class SseHandler final : public ResponseHandler {
 public:
  SseHandler(const UpstreamResponseHead& h, bool injected, bool observed, ResponseApi api, bool own_usage,
             std::size_t budget)
      : injected_(injected), observed_(observed || injected), budget_(budget) {
    obs_.api = api;
    obs_.own_usage = own_usage;
    head_.status = h.status;
    head_.content_type = std::string(h.content_type);
    head_.framing = Framing::kRelay;
    head_.passthrough_bytes = !injected;
  }
  const ClientResponseHead& head() const override { return head_; }

  Status onBody(std::string_view in, std::string& out) override {
    if (!injected_) relay_.forward(in, out);
    if (!observed_) {
      // Relayed unchanged and read by nobody: not parsed. The bytes held
      // back for an unfinished event are then what the event limit bounds.
      if (relay_.held() > kMaxEventBytes)
        return Error::badGateway("upstream_stream_malformed", "upstream event too large");
      return ok();
    }
    bool parsed = parser_.feed(in, [&](const SseEvent& e) {
      onEvent(e, out);
      return true;
    });
    if (!parsed) return Error::badGateway("upstream_stream_malformed", "upstream event too large");
    return ok();
  }

  Status onEnd(std::string& out) override {
    // A stream that ended without a final blank line: its bytes still go
    // through unchanged.
    relay_.flush(out);
    if (!usage_chunk_.empty()) capture(usage_chunk_);
    return ok();
  }

  void onUpstreamFailure(const Error& error, std::string& out) override {
    // The unfinished event held back is dropped: the error event is the
    // client's last event, whole.
    relay_.drop();
    out.append("data: ").append(openAiErrorBody(error)).append("\n\n");
  }

  ResponseObservation& observation() override { return obs_; }

 private:
  void onEvent(const SseEvent& e, std::string& out) {
    if (obs_.api == ResponseApi::kResponses) return onResponsesEvent(e);
    if (e.data == "[DONE]") {
      if (injected_) out.append("data: [DONE]\n\n");
      return;
    }
    if (!obs_.response_model) {
      if (auto m = scanModel(e.data); !m.empty()) obs_.response_model = std::move(m);
    }
    if (e.data.starts_with("{\"error\"")) obs_.provider_error_type = "stream_error";
    if (injected_) {
      reframeWithoutUsage(e, out);
      return;
    }
    if (isObjectValue(e.data, findLastUsageMember(e.data))) scanOpenAiUsage(e.data, obs_.usage);
    capture(e.data);
  }

  // A Responses API event: kept for the record as it is; only the terminal
  // event is read (its response's usage and model), by a scan, not a parse.
  // Errors (an "error" event, response.failed) are read from the kept
  // events by the record builder.
  void onResponsesEvent(const SseEvent& e) {
    if (!obs_.response_model) {
      if (auto m = scanModel(e.data); !m.empty()) obs_.response_model = std::move(m);
    }
    if (isTerminalResponsesEvent(responsesEventType(e))) {
      if (auto m = scanModel(e.data); !m.empty()) obs_.response_model = std::move(m);
      if (obs_.own_usage) scanResponsesUsage(e.data, obs_.usage);
    }
    capture(e.data);
  }

  // The client did not ask for usage; the gateway did. The usage-only chunk
  // is kept for the record and not forwarded; every other chunk is
  // forwarded without its "usage":null member. Re-framed in place in the
  // output: no copy of the chunk per event.
  void reframeWithoutUsage(const SseEvent& e, std::string& out) {
    auto usage = findLastUsageMember(e.data);
    if (isObjectValue(e.data, usage) && containsBytes(e.data, "\"choices\":[]")) {
      scanOpenAiUsage(e.data, obs_.usage);
      usage_chunk_.assign(e.data);
      return;
    }
    if (!e.event.empty()) out.append("event: ").append(e.event).append("\n");
    out.append("data: ");
    const std::size_t start = out.size();
    if (auto null_usage = usage ? nullMemberBytes(e.data, *usage) : std::nullopt) {
      out.append(e.data.substr(0, null_usage->first)).append(e.data.substr(null_usage->second));
    } else {
      out.append(e.data);
    }
    capture(std::string_view(out).substr(start));
    out.append("\n\n");
  }

  // Copies a chunk for the record only when it fits the capture budget (0
  // when no exporter wants records).
  void capture(std::string_view chunk) {
    if (obs_.chunk_bytes + chunk.size() > budget_) {
      ++obs_.chunks_not_captured;
      return;
    }
    obs_.chunk_bytes += chunk.size();
    obs_.chunks.emplace_back(chunk);
  }

  static constexpr std::size_t kMaxEventBytes = 4u << 20;

  bool injected_;
  bool observed_;  // events are parsed (usage, model, chunks) only when read
  std::size_t budget_;
  ClientResponseHead head_;
  ResponseObservation obs_;
  SseParser parser_{kMaxEventBytes};
  std::string usage_chunk_;
  CompleteEventRelay relay_;  // passthrough: whole events only
};

}  // namespace

std::unique_ptr<ResponseHandler> OpenAiCompatibleProvider::respond(const ClientRequest& r,
                                                                   const UpstreamResponseHead& h,
                                                                   std::size_t capture_budget) const {
  // The Responses API: a new response (POST /v1/responses) has its own
  // usage; one retrieved, cancelled or listed below it (/v1/responses/{id}...)
  // is earlier work.
  const bool responses = r.path == "/v1/responses" || r.path.starts_with("/v1/responses/");
  const ResponseApi api = responses ? ResponseApi::kResponses : ResponseApi::kChatCompletions;
  const bool own_usage = !responses || (r.method == "POST" && r.path == "/v1/responses");
  if (h.status < 300 && iequals(trim(h.content_type.substr(0, h.content_type.find(';'))), "text/event-stream"))
    return std::make_unique<SseHandler>(h, injectsUsage(r), r.observed, api, own_usage, capture_budget);
  if (h.status >= 400) {
    std::vector<std::string> secrets;
    if (auto auth = r.headers ? r.headers->get("authorization") : std::nullopt) {
      if (auto token = bearerToken(*auth); !token.empty()) secrets.emplace_back(token);
      else secrets.emplace_back(trim(*auth));
    }
    if (env_authorization_.size() > 7) secrets.push_back(env_authorization_.substr(7));
    return std::make_unique<ErrorPassthroughHandler>(h, std::move(secrets));
  }
  return std::make_unique<PassthroughHandler>(h, api, own_usage);
}

}  // namespace gw::providers::openai_compatible
