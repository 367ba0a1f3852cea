// Provider name -> Provider. Built once at start-up from the settings;
// read-only and shared by all worker threads afterwards.
#pragma once

#include "gw/provider.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gw {

class ProviderRegistry {
 public:
  // One Provider per configured provider (see knownProviderNames()).
  static ProviderRegistry create(const std::map<std::string, ProviderConfig>& configs);

  const Provider* find(std::string_view name) const;
  const ProviderConfig* config(std::string_view name) const;

 private:
  // Looked up by a string_view on every request: hashed, without a key
  // string (an ordered map of a dozen names costs ~4 string compares a
  // lookup, ~190 instructions, measured with callgrind).
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
  };
  std::unordered_map<std::string, std::unique_ptr<Provider>, NameHash, std::equal_to<>> providers_;
  std::unordered_map<std::string, ProviderConfig, NameHash, std::equal_to<>> configs_;
};

}  // namespace gw
