#include "upstream/content_decoder.h"

#include <brotli/encode.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace gw::upstream {
namespace {

// --- Encoders (zlib and brotli's own), independent of the decoder.

// windowBits: 15 + 16 gzip, 15 zlib, -15 raw deflate.
std::string deflateWith(std::string_view data, int window_bits, int level = 6) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}
std::string gzip(std::string_view data) { return deflateWith(data, 15 + 16); }
std::string zlibWrapped(std::string_view data) { return deflateWith(data, 15); }
std::string rawDeflate(std::string_view data) { return deflateWith(data, -15); }

std::string brotli(std::string_view data, int quality = 5, int lgwin = BROTLI_DEFAULT_WINDOW) {
  std::size_t size = BrotliEncoderMaxCompressedSize(data.size());
  std::string out(size, '\0');
  EXPECT_TRUE(BrotliEncoderCompress(quality, lgwin, BROTLI_MODE_GENERIC, data.size(),
                                    reinterpret_cast<const std::uint8_t*>(data.data()), &size,
                                    reinterpret_cast<std::uint8_t*>(out.data())));
  out.resize(size);
  return out;
}

std::string randomBytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Compressible, like the JSON an upstream sends.
std::string text(std::size_t n) {
  std::string s;
  for (int i = 0; s.size() < n; ++i)
    s += R"({"id":"chatcmpl-)" + std::to_string(i * 7919 % 100003) + R"(","choices":[{"delta":{"content":"token )" +
         std::to_string(i) + "\"}}]}\n";
  s.resize(n);
  return s;
}

std::unique_ptr<ContentDecoder> make(std::string_view coding) {
  auto d = makeContentDecoder(coding);
  EXPECT_TRUE(d.has_value()) << coding;
  EXPECT_NE(d.has_value() ? d->get() : nullptr, nullptr) << coding;
  return d.has_value() ? std::move(*d) : nullptr;
}

struct Decoded {
  std::string out;
  Status read_error;  // the first error read() reported
  Status finished;
  bool ok() const { return read_error && finished; }
};

// Drives the decoder as the proxy does: feed `piece` bytes at a time (only
// when it asks for input), read into a buffer of `cap` until read() says 0.
// Checks the contract along the way: needsInput() after a read of 0,
// decodedBytes() equal to what read() returned.
Decoded decode(ContentDecoder& d, std::string_view body, std::size_t piece, std::size_t cap) {
  Decoded r;
  std::vector<char> buf(cap);
  auto drain = [&] {
    for (;;) {
      Status st;
      std::size_t n = d.read(buf.data(), cap, st);
      if (!st) {
        EXPECT_EQ(n, 0u);
        r.read_error = st;
        return false;
      }
      if (n == 0) break;
      EXPECT_LE(n, cap);
      r.out.append(buf.data(), n);
    }
    EXPECT_TRUE(d.needsInput());
    EXPECT_EQ(d.decodedBytes(), r.out.size());
    return true;
  };
  bool ok = d.needsInput() || drain();  // a decoder the caller already fed
  for (std::size_t i = 0; ok && i < body.size(); i += piece) {
    EXPECT_TRUE(d.needsInput());
    d.feed(body.substr(i, piece));
    ok = drain();
  }
  r.finished = d.finish();
  return r;
}

Decoded decode(std::string_view coding, std::string_view body, std::size_t piece = 4096, std::size_t cap = 16384) {
  auto d = make(coding);
  if (!d) return {};
  return decode(*d, body, piece, cap);
}

void expectInvalid(const Status& st, std::string_view coding_in_message) {
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().http_status, 502);
  EXPECT_EQ(st.error().code, "upstream_encoding_invalid");
  EXPECT_NE(st.error().message.find(coding_in_message), std::string::npos) << st.error().message;
}

// The first failure of a decode, from read() or finish().
Status firstError(const Decoded& r) { return r.read_error ? r.finished : r.read_error; }

struct Coded {
  const char* coding;
  std::string (*encode)(std::string_view);
};
const Coded kCodings[] = {
    {"gzip", gzip},
    {"x-gzip", gzip},
    {"deflate", zlibWrapped},
    {"deflate", rawDeflate},
    {"br", [](std::string_view s) { return brotli(s); }},
};

