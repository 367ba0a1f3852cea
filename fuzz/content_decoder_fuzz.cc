// Fuzzes gw::upstream::ContentDecoder (src/upstream/content_decoder.h), the
// decoder of whatever Content-Encoding an upstream answers with: the coded
// bytes are fed in input-chosen pieces and read into an input-chosen
// buffer, as the proxy would. Checked beyond "no crash, no leak, no UB":
// read() never returns more than asked, decodedBytes() is what read()
// returned, a failed read() stays failed and fails finish(), errors have
// their documented codes; and, differentially, a single coding decodes
// exactly as zlib's / brotli's own one-shot decode of the whole body does
// (same bytes, same success), so piecewise decoding loses nothing.
// Header values from the input exercise makeContentDecoder's parsing.
#include "fuzz_support.h"
#include "upstream/content_decoder.h"

#include <brotli/decode.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

// Decoded output beyond this is not compared (the proxy's body limit plays
// this part); brotli can expand a few KB of input into gigabytes.
constexpr std::size_t kLimit = 256 * 1024;

enum class Single { kNone, kGzip, kDeflate, kBr };

void check(bool ok) {
  if (!ok) std::abort();
}

bool printableAscii(std::string_view s) {
  for (char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

// The reference decoders: the whole body in one call, output up to
// kLimit. nullopt when the output would pass kLimit (not compared);
// otherwise the output when the body is one complete coded stream (for
// gzip: members) and nothing follows it, else an empty optional inside.
struct Reference {
  bool comparable = false;
  std::optional<std::string> decoded;  // nullopt: the body is invalid
};

Reference referenceZlib(std::string_view body, int window_bits, bool members) {
  Reference r;
  std::string out(kLimit + 1, '\0');
  z_stream z{};
  if (inflateInit2(&z, window_bits) != Z_OK) return r;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  bool complete = false;
  r.comparable = true;
  for (;;) {
    int rc = inflate(&z, Z_FINISH);
    if (rc == Z_STREAM_END) {
      complete = true;
      if (z.avail_in == 0) break;
      if (!members) {
        complete = false;  // bytes after the end
        break;
      }
      inflateReset(&z);
      complete = false;
      continue;
    }
    // Z_BUF_ERROR (cut short, or the output passed kLimit), Z_DATA_ERROR, ...
    if (z.avail_out == 0) r.comparable = false;
    break;
  }
  if (complete) r.decoded.emplace(out.data(), out.size() - z.avail_out);
  inflateEnd(&z);
  return r;
}

// deflate: zlib's own uncompress2 for zlib framing, raw inflate otherwise.
Reference referenceDeflate(std::string_view body) {
  if (body.size() < 2) return {true, std::nullopt};
  auto cmf = static_cast<unsigned char>(body[0]), flg = static_cast<unsigned char>(body[1]);
  if ((cmf & 0x0f) != 8 || (cmf >> 4) > 7 || ((cmf << 8) | flg) % 31 != 0) return referenceZlib(body, -15, false);
  Reference r;
  std::string out(kLimit + 1, '\0');
  uLongf out_len = static_cast<uLongf>(out.size());
  uLong in_len = static_cast<uLong>(body.size());
  int rc =
      uncompress2(reinterpret_cast<Bytef*>(out.data()), &out_len, reinterpret_cast<const Bytef*>(body.data()), &in_len);
  if (rc == Z_BUF_ERROR) return r;  // more than kLimit
  r.comparable = true;
  if (rc == Z_OK && in_len == body.size()) r.decoded.emplace(out.data(), out_len);
  return r;
}

Reference referenceBrotli(std::string_view body) {
  Reference r;
  BrotliDecoderState* s = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
  if (!s) return r;
  std::string out(kLimit + 1, '\0');
  std::size_t avail_in = body.size(), avail_out = out.size();
  auto* next_in = reinterpret_cast<const std::uint8_t*>(body.data());
  auto* next_out = reinterpret_cast<std::uint8_t*>(out.data());
  BrotliDecoderResult res = BrotliDecoderDecompressStream(s, &avail_in, &next_in, &avail_out, &next_out, nullptr);
  BrotliDecoderDestroyInstance(s);
  if (res == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) return r;
  r.comparable = true;
  if (res == BROTLI_DECODER_RESULT_SUCCESS && avail_in == 0) r.decoded.emplace(out.data(), out.size() - avail_out);
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gw::fuzz::FuzzInput in(data, size);
  // Control byte: coding (bits 0-2), piece size (3-5), read buffer (6-7).
  const std::uint8_t control = in.byte();
  struct Choice {
    std::string_view header;
    Single single;
  };
  static constexpr Choice kChoices[] = {
      {"gzip", Single::kGzip},        {"deflate", Single::kDeflate}, {"br", Single::kBr},
      {"X-Gzip", Single::kGzip},      {"gzip, br", Single::kNone},   {"deflate, gzip", Single::kNone},
      {"br, deflate", Single::kNone}, {"", Single::kNone},  // 7: the header value comes from the input
  };
  static constexpr std::size_t kPieces[] = {1, 2, 3, 7, 64, 512, 4096, 1 << 16};
  static constexpr std::size_t kCaps[] = {1, 13, 4096, 1 << 16};
  Choice choice = kChoices[control & 7];
  const std::size_t piece = kPieces[(control >> 3) & 7];
  const std::size_t cap = kCaps[control >> 6];
  std::string header(choice.header);
  if ((control & 7) == 7) header = std::string(in.bytes(80));
  const std::string_view body = in.rest();

  auto made = gw::upstream::makeContentDecoder(header);
  if (!made) {
    const gw::Error& e = made.error();
    check(e.http_status == 502 && e.code == "upstream_encoding_unsupported" && printableAscii(e.message));
    return 0;
  }
  if (!*made) return 0;  // identity: nothing to decode
  gw::upstream::ContentDecoder& d = **made;

  std::string out;
  std::vector<char> buf(cap);
  gw::Status read_error;
  bool limited = false;
  for (std::size_t i = 0; i <= body.size() && read_error && !limited; i += piece) {
    if (i < body.size()) {
      check(d.needsInput());
      d.feed(body.substr(i, piece));
    }
    for (;;) {
      gw::Status st;
      std::size_t n = d.read(buf.data(), cap, st);
      check(n <= cap);
      if (!st) {
        check(n == 0 && st.error().http_status == 502 && st.error().code == "upstream_encoding_invalid" &&
              printableAscii(st.error().message));
        read_error = st;
        break;
      }
      if (n == 0) {
        check(d.needsInput());
        break;
      }
      out.append(buf.data(), n);
      check(d.decodedBytes() == out.size());
      if (out.size() > kLimit) {
        limited = true;
        break;
      }
    }
  }
  if (limited) return 0;
  check(d.decodedBytes() == out.size());
  if (!read_error) {
    gw::Status again;
    char c;
    check(d.read(&c, 1, again) == 0 && !again);  // a failure is sticky
  }
  gw::Status finished = d.finish();
  if (!read_error) check(!finished);
  if (!finished)
    check(finished.error().code == "upstream_encoding_invalid" && printableAscii(finished.error().message));
  const bool ok = read_error && finished;

  Reference ref;
  switch (choice.single) {
    case Single::kNone:
      return 0;
    case Single::kGzip:
      ref = referenceZlib(body, 15 + 32, true);
      break;
    case Single::kDeflate:
      ref = referenceDeflate(body);
      break;
    case Single::kBr:
      ref = referenceBrotli(body);
      break;
  }
  if (body.empty()) ref = {true, std::string()};  // the decoder's empty-body rule
  if (!ref.comparable) return 0;
  check(ok == ref.decoded.has_value());
  if (ok) check(out == *ref.decoded);
  return 0;
}
