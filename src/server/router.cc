#include "server/router.h"

#include "common/ids.h"
#include "common/strings.h"
#include "config/settings.h"
#include "providers/provider_registry.h"

#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>

namespace gw {

Result<Route> selectProvider(const HeaderLookup& headers, boost::json::object* body,
                             const ProviderRegistry& providers, std::string_view default_provider) {
  Route route;
  if (body) {
    if (auto* m = body->if_contains("model"); m && m->is_string()) route.model = std::string(m->as_string());
  }
  if (auto xp = headers.get("x-provider"); xp && !trim(*xp).empty()) {
    route.provider_name = toLower(trim(*xp));
    if (!providers.config(route.provider_name)) {
      std::string known;
      for (const auto& n : knownProviderNames()) known += (known.empty() ? "" : ", ") + n;
      return Error::badRequest("unknown_provider", "Unknown provider in x-provider header (known: " + known + ")");
    }
  } else {
    route.provider_name = std::string(default_provider);
    if (auto slash = route.model.find('/'); slash != std::string::npos && slash > 0) {
      std::string prefix = toLower(std::string_view(route.model).substr(0, slash));
      if (providers.config(prefix)) {
        route.provider_name = prefix;
        route.model.erase(0, slash + 1);
        (*body)["model"] = route.model;
        route.model_rewritten = true;
      }
    }
  }
  route.provider = providers.find(route.provider_name);
  route.config = providers.config(route.provider_name);
  if (!route.provider)
    return Error::badRequest("unknown_provider", "Provider '" + route.provider_name + "' is not available in this build");
  return route;
}

Result<boost::json::object> parseJsonBody(std::string_view body) {
  boost::json::parse_options opts;
  opts.max_depth = 64;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec, {}, opts);
  if (ec) return Error::badRequest("invalid_json", "Request body is not valid JSON: " + ec.message());
  if (!v.is_object()) return Error::badRequest("invalid_json", "Request body must be a JSON object");
  return std::move(v.as_object());
}

std::string requestIdFor(const HeaderLookup& headers) {
  if (auto id = headers.get("x-request-id")) {
    std::string_view v = trim(*id);
    bool sane = !v.empty() && v.size() <= 128;
    for (char c : v) sane = sane && c > 0x20 && c < 0x7f;
    if (sane) return std::string(v);
  }
  return newRequestId();
}

void copyTrackingHeaders(const HeaderLookup& headers, RequestRecord& record) {
  auto take = [&](std::string_view name, std::optional<std::string>& out) {
    if (auto v = headers.get(name)) {
      auto t = trim(*v);
      if (!t.empty()) out = std::string(t.substr(0, 256));
    }
  };
  take("x-project-id", record.project_id);
  take("x-project-name", record.project_name);
  take("x-organisation-id", record.org_id);
  if (!record.org_id) take("x-organization-id", record.org_id);
  take("x-user-id", record.user_id);
  take("x-experiment-id", record.experiment_id);
  take("x-thread-id", record.thread_id);
}

bool gatewayKeyAccepted(std::string_view key, const std::vector<std::string>& keys) {
  bool accepted = false;
  // Check every key so the time taken does not reveal which one matched.
  for (const auto& k : keys) accepted |= constantTimeEquals(key, k);
  return accepted;
}

}  // namespace gw
