// The template path of StreamAssembler (stream_assembler.h): a chunk that
// is its template's bytes but for the strings in its variable spans.
#include "telemetry/stream_assembler.h"

#include <boost/json/basic_parser_impl.hpp>

#include <cstring>

namespace gw {

namespace json = boost::json;

// Reads one JSON string literal for the template path: a document that is
// a string, appended to `into` (when not null); anything else is refused
// (it cannot occur in text that begins with a quote, but the parser
// requires the callbacks).
class StreamAssembler::LiteralPass {
 public:
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);

  json::string* into = nullptr;

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_string_part(json::string_view s, std::size_t, boost::system::error_code&) {
    if (into) into->append(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, boost::system::error_code&) {
    if (into) into->append(s);
    return true;
  }
  bool on_object_begin(boost::system::error_code& ec) { return refuse(ec); }
  bool on_object_end(std::size_t, boost::system::error_code& ec) { return refuse(ec); }
  bool on_array_begin(boost::system::error_code& ec) { return refuse(ec); }
  bool on_array_end(std::size_t, boost::system::error_code& ec) { return refuse(ec); }
  bool on_key_part(json::string_view, std::size_t, boost::system::error_code& ec) { return refuse(ec); }
  bool on_key(json::string_view, std::size_t, boost::system::error_code& ec) { return refuse(ec); }
  bool on_number_part(json::string_view, boost::system::error_code& ec) { return refuse(ec); }
  bool on_int64(std::int64_t, json::string_view, boost::system::error_code& ec) { return refuse(ec); }
  bool on_uint64(std::uint64_t, json::string_view, boost::system::error_code& ec) { return refuse(ec); }
  bool on_double(double, json::string_view, boost::system::error_code& ec) { return refuse(ec); }
  bool on_bool(bool, boost::system::error_code& ec) { return refuse(ec); }
  bool on_null(boost::system::error_code& ec) { return refuse(ec); }
  bool on_comment_part(json::string_view, boost::system::error_code& ec) { return refuse(ec); }
  bool on_comment(json::string_view, boost::system::error_code& ec) { return refuse(ec); }

 private:
  static bool refuse(boost::system::error_code& ec) {
    ec = json::error::syntax;
    return false;
  }
};

void StreamAssembler::LiteralParserDelete::operator()(json::basic_parser<LiteralPass>* p) const { delete p; }

bool StreamAssembler::foldLikeTemplate(std::string_view chunk) {
  const std::string_view t = template_;
  if (!literal_) literal_.reset(new json::basic_parser<LiteralPass>(json::parse_options{}));
  LiteralPass& pass = literal_->handler();
  // The content is read straight into the assembled choice's content, and
  // cut back should the chunk turn out to be no template chunk.
  const std::size_t content_was = template_content_->size();
  auto decline = [&] {
    template_content_->resize(content_was);
    return false;
  };
  std::size_t in_template = 0, in_chunk = 0;
  auto sameBytes = [&](std::size_t n) {
    if (chunk.size() - in_chunk < n || std::memcmp(chunk.data() + in_chunk, t.data() + in_template, n) != 0)
      return false;
    in_chunk += n;
    in_template += n;
    return true;
  };
  for (const TemplateSpan& span : template_spans_) {
    if (!sameBytes(span.open - in_template) || in_chunk == chunk.size() || chunk[in_chunk] != '"') return decline();
    // The chunk's string literal in the span's place, from its opening
    // quote (whitespace before it would not be the template's bytes, and
    // may be a line break): the parser reads one string and stops where it
    // ends (an unescaped quote ends it; a raw control character, bad UTF-8
    // or a bad escape is an error). Whitespace it skipped after the string
    // would not be the template's bytes either: the string must be the
    // last thing it read.
    literal_->reset();
    pass.into = span.content ? template_content_ : nullptr;
    boost::system::error_code ec;
    const std::size_t used = literal_->write_some(false, chunk.data() + in_chunk, chunk.size() - in_chunk, ec);
    if (ec || !literal_->done() || used < 2 || chunk[in_chunk + used - 1] != '"') return decline();
    in_chunk += used;
    in_template = span.close + 1;
  }
  if (chunk.size() - in_chunk != t.size() - in_template || !sameBytes(t.size() - in_template)) return decline();
  return true;
}

}  // namespace gw
