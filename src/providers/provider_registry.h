// Provider name -> Provider. Built once at start-up from the settings;
// read-only and shared by all worker threads afterwards.
#pragma once

#include "gw/provider.h"

#include <map>
#include <memory>
#include <string>

namespace gw {

class ProviderRegistry {
 public:
  // One Provider per configured provider (see knownProviderNames()).
  static ProviderRegistry create(const std::map<std::string, ProviderConfig>& configs);

  const Provider* find(std::string_view name) const;
  const ProviderConfig* config(std::string_view name) const;

 private:
  std::map<std::string, std::unique_ptr<Provider>, std::less<>> providers_;
  std::map<std::string, ProviderConfig, std::less<>> configs_;
};

}  // namespace gw
