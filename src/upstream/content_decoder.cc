#include "upstream/content_decoder.h"

#include <brotli/decode.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gw::upstream {
namespace {

// What a coded stream can do wrong, each with its own message.
enum class Fault { kInvalid, kTruncated, kTrailing, kNoMemory };

Error faultError(std::string_view coding, Fault fault) {
  std::string c(coding);
  switch (fault) {
    case Fault::kInvalid:
      return Error::badGateway("upstream_encoding_invalid", "the upstream response body is not valid " + c + " data");
    case Fault::kTruncated:
      return Error::badGateway("upstream_encoding_invalid",
                               "the upstream response body ended inside its " + c + " stream");
    case Fault::kTrailing:
      return Error::badGateway("upstream_encoding_invalid",
                               "the upstream response body has bytes after the end of its " + c + " stream");
    case Fault::kNoMemory:
      break;
  }
  return Error::internal("out of memory decoding a " + c + " response body");
}

// What one coding's decoders share: the copy of the fed input, the
// sticky failure, the count of decoded bytes. A subclass implements
// decode() (fill `out` from the input) and complete().
class CodingDecoder : public ContentDecoder {
 public:
  explicit CodingDecoder(std::string_view coding) : coding_(coding) {}

  bool needsInput() const final { return (pos_ == input_.size() || waiting_) && !output_pending_; }

  void feed(std::string_view compressed) final {
    assert(needsInput());
    fed_any_ = fed_any_ || !compressed.empty();
    if (pos_ == input_.size()) {
      input_.assign(compressed);  // keeps the capacity: no allocation per piece once warm
    } else {
      // The few bytes waitForMore() kept (or, the precondition broken,
      // unread ones: kept rather than lost) go first.
      input_.erase(0, pos_);
      input_.append(compressed);
    }
    pos_ = 0;
    waiting_ = false;
  }

  std::size_t read(char* out, std::size_t cap, Status& error) final {
    if (!failure_ && cap > 0) {
      std::size_t n = decode(out, cap);
      if (!failure_) {
        decoded_ += n;
        return n;
      }
    }
    if (failure_) error = *failure_;
    return 0;
  }

  Status finish() final {
    if (failure_) return *failure_;
    if (!fed_any_) return ok();
    if (!complete()) return faultError(coding_, Fault::kTruncated);
    // Bytes left after a complete stream that read() has not seen yet.
    if (pos_ < input_.size()) return faultError(coding_, Fault::kTrailing);
    return ok();
  }

  std::uint64_t decodedBytes() const final { return decoded_; }

 protected:
  // Decodes into out[0..cap) (cap > 0) from the unread input; returns the
  // bytes written. Calls fail() on corrupt data.
  virtual std::size_t decode(char* out, std::size_t cap) = 0;
  // Whether the input so far ends exactly where a coded stream may end.
  virtual bool complete() const = 0;

  std::string_view unread() const { return std::string_view(input_).substr(pos_); }
  void consume(std::size_t n) { pos_ += n; }
  // The unread bytes are too few to go on with: needsInput() says yes, and
  // feed() appends to them.
  void waitForMore() { waiting_ = true; }
  void fail(Fault fault) { failure_ = faultError(coding_, fault); }

  // Set when the last decode filled the caller's buffer: the library may
  // hold more output with no input left, so needsInput() must say no until
  // a read() finds nothing more.
  bool output_pending_ = false;

 private:
  std::string_view coding_;
  std::string input_;
  std::size_t pos_ = 0;
  bool fed_any_ = false;
  bool waiting_ = false;
  std::optional<Error> failure_;
  std::uint64_t decoded_ = 0;
};

// gzip and deflate through zlib's inflate.
class ZlibDecoder final : public CodingDecoder {
 public:
  enum class Kind { kGzip, kDeflate };

