// The ResponseHandlers of the translating providers (anthropic, bedrock):
// one for answers translated as a whole, one for streams translated event
// by event.
#pragma once

#include "gw/provider.h"

#include <functional>
#include <string>
#include <utility>

namespace gw::providers {

// For responses that are translated as a whole (JSON bodies and error
// bodies): collects the upstream body, within a limit, and translates it
// when the body ends.
class BufferedResponseHandler final : public ResponseHandler {
 public:
  // Called once with the whole body; appends the client's bytes to `out`.
  using Translate = std::function<Status(std::string_view body, ResponseObservation& obs, std::string& out)>;

  // Largest upstream body accepted: a chat completion is far smaller, so a
  // bigger one is a broken or hostile upstream.
  static constexpr std::size_t kMaxBodyBytes = 16u << 20;

  BufferedResponseHandler(int status, Translate translate) : translate_(std::move(translate)) {
    head_.status = status;
    head_.content_type = "application/json";
    head_.framing = Framing::kBuffered;
  }

  const ClientResponseHead& head() const override { return head_; }

  Status onBody(std::string_view bytes, std::string&) override {
    if (body_.size() + bytes.size() > kMaxBodyBytes)
      return Error::badGateway("upstream_response_too_large", "the upstream response body is too large");
    body_.append(bytes);
    return ok();
  }

  Status onEnd(std::string& out) override { return translate_(body_, obs_, out); }

  // Nothing has been sent for a buffered response: the core answers with
  // the error itself.
  void onUpstreamFailure(const Error&, std::string&) override {}

  ResponseObservation& observation() override { return obs_; }

 private:
  ClientResponseHead head_;
  ResponseObservation obs_;
  Translate translate_;
  std::string body_;
};

// For a streamed answer: the provider's events in, OpenAI chunks out.
// `Translator` is the provider's stream translator, constructed with this
// handler's observation first (it records usage and chunks there) and
// `args` after it; it offers feed(bytes, out), finish(out) and
// fail(error, out) with the meaning of onBody, onEnd and onUpstreamFailure.
template <class Translator>
class TranslatedStreamHandler final : public ResponseHandler {
 public:
  template <class... Args>
  explicit TranslatedStreamHandler(Args&&... args) : translator_(obs_, std::forward<Args>(args)...) {
    head_.status = 200;
    head_.content_type = "text/event-stream";
    head_.framing = Framing::kRelay;
  }

  const ClientResponseHead& head() const override { return head_; }
  Status onBody(std::string_view bytes, std::string& out) override { return translator_.feed(bytes, out); }
  Status onEnd(std::string& out) override { return translator_.finish(out); }
  void onUpstreamFailure(const Error& error, std::string& out) override { translator_.fail(error, out); }
  ResponseObservation& observation() override { return obs_; }

 private:
  ClientResponseHead head_;
  ResponseObservation obs_;  // declared before translator_, which keeps a reference to it
  Translator translator_;
};

}  // namespace gw::providers
