#include "server/json_body.h"

#include "common/json_sax_defaults.h"
#include "common/strings.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace gw {

namespace {
// A number no double holds (1e999) is valid JSON, but Boost.JSON reads it as
// infinity and would write it back as the bare word Infinity, which is not:
// the gateway refuses it rather than send an upstream invalid JSON (checked
// after syntax and the top-level object, in both readings below).
Error numberOutOfRange() {
  return Error::badRequest("invalid_json", "Request body has a number beyond the range of a double");
}

bool hasNonFiniteNumber(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::double_: return !std::isfinite(v.get_double());
    case boost::json::kind::array:
      for (const auto& e : v.get_array())
        if (hasNonFiniteNumber(e)) return true;
      return false;
    case boost::json::kind::object:
      for (const auto& kv : v.get_object())
        if (hasNonFiniteNumber(kv.value())) return true;
      return false;
    default: return false;
  }
}
}  // namespace

Result<boost::json::object> parseJsonBody(std::string_view body, boost::json::storage_ptr storage) {
  boost::json::parse_options opts;
  opts.max_depth = 64;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec, std::move(storage), opts);
  if (ec) return Error::badRequest("invalid_json", "Request body is not valid JSON: " + ec.message());
  if (!v.is_object()) return Error::badRequest("invalid_json", "Request body must be a JSON object");
  if (hasNonFiniteNumber(v)) return numberOutOfRange();
  return std::move(v.as_object());
}

namespace {

// Handler for json::basic_parser: follows the depth and the last key, and
// keeps the three top-level facts. Everything else is only validated.
class BodyFactsHandler : public JsonSaxDefaults {
 public:
  JsonBodyFacts facts;
  bool top_is_object = false;
  bool number_out_of_range = false;  // see numberOutOfRange()

  bool on_object_begin(boost::system::error_code&) {
    if (depth_ == 0) {
      top_is_object = true;
    } else if (depth_ == 1 && key_ == Key::kStreamOptions) {
      // The value of a top-level "stream_options": it replaces any before.
      in_stream_options_ = true;
      facts.include_usage = false;
    } else {
      valueAt(Key::kOther);
    }
    return open();
  }
  bool on_object_end(std::size_t, boost::system::error_code&) { return close(); }
  bool on_array_begin(boost::system::error_code&) {
    if (depth_ == 1 && key_ == Key::kMessages) facts.messages_is_array = true;
    else valueAt(Key::kOther);
    return open();
  }
  bool on_array_end(std::size_t, boost::system::error_code&) { return close(); }
  bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    part_.append(s.data(), s.size());
    return true;
  }
  // Called for every key of the body: the keys of interest are told apart
  // by their length first, and nothing else happens for a nested key.
  BOOST_FORCEINLINE bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    std::string_view k(s.data(), s.size());
    if (!part_.empty()) {
      part_.append(k);
      k = part_;
    }
    key_ = Key::kOther;
    if (depth_ == 1) {
      switch (k.size()) {
        case 5:
          if (k == "model") key_ = Key::kModel;
          break;
        case 6:
          if (k == "stream") key_ = Key::kStream;
          break;
        case 8:
          if (k == "messages") key_ = Key::kMessages;
          break;
        case 10:
          if (k == "max_tokens") key_ = Key::kMaxTokens;
          break;
        case 14:
          if (k == "stream_options") {
            key_ = Key::kStreamOptions;
            facts.has_stream_options = true;
          }
          break;
        default: break;
      }
    } else if (depth_ == 2 && in_stream_options_ && k == "include_usage") {
      key_ = Key::kIncludeUsage;
    }
    if (!part_.empty()) part_.clear();
    return true;
  }
  bool on_string_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    if (depth_ == 1 && key_ == Key::kModel) part_.append(s.data(), s.size());
    return true;
  }
  bool on_string(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    if (depth_ == 1 && key_ == Key::kModel) {
      part_.append(s.data(), s.size());
      facts.model = std::move(part_);
    } else {
      valueAt(Key::kOther);
    }
    part_.clear();
    return true;
  }
  bool on_int64(std::int64_t v, boost::json::string_view, boost::system::error_code&) {
    if (depth_ != 1 || key_ != Key::kMaxTokens) return other();
    facts.max_tokens = v;
    return true;
  }
  bool on_uint64(std::uint64_t, boost::json::string_view, boost::system::error_code&) {
    if (depth_ != 1 || key_ != Key::kMaxTokens) return other();
    facts.max_tokens = INT64_MAX;  // beyond int64: surely at least 1
    return true;
  }
  bool on_double(double v, boost::json::string_view, boost::system::error_code&) {
    if (!std::isfinite(v)) number_out_of_range = true;
    return other();
  }
  bool on_bool(bool b, boost::system::error_code&) {
    if (depth_ == 1 && key_ == Key::kStream) facts.stream = b;
    else if (depth_ == 2 && key_ == Key::kIncludeUsage) facts.include_usage = b;
    else valueAt(Key::kOther);
    return true;
  }
  bool on_null(boost::system::error_code&) { return other(); }

 private:
  enum class Key : std::uint8_t { kOther, kModel, kStream, kStreamOptions, kIncludeUsage, kMessages, kMaxTokens };

  // A value of another type under a fact's key replaces what an earlier
  // repeat of that key said (the last key counts).
  void valueAt(Key) {
    if (depth_ == 1) {
      if (key_ == Key::kModel) facts.model.reset();
      else if (key_ == Key::kStream) facts.stream = false;
      else if (key_ == Key::kStreamOptions) facts.include_usage = false;
      else if (key_ == Key::kMessages) facts.messages_is_array = false;
      else if (key_ == Key::kMaxTokens) facts.max_tokens.reset();
    } else if (depth_ == 2 && key_ == Key::kIncludeUsage) {
      facts.include_usage = false;
    }
  }
  bool other() {
    valueAt(Key::kOther);
    return true;
  }
  bool open() {
    ++depth_;
    key_ = Key::kOther;
    return true;
  }
  bool close() {
    --depth_;
    if (depth_ < 2) in_stream_options_ = false;
    key_ = Key::kOther;
    return true;
  }

  std::size_t depth_ = 0;
  Key key_ = Key::kOther;
  bool in_stream_options_ = false;
  std::string part_;
};

}  // namespace

