#include "server/routing.h"

#include "common/strings.h"
#include "providers/provider_registry.h"

namespace gw {

Result<Route> selectProvider(const HeaderLookup& headers, boost::json::object* body,
                             const ProviderRegistry& providers, std::string_view default_provider) {
  std::optional<std::string_view> model;
  if (body) {
    if (auto* m = body->if_contains("model"); m && m->is_string()) model = std::string_view(m->as_string());
  }
  auto route = selectProvider(headers, model, providers, default_provider);
  if (route && route->model_rewritten) (*body)["model"] = route->model;
  return route;
}

Result<Route> selectProvider(const HeaderLookup& headers, std::optional<std::string_view> model,
                             const ProviderRegistry& providers, std::string_view default_provider) {
  Route route;
  if (model) route.model = std::string(*model);
  if (auto xp = headers.get("x-provider"); xp && !trim(*xp).empty()) {
    route.provider_name = toLower(trim(*xp));
    if (!providers.config(route.provider_name)) {
      std::string known;
      for (const auto& n : providers.providerNames()) known += (known.empty() ? "" : ", ") + n;
      return Error::badRequest("unknown_provider", "Unknown provider in x-provider header (known: " + known + ")");
    }
  } else {
    route.provider_name = std::string(default_provider);
    if (auto slash = route.model.find('/'); slash != std::string::npos && slash > 0) {
      std::string prefix = toLower(std::string_view(route.model).substr(0, slash));
      if (providers.config(prefix)) {
        route.provider_name = prefix;
        route.model.erase(0, slash + 1);
        route.model_rewritten = true;
      }
    }
  }
  route.provider = providers.find(route.provider_name);
  route.config = providers.config(route.provider_name);
  if (!route.provider) {
    if (auto reason = providers.notConfigured(route.provider_name); !reason.empty())
      return Error::badRequest("provider_not_configured",
                               "Provider '" + route.provider_name + "' " + std::string(reason));
    return Error::badRequest("unknown_provider", "Provider '" + route.provider_name + "' is not available in this build");
  }
  return route;
}

}  // namespace gw
