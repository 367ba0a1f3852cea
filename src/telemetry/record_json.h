// Reading a request record's JSON: gw::RecordFields from the tree, and the
// helpers for walking untrusted JSON without exceptions.
//
// Pure functions, callable from any thread.
#pragma once

#include "gw/record_fields.h"

#include <boost/json/object.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw {

// Nesting limit for parsing a whole record: bodies are captured up to depth
// 256 (the record builder's limit for untrusted bodies) and the record adds
// a few levels around them.
inline constexpr std::size_t kMaxRecordDepth = 1024;

// The fields of a record in the shape of docs/records.md. Values of the
// wrong type read as nullopt; numbers given as strings stay strings only
// where the field is a string.
RecordFields fieldsFromJson(const boost::json::object& record);

// Why the model stopped, per generation, as a record's response gives it
// (RecordFields::finish_reasons): each choice's finish_reason (Chat
// Completions, also the providers translated to it), else the stop_reason
// (Messages API), else for a Responses API response its
// incomplete_details.reason, else its status. Empty when none is given.
std::vector<std::string> finishReasonsOf(const boost::json::object& response);

// RFC 3339 ("2024-05-01T12:00:00.123Z", "...+02:00") to nanoseconds since the epoch.
std::optional<std::int64_t> parseRfc3339(std::string_view text);

const boost::json::value* findPath(const boost::json::object& root, std::initializer_list<std::string_view> path);
std::optional<std::string> stringAt(const boost::json::object& root, std::initializer_list<std::string_view> path);
std::optional<std::int64_t> intAt(const boost::json::object& root, std::initializer_list<std::string_view> path);
std::optional<double> numberAt(const boost::json::object& root, std::initializer_list<std::string_view> path);

}  // namespace gw
