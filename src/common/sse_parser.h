// Incremental Server-Sent Events parser (the WHATWG event-stream format).
//
// Feed it bytes as they arrive, split at any offset; it calls the callback
// once per complete event (terminated by a blank line) with the event name and
// the data lines joined by '\n'. Lines may end in LF, CRLF or CR. Comment
// lines (":...") are ignored. One parser per stream; not thread-safe.
//
// Limits: an event larger than max_event_bytes is an error (the stream is
// malformed or hostile), so memory stays bounded whatever the upstream sends.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

namespace gw {

struct SseEvent {
  std::string_view event;  // "" when the event had no "event:" field
  std::string_view data;
  std::string_view id;
};

class SseParser {
 public:
  explicit SseParser(std::size_t max_event_bytes = 4 * 1024 * 1024) : max_event_bytes_(max_event_bytes) {}

  // Calls on_event(const SseEvent&) for each complete event; stops and
  // returns false when on_event returns false or the event limit is exceeded.
  template <class F>
  bool feed(std::string_view bytes, F&& on_event);

  // Bytes buffered for an incomplete event.
  std::size_t pending() const { return line_.size() + data_.size() + event_.size(); }
  bool overflowed() const { return overflowed_; }

 private:
  // Returns false when the caller asked to stop.
  template <class F>
  bool processLine(std::string_view line, F& on_event);

  std::size_t max_event_bytes_;
  std::string line_;  // partial line carried between feeds
  std::string event_;
  std::string data_;
  std::string id_;
  bool has_data_ = false;
  bool last_was_cr_ = false;
  bool overflowed_ = false;
};

template <class F>
bool SseParser::feed(std::string_view bytes, F&& on_event) {
  if (overflowed_) return false;
  std::size_t i = 0;
  if (last_was_cr_ && !bytes.empty() && bytes[0] == '\n') i = 1;  // CRLF split across feeds
  last_was_cr_ = false;
  while (i < bytes.size()) {
    // The usual event, one "data:" line and a blank line, both ending in
    // LF, is handed over in place: no copy of its data into data_. Same
    // result as the line-by-line path below, which takes everything else.
    if (line_.empty() && !has_data_ && event_.empty() && bytes.substr(i).starts_with("data:")) {
      std::string_view rest = bytes.substr(i);
      const void* lf = std::memchr(rest.data(), '\n', rest.size());
      std::size_t end = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - rest.data()) : rest.size();
      if (end + 1 < rest.size() && rest[end + 1] == '\n' && !std::memchr(rest.data(), '\r', end)) {
        std::string_view value = rest.substr(5, end - 5);
        if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
        if (value.size() <= max_event_bytes_) {
          i += end + 2;
          if (!on_event(SseEvent{{}, value, id_})) return false;
          continue;
        }
      }
    }
    // Two memchr scans (LF, then CR before it) beat find_first_of's
    // per-byte set test on long data lines.
    std::size_t end = bytes.find('\n', i);
    {
      std::size_t limit = end == std::string_view::npos ? bytes.size() : end;
      if (const void* cr = std::memchr(bytes.data() + i, '\r', limit - i))
        end = static_cast<std::size_t>(static_cast<const char*>(cr) - bytes.data());
    }
    if (end == std::string_view::npos) {
      line_.append(bytes.substr(i));
      if (pending() > max_event_bytes_) {
        overflowed_ = true;
        return false;
      }
      return true;
    }
    bool ok;
    if (line_.empty()) {
      ok = processLine(bytes.substr(i, end - i), on_event);
    } else {
      line_.append(bytes.substr(i, end - i));
      std::string line = std::move(line_);
      line_.clear();
      ok = processLine(line, on_event);
    }
    if (bytes[end] == '\r') {
      if (end + 1 < bytes.size()) {
        if (bytes[end + 1] == '\n') ++end;
      } else {
        last_was_cr_ = true;
      }
    }
    i = end + 1;
    if (!ok) return false;
    if (pending() > max_event_bytes_) {
      overflowed_ = true;
      return false;
    }
  }
  return true;
}

template <class F>
bool SseParser::processLine(std::string_view line, F& on_event) {
  if (line.empty()) {
    bool keep_going = true;
    if (has_data_) keep_going = on_event(SseEvent{event_, data_, id_});
    event_.clear();
    data_.clear();
    has_data_ = false;
    return keep_going;
  }
  if (line[0] == ':') return true;
  std::string_view field = line;
  std::string_view value;
  if (auto colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (field == "event") {
    event_.assign(value);
  } else if (field == "id") {
    id_.assign(value);
  }
  return true;
}

// The length of the longest prefix of `sse` that ends with a blank line
// (the end of an event), or 0. A CR at the very end does not count yet: a
// LF may follow in the next read.
inline std::size_t completeSseEventsPrefix(std::string_view s) {
  // Backwards from the end to the last blank line: a line terminator (LF,
  // CRLF or CR) right after another one. Usually the very end.
  for (std::size_t i = s.size(); i >= 2; --i) {
    const char last = s[i - 1];
    std::size_t start;  // where the terminator ending at i begins
    if (last == '\n') {
      start = (s[i - 2] == '\r') ? i - 2 : i - 1;
    } else if (last == '\r') {
      // A CR at the very end may be the first half of a CRLF still to come;
      // one followed by LF is part of the CRLF that ends at i + 1.
      if (i == s.size() || s[i] == '\n') continue;
      start = i - 1;
    } else {
      continue;
    }
    if (start > 0 && (s[start - 1] == '\n' || s[start - 1] == '\r')) return i;
  }
  return 0;
}


// Forwards an event stream's bytes unchanged, but only up to the end of the
// last complete event: an unfinished event waits for its blank line. Should
// the upstream break mid-event, the client then never holds half an event
// with the final error event glued to it. One per stream; not thread-safe.
class CompleteEventRelay {
 public:
  // Appends to `out` the bytes of `in` (after those held back) that end
  // complete events; holds the rest.
  void forward(std::string_view in, std::string& out) {
    if (held_.empty()) {
      std::size_t n = completeSseEventsPrefix(in);
      out.append(in.substr(0, n));
      held_.assign(in.substr(n));
      return;
    }
    held_.append(in);
    std::size_t n = completeSseEventsPrefix(held_);
    out.append(held_, 0, n);
    held_.erase(0, n);
  }
  // The stream ended: what is held back goes too (a last event without
  // its blank line is still the upstream's bytes).
  void flush(std::string& out) {
    out.append(held_);
    held_.clear();
  }
  // The stream broke: what is held back is dropped.
  void drop() { held_.clear(); }
  // Bytes held back (bounded by the caller: an event never completes when
  // the upstream sends no blank line).
  std::size_t held() const { return held_.size(); }

 private:
  std::string held_;
};

}  // namespace gw
