// Incremental decoder for the AWS event-stream binary format
// (application/vnd.amazon.eventstream), which Bedrock's ConverseStream uses.
//
// A message is:
//   total_length:u32  headers_length:u32  prelude_crc:u32
//   headers[headers_length]  payload[...]  message_crc:u32
// all big-endian; prelude_crc is the CRC32 of the first 8 bytes and
// message_crc the CRC32 of everything before it. A header is
//   name_length:u8 name type:u8 value
// with the value's layout given by its type (bool, byte, short, int, long,
// bytes, string, timestamp, uuid).
//
// Feed bytes as they arrive, split at any offset; the callback gets each
// complete, CRC-checked message. Memory is bounded by max_message_bytes:
// a larger declared length is rejected before anything is buffered. One
// decoder per stream; not thread-safe.
#pragma once

#include "gw/error.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gw::providers::bedrock::eventstream {

enum class HeaderType : std::uint8_t {
  kBoolTrue = 0,
  kBoolFalse = 1,
  kByte = 2,
  kShort = 3,
  kInt = 4,
  kLong = 5,
  kBytes = 6,
  kString = 7,
  kTimestamp = 8,
  kUuid = 9,
};

struct Header {
  std::string_view name;
  HeaderType type = HeaderType::kString;
  std::int64_t integer = 0;   // bool (1/0), byte, short, int, long, timestamp (ms)
  std::string_view bytes;     // bytes, string, uuid (16 bytes)
};

// Views into the decoder's buffer (or the caller's input): valid only during
// the callback.
struct Message {
  std::vector<Header> headers;
  std::string_view payload;

  // The value of a string header, or "" when absent or not a string.
  std::string_view stringHeader(std::string_view name) const;
};

// The smallest message: prelude (12) + message CRC (4).
inline constexpr std::size_t kMinMessageBytes = 16;

class Decoder {
 public:
  // AWS caps payloads at 16 MiB and headers at 128 KiB; Bedrock's events are
  // small, so the default limit is well below that.
  static constexpr std::size_t kDefaultMaxMessageBytes = 1u << 20;
  static constexpr std::size_t kMaxHeadersBytes = 128u << 10;

  explicit Decoder(std::size_t max_message_bytes = kDefaultMaxMessageBytes) : max_message_bytes_(max_message_bytes) {}

  // Calls on_message(const Message&) -> Status for every complete message;
  // stops at the first Error (its own or the callback's). After an Error
  // the decoder stays failed.
  template <class F>
  Status feed(std::string_view bytes, F&& on_message);

  // True when no partial message is buffered (a clean end of stream).
  bool idle() const { return buffer_.empty(); }
  std::size_t buffered() const { return buffer_.size(); }

 private:
  // Length of the message at the front of `bytes`, once its prelude is
  // complete and valid; 0 when fewer than 12 bytes are available.
  Result<std::size_t> messageLength(std::string_view bytes);
  Result<Message> parse(std::string_view message) const;

  std::size_t max_message_bytes_;
  std::string buffer_;
  bool failed_ = false;
};

template <class F>
Status Decoder::feed(std::string_view bytes, F&& on_message) {
  if (failed_) return Error::badGateway("upstream_stream_malformed", "event stream already failed");
  auto fail = [&](Error e) -> Status {
    failed_ = true;
    buffer_.clear();
    return e;
  };
  auto deliver = [&](std::string_view message) -> Status {
    auto parsed = parse(message);
    if (!parsed) return fail(parsed.error());
    if (Status st = on_message(*parsed); !st) return fail(st.error());
    return ok();
  };
  // Complete the message that is already partly buffered, taking only the
  // bytes it needs.
  while (!buffer_.empty() && !bytes.empty()) {
    if (buffer_.size() < 12) {
      std::size_t take = std::min(bytes.size(), 12 - buffer_.size());
      buffer_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      if (buffer_.size() < 12) return ok();
    }
    auto length = messageLength(buffer_);
    if (!length) return fail(length.error());
    std::size_t take = std::min(bytes.size(), *length - buffer_.size());
    buffer_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (buffer_.size() < *length) return ok();
    std::string message = std::move(buffer_);
    buffer_.clear();
    if (Status st = deliver(message); !st) return st;
  }
  // Whole messages straight from the input, without copying.
  while (!bytes.empty()) {
    auto length = messageLength(bytes);
    if (!length) return fail(length.error());
    if (*length == 0 || bytes.size() < *length) break;
    if (Status st = deliver(bytes.substr(0, *length)); !st) return st;
    bytes.remove_prefix(*length);
  }
  buffer_.append(bytes);
  return ok();
}

}  // namespace gw::providers::bedrock::eventstream
