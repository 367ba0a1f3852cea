// Fuzzes gw::server::UpstreamResponseParser (src/server/upstream_response_parser.h),
// the parser every upstream response goes through, differentially: against
// Beast's own http::response_parser on the same bytes, split the same way,
// it must report the same status, fields in order, body, completion and
// failure, except that its header limit bounds the whole head (agree() in
// src/server/testing/upstream_response_differential.h, which drives both as
// the proxy does, with a body buffer smaller than most bodies).
#include "fuzz_support.h"
#include "server/testing/upstream_response_differential.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gw::fuzz::FuzzInput in(data, size);
  const std::size_t piece = 1 + in.byte() % 64;
  std::string_view bytes = in.rest();
  using namespace gw::server::differential;
  if (!agree(bytes, withBeast(bytes, piece), withFlat(bytes, piece))) std::abort();
  return 0;
}
