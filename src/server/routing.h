// Which provider serves a request and what model it names: the x-provider
// header, a provider/model prefix, or DEFAULT_PROVIDER. Pure functions;
// called from worker threads; unit-tested in tests/server/router_test.cc.
#pragma once

#include "gw/provider.h"

#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace gw {

class ProviderRegistry;

struct Route {
  const Provider* provider = nullptr;
  const ProviderConfig* config = nullptr;
  std::string provider_name;
  std::string model;           // after prefix removal
  bool model_rewritten = false;  // the body's "model" was changed
};

// docs/configuration.md: x-provider wins; else a "provider/model" prefix naming a
// known provider is taken (and removed from the body); else the default.
// An unknown x-provider is a 400.
Result<Route> selectProvider(const HeaderLookup& headers, boost::json::object* body,
                             const ProviderRegistry& providers, std::string_view default_provider);
// The same decision from the body's "model" alone (nullopt: no body, or no
// string "model"); a taken prefix is only reported (model_rewritten), the
// caller applies it to the body it sends.
Result<Route> selectProvider(const HeaderLookup& headers, std::optional<std::string_view> model,
                             const ProviderRegistry& providers, std::string_view default_provider);

}  // namespace gw