TEST(ContentDecoder, RoundTripsEveryCodingWithEveryPieceAndBufferSize) {
  const std::string inputs[] = {randomBytes(20000, 1), text(60000), std::string(1, 'x')};
  const std::pair<std::size_t, std::size_t> chunkings[] = {
      {1, 1}, {1, 4096}, {3, 7}, {1 << 20, 1}, {1 << 20, 1 << 20}, {4096, 16384}, {777, 100}};
  for (const Coded& c : kCodings) {
    for (const std::string& in : inputs) {
      std::string body = c.encode(in);
      for (auto [piece, cap] : chunkings) {
        Decoded r = decode(c.coding, body, piece, cap);
        ASSERT_TRUE(r.ok()) << c.coding << " piece " << piece << " cap " << cap;
        ASSERT_EQ(r.out, in) << c.coding << " piece " << piece << " cap " << cap;
      }
    }
  }
}

TEST(ContentDecoder, ReadHandsOutHeldBackOutputWithoutMoreInput) {
  // One compressed piece that expands past the buffer: the decoder must not
  // ask for input while it still holds output.
  for (const char* coding : {"gzip", "deflate", "br"}) {
    std::string in = text(100000);
    std::string body = std::string(coding) == "br"     ? brotli(in)
                       : std::string(coding) == "gzip" ? gzip(in)
                                                       : zlibWrapped(in);
    auto d = make(coding);
    d->feed(body);
    std::string out;
    char buf[1000];
    Status st;
    while (!d->needsInput()) {
      std::size_t n = d->read(buf, sizeof buf, st);
      ASSERT_TRUE(st);
      out.append(buf, n);
    }
    EXPECT_EQ(d->read(buf, sizeof buf, st), 0u);
    EXPECT_TRUE(d->finish());
    EXPECT_EQ(out, in) << coding;
    EXPECT_EQ(d->decodedBytes(), in.size());
  }
}

TEST(ContentDecoder, ReadOfZeroBytesDoesNothing) {
  auto d = make("gzip");
  d->feed(gzip("hello"));
  Status st;
  char c;
  EXPECT_EQ(d->read(&c, 0, st), 0u);
  EXPECT_TRUE(st);
  EXPECT_FALSE(d->needsInput());
  Decoded r = decode(*d, "", 1, 64);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out, "hello");
}

TEST(ContentDecoder, GzipDecodesEveryMember) {
  std::string a = text(5000), b = randomBytes(3000, 2), c = "tail";
  std::string body = gzip(a) + gzip(b) + gzip("") + gzip(c);
  for (std::size_t piece : {std::size_t{1}, std::size_t{10}, body.size()}) {
    for (std::size_t cap : {std::size_t{1}, std::size_t{4096}}) {
      Decoded r = decode("gzip", body, piece, cap);
      ASSERT_TRUE(r.ok()) << piece << " " << cap;
      EXPECT_EQ(r.out, a + b + c);
    }
  }
}

TEST(ContentDecoder, GzipLabelAlsoReadsAZlibStream) {
  // windowBits 15 + 32, as curl: servers that mislabel zlib data as gzip.
  Decoded r = decode("gzip", zlibWrapped("mislabelled"));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out, "mislabelled");
}

TEST(ContentDecoder, DeflateTellsZlibFromRawByTheFirstTwoBytes) {
  std::string in = text(3000);
  for (const std::string& body : {zlibWrapped(in), rawDeflate(in), deflateWith(in, 9), deflateWith(in, -9, 1)}) {
    // Fed one byte at a time: the first byte alone must not decide.
    Decoded r = decode("deflate", body, 1, 64);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.out, in);
  }
  // A single byte is an incomplete stream.
  expectInvalid(decode("deflate", zlibWrapped(in).substr(0, 1)).finished, "deflate");
}

TEST(ContentDecoder, DeflateWithAPresetDictionaryIsRefused) {
  z_stream z{};
  ASSERT_EQ(deflateInit(&z, 6), Z_OK);
  const char dict[] = "some dictionary";
  ASSERT_EQ(deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(dict), sizeof dict - 1), Z_OK);
  std::string in = "some dictionary words", out(256, '\0');
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  ASSERT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  Decoded r = decode("deflate", out);
  expectInvalid(r.read_error, "deflate");
}

