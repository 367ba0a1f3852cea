// Test helpers shared by the translating providers' golden tests: file
// access, a HeaderLookup over a vector, JSON/text comparison against golden
// files, and an update mode (GW_UPDATE_GOLDEN=1 rewrites the expected files;
// review the diff before committing).
#pragma once

#include "gw/provider.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace gw::testing {

inline std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void writeFile(const std::filesystem::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

inline bool updateGolden() {
  const char* v = std::getenv("GW_UPDATE_GOLDEN");
  return v != nullptr && std::string_view(v) == "1";
}

inline std::vector<std::filesystem::path> caseDirs(const std::filesystem::path& root) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(root))
    if (e.is_directory()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Pretty JSON for golden files (stable: Boost.JSON keeps insertion order).
inline std::string pretty(const boost::json::value& v, int indent = 0) {
  std::string pad(indent, ' ');
  if (v.is_object()) {
    const auto& o = v.as_object();
    if (o.empty()) return "{}";
    std::string s = "{\n";
    std::size_t i = 0;
    for (const auto& [k, val] : o) {
      s += pad + "  " + boost::json::serialize(boost::json::value(k)) + ": " + pretty(val, indent + 2);
      s += (++i < o.size()) ? ",\n" : "\n";
    }
    return s + pad + "}";
  }
  if (v.is_array()) {
    const auto& a = v.as_array();
    if (a.empty()) return "[]";
    std::string s = "[\n";
    for (std::size_t i = 0; i < a.size(); ++i) {
      s += pad + "  " + pretty(a[i], indent + 2);
      s += (i + 1 < a.size()) ? ",\n" : "\n";
    }
    return s + pad + "]";
  }
  return boost::json::serialize(v);
}

// Compares JSON text with a golden JSON file (as values, not bytes).
inline void expectJsonGolden(const std::filesystem::path& golden, std::string_view actual_json) {
  boost::system::error_code ec;
  auto actual = boost::json::parse(actual_json, ec);
  ASSERT_FALSE(ec) << "not JSON: " << actual_json;
  if (updateGolden()) {
    writeFile(golden, pretty(actual) + "\n");
    return;
  }
  ASSERT_TRUE(std::filesystem::exists(golden)) << golden << " missing (run with GW_UPDATE_GOLDEN=1)";
  auto expected = boost::json::parse(readFile(golden));
  EXPECT_EQ(expected, actual) << golden << "\nexpected: " << boost::json::serialize(expected)
                              << "\nactual:   " << boost::json::serialize(actual);
}

inline void expectTextGolden(const std::filesystem::path& golden, std::string_view actual) {
  if (updateGolden()) {
    writeFile(golden, actual);
    return;
  }
  ASSERT_TRUE(std::filesystem::exists(golden)) << golden << " missing (run with GW_UPDATE_GOLDEN=1)";
  EXPECT_EQ(readFile(golden), actual) << golden;
}

class Headers : public HeaderLookup {
 public:
  std::vector<std::pair<std::string, std::string>> items;
  std::optional<std::string_view> get(std::string_view name) const override {
    for (const auto& [k, v] : items) {
      if (k.size() != name.size()) continue;
      bool same = true;
      for (std::size_t i = 0; i < k.size() && same; ++i)
        same = std::tolower(static_cast<unsigned char>(k[i])) == std::tolower(static_cast<unsigned char>(name[i]));
      if (same) return std::string_view(v);
    }
    return std::nullopt;
  }
  void forEach(const std::function<void(std::string_view, std::string_view)>& f) const override {
    for (const auto& [k, v] : items) f(k, v);
  }
};

// A client request over a JSON body, as the router would build it.
struct ClientFixture {
  Headers headers;
  boost::json::object json;
  std::string body;
  ClientRequest req;
  ClientFixture(std::string b, const ProviderConfig& config) : body(std::move(b)) {
    json = boost::json::parse(body).as_object();
    req.method = "POST";
    req.target = "/v1/chat/completions";
    req.path = "/v1/chat/completions";
    req.body = body;
    req.json = &json;
    req.config = &config;
    req.headers = &headers;
    if (auto* m = json.if_contains("model"); m && m->is_string()) req.model = std::string(m->as_string());
    if (auto* s = json.if_contains("stream")) req.stream = s->is_bool() && s->as_bool();
    if (auto* so = json.if_contains("stream_options"); so && so->is_object())
      if (auto* iu = so->as_object().if_contains("include_usage"))
        req.client_wants_usage = iu->is_bool() && iu->as_bool();
  }
};

// The observation as JSON, for golden files.
inline boost::json::object observationJson(const ResponseObservation& o) {
  auto opt = [](const std::optional<std::int64_t>& v) -> boost::json::value {
    return v ? boost::json::value(*v) : boost::json::value(nullptr);
  };
  auto optStr = [](const std::optional<std::string>& v) -> boost::json::value {
    return v ? boost::json::value(*v) : boost::json::value(nullptr);
  };
  return boost::json::object{
      {"usage", boost::json::object{{"input", opt(o.usage.input)},
                                    {"output", opt(o.usage.output)},
                                    {"total", opt(o.usage.total)},
                                    {"cached_input", opt(o.usage.cached_input)},
                                    {"cache_creation", opt(o.usage.cache_creation)}}},
      {"response_model", optStr(o.response_model)},
      {"provider_error_type", optStr(o.provider_error_type)},
      {"provider_error_message", optStr(o.provider_error_message)},
      {"chunks", o.chunks.size()},
      {"chunks_not_captured", o.chunks_not_captured}};
}

// Parses client SSE bytes into the data payloads, in order.
inline std::vector<std::string> sseData(std::string_view bytes) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    auto end = bytes.find("\n\n", pos);
    if (end == std::string_view::npos) break;
    std::string_view event = bytes.substr(pos, end - pos);
    if (event.starts_with("data: ")) out.emplace_back(event.substr(6));
    pos = end + 2;
  }
  return out;
}

}  // namespace gw::testing
