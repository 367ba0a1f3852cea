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
// a field is storing four offsets.
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
  // Returns the copy's bytes (valid until the next copy() or clear()).
  std::string_view copy(std::string_view head) {
    text_.assign(head.data(), head.size());
    return text_;
  }

  // Where `s`, a slice of the text, starts; nullopt when it is not one (a
  // value Beast built in its own memory: only for obsolete line folding).
  std::optional<std::uint32_t> offsetOf(boost::beast::string_view s) const {
    if (s.empty()) return 0;
    const char* begin = text_.data();
    if (s.data() < begin || s.data() + s.size() > begin + text_.size()) return std::nullopt;
    return static_cast<std::uint32_t>(s.data() - begin);  // fits: the header limit bounds the text
  }
  // Adds a field whose name and value are slices of the text; false (and
  // nothing added) when they are not.
  bool add(field id, boost::beast::string_view name, boost::beast::string_view value) {
    auto name_at = offsetOf(name);
    auto value_at = offsetOf(value);
    if (!name_at || !value_at) return false;
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
