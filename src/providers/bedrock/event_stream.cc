#include "providers/bedrock/event_stream.h"

#include <zlib.h>

namespace gw::providers::bedrock::eventstream {

namespace {

std::uint32_t readU32(std::string_view b, std::size_t at) {
  return (static_cast<std::uint32_t>(static_cast<unsigned char>(b[at])) << 24) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 1])) << 16) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 2])) << 8) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 3]));
}

std::uint64_t readBigEndian(std::string_view b, std::size_t at, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}

std::uint32_t crc(std::string_view b) {
  return static_cast<std::uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(b.data()), static_cast<uInt>(b.size())));
}

Error malformed(std::string message) { return Error::badGateway("upstream_stream_malformed", std::move(message)); }

}  // namespace

std::string_view Message::stringHeader(std::string_view name) const {
  for (const auto& h : headers)
    if (h.name == name && h.type == HeaderType::kString) return h.bytes;
  return {};
}

Result<std::size_t> Decoder::messageLength(std::string_view b) {
  if (b.size() < 12) return std::size_t{0};
  std::uint32_t total = readU32(b, 0);
  std::uint32_t headers = readU32(b, 4);
  if (crc(b.substr(0, 8)) != readU32(b, 8)) return malformed("event stream prelude CRC mismatch");
  if (total < kMinMessageBytes) return malformed("event stream message shorter than its prelude");
  if (total > max_message_bytes_) return malformed("event stream message larger than the limit");
  if (headers > kMaxHeadersBytes || headers > total - kMinMessageBytes)
    return malformed("event stream headers longer than the message");
  return std::size_t{total};
}

Result<Message> Decoder::parse(std::string_view m) const {
  std::uint32_t headers_length = readU32(m, 4);
  if (crc(m.substr(0, m.size() - 4)) != readU32(m, m.size() - 4)) return malformed("event stream message CRC mismatch");
  Message out;
  std::string_view h = m.substr(12, headers_length);
  out.payload = m.substr(12 + headers_length, m.size() - 16 - headers_length);
  std::size_t i = 0;
  while (i < h.size()) {
    std::size_t name_length = static_cast<unsigned char>(h[i++]);
    if (name_length == 0 || i + name_length + 1 > h.size()) return malformed("event stream header name truncated");
    Header header;
    header.name = h.substr(i, name_length);
    i += name_length;
    auto type = static_cast<unsigned char>(h[i++]);
    if (type > static_cast<unsigned char>(HeaderType::kUuid)) return malformed("event stream header of unknown type");
    header.type = static_cast<HeaderType>(type);
    auto fixed = [&](std::size_t n) -> bool {
      if (i + n > h.size()) return false;
      std::uint64_t raw = readBigEndian(h, i, n);
      // Sign-extend: byte, short, int and long are signed two's complement.
      if (n < 8 && (raw >> (n * 8 - 1)) & 1) raw |= ~std::uint64_t{0} << (n * 8);
      header.integer = static_cast<std::int64_t>(raw);
      i += n;
      return true;
    };
    bool fits = true;
    switch (header.type) {
      case HeaderType::kBoolTrue: header.integer = 1; break;
      case HeaderType::kBoolFalse: header.integer = 0; break;
      case HeaderType::kByte: fits = fixed(1); break;
      case HeaderType::kShort: fits = fixed(2); break;
      case HeaderType::kInt: fits = fixed(4); break;
      case HeaderType::kLong:
      case HeaderType::kTimestamp: fits = fixed(8); break;
      case HeaderType::kUuid:
        fits = i + 16 <= h.size();
        if (fits) header.bytes = h.substr(i, 16);
        i += 16;
        break;
      case HeaderType::kBytes:
      case HeaderType::kString: {
        if (i + 2 > h.size()) {
          fits = false;
          break;
        }
        std::size_t n = static_cast<std::size_t>(readBigEndian(h, i, 2));
        i += 2;
        fits = i + n <= h.size();
        if (fits) header.bytes = h.substr(i, n);
        i += n;
        break;
      }
    }
    if (!fits) return malformed("event stream header value truncated");
    out.headers.push_back(header);
  }
  return out;
}

}  // namespace gw::providers::bedrock::eventstream
