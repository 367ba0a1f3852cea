// Every callback and limit boost::json::basic_parser requires of a handler,
// as no-ops that accept anything, without limits. A SAX handler derives
// from JsonSaxDefaults and defines only the callbacks it reads: its own
// members hide these (basic_parser calls them on the handler's type; nothing
// is virtual). Used by the request body scan (server/json_body.cc), the
// usage reader (common/usage_reader.h) and the record's body pass
// (telemetry/json_text.cc).
#pragma once

#include <boost/json/string_view.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>

namespace gw {

struct JsonSaxDefaults {
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) { return true; }
  bool on_object_end(std::size_t, boost::system::error_code&) { return true; }
  bool on_array_begin(boost::system::error_code&) { return true; }
  bool on_array_end(std::size_t, boost::system::error_code&) { return true; }
  bool on_key_part(boost::json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_key(boost::json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_string_part(boost::json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_string(boost::json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_number_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(std::int64_t, boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_uint64(std::uint64_t, boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_double(double, boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_bool(bool, boost::system::error_code&) { return true; }
  bool on_null(boost::system::error_code&) { return true; }
  bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }
};

}  // namespace gw