TEST(ContentDecoder, ChainsTwoCodingsInReverseOrder) {
  std::string in = text(50000);
  struct Case {
    const char* header;
    std::string body;
  } cases[] = {
      {"gzip, br", brotli(gzip(in))},          {"br,gzip", gzip(brotli(in))},
      {"deflate, gzip", gzip(rawDeflate(in))}, {" identity , GZIP ,identity, Br ", brotli(gzip(in))},
      {"gzip, gzip", gzip(gzip(in))},
  };
  for (const Case& c : cases) {
    for (auto [piece, cap] : {std::pair<std::size_t, std::size_t>{1, 1}, {100, 7}, {1 << 20, 1 << 16}}) {
      Decoded r = decode(c.header, c.body, piece, cap);
      ASSERT_TRUE(r.ok()) << c.header << " " << piece << " " << cap;
      EXPECT_EQ(r.out, in) << c.header;
    }
  }
  // Applied in the other order: the outer decoder sees the wrong coding.
  EXPECT_FALSE(decode("br, gzip", brotli(gzip(in))).ok());
}

TEST(ContentDecoder, ChainNamesTheCodingThatFailed) {
  std::string in = text(20000);
  std::string cut_gzip = gzip(in);
  cut_gzip.resize(cut_gzip.size() - 4);  // the inner stream is cut, the outer one whole
  expectInvalid(firstError(decode("gzip, br", brotli(cut_gzip))), "gzip");
  std::string cut_br = brotli(gzip(in));
  cut_br.resize(cut_br.size() / 2);
  expectInvalid(firstError(decode("gzip, br", cut_br)), "br");
  // Bytes after the inner stream, inside an intact outer one.
  expectInvalid(firstError(decode("gzip, br", brotli(rawDeflate(in) + "x"))), "gzip");
  expectInvalid(firstError(decode("deflate, br", brotli(rawDeflate(in) + "x"))), "deflate");
}

TEST(ContentDecoder, EveryTruncationIsAnError) {
  std::string in = text(8000) + randomBytes(2000, 3);
  for (const Coded& c : kCodings) {
    std::string body = c.encode(in);
    for (std::size_t len = 1; len < body.size(); len += len < 64 || body.size() - len < 64 ? 1 : 97) {
      Decoded r = decode(c.coding, std::string_view(body).substr(0, len), 50, 4096);
      ASSERT_FALSE(r.ok()) << c.coding << " cut at " << len << " of " << body.size();
      // A cut stream is not corrupt: read() found nothing wrong, finish() did.
      ASSERT_TRUE(r.read_error) << c.coding << " cut at " << len;
      expectInvalid(r.finished, std::string("inside its ") + (c.coding[0] == 'x' ? "gzip" : c.coding));
    }
  }
  // A gzip body cut inside a second member.
  std::string two = gzip("first") + gzip("second");
  expectInvalid(decode("gzip", std::string_view(two).substr(0, two.size() - 3)).finished, "gzip");
  expectInvalid(decode("gzip", two + "\x1f").finished, "gzip");
}

TEST(ContentDecoder, CorruptBytesAreAReadError) {
  std::string in = text(10000);
  std::string g = gzip(in);
  g[g.size() - 6] ^= 0x55;  // the CRC-32 in the trailer
  expectInvalid(decode("gzip", g).read_error, "not valid gzip");
  std::string g2 = gzip(in);
  g2[g2.size() - 2] ^= 0x01;  // ISIZE
  expectInvalid(decode("gzip", g2).read_error, "not valid gzip");
  std::string z = zlibWrapped(in);
  z[z.size() - 1] ^= 0x01;  // the Adler-32
  expectInvalid(decode("deflate", z).read_error, "not valid deflate");
  // Not a gzip header at all.
  expectInvalid(decode("gzip", "plain text, not gzip").read_error, "not valid gzip");
  // Random bytes: no decoder takes them for a whole stream.
  for (const char* coding : {"gzip", "deflate", "br"}) {
    for (unsigned seed = 10; seed < 40; ++seed) {
      Decoded r = decode(coding, randomBytes(2000, seed), 100, 1000);
      EXPECT_FALSE(r.ok()) << coding << " seed " << seed;
    }
  }
  // An invalid brotli stream: the window-bits code 0010001 is reserved.
  expectInvalid(decode("br", std::string("\x11\x00\x00\x00", 4)).read_error, "not valid br");
}

TEST(ContentDecoder, AFailedDecoderStaysFailed) {
  auto d = make("gzip");
  d->feed("definitely not gzip");
  char buf[64];
  Status st;
  EXPECT_EQ(d->read(buf, sizeof buf, st), 0u);
  expectInvalid(st, "gzip");
  Status again;
  EXPECT_EQ(d->read(buf, sizeof buf, again), 0u);
  expectInvalid(again, "gzip");
  expectInvalid(d->finish(), "gzip");
  EXPECT_EQ(d->decodedBytes(), 0u);
}

