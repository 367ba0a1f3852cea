// Fuzzes gw::server::UpstreamResponseParser (src/server/upstream_response_parser.h),
// the parser every upstream response goes through, differentially: against
// Beast's own http::response_parser on the same bytes, split the same way,
// it must report the same status, fields in order, body, completion and
// failure, except that its header limit bounds the whole head (agree() in
// src/server/testing/upstream_response_differential.h, which drives both as
// the proxy does, with a body buffer smaller than most bodies).
//
// Interim responses (1xx but 101) before the final one are skipped by both
// (the reference reads them as messages of their own). A final response
// with a Content-Encoding then has its body decoded as the proxy does
// (src/upstream/content_decoder.h, fed in pieces into a small buffer):
// any bytes must decode or fail cleanly, and what read() returns must add
// up to decodedBytes().
#include "fuzz_support.h"
#include "server/testing/upstream_response_differential.h"
#include "upstream/content_decoder.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace {

void decodeLikeTheProxy(const gw::server::differential::Parsed& parsed, std::size_t piece) {
  std::string codings;
  for (const auto& f : parsed.fields) {
    if (f.size() < 17 || !gw::iequals(std::string_view(f).substr(0, 17), "content-encoding:")) continue;
    if (!codings.empty()) codings += ", ";
    codings += std::string_view(f).substr(17);
  }
  if (codings.empty() || parsed.failed) return;
  auto decoder = gw::upstream::makeContentDecoder(codings);
  if (!decoder || !*decoder) return;
  char out[512];
  std::uint64_t total = 0;
  std::string_view body = parsed.body;
  for (;;) {
    gw::Status st;
    const std::size_t n = (*decoder)->read(out, sizeof out, st);
    total += n;
    if (!st) return;
    if (n > 0) continue;
    if (body.empty()) break;
    (*decoder)->feed(body.substr(0, piece));
    body.remove_prefix(std::min(piece, body.size()));
  }
  (void)(*decoder)->finish();
  if (total != (*decoder)->decodedBytes()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gw::fuzz::FuzzInput in(data, size);
  const std::size_t piece = 1 + in.byte() % 64;
  std::string_view bytes = in.rest();
  using namespace gw::server::differential;
  Parsed flat = withFlat(bytes, piece);
  if (!agree(bytes, withBeast(bytes, piece), flat)) std::abort();
  decodeLikeTheProxy(flat, piece);
  return 0;
}
