// The least a record's body pass can cost: instructions to only read (validate) one JSON body with
// Boost.JSON's SAX parser and a handler that does nothing, and with simdjson (DOM, and On-Demand
// visiting every key and value), against which the gateway's own pass (json_text.cc:
// appendScrubbedJson, read + scrub + write) is compared in bench/RESULTS.md. Not part of the build:
// simdjson is needed only here (Debian libsimdjson-dev).
//
//   g++ -std=c++20 -O2 -Isrc bench/parse_floor/parse_floor.cc -o /tmp/parse_floor -lsimdjson
//   bench/parse_floor/run.sh BODY.json      # instructions per parse, by callgrind, for each reader
#include "common/json_sax_defaults.h"

#include <simdjson.h>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/src.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
namespace json = boost::json;
// The gateway's no-op handler: reading only.
using Null = gw::JsonSaxDefaults;
__attribute__((noinline)) std::size_t boostPass(const std::string& s) {
  json::parse_options o;
  o.max_depth = 64;
  json::basic_parser<Null> p(o);
  boost::system::error_code ec;
  return p.write_some(false, s.data(), s.size(), ec);
}
simdjson::dom::parser dp;
__attribute__((noinline)) std::size_t simdDom(const simdjson::padded_string& s) {
  auto r = dp.parse(s);
  return r.error() ? 0 : 1;
}
simdjson::ondemand::parser op;
std::size_t walk(simdjson::ondemand::value v);
std::size_t walk(simdjson::ondemand::value v) {
  std::size_t n = 0;
  switch (v.type()) {
    case simdjson::ondemand::json_type::object:
      for (auto f : v.get_object()) {
        n += f.unescaped_key().value().size();
        n += walk(f.value());
      }
      break;
    case simdjson::ondemand::json_type::array:
      for (auto e : v.get_array()) n += walk(e.value());
      break;
    default:
      n += v.raw_json_token().size();
  }
  return n;
}
__attribute__((noinline)) std::size_t simdOnDemand(const simdjson::padded_string& s) {
  auto doc = op.iterate(s);
  return walk(doc.get_value());
}
int main(int argc, char** argv) {
  std::ifstream f(argv[1]);
  std::stringstream b;
  b << f.rdbuf();
  std::string s = b.str();
  simdjson::padded_string ps(s);
  // mode 0 Boost.JSON, 1 simdjson DOM, 2 simdjson On-Demand; n parses.
  if (argc != 4) return 2;
  int mode = atoi(argv[2]);
  int n = atoi(argv[3]);
  std::size_t x = 0;
  for (int i = 0; i < n; ++i) x += mode == 0 ? boostPass(s) : mode == 1 ? simdDom(ps) : simdOnDemand(ps);
  printf("%zu\n", x);
}