TEST(ContentDecoder, ErrorMessagesNeverContainBodyBytes) {
  const std::string secret = "sk-SECRET-in-the-body";
  for (const char* coding : {"gzip", "deflate", "br"}) {
    for (const std::string& body : {secret, gzip(secret) + secret, secret.substr(0, 1)}) {
      Status st = firstError(decode(coding, body));
      ASSERT_FALSE(st);
      EXPECT_EQ(st.error().message.find("SECRET"), std::string::npos) << st.error().message;
    }
  }
}

TEST(ContentDecoder, BytesAfterTheEndAreAnError) {
  std::string in = text(5000);
  struct Case {
    const char* coding;
    std::string body;
  } cases[] = {
      {"gzip", gzip(in) + "garbage"},     {"gzip", gzip(in) + std::string(8, '\0')},
      {"deflate", zlibWrapped(in) + "x"}, {"deflate", rawDeflate(in) + "x"},
      {"br", brotli(in) + "x"},
  };
  for (const Case& c : cases) {
    for (std::size_t piece : {std::size_t{1}, std::size_t{64}, c.body.size()}) {
      Decoded r = decode(c.coding, c.body, piece, 4096);
      expectInvalid(firstError(r), "bytes after the end of its");
    }
  }
  // The extra bytes in a later piece, after the stream was read to its end.
  for (const char* coding : {"gzip", "deflate", "br"}) {
    std::string body = std::string(coding) == "br"     ? brotli(in)
                       : std::string(coding) == "gzip" ? gzip(in)
                                                       : rawDeflate(in);
    auto d = make(coding);
    Decoded r = decode(*d, body, body.size(), 1 << 16);
    ASSERT_TRUE(r.read_error);
    ASSERT_TRUE(d->needsInput());
    d->feed("!");
    expectInvalid(d->finish(), "bytes after the end");
  }
}

TEST(ContentDecoder, AnEmptyBodyIsAnEmptyBody) {
  for (const char* coding : {"gzip", "deflate", "br", "gzip, br"}) {
    auto d = make(coding);
    d->feed("");
    Decoded r = decode(*d, "", 1, 16);
    EXPECT_TRUE(r.ok()) << coding;
    EXPECT_EQ(d->decodedBytes(), 0u);
  }
}

TEST(ContentDecoder, HeaderValues) {
  for (const char* none : {"", " ", "identity", " IDENTITY\t", "Identity, identity"}) {
    auto d = makeContentDecoder(none);
    ASSERT_TRUE(d.has_value()) << none;
    EXPECT_EQ(*d, nullptr) << none;
  }
  for (const char* one :
       {"gzip", "GZIP", " gzip\t", "X-Gzip", "deflate", "Deflate ", "br", "BR", "identity, br", "gzip, identity"}) {
    auto d = makeContentDecoder(one);
    ASSERT_TRUE(d.has_value()) << one;
    EXPECT_NE(*d, nullptr) << one;
  }
  // The right decoder for each name.
  EXPECT_TRUE(decode(" Br ", brotli("b")).ok());
  EXPECT_TRUE(decode("X-GZIP", gzip("g")).ok());
  EXPECT_FALSE(decode("br", gzip("g")).ok());
  EXPECT_FALSE(decode("gzip", brotli("b")).ok());
}

TEST(ContentDecoder, UnsupportedCodingsAreRefusedByName) {
  struct Case {
    std::string header;
    std::string in_message;
  } cases[] = {
      {"zstd", "\"zstd\""},
      {"compress", "\"compress\""},
      {"x-compress", "\"x-compress\""},
      {"gzip, zstd", "\"zstd\""},
      {"gzip;q=1", "\"gzip;q=1\""},
      {"gzip, br, deflate", "more than 2"},
      {"br, br, br", "more than 2"},
      {"gzip,,br", "empty item"},
      {", gzip", "empty item"},
      {"gzip,", "empty item"},
      {"identity,", "empty item"},
      {"z\x01s\xfft\nd", "\"zstd\""},  // only printable ASCII reaches the message
      {std::string(200, 'a'), "\"" + std::string(64, 'a') + "\""},
  };
  for (const Case& c : cases) {
    auto d = makeContentDecoder(c.header);
    ASSERT_FALSE(d.has_value()) << c.header;
    const Error& e = d.error();
    EXPECT_EQ(e.http_status, 502);
    EXPECT_EQ(e.code, "upstream_encoding_unsupported");
    EXPECT_NE(e.message.find(c.in_message), std::string::npos) << e.message;
    for (char ch : e.message) EXPECT_TRUE(ch >= 0x20 && ch <= 0x7e) << e.message;
  }
  EXPECT_EQ(makeContentDecoder(std::string(200, 'a')).error().message.find(std::string(65, 'a')), std::string::npos);
}

