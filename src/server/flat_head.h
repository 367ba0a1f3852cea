// The fields of an HTTP head kept flat: the head's bytes in one string and,
// per field, its Beast enum and where its name and value are in that string.
// Shared by the client request (http_request.h) and the upstream response
// parser (upstream_response_parser.h).
//
// Why not Beast's basic_fields: that is an ordered tree with a heap node per
// field, built by copying every name and value; the gateway only walks a
// head's fields in order or looks up a few of them. The parsers here hand
// Beast a copy of the complete head (copy()) and Beast parses that copy in
// place, so every name and value it reports is a slice of the text: adding
// a field is storing four offsets (a folded value, which Beast unfolds
// elsewhere, is the one copy).
//
// Used on one worker thread; not thread-safe.
#pragma once

#include "common/strings.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::server {

class FlatHead {
 public:
  using field = boost::beast::http::field;

  // Forgets the head, keeping the memory.
  void clear() {
    text_.clear();
    fields_.clear();
  }
  // Makes the text a copy of `head`, the bytes a parser is about to parse.
  // Returns the copy's bytes (valid until the next copy() or clear(): add()
  // never moves them).
  std::string_view copy(std::string_view head) {
    // Room after the copy for the values Beast unfolds (see add()): an
    // unfolded value is shorter than its folded lines, so twice the head
    // always holds them and the copy Beast is parsing never moves.
    text_.reserve(2 * head.size());
    text_.assign(head.data(), head.size());
    return std::string_view(text_.data(), head.size());
  }

  // Where `s`, a slice of the text, starts; nullopt when it is not one.
  std::optional<std::uint32_t> offsetOf(boost::beast::string_view s) const {
    if (s.empty()) return 0;
    const char* begin = text_.data();
    if (s.data() < begin || s.data() + s.size() > begin + text_.size()) return std::nullopt;
    return static_cast<std::uint32_t>(s.data() - begin);  // fits: the header limit bounds the text
  }
  // Adds a field. Its name is a slice of the text; so is its value, except
  // one with obsolete line folding, which Beast unfolds into memory of its
  // own: that value is appended to the text, in the room copy() left.
  // False (nothing added) when the name is not a slice or there is no room.
  bool add(field id, boost::beast::string_view name, boost::beast::string_view value) {
    auto name_at = offsetOf(name);
    if (!name_at) return false;
    auto value_at = offsetOf(value);
    if (!value_at) {
      if (text_.capacity() - text_.size() < value.size()) return false;  // would move the text
      value_at = static_cast<std::uint32_t>(text_.size());
      text_.append(value.data(), value.size());
    }
    fields_.push_back(Field{id, *name_at, static_cast<std::uint32_t>(name.size()), *value_at,
                            static_cast<std::uint32_t>(value.size())});
    return true;
  }
  std::string_view slice(std::uint32_t at, std::uint32_t size) const { return std::string_view(text_).substr(at, size); }

  // The first field with this known name, or its value: as
  // basic_fields::find, which gives the first of duplicates.
  std::optional<std::string_view> find(field id) const {
    for (const auto& f : fields_)
      if (f.id == id) return value(f);
    return std::nullopt;
  }
  // By name, case-insensitively (for names Beast has no enum for too).
  std::optional<std::string_view> find(std::string_view name) const {
    for (const auto& f : fields_)
      if (iequals(this->name(f), name)) return value(f);
    return std::nullopt;
  }
  // Calls visit(field id, name as received, value) for every field, in the
  // order received.
  template <class Visit>
  void forEachField(Visit&& visit) const {
    for (const auto& f : fields_) visit(f.id, name(f), value(f));
  }
  std::size_t fieldCount() const { return fields_.size(); }

 private:
  struct Field {
    field id;
    std::uint32_t name_at, name_size, value_at, value_size;
  };
  std::string_view name(const Field& f) const { return slice(f.name_at, f.name_size); }
  std::string_view value(const Field& f) const { return slice(f.value_at, f.value_size); }

  std::string text_;
  std::vector<Field> fields_;
};

}  // namespace gw::server
