#include "providers/common/openai_passthrough.h"

#include "common/openai_error.h"
#include "common/openai_usage.h"
#include "common/sse_parser.h"
#include "common/strings.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <limits>
#include <utility>

namespace gw::providers::openai_passthrough {

bool injectsUsage(const ClientRequest& r) {
  return r.observed && r.stream && !r.client_wants_usage && r.json_body &&
         (r.path == "/v1/chat/completions" || r.path == "/v1/completions");
}

bool needsParsedBody(const ClientRequest& r) {
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

void setUpstreamBody(const ClientRequest& r, UpstreamRequest& up) {
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
// redacted should the provider echo it (the client may be spending the
// operator's key, and records must hold no key at all), and rewritten when
// the provider asks for it.
class ErrorPassthroughHandler final : public ResponseHandler {
 public:
  ErrorPassthroughHandler(const UpstreamResponseHead& h, ErrorRelay relay) : relay_(std::move(relay)) {
    obs_.api = relay_.api;
    head_.status = h.status;
    head_.content_type = std::string(h.content_type);
    head_.framing = Framing::kBuffered;
    head_.passthrough_bytes = true;  // the provider's headers (Retry-After...) still apply
  }
  const ClientResponseHead& head() const override { return head_; }
  Status onBody(std::string_view in, std::string& out) override {
    // Framing::kBuffered: `in` is the whole body, so no secret is split.
    if (in.size() > relay_.max_body_bytes)
      return Error::badGateway("upstream_response_too_large", "the upstream error body is too large");
    std::string body(in);
    redactSecrets(body, relay_.secrets);
    if (relay_.rewrite) {
      relay_.rewrite(head_.status, body, obs_);
      // A rewrite may have moved text about: what it wrote is redacted too.
      redactSecrets(body, relay_.secrets);
      if (obs_.provider_error_message) redactSecrets(*obs_.provider_error_message, relay_.secrets);
    }
    out.append(body);
    return ok();
  }
  Status onEnd(std::string&) override { return ok(); }
  void onUpstreamFailure(const Error&, std::string&) override {}
  ResponseObservation& observation() override { return obs_; }

 private:
  ErrorRelay relay_;
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
// top-level "usage" members can be left out. A Responses API stream is
// always forwarded unchanged; its usage is read from its terminal event only.
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
    if (!injected_) forwardCompleteEvents(in, out);
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
    // client's last event, whole, in the stream's own API.
    relay_.drop();
    if (obs_.api == ResponseApi::kResponses) {
      out.append("event: error\ndata: ").append(responsesErrorEvent(error, next_sequence_number_)).append("\n\n");
      return;
    }
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
    if (e.data.starts_with("{\"error\"") && !obs_.provider_error_type) noteStreamError(e.data);
    if (injected_) {
      reframeWithoutUsage(e, out);
      return;
    }
    // Most chunks carry no usage object (or a null one): they are not read
    // further.
    if (hasUsageObject(e.data)) noteUsage(readChatChunk(e.data));
    capture(e.data);
  }

  // An in-band error event (OpenAI's `data: {"error":{...}}` inside a 200
  // stream): its error.type, else error.code, else "stream_error". Only
  // the first error event of a stream is read.
  void noteStreamError(std::string_view chunk) {
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(chunk, ec);
    const boost::json::object* error = nullptr;
    if (!ec && v.is_object())
      if (const auto* e = v.get_object().if_contains("error"); e && e->is_object()) error = &e->get_object();
    if (error)
      for (std::string_view key : {"type", "code"})
        if (const auto* t = error->if_contains(key); t && t->is_string() && !t->get_string().empty()) {
          obs_.provider_error_type.emplace(t->get_string());
          break;
        }
    if (!obs_.provider_error_type) obs_.provider_error_type = "stream_error";
  }

  // True when some "usage" member of the chunk's text is an object (the
  // chunk's own, or x_groq's).
  static bool hasUsageObject(std::string_view chunk) {
    for (auto m = findLastUsageMember(chunk); m; m = findLastUsageMember(chunk, m->key))
      if (m->value < chunk.size() && chunk[m->value] == '{') return true;
    return false;
  }

  // The stream's usage: its top-level usage objects (their counts, the
  // later replacing the earlier), else Groq's x_groq.usage. Never a sum of
  // the two: they count the same tokens.
  void noteUsage(const ChatChunkFacts& facts) {
    if (facts.usage_value == ChatChunkFacts::UsageValue::kObject) {
      if (!top_level_usage_seen_) obs_.usage = Usage{};  // drop what x_groq said
      top_level_usage_seen_ = true;
      const Usage& u = facts.usage;
      for (auto [from, to] : {std::pair{&u.input, &obs_.usage.input}, {&u.output, &obs_.usage.output},
                              {&u.total, &obs_.usage.total}, {&u.cached_input, &obs_.usage.cached_input},
                              {&u.reasoning, &obs_.usage.reasoning}})
        if (*from) *to = *from;
    } else if (facts.has_x_groq_usage && !top_level_usage_seen_) {
      obs_.usage = facts.x_groq_usage;
    }
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
  // ("choices":[] and a usage object, however its JSON is written) is kept
  // for the record and not forwarded; every other chunk is forwarded
  // without its top-level "usage" member. A chunk on one data line (the
  // usual case) is written straight into the output, no copy of its own.
  void reframeWithoutUsage(const SseEvent& e, std::string& out) {
    std::optional<ChatChunkFacts> scanned = scanChatChunkWithNullUsage(e.data);
    const ChatChunkFacts facts = scanned ? std::move(*scanned) : readChatChunk(e.data);
    noteUsage(facts);
    if (facts.isUsageOnly()) {
      usage_chunk_.assign(e.data);
      return;
    }
    if (!e.event.empty()) out.append("event: ").append(e.event).append("\n");
    if (e.data.find('\n') == std::string_view::npos) {
      out.append("data: ");
      const std::size_t start = out.size();
      appendWithoutTopLevelUsage(e.data, facts, out);
      capture(std::string_view(out).substr(start));
      out.append("\n\n");
      return;
    }
    // JSON over several lines: one "data:" line each.
    scratch_.clear();
    appendWithoutTopLevelUsage(e.data, facts, scratch_);
    capture(scratch_);
    std::string_view rest = scratch_;
    for (std::size_t lf; (lf = rest.find('\n')) != std::string_view::npos; rest.remove_prefix(lf + 1))
      out.append("data: ").append(rest.substr(0, lf)).append("\n");
    out.append("data: ").append(rest).append("\n\n");
  }

  // Passthrough: the bytes are forwarded unchanged, whole events only
  // (CompleteEventRelay).
  void forwardCompleteEvents(std::string_view in, std::string& out) {
    const std::size_t start = out.size();
    relay_.forward(in, out);
    // A Responses API stream that breaks ends with an error event numbered
    // one past the last event forwarded: the bytes just forwarded are whole
    // events, so the last number among them is that event's.
    if (obs_.api == ResponseApi::kResponses && out.size() > start)
      if (auto n = scanLastSequenceNumber(std::string_view(out).substr(start)))
        next_sequence_number_ = *n < std::numeric_limits<std::int64_t>::max() ? *n + 1 : *n;
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
  std::string scratch_;  // a re-framed chunk written over several data lines
  bool top_level_usage_seen_ = false;
  std::int64_t next_sequence_number_ = 0;  // Responses API: of the error event, should the stream break
};

}  // namespace

std::unique_ptr<ResponseHandler> makeResponseHandler(const ClientRequest& r, const UpstreamResponseHead& h,
                                                     std::size_t capture_budget, ErrorRelay errors) {
  // The Responses API: a new response (POST /v1/responses) has its own
  // usage; one retrieved, cancelled or listed below it (/v1/responses/{id}...)
  // is earlier work.
  const bool responses = r.path == "/v1/responses" || r.path.starts_with("/v1/responses/");
  const ResponseApi api = responses ? ResponseApi::kResponses : ResponseApi::kChatCompletions;
  const bool own_usage = !responses || (r.method == "POST" && r.path == "/v1/responses");
  if (h.status < 300 && iequals(trim(h.content_type.substr(0, h.content_type.find(';'))), "text/event-stream"))
    return std::make_unique<SseHandler>(h, injectsUsage(r), r.observed, api, own_usage, capture_budget);
  if (h.status >= 400) return makeErrorPassthrough(h, std::move(errors));
  return makeBodyPassthrough(h, api, own_usage);
}

std::unique_ptr<ResponseHandler> makeBodyPassthrough(const UpstreamResponseHead& h, ResponseApi api, bool own_usage) {
  return std::make_unique<PassthroughHandler>(h, api, own_usage);
}

std::unique_ptr<ResponseHandler> makeErrorPassthrough(const UpstreamResponseHead& h, ErrorRelay errors) {
  return std::make_unique<ErrorPassthroughHandler>(h, std::move(errors));
}

}  // namespace gw::providers::openai_passthrough
