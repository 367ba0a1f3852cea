// Test support shared by tests/server/router_test.cc and
// fuzz/http_request_fuzz.cc: the facts scanJsonBody (src/server/json_body.cc)
// reads with its SAX pass, read instead from the parsed tree, as the
// reference the scan is checked against.
#pragma once

#include "server/json_body.h"

#include <boost/json/object.hpp>

#include <string>

namespace gw::testing_support {

inline JsonBodyFacts factsFromTree(const boost::json::object& o) {
  JsonBodyFacts f;
  if (auto* m = o.if_contains("model"); m && m->is_string()) f.model = std::string(m->as_string());
  if (auto* st = o.if_contains("stream")) f.stream = st->is_bool() && st->as_bool();
  if (auto* so = o.if_contains("stream_options"); so && so->is_object())
    if (auto* iu = so->as_object().if_contains("include_usage")) f.include_usage = iu->is_bool() && iu->as_bool();
  f.has_stream_options = o.contains("stream_options");
  return f;
}

}  // namespace gw::testing_support
