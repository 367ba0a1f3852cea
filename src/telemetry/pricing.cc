#include "telemetry/pricing.h"

#include "gw/config_source.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#ifndef GW_PRICING_SOURCE_FILE
#define GW_PRICING_SOURCE_FILE ""
#endif
#ifndef GW_PRICING_INSTALLED_FILE
#define GW_PRICING_INSTALLED_FILE ""
#endif

namespace gw {

namespace {

constexpr std::string_view kFileName = "model_prices_and_context_window.json";

std::optional<double> number(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  return std::nullopt;
}

bool providerMatches(std::string_view entry_provider, std::string_view wanted) {
  // "bedrock_converse" is served by the bedrock provider too.
  return entry_provider == wanted ||
         (entry_provider.size() > wanted.size() && entry_provider.starts_with(wanted) &&
          entry_provider[wanted.size()] == '_');
}

}  // namespace

Result<PricingTable> PricingTable::parse(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(text, ec);
  if (ec || !doc.is_object()) return configError("PRICING_FILE", "not a JSON object of model prices");
  PricingTable table;
  const auto& root = doc.as_object();
  table.prices_.reserve(root.size());
  for (const auto& kv : root) {
    const std::string_view key(kv.key().data(), kv.key().size());
    const auto& entry = kv.value();
    if (!entry.is_object() || key == "sample_spec") continue;
    const auto& o = entry.as_object();
    auto in = number(o, "input_cost_per_token");
    auto out = number(o, "output_cost_per_token");
    if (!in && !out) continue;
    ModelPrice p;
    if (const auto* lp = o.if_contains("litellm_provider"); lp && lp->is_string()) p.litellm_provider = lp->as_string();
    p.input = in.value_or(0);
    p.output = out.value_or(0);
    p.cache_read = number(o, "cache_read_input_token_cost");
    p.cache_creation = number(o, "cache_creation_input_token_cost");
    p.reasoning = number(o, "output_cost_per_reasoning_token");
    if (auto slash = key.find('/'); slash != std::string_view::npos && slash + 1 < key.size())
      table.by_suffix_[std::string(key.substr(slash + 1))].emplace_back(key);
    table.prices_.emplace(std::string(key), std::move(p));
  }
  return table;
}

Result<PricingTable> PricingTable::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return configError("PRICING_FILE", "cannot read '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  auto table = parse(ss.str());
  if (!table) return configError("PRICING_FILE", "'" + path + "' is " + table.error().message.substr(14));
  return table;
}

std::string PricingTable::defaultPath() {
  namespace fs = std::filesystem;
  std::vector<fs::path> candidates;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path dir = exe.parent_path();
    candidates.push_back(dir / "../share/magicapi-gateway" / kFileName);
    candidates.push_back(dir / "../../data" / kFileName);
    candidates.push_back(dir / "../../../data" / kFileName);
    candidates.push_back(dir / "../../../../data" / kFileName);
    candidates.push_back(dir / "data" / kFileName);
  }
  candidates.emplace_back(GW_PRICING_INSTALLED_FILE);
  candidates.emplace_back(GW_PRICING_SOURCE_FILE);
  for (const auto& c : candidates) {
    if (c.empty()) continue;
    if (fs::is_regular_file(c, ec)) return fs::weakly_canonical(c, ec).string();
  }
  return {};
}

const ModelPrice* PricingTable::find(std::string_view litellm_provider, std::string_view model) const {
  if (model.empty()) return nullptr;
  const std::string_view prefix = litellm_provider;
  if (!prefix.empty()) {
    std::string key;
    key.reserve(prefix.size() + 1 + model.size());
    key.append(prefix).append("/").append(model);
    if (auto it = prices_.find(key); it != prices_.end()) return &it->second;
  }
  const std::string bare(model);
  auto it = prices_.find(bare);
  // Step 2: an entry named "{model}" or "{anything}/{model}" whose
  // litellm_provider is the provider's (e.g. bedrock's "bedrock_converse").
  if (!prefix.empty()) {
    if (it != prices_.end() && providerMatches(it->second.litellm_provider, prefix)) return &it->second;
    if (auto s = by_suffix_.find(bare); s != by_suffix_.end())
      for (const auto& key : s->second) {
        const auto& candidate = prices_.at(key);
        if (providerMatches(candidate.litellm_provider, prefix)) return &candidate;
      }
  }
  // Step 3: "{model}" whatever its provider.
  return it == prices_.end() ? nullptr : &it->second;
}

std::optional<double> PricingTable::cost(std::string_view litellm_provider, std::string_view model,
                                         const Usage& usage) const {
  if (!usage.input && !usage.output) return std::nullopt;
  const ModelPrice* p = find(litellm_provider, model);
  if (!p) return std::nullopt;
  // Token counts come from the upstream's JSON, so any int64 is possible:
  // the arithmetic is done in double (int64 differences such as
  // input - cached can overflow), and a negative count counts as zero.
  auto tokens = [](const std::optional<std::int64_t>& v) {
    return std::max(0.0, static_cast<double>(v.value_or(0)));
  };
  const double input = tokens(usage.input);
  const double cached = tokens(usage.cached_input);
  const double creation = tokens(usage.cache_creation);
  const double output = tokens(usage.output);
  const double reasoning = std::min(tokens(usage.reasoning), output);
  double c = std::max(0.0, input - cached - creation) * p->input;
  c += cached * p->cache_read.value_or(p->input);
  c += creation * p->cache_creation.value_or(p->input);
  c += (output - reasoning) * p->output;
  c += reasoning * p->reasoning.value_or(p->output);
  // An absurd table entry (a price of 1e308, a negative price) must not put
  // Infinity or NaN into the record: Boost.JSON would write them as bare
  // words, and every backend would reject the record as invalid JSON.
  if (!std::isfinite(c)) return std::nullopt;
  return c;
}

}  // namespace gw
