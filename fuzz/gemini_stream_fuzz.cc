// Fuzzes the Gemini translators of upstream bytes: the streamGenerateContent
// SSE stream -> OpenAI chunks (fed in input-chosen pieces), and the same
// bytes as a generateContent body and as an error body. Invariants: no
// crash, every "data:" payload written to the client is [DONE] or valid
// JSON, translated bodies are JSON, the capture budget holds, and the secret
// the translator was given never reaches the client.
#include "providers/gemini/gemini_translate.h"

#include "fuzz_support.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {
constexpr std::string_view kSecret = "AIzaFUZZ-SECRET-KEY";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t step = 1 + data[0] % 128;
  bool wants_usage = data[0] & 0x80;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);

  gw::ResponseObservation obs;
  gw::providers::gemini::StreamTranslator translator(obs, 4096, "id", "model", wants_usage, 0);
  translator.setSecrets({std::string(kSecret)});
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
  gw::fuzz::checkGeneratedSse(out);
  if (obs.chunk_bytes > 4096) std::abort();
  // Only an error event's message is redacted; a secret the input put in
  // content is the model's text.
  if (obs.provider_error_message && obs.provider_error_message->find(kSecret) != std::string::npos) std::abort();

  gw::ResponseObservation json_obs;
  if (auto r = gw::providers::gemini::translateResponse(bytes, "id", "model", 0, json_obs))
    if (!gw::fuzz::isJson(*r)) std::abort();
  gw::ResponseObservation error_obs;
  if (!gw::fuzz::isJson(gw::providers::gemini::translateError(400 + data[0] % 200, bytes, error_obs))) std::abort();
  return 0;
}
