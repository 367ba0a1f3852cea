// Test-only encoder for application/vnd.amazon.eventstream messages, written
// from the format description (not from the decoder) so that tests check
// the decoder against an independent implementation. CRCs with zlib.
#pragma once

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gw::testing {

inline void putU32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

inline std::uint32_t crcOf(std::string_view s) {
  return static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
}

// Headers are (name, string value) pairs, encoded as type 7 (string).
inline std::string encodeEventStreamMessage(const std::vector<std::pair<std::string, std::string>>& headers,
                                            std::string_view payload) {
  std::string h;
  for (const auto& [name, value] : headers) {
    h.push_back(static_cast<char>(name.size()));
    h.append(name);
    h.push_back(7);
    h.push_back(static_cast<char>((value.size() >> 8) & 0xFF));
    h.push_back(static_cast<char>(value.size() & 0xFF));
    h.append(value);
  }
  std::string m;
  putU32(m, static_cast<std::uint32_t>(12 + h.size() + payload.size() + 4));
  putU32(m, static_cast<std::uint32_t>(h.size()));
  putU32(m, crcOf(m));
  m.append(h);
  m.append(payload);
  putU32(m, crcOf(m));
  return m;
}

// One transcript line ({"<eventType>": payload}) as Bedrock sends it: the
// payload alone, with :event-type, :content-type and :message-type headers.
// A key "exception:<type>" makes an exception message instead.
inline std::string encodeTranscriptLine(std::string_view line) {
  auto v = boost::json::parse(line).as_object();
  const auto& [key, payload] = *v.begin();
  std::string k(key);
  std::string body = boost::json::serialize(payload);
  if (k.starts_with("exception:"))
    return encodeEventStreamMessage({{":exception-type", k.substr(10)},
                                     {":content-type", "application/json"},
                                     {":message-type", "exception"}},
                                    body);
  return encodeEventStreamMessage(
      {{":event-type", k}, {":content-type", "application/json"}, {":message-type", "event"}}, body);
}

inline std::string encodeTranscript(std::string_view jsonl) {
  std::string out;
  std::size_t pos = 0;
  while (pos < jsonl.size()) {
    auto end = jsonl.find('\n', pos);
    if (end == std::string_view::npos) end = jsonl.size();
    auto line = jsonl.substr(pos, end - pos);
    if (!line.empty()) out += encodeTranscriptLine(line);
    pos = end + 1;
  }
  return out;
}

}  // namespace gw::testing
