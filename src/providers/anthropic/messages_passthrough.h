// The native Messages API on Anthropic (/v1/messages, its count_tokens and
// everything below /v1/messages/): the client's request goes upstream as
// the client wrote it and the answer comes back unchanged, event by event
// for a stream; the gateway reads the answer only for the record (usage
// from message_start and message_delta, each event's data, the error).
// Created by AnthropicProvider::respond() on the request's worker thread;
// each handler belongs to one request.
#pragma once

#include "gw/provider.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gw::providers::anthropic {

// /v1/messages and every path below it.
bool isMessagesApiPath(std::string_view path);

// The handler for one Messages API answer: an error (status >= 300) is
// relayed whole with `secrets` (the keys sent upstream) redacted should
// the upstream echo one; an event stream is relayed event by event (whole
// events only, so that a break mid-way ends with a complete error event);
// any other body is relayed unchanged. `own_usage` is false for answers
// that bill nothing (count_tokens, batches). With `observed` false
// (telemetry off) a stream is relayed without being parsed.
std::unique_ptr<ResponseHandler> respondToMessages(const UpstreamResponseHead& head, bool observed, bool own_usage,
                                                   std::size_t capture_budget, std::vector<std::string> secrets);

}  // namespace gw::providers::anthropic
