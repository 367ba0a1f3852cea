// Fuzzes the Anthropic Messages side of the Bedrock provider
// (src/providers/bedrock/messages_translate.h) in two modes, chosen by the
// control byte's top bit:
//  - request: the rest is a client's JSON body, translated for Converse and
//    for CountTokens. Invariants: a translated body is JSON and names a
//    model; a refusal is a 400 whose Anthropic error body is JSON.
//  - stream: the rest is a ConverseStream event stream, fed in pieces of
//    1-64 bytes (the control byte's low bits), then as the Converse JSON
//    answer, a CountTokens answer and an error body. Invariants: the client
//    gets well-formed Messages SSE ("event: T\ndata: {..."type":"T"...}\n\n"),
//    ending with at most one message_stop or error event; the same bytes fed
//    whole give the same events; the observation's chunks are the events'
//    data but for the gateway's own final error event (a malformed or
//    truncated stream), a prefix within the capture budget; a secret in an
//    exception message never reaches the client.
#include "fuzz_support.h"

#include "common/anthropic_error.h"
#include "providers/bedrock/messages_translate.h"
#include "server/json_body.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace json = boost::json;
namespace bedrock = gw::providers::bedrock;

constexpr std::size_t kBudget = 2048;
constexpr std::string_view kSecret = "FuzzSessionToken-5e3a";

void check(bool condition) {
  if (!condition) std::abort();
}

// The body is read as the server reads a client's: what parseJsonBody
// refuses (too deep, not an object, a number beyond a double) never reaches
// the translation.
void fuzzRequest(std::string_view text) {
  auto body = gw::parseJsonBody(text);
  if (!body) return;
  for (bool count_tokens : {false, true}) {
    auto call = count_tokens ? bedrock::countTokensToConverse(*body) : bedrock::messagesToConverse(*body);
    if (call) {
      check(!call->model.empty());
      check(gw::fuzz::isJson(call->body));
    } else {
      check(call.error().http_status == 400);
      check(!call.error().message.empty());
      check(gw::fuzz::isJson(gw::anthropicErrorBody(call.error())));
    }
  }
}

struct Event {
  std::string_view type;
  std::string_view data;
};

// Splits and checks the client's bytes; returns the events.
std::vector<Event> checkSse(std::string_view out) {
  std::vector<Event> events;
  while (!out.empty()) {
    check(out.starts_with("event: "));
    std::size_t newline = out.find('\n');
    check(newline != std::string_view::npos);
    std::string_view type = out.substr(7, newline - 7);
    out.remove_prefix(newline + 1);
    check(out.starts_with("data: "));
    std::size_t end = out.find("\n\n");
    check(end != std::string_view::npos);
    std::string_view data = out.substr(6, end - 6);
    check(data.find('\n') == std::string_view::npos);
    out.remove_prefix(end + 2);
    check(gw::fuzz::isJson(data));
    json::parse_options options;
    options.max_depth = 10000;
    json::value v = json::parse(data, {}, options);
    check(v.is_object());
    const auto* t = v.as_object().if_contains("type");
    check(t && t->is_string() && t->as_string() == type);
    events.push_back({type, data});
  }
  for (std::size_t i = 0; i < events.size(); ++i) {
    bool terminal = events[i].type == "message_stop" || events[i].type == "error";
    if (terminal) check(i + 1 == events.size());
    if (events[i].type == "error") check(events[i].data.find(kSecret) == std::string_view::npos);
  }
  return events;
}

// The client's bytes; `gateway_error` is set when they end with the
// gateway's own error event (fail() wrote one).
std::string translate(const std::vector<std::string_view>& pieces, gw::ResponseObservation& obs,
                      bool* gateway_error = nullptr) {
  bedrock::MessagesStreamTranslator translator(obs, kBudget, "msg_fuzz", "model", {std::string(kSecret)});
  std::string out;
  auto fail = [&](const gw::Error& e) {
    const std::size_t before = out.size();
    translator.fail(e, out);
    if (gateway_error) *gateway_error = out.size() > before;
  };
  for (auto piece : pieces) {
    if (auto st = translator.feed(piece, out); !st) {
      fail(st.error());
      return out;
    }
  }
  if (auto st = translator.finish(out); !st) fail(st.error());
  return out;
}

void fuzzStream(std::string_view bytes, std::size_t piece) {
  std::vector<std::string_view> pieces;
  for (std::size_t at = 0; at < bytes.size(); at += piece) pieces.push_back(bytes.substr(at, piece));
  gw::ResponseObservation obs;
  bool gateway_error = false;
  std::string out = translate(pieces, obs, &gateway_error);
  auto events = checkSse(out);

  gw::ResponseObservation whole_obs;
  check(translate({bytes}, whole_obs) == out);

  check(obs.api == gw::ResponseApi::kMessages);
  check(obs.chunk_bytes <= kBudget);
  check(obs.chunks.size() + obs.chunks_not_captured == events.size() - (gateway_error ? 1 : 0));
  for (std::size_t i = 0; i < obs.chunks.size(); ++i) check(obs.chunks[i] == events[i].data);

  gw::ResponseObservation json_obs;
  if (auto message = bedrock::converseToMessage(bytes, "msg_fuzz", "model", json_obs))
    check(gw::fuzz::isJson(*message));
  if (auto count = bedrock::countTokensToMessages(bytes)) check(gw::fuzz::isJson(*count));
  gw::ResponseObservation error_obs;
  check(gw::fuzz::isJson(bedrock::messagesError(429, "ThrottlingException:x", bytes, error_obs)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 0x80)
    fuzzRequest(rest);
  else
    fuzzStream(rest, 1 + data[0] % 64);
  return 0;
}