// --- Decompression bombs: memory is bounded by the decoder, not the ratio.

// Sanitizers change what the resident set holds: AddressSanitizer keeps
// freed blocks in its quarantine (brotli frees and allocates its tables at
// every meta-block); ThreadSanitizer maps shadow memory, several bytes for
// every byte allocated. Under them the bounds are looser.
#if defined(__SANITIZE_ADDRESS__)
#define GW_TEST_ASAN 1
#elif defined(__SANITIZE_THREAD__)
#define GW_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GW_TEST_ASAN 1
#elif __has_feature(thread_sanitizer)
#define GW_TEST_TSAN 1
#endif
#endif
std::size_t residentBound(std::size_t bound) {
#if defined(GW_TEST_ASAN)
  return bound + (std::size_t{16} << 20);
#elif defined(GW_TEST_TSAN)
  return bound * 5;
#else
  return bound;
#endif
}

std::size_t residentBytes() {
  long pages_total = 0, pages_resident = 0;
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
  std::fclose(f);
  return static_cast<std::size_t>(pages_resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// `mib` MiB of zeros as one gzip member, built without compressing them all:
// a full flush makes deflate forget the past, so every further MiB of zeros
// compresses to the same bytes; the stream is a header, that block repeated,
// the final empty block and the trailer (CRC-32 combined, not computed over
// the zeros).
std::string gzipZerosBomb(std::size_t mib) {
  const std::string zeros(1 << 20, '\0');
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_RLE), Z_OK);
  auto run = [&](std::string_view in, int flush) {
    std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_NE(deflate(&z, flush), Z_STREAM_ERROR);
    EXPECT_EQ(z.avail_in, 0u);
    out.resize(out.size() - z.avail_out);
    return out;
  };
  std::string first = run(zeros, Z_FULL_FLUSH);
  std::string block = run(zeros, Z_FULL_FLUSH);
  EXPECT_EQ(first, block);  // what the construction relies on
  std::string last = run("", Z_FINISH);
  deflateEnd(&z);

  const uLong mib_crc = crc32(crc32(0, nullptr, 0), reinterpret_cast<const Bytef*>(zeros.data()), 1 << 20);
  uLong crc = crc32(0, nullptr, 0);
  std::string body("\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03", 10);
  body.reserve(10 + mib * block.size() + last.size() + 8);
  for (std::size_t i = 0; i < mib; ++i) {
    body += block;
    crc = crc32_combine(crc, mib_crc, 1 << 20);
  }
  body += last;
  const std::uint64_t isize = std::uint64_t{mib} << 20;
  for (int i = 0; i < 4; ++i) body += static_cast<char>((crc >> (8 * i)) & 0xff);
  for (int i = 0; i < 4; ++i) body += static_cast<char>((isize >> (8 * i)) & 0xff);
  return body;
}

std::string brotliZerosBomb(std::size_t mib, int lgwin) {
  BrotliEncoderState* e = BrotliEncoderCreateInstance(nullptr, nullptr, nullptr);
  BrotliEncoderSetParameter(e, BROTLI_PARAM_QUALITY, 5);
  BrotliEncoderSetParameter(e, BROTLI_PARAM_LGWIN, static_cast<std::uint32_t>(lgwin));
  const std::string zeros(1 << 20, '\0');
  std::string body;
  std::uint8_t buf[1 << 16];
  for (std::size_t i = 0; i <= mib; ++i) {
    std::size_t avail_in = i < mib ? zeros.size() : 0;
    auto* next_in = reinterpret_cast<const std::uint8_t*>(zeros.data());
    BrotliEncoderOperation op = i < mib ? BROTLI_OPERATION_PROCESS : BROTLI_OPERATION_FINISH;
    do {
      std::size_t avail_out = sizeof buf;
      std::uint8_t* next_out = buf;
      EXPECT_TRUE(BrotliEncoderCompressStream(e, op, &avail_in, &next_in, &avail_out, &next_out, nullptr));
      body.append(reinterpret_cast<char*>(buf), sizeof buf - avail_out);
    } while (avail_in > 0 || BrotliEncoderHasMoreOutput(e) ||
             (op == BROTLI_OPERATION_FINISH && !BrotliEncoderIsFinished(e)));
  }
  BrotliEncoderDestroyInstance(e);
  return body;
}

