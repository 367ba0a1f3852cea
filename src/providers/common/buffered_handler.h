// A ResponseHandler for responses that are translated as a whole (JSON
// bodies and error bodies): it collects the upstream body, within a limit,
// and translates it when the body ends. Shared by the translating providers.
#pragma once

#include "gw/provider.h"

#include <functional>
#include <string>

namespace gw::providers {

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

}  // namespace gw::providers
