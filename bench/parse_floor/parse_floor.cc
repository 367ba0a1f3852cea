// The least a record's body pass can cost: instructions to only read (validate) one JSON body with
// Boost.JSON's SAX parser and a handler that does nothing, and with simdjson (DOM, and On-Demand
// visiting every key and value), against which the gateway's own pass (json_text.cc:
// appendScrubbedJson, read + scrub + write) is compared in bench/RESULTS.md. Not part of the build:
// simdjson is needed only here (Debian libsimdjson-dev).
//
//   g++ -std=c++20 -O2 bench/parse_floor/parse_floor.cc -o /tmp/parse_floor -lsimdjson
//   bench/parse_floor/run.sh BODY.json      # instructions per parse, by callgrind, for each reader
#include <simdjson.h>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/src.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
namespace json = boost::json;
struct Null {
  static constexpr std::size_t max_object_size = 1 << 30, max_array_size = 1 << 30, max_key_size = 1 << 30,
                               max_string_size = 1 << 30;
  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) { return true; }
  bool on_object_end(std::size_t, boost::system::error_code&) { return true; }
  bool on_array_begin(boost::system::error_code&) { return true; }
  bool on_array_end(std::size_t, boost::system::error_code&) { return true; }
  bool on_key_part(json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_key(json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_string_part(json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_number_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, boost::system::error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, boost::system::error_code&) { return true; }
  bool on_double(double, json::string_view, boost::system::error_code&) { return true; }
  bool on_bool(bool, boost::system::error_code&) { return true; }
  bool on_null(boost::system::error_code&) { return true; }
  bool on_comment_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(json::string_view, boost::system::error_code&) { return true; }
};
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