  static std::unique_ptr<ZlibDecoder> create(Kind kind) {
    auto d = std::unique_ptr<ZlibDecoder>(new ZlibDecoder(kind));
    // gzip: 15 + 32 reads a gzip or a zlib header (curl does the same).
    // deflate: set up for zlib framing; decode() switches to raw deflate
    // when the first two bytes are not a zlib header.
    if (inflateInit2(&d->z_, kind == Kind::kGzip ? 15 + 32 : 15) != Z_OK) return nullptr;
    d->initialised_ = true;
    if (kind == Kind::kGzip) d->watchHeader();
    return d;
  }

  ~ZlibDecoder() override {
    if (initialised_) inflateEnd(&z_);
  }
  ZlibDecoder(const ZlibDecoder&) = delete;
  ZlibDecoder& operator=(const ZlibDecoder&) = delete;

 protected:
  std::size_t decode(char* out, std::size_t cap) override {
    std::size_t produced = 0;
    for (;;) {
      std::string_view in = unread();
      if (ended_) {
        if (!in.empty()) fail(Fault::kTrailing);
        break;
      }
      if (produced == cap || (in.empty() && !output_pending_)) break;
      if (!framing_known_) {
        // Two bytes tell zlib framing (RFC 1950: CM 8, a window of at most
        // 32 KiB, a header check that divides by 31) from raw deflate. A
        // raw stream starting with those two bytes would need a stored
        // block with non-zero padding bits, which no encoder writes.
        if (in.size() < 2) {
          if (!in.empty()) waitForMore();
          break;
        }
        auto cmf = static_cast<unsigned char>(in[0]), flg = static_cast<unsigned char>(in[1]);
        bool zlib_header = (cmf & 0x0f) == 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 == 0;
        if (!zlib_header && inflateReset2(&z_, -15) != Z_OK) {
          fail(Fault::kNoMemory);
          break;
        }
        framing_known_ = true;
      }
      if (between_members_) {
        if (in.empty()) break;
        // Another gzip member follows (RFC 1952 2.2); anything that is not
        // one fails its header check below.
        inflateReset(&z_);
        watchHeader();
        between_members_ = false;
        later_member_ = true;
      }
      z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
      z_.avail_in = static_cast<uInt>(std::min<std::size_t>(in.size(), kMaxStep));
      z_.next_out = reinterpret_cast<Bytef*>(out + produced);
      z_.avail_out = static_cast<uInt>(std::min<std::size_t>(cap - produced, kMaxStep));
      const uInt avail_in = z_.avail_in, avail_out = z_.avail_out;
      int rc = inflate(&z_, Z_NO_FLUSH);
      consume(avail_in - z_.avail_in);
      produced += avail_out - z_.avail_out;
      if (rc == Z_STREAM_END) {
        output_pending_ = false;
        if (kind_ == Kind::kGzip)
          between_members_ = true;
        else
          ended_ = true;
        continue;
      }
      if (rc == Z_OK) {
        // inflate stopped because the input or the output ran out; with
        // the output full it may hold more.
        output_pending_ = z_.avail_out == 0;
        continue;
      }
      if (rc == Z_BUF_ERROR) {
        // No progress was possible: nothing more until more input comes.
        output_pending_ = false;
        break;
      }
      // Z_DATA_ERROR, Z_NEED_DICT (no dictionary is ever agreed in HTTP),
      // Z_MEM_ERROR, Z_STREAM_ERROR. After a complete member, bytes that
      // do not start another are trailing garbage (some servers pad).
      if (rc == Z_MEM_ERROR)
        fail(Fault::kNoMemory);
      else
        fail(later_member_ && header_.done != 1 ? Fault::kTrailing : Fault::kInvalid);
      break;
    }
    return produced;
  }

  bool complete() const override { return kind_ == Kind::kGzip ? between_members_ : ended_; }

 private:
  // Asks zlib to report the next member's header (done stays 0 until the
  // whole gzip header was read); zlib forgets the request on every reset.
  void watchHeader() {
    header_ = gz_header{};
    inflateGetHeader(&z_, &header_);
  }

