// Fuzzes gw::StreamAssembler (src/telemetry/stream_assembler.h), which reads
// every chunk of every recorded stream, differentially: its fast path (one
// SAX pass, the chunk's own text kept in streamed_data) must give exactly
// what its general path (a tree per chunk, scrubbed, serialised again)
// gives -- the same assembled response, the same streamed_data values, the
// same error type -- and streamed_data must be JSON on one line with no
// secret value left in it. The template path (chunks that differ from the
// one before only inside some strings) must change no byte: the same
// streamed_data text, assembled response text and error type as the fast
// and general paths give without it. The input is the chunks, separated by
// 0x1E (so that chunks may hold line breaks, which the fast path must
// refuse).
// Each input is assembled both as chat chunks and as Responses API events.
#include "telemetry/stream_assembler.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Result {
  boost::json::value response;
  std::string streamed_text;
  std::optional<std::string> error_type;
};

Result assemble(const std::vector<std::string_view>& chunks, bool general_path_only, gw::ResponseApi api,
                bool templates = true) {
  gw::StreamAssembler assembler({}, general_path_only, api, templates);
  Result r;
  r.streamed_text = "[";
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    if (i > 0) r.streamed_text += ',';
    assembler.add(chunks[i], &r.streamed_text);
  }
  r.streamed_text += ']';
  r.response = assembler.finish();
  r.error_type = assembler.errorType();
  return r;
}

// Equal values, but doubles only to within rounding: a chunk's own text
// keeps every digit of a long number, while the general path writes back
// the double Boost.JSON read, and Boost.JSON 1.81 does not always read the
// two spellings of one number as the same double.
bool sameValue(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() && b.is_double()) {
    double x = a.get_double(), y = b.get_double();
    return x == y || std::fabs(x - y) <= 1e-12 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto &x = a.get_array(), &y = b.get_array();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (!sameValue(x[i], y[i])) return false;
    return true;
  }
  if (a.is_object()) {
    const auto &x = a.get_object(), &y = b.get_object();
    if (x.size() != y.size()) return false;
    auto xi = x.begin();
    auto yi = y.begin();
    for (; xi != x.end(); ++xi, ++yi)  // same members in the same order
      if (xi->key() != yi->key() || !sameValue(xi->value(), yi->value())) return false;
    return true;
  }
  return a == b;
}

// docs/records.md's rule, written out here rather than taken from
// gw::isSecretKey, so that a fault in that function is found too: the name,
// lower-cased with '-' read as '_', is or ends with one of these, or is
// aws_secret_access_key.
bool isSecretName(std::string_view key) {
  std::string name(key);
  for (char& c : name) c = c == '-' ? '_' : static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  if (name == "aws_secret_access_key") return true;
  for (std::string_view suffix : {"api_key", "apikey", "secret", "secret_key", "password", "access_token",
                                  "refresh_token", "session_token", "auth_token", "private_key", "authorization"})
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return true;
  return false;
}

// A secret key's value in the text other than "[REDACTED]": a leak.
bool leaksSecret(const boost::json::value& v) {
  if (v.is_array()) {
    for (const auto& item : v.as_array())
      if (leaksSecret(item)) return true;
  } else if (v.is_object()) {
    for (const auto& [key, value] : v.as_object()) {
      if (isSecretName(std::string_view(key.data(), key.size())) && value != "[REDACTED]") return true;
      if (leaksSecret(value)) return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> chunks;
  while (chunks.size() < 64) {
    std::size_t end = input.find('\x1e');
    chunks.push_back(input.substr(0, end));
    if (end == std::string_view::npos) break;
    input.remove_prefix(end + 1);
  }
  for (gw::ResponseApi api : {gw::ResponseApi::kChatCompletions, gw::ResponseApi::kResponses, gw::ResponseApi::kMessages}) {
    Result fast = assemble(chunks, false, api);
    Result general = assemble(chunks, true, api);
    Result no_templates = assemble(chunks, false, api, false);
    if (fast.streamed_text != no_templates.streamed_text) std::abort();
    if (boost::json::serialize(fast.response) != boost::json::serialize(no_templates.response)) std::abort();
    if (fast.error_type != no_templates.error_type) std::abort();
    boost::system::error_code ec_fast, ec_general;
    boost::json::parse_options options;
    options.max_depth = 1024;
    boost::json::value fast_streamed = boost::json::parse(fast.streamed_text, ec_fast, {}, options);
    boost::json::value general_streamed = boost::json::parse(general.streamed_text, ec_general, {}, options);
    if (ec_fast || ec_general) std::abort();  // streamed_data is always JSON
    if (fast.streamed_text.find_first_of("\r\n") != std::string::npos) std::abort();  // on one line
    if (!sameValue(fast_streamed, general_streamed)) std::abort();
    if (fast.response != general.response) std::abort();
    if (fast.error_type != general.error_type) std::abort();
    if (leaksSecret(fast_streamed) || leaksSecret(fast.response)) std::abort();
  }
  return 0;
}
