// Decoding of an upstream response body's content-coding (Content-Encoding:
// gzip, deflate, br, or a list of two of them).
//
// Why: the gateway asks upstreams for identity, but an upstream is a peer
// we do not trust and may compress anyway; the proxy has to read, redact
// and relay the decoded body. A compressed body can expand a thousandfold
// (gzip) or far more (brotli), so the decoder is pull-based: the caller
// asks for decoded bytes into its own buffer, and the decoder keeps only
// a copy of the piece it was fed and its coding's fixed state, however
// much the input expands --
//   gzip/deflate: zlib's inflate state and its 32 KiB window (~40 KiB);
//   br: the brotli state and its window, whose size the stream declares,
//   at most 16 MiB (RFC 7932; the large-window extension stays refused);
//   a chain of two codings adds one 16 KiB buffer between them.
// The caller bounds the decoded body (decodedBytes()) with its own limit.
//
// Use, by the worker thread that reads the response (one decoder per
// response; not thread-safe):
//   decoder->feed(compressed_piece);           // only when needsInput()
//   while ((n = decoder->read(out, cap, st))) { ...use out[0..n)... }
//   if (!st) ... the body is corrupt ...
//   at the end of the body: Status st = decoder->finish();
//
// Errors are 502s: "upstream_encoding_unsupported" from makeContentDecoder
// (the message names the coding, cleaned: printable ASCII, 64 characters
// at most), "upstream_encoding_invalid" from read()/finish() (the message
// names the coding and never contains body bytes); a 500 internal_error
// only when zlib or brotli cannot allocate their state. Nothing here
// throws except on allocation failure.
#pragma once

#include "gw/error.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace gw::upstream {

class ContentDecoder {
 public:
  virtual ~ContentDecoder() = default;

  // True when all fed input has been consumed and nothing decoded is held
  // back (read() would return 0 until more is fed).
  virtual bool needsInput() const = 0;
  // Hands over the next compressed bytes; they are copied (the caller
  // reuses its buffer). Precondition: needsInput().
  virtual void feed(std::string_view compressed) = 0;
  // Writes up to `cap` decoded bytes to `out` and returns how many. 0 means
  // more input is needed (or the coded stream ended). Corrupt data, or bytes
  // after the end of the coded stream, set `error` and return 0; every later
  // read() does the same.
  virtual std::size_t read(char* out, std::size_t cap, Status& error) = 0;
  // The body ended: an error if the coded stream is incomplete, if bytes
  // followed its end, or if read() failed. An empty body (nothing fed) is
  // not an error: servers label bodiless answers (204, empty errors) with
  // their usual coding.
  virtual Status finish() = 0;
  // Decoded bytes returned by read() so far (callers enforce their body
  // limits with it).
  virtual std::uint64_t decodedBytes() const = 0;
};

// The decoder for a Content-Encoding header value: nullptr for none (empty
// or "identity"); gzip and x-gzip (several members are all decoded, as curl
// does), deflate (zlib-wrapped, RFC 1950, as HTTP says, or raw RFC 1951 as
// some servers send: told apart by the first two bytes, like curl and
// browsers do), br. Case-insensitive, whitespace around items ignored. A
// list ("gzip, br": applied in that order) of at most 2 codings other than
// identity is decoded by chaining decoders in reverse order. Anything else
// (an unknown coding such as zstd or compress, more than 2 codings, an
// empty list item) is a 502 "upstream_encoding_unsupported".
Result<std::unique_ptr<ContentDecoder>> makeContentDecoder(std::string_view content_encoding);

}  // namespace gw::upstream