  // zlib counts in uInt; steps of at most 1 GiB keep every count in range.
  static constexpr std::size_t kMaxStep = std::size_t{1} << 30;

  explicit ZlibDecoder(Kind kind)
      : CodingDecoder(kind == Kind::kGzip ? "gzip" : "deflate"), kind_(kind), framing_known_(kind == Kind::kGzip) {}

  Kind kind_;
  z_stream z_{};
  bool initialised_ = false;
  bool framing_known_;            // deflate: zlib or raw decided
  bool between_members_ = false;  // gzip: the last member ended, another may follow
  bool later_member_ = false;     // gzip: decoding a member after the first
  gz_header header_{};            // gzip: done = 1 once a gzip header was read (-1: not gzip)
  bool ended_ = false;            // deflate: the stream ended
};

class BrotliDecoder final : public CodingDecoder {
 public:
  static std::unique_ptr<BrotliDecoder> create() {
    auto d = std::unique_ptr<BrotliDecoder>(new BrotliDecoder());
    if (!d->state_) return nullptr;
    return d;
  }

  ~BrotliDecoder() override {
    if (state_) BrotliDecoderDestroyInstance(state_);
  }
  BrotliDecoder(const BrotliDecoder&) = delete;
  BrotliDecoder& operator=(const BrotliDecoder&) = delete;

 protected:
  std::size_t decode(char* out, std::size_t cap) override {
    std::size_t produced = 0;
    for (;;) {
      std::string_view in = unread();
      if (ended_) {
        if (!in.empty()) fail(Fault::kTrailing);
        break;
      }
      if (in.empty() && !output_pending_) break;
      std::size_t avail_in = in.size(), avail_out = cap - produced;
      auto* next_in = reinterpret_cast<const std::uint8_t*>(in.data());
      auto* next_out = reinterpret_cast<std::uint8_t*>(out + produced);
      BrotliDecoderResult r =
          BrotliDecoderDecompressStream(state_, &avail_in, &next_in, &avail_out, &next_out, nullptr);
      consume(in.size() - avail_in);
      produced = cap - avail_out;
      switch (r) {
        case BROTLI_DECODER_RESULT_SUCCESS:
          ended_ = true;
          output_pending_ = false;
          continue;  // checks for trailing bytes
        case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
          output_pending_ = false;
          break;
        case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
          output_pending_ = true;
          break;
        case BROTLI_DECODER_RESULT_ERROR: {
          // The BROTLI_DECODER_ERROR_ALLOC_* codes are -30 .. -21.
          int code = BrotliDecoderGetErrorCode(state_);
          fail(code >= BROTLI_DECODER_ERROR_ALLOC_BLOCK_TYPE_TREES && code <= BROTLI_DECODER_ERROR_ALLOC_CONTEXT_MODES
                   ? Fault::kNoMemory
                   : Fault::kInvalid);
          break;
        }
      }
      break;
    }
    return produced;
  }

  bool complete() const override { return ended_; }

 private:
  // The default allocator; BROTLI_DECODER_PARAM_LARGE_WINDOW stays off, so
  // a window above 16 MiB is a decoding error.
  BrotliDecoder() : CodingDecoder("br"), state_(BrotliDecoderCreateInstance(nullptr, nullptr, nullptr)) {}

  BrotliDecoderState* state_;
  bool ended_ = false;
};

// Two codings: `outer` undoes the coding applied last and feeds `inner`
// through a fixed buffer, so the chain holds no more than its two decoders
// and that buffer.
class ChainDecoder final : public ContentDecoder {
 public:
  ChainDecoder(std::unique_ptr<ContentDecoder> outer, std::unique_ptr<ContentDecoder> inner)
      : outer_(std::move(outer)), inner_(std::move(inner)), middle_(std::make_unique<Middle>()) {}