// Decodes with a fixed 16 KiB buffer, feeding 16 KiB pieces, until `stop`
// bytes came out (the proxy's body limit); returns the growth of the
// resident set meanwhile.
std::size_t decodeBombUntil(std::string_view coding, std::string_view body, std::uint64_t stop) {
  std::vector<char> out(16 * 1024);
  auto d = make(coding);
  std::size_t before = residentBytes(), peak = before;
  std::size_t pos = 0;
  while (d->decodedBytes() < stop) {
    if (d->needsInput()) {
      if (pos == body.size()) break;
      std::size_t n = std::min<std::size_t>(16 * 1024, body.size() - pos);
      d->feed(body.substr(pos, n));
      pos += n;
    }
    Status st;
    std::size_t n = d->read(out.data(), out.size(), st);
    EXPECT_TRUE(st);
    if (!st) break;
    if (n > 0 && (out[0] != 0 || out[n - 1] != 0)) ADD_FAILURE() << "not zeros";
    if ((d->decodedBytes() & ((1 << 22) - 1)) < n) peak = std::max(peak, residentBytes());
  }
  EXPECT_GE(d->decodedBytes(), stop);
  return std::max(peak, residentBytes()) - before;
}

TEST(ContentDecoder, GzipBombBuilderMakesAValidStream) {
  std::string bomb = gzipZerosBomb(8);
  Decoded r = decode("gzip", bomb, 1 << 16, 1 << 16);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.out.size(), std::size_t{8} << 20);
  EXPECT_EQ(r.out.find_first_not_of('\0'), std::string::npos);
}

TEST(ContentDecoder, GzipBombOfOneGibibyteDecodesInBoundedMemory) {
  std::string bomb = gzipZerosBomb(1024);  // 1 GiB of zeros in ~1 MB
  ASSERT_LT(bomb.size(), std::size_t{2} << 20);
  std::size_t growth = decodeBombUntil("gzip", bomb, std::uint64_t{64} << 20);
  EXPECT_LT(growth, residentBound(std::size_t{4} << 20)) << "resident set grew by " << growth << " bytes";
  RecordProperty("resident_growth_bytes", std::to_string(growth));
}

TEST(ContentDecoder, BrotliBombDecodesInMemoryBoundedByItsWindow) {
  // What a br stream makes the decoder hold is its window, which the
  // stream declares: 16 MiB at most (RFC 7932), whatever the ratio.
  // 72 MiB of zeros in a few KB, decoded to 64 MiB.
  for (auto [lgwin, bound] : {std::pair<int, std::size_t>{BROTLI_MIN_WINDOW_BITS, std::size_t{2} << 20},
                              {BROTLI_MAX_WINDOW_BITS, std::size_t{18} << 20}}) {
    std::string bomb = brotliZerosBomb(72, lgwin);
    ASSERT_LT(bomb.size(), std::size_t{64} << 10);
    std::size_t growth = decodeBombUntil("br", bomb, std::uint64_t{64} << 20);
    EXPECT_LT(growth, residentBound(bound))
        << "window bits " << lgwin << ": resident set grew by " << growth << " bytes";
    RecordProperty("resident_growth_bytes_lgwin_" + std::to_string(lgwin), std::to_string(growth));
  }
}

TEST(ContentDecoder, ChainedBombDecodesInBoundedMemory) {
  // A gzip bomb compressed again with brotli: the chain's middle buffer is
  // fixed too.
  std::string bomb = brotli(gzipZerosBomb(1024), 5, 18);
  std::size_t growth = decodeBombUntil("gzip, br", bomb, std::uint64_t{64} << 20);
  EXPECT_LT(growth, residentBound(std::size_t{4} << 20)) << "resident set grew by " << growth << " bytes";
  RecordProperty("resident_growth_bytes", std::to_string(growth));
}

}  // namespace
}  // namespace gw::upstream
