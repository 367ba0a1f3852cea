// What provider factories share in reading their settings (the factory
// contract is in gw/provider_plugin.h): a base URL variable, read and
// checked at start-up. Called from factories, on main()'s thread.
#pragma once

#include "gw/error.h"
#include "gw/setting_table.h"

#include <string>
#include <string_view>
#include <type_traits>

namespace gw::providers {

// Checks a base URL as the provider will parse it (parseBaseUrl(),
// config/settings.h), with a "{region}" placeholder filled with a sample
// region first. The error's message starts with `variable`.
Status checkBaseUrl(std::string_view variable, std::string_view url);

// The value of the base URL variable `name`, or, when it is unset, the
// default its table shows (so --help shows the value in use), checked with
// checkBaseUrl() so that a typo stops start-up.
template <const auto& Table>
Result<std::string> readBaseUrl(const DeclaredSettings<Table>& settings,
                                std::type_identity_t<SettingName<Table>> name) {
  std::string url = settings.getString(name, name.doc().default_text);
  if (auto st = checkBaseUrl(name.view(), url); !st) return st.error();
  return url;
}

}  // namespace gw::providers