bool requiresJsonBody(std::string_view method, std::string_view path) {
  static constexpr std::string_view kJsonEndpoints[] = {
      "/v1/chat/completions", "/v1/completions", "/v1/embeddings",       "/v1/responses",   "/v1/messages",
      "/v1/messages/count_tokens", "/v1/moderations", "/v1/images/generations", "/v1/audio/speech"};
  if (method != "POST") return false;
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  for (std::string_view endpoint : kJsonEndpoints)
    if (path == endpoint) return true;
  return false;
}

bool isMessagesApiPath(std::string_view path) {
  return path == "/v1/messages" || path.starts_with("/v1/messages/");
}

Status checkMessagesBody(std::string_view path, const JsonBodyFacts& facts) {
  if (path != "/v1/messages" && path != "/v1/messages/count_tokens") return ok();  // batches have their own shape
  if (!facts.model) return Error::badRequest("invalid_request", "model: Field required (a string)");
  if (!facts.messages_is_array) return Error::badRequest("invalid_request", "messages: Field required (an array)");
  if (path == "/v1/messages") {
    if (!facts.max_tokens) return Error::badRequest("invalid_request", "max_tokens: Field required (an integer)");
    if (*facts.max_tokens < 1) return Error::badRequest("invalid_request", "max_tokens: must be at least 1");
  }
  return ok();
}

Result<JsonBodyFacts> scanJsonBody(std::string_view body) {
  boost::json::parse_options opts;
  opts.max_depth = 64;  // as parseJsonBody
  boost::json::basic_parser<BodyFactsHandler> parser(opts);
  boost::system::error_code ec;
  std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
  if (!ec && used < body.size()) {
    // What follows the document may only be whitespace (parse() says
    // "extra data" otherwise).
    for (char c : body.substr(used))
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
        ec = boost::json::error::extra_data;
        break;
      }
  }
  if (ec) return Error::badRequest("invalid_json", "Request body is not valid JSON: " + ec.message());
  if (!parser.handler().top_is_object) return Error::badRequest("invalid_json", "Request body must be a JSON object");
  if (parser.handler().number_out_of_range) return numberOutOfRange();
  return std::move(parser.handler().facts);
}

}  // namespace gw
