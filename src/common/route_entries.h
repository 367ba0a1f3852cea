// The config file's `routes:` section, parsed into RouteEntry values
// (gw/config_source.h) by ConfigSource::parseYaml. Shape and values only;
// the names a route refers to are checked by routing/route_table.h.
#pragma once

#include "gw/config_source.h"

#include <yaml-cpp/yaml.h>

#include <vector>

namespace gw {

// Appends the entries of the `routes:` node to `out`. A null node is an
// empty list. Errors name the field ("routes[1].retry.attempts: ...").
Status parseRoutes(const YAML::Node& node, std::vector<RouteEntry>& out);

}  // namespace gw
