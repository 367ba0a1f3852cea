// Fuzzes the Bedrock ConverseStream translator (event-stream bytes -> OpenAI
// chunks) and the Converse JSON response translator. Invariants: no crash,
// and every "data:" payload written to the client is [DONE] or valid JSON.
#include "providers/bedrock/bedrock_translate.h"

#include <boost/json/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {
void checkClientBytes(std::string_view out) {
  std::size_t pos = 0;
  while ((pos = out.find("data: ", pos)) != std::string_view::npos) {
    std::size_t end = out.find("\n\n", pos);
    if (end == std::string_view::npos) std::abort();
    std::string_view payload = out.substr(pos + 6, end - pos - 6);
    if (payload != "[DONE]") {
      boost::system::error_code ec;
      boost::json::parse(payload, ec);
      if (ec) std::abort();
    }
    pos = end + 2;
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t step = 1 + data[0] % 128;
  bool wants_usage = data[0] & 0x80;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);

  gw::ResponseObservation obs;
  gw::providers::bedrock::StreamTranslator translator(obs, 4096, "id", "model", wants_usage, 0);
  std::string out;
  bool failed = false;
  for (std::size_t at = 0; at < bytes.size() && !failed; at += step) {
    if (auto st = translator.feed(bytes.substr(at, step), out); !st) {
      translator.fail(st.error(), out);
      failed = true;
    }
  }
  if (!failed)
    if (auto st = translator.finish(out); !st) translator.fail(st.error(), out);
  checkClientBytes(out);

  gw::ResponseObservation json_obs;
  if (auto r = gw::providers::bedrock::translateResponse(bytes, "id", "model", 0, json_obs)) {
    boost::system::error_code ec;
    boost::json::parse(*r, ec);
    if (ec) std::abort();
  }
  return 0;
}