  bool needsInput() const override { return outer_->needsInput() && inner_->needsInput(); }
  void feed(std::string_view compressed) override { outer_->feed(compressed); }

  std::size_t read(char* out, std::size_t cap, Status& error) override {
    if (cap == 0) return 0;
    for (;;) {
      Status st;
      std::size_t n = inner_->read(out, cap, st);
      if (!st) {
        error = st;
        return 0;
      }
      if (n > 0) return n;
      if (!inner_->needsInput()) return 0;  // not reached: a read of 0 leaves nothing held back
      std::size_t m = outer_->read(middle_->data(), middle_->size(), st);
      if (!st) {
        error = st;
        return 0;
      }
      if (m == 0) return 0;
      inner_->feed(std::string_view(middle_->data(), m));
    }
  }

  Status finish() override {
    if (Status st = outer_->finish(); !st) return st;
    // An outer stream that decoded to nothing is an empty inner body,
    // which the inner decoder accepts like any empty body.
    return inner_->finish();
  }

  std::uint64_t decodedBytes() const override { return inner_->decodedBytes(); }

 private:
  using Middle = std::array<char, 16 * 1024>;
  std::unique_ptr<ContentDecoder> outer_;
  std::unique_ptr<ContentDecoder> inner_;
  std::unique_ptr<Middle> middle_;
};

bool equalsLower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
    if (c != lower[i]) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t";  // HTTP's OWS
  std::size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

// A header value as it may appear in an error message: printable ASCII
// only (no control bytes in logs, no invalid UTF-8 in the JSON error), and
// short.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c >= 0x20 && c <= 0x7e) out += c;
    if (out.size() == 64) break;
  }
  return out;
}

Error unsupported(std::string message) {
  return Error::badGateway("upstream_encoding_unsupported", std::move(message));
}

}  // namespace

Result<std::unique_ptr<ContentDecoder>> makeContentDecoder(std::string_view content_encoding) {
  enum class Coding { kGzip, kDeflate, kBr };
  std::vector<Coding> codings;  // in the order they were applied
  std::string_view rest = content_encoding;
  bool last = false;
  while (!last) {
    std::size_t comma = rest.find(',');
    last = comma == std::string_view::npos;
    std::string_view item = trim(rest.substr(0, comma));
    if (!last) rest.remove_prefix(comma + 1);
    if (item.empty()) {
      if (last && codings.empty() && trim(content_encoding).empty()) break;  // an empty header: none
      return unsupported("upstream Content-Encoding has an empty item: \"" + printable(content_encoding) + "\"");
    }
    if (equalsLower(item, "identity")) continue;
    if (equalsLower(item, "gzip") || equalsLower(item, "x-gzip"))
      codings.push_back(Coding::kGzip);
    else if (equalsLower(item, "deflate"))
      codings.push_back(Coding::kDeflate);
    else if (equalsLower(item, "br"))
      codings.push_back(Coding::kBr);
    else
      return unsupported("upstream Content-Encoding \"" + printable(item) + "\" is not supported");
    if (codings.size() > 2)
      return unsupported("upstream Content-Encoding \"" + printable(content_encoding) +
                         "\" applies more than 2 codings");
  }

  std::unique_ptr<ContentDecoder> chain;
  for (Coding c : codings) {  // the first applied is the innermost decoder
    std::unique_ptr<ContentDecoder> d;
    switch (c) {
      case Coding::kGzip:
        d = ZlibDecoder::create(ZlibDecoder::Kind::kGzip);
        break;
      case Coding::kDeflate:
        d = ZlibDecoder::create(ZlibDecoder::Kind::kDeflate);
        break;
      case Coding::kBr:
        d = BrotliDecoder::create();
        break;
    }
    if (!d) return Error::internal("out of memory creating a response body decoder");
    if (chain)
      chain = std::make_unique<ChainDecoder>(std::move(d), std::move(chain));
    else
      chain = std::move(d);
  }
  return chain;
}

}  // namespace gw::upstream
