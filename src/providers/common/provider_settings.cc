#include "providers/common/provider_settings.h"

#include "config/settings.h"
#include "gw/config_source.h"

namespace gw::providers {

Status checkBaseUrl(std::string_view variable, std::string_view url) {
  std::string check(url);
  if (auto pos = check.find("{region}"); pos != std::string::npos) check.replace(pos, 8, "us-east-1");
  if (auto endpoint = parseBaseUrl(check); !endpoint) return configError(variable, endpoint.error().message);
  return ok();
}

}  // namespace gw::providers
