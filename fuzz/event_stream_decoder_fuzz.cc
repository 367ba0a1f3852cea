// Fuzzes the AWS event-stream decoder: arbitrary bytes, fed in pieces whose
// sizes come from the input itself, so frames are split at every kind of
// offset. Invariants: no crash, and delivered payloads lie within limits.
#include "providers/bedrock/event_stream.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t step = 1 + data[0] % 64;  // piece size
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  gw::providers::bedrock::eventstream::Decoder decoder(64 * 1024);
  for (std::size_t at = 0; at < bytes.size(); at += step) {
    auto st = decoder.feed(bytes.substr(at, step), [&](const gw::providers::bedrock::eventstream::Message& m) -> gw::Status {
      if (m.payload.size() > 64 * 1024) std::abort();
      for (const auto& h : m.headers)
        if (h.name.empty()) std::abort();
      (void)m.stringHeader(":event-type");
      return gw::ok();
    });
    if (!st) break;
  }
  if (decoder.buffered() > 64 * 1024) std::abort();
  return 0;
}
