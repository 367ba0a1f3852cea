#include "common/openai_error.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace gw {

std::string openAiErrorBody(const Error& error) {
  boost::json::object inner;
  inner["message"] = error.message;
  inner["type"] = error.type;
  if (error.code.empty()) inner["code"] = nullptr;
  else inner["code"] = error.code;
  boost::json::object outer;
  outer["error"] = std::move(inner);
  return boost::json::serialize(outer);
}

std::string responsesErrorEvent(const Error& error, std::int64_t sequence_number) {
  boost::json::object event;
  event["type"] = "error";
  if (error.code.empty()) event["code"] = nullptr;
  else event["code"] = error.code;
  event["message"] = error.message;
  event["param"] = nullptr;
  event["sequence_number"] = sequence_number;
  return boost::json::serialize(event);
}

}  // namespace gw
