#include "providers/anthropic/messages_passthrough.h"

#include "common/anthropic_error.h"
#include "common/anthropic_usage.h"
#include "common/openai_usage.h"
#include "common/sse_parser.h"
#include "common/strings.h"
#include "providers/common/openai_passthrough.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace gw::providers::anthropic {

namespace {

// Largest event accepted: Anthropic's are a few hundred bytes; a tool
// input or a citation may be larger, never this large.
constexpr std::size_t kMaxEventBytes = 4u << 20;
// Largest error body accepted.
constexpr std::size_t kMaxErrorBodyBytes = 1u << 20;

// The error an Anthropic error body or error event describes: its
// error.type and error.message, when it has them.
void readError(std::string_view json_text, ResponseObservation& obs) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json_text, ec);
  if (ec || !v.is_object()) return;
  const auto* e = v.as_object().if_contains("error");
  if (!e || !e->is_object()) return;
  if (const auto* t = e->as_object().if_contains("type"); t && t->is_string() && !t->as_string().empty())
    obs.provider_error_type.emplace(t->as_string());
  if (const auto* m = e->as_object().if_contains("message"); m && m->is_string())
    obs.provider_error_message.emplace(m->as_string());
}

// An event stream: relayed unchanged, whole events at a time; when
// observed, each event's data is kept for the record (within the budget),
// usage read from message_start and message_delta, the model from
// message_start, and an error event noted.
class MessagesStreamHandler final : public ResponseHandler {
 public:
  MessagesStreamHandler(const UpstreamResponseHead& h, bool observed, bool own_usage, std::size_t budget)
      : observed_(observed), budget_(budget) {
    obs_.api = ResponseApi::kMessages;
    obs_.own_usage = own_usage;
    head_.status = h.status;
    head_.content_type = std::string(h.content_type);
    head_.framing = Framing::kRelay;
    head_.passthrough_bytes = true;
  }
  const ClientResponseHead& head() const override { return head_; }

  Status onBody(std::string_view in, std::string& out) override {
    relay_.forward(in, out);
    if (!observed_) {
      // Read by nobody: not parsed. The bytes held back for an unfinished
      // event are then what the event limit bounds.
      if (relay_.held() > kMaxEventBytes)
        return Error::badGateway("upstream_stream_malformed", "upstream event too large");
      return ok();
    }
    bool parsed = parser_.feed(in, [&](const SseEvent& e) {
      onEvent(e);
      return true;
    });
    if (!parsed) return Error::badGateway("upstream_stream_malformed", "upstream event too large");
    return ok();
  }

  Status onEnd(std::string& out) override {
    relay_.flush(out);
    return ok();
  }

  void onUpstreamFailure(const Error& error, std::string& out) override {
    relay_.drop();
    out.append(anthropicErrorEvent(error));
  }

  ResponseObservation& observation() override { return obs_; }

 private:
  void onEvent(const SseEvent& e) {
    const std::string_view type = e.event;
    if (type == "message_start") {
      if (auto m = scanModel(e.data); !m.empty()) obs_.response_model = std::move(m);
      if (obs_.own_usage) scanMessagesUsage(e.data, obs_.usage);
    } else if (type == "message_delta") {
      if (obs_.own_usage) scanMessagesUsage(e.data, obs_.usage);
    } else if (type == "error" && !obs_.provider_error_type) {
      readError(e.data, obs_);
      if (!obs_.provider_error_type) obs_.provider_error_type = "stream_error";
    } else if (type == "ping") {
      return;  // keep-alive: nothing for the record
    }
    capture(e.data);
  }

  // Copies an event's data for the record only when it fits the capture
  // budget (0 when no exporter wants records).
  void capture(std::string_view data) {
    if (obs_.chunk_bytes + data.size() > budget_) {
      ++obs_.chunks_not_captured;
      return;
    }
    obs_.chunk_bytes += data.size();
    obs_.chunks.emplace_back(data);
  }

  bool observed_;
  std::size_t budget_;
  ClientResponseHead head_;
  ResponseObservation obs_;
  SseParser parser_{kMaxEventBytes};
  CompleteEventRelay relay_;
};

}  // namespace

bool isMessagesApiPath(std::string_view path) { return path == "/v1/messages" || path.starts_with("/v1/messages/"); }

std::unique_ptr<ResponseHandler> respondToMessages(const UpstreamResponseHead& h, bool observed, bool own_usage,
                                                   std::size_t capture_budget, std::vector<std::string> secrets) {
  if (h.status >= 300) {
    // Anthropic's own error body, read whole (errors are small) so that a
    // key the upstream echoes is redacted before the client or the record
    // sees it.
    openai_passthrough::ErrorRelay errors;
    errors.secrets = std::move(secrets);
    errors.api = ResponseApi::kMessages;
    errors.max_body_bytes = kMaxErrorBodyBytes;
    errors.rewrite = [](int status, std::string& body, ResponseObservation& obs) {
      readError(body, obs);
      if (!obs.provider_error_type) obs.provider_error_type = "http_" + std::to_string(status);
    };
    return openai_passthrough::makeErrorPassthrough(h, std::move(errors));
  }
  if (iequals(trim(h.content_type.substr(0, h.content_type.find(';'))), "text/event-stream"))
    return std::make_unique<MessagesStreamHandler>(h, observed, own_usage, capture_budget);
  // A JSON answer (a message, a token count, a batch): relayed unchanged;
  // the proxy reads a message's usage from the body it captured.
  return openai_passthrough::makeBodyPassthrough(h, ResponseApi::kMessages, own_usage);
}

}  // namespace gw::providers::anthropic
