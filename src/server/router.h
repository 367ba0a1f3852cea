// Request routing decisions that need no I/O: which provider serves a
// request, what model it names, which tracking headers go into the record.
// Pure functions; called from worker threads; unit-tested in tests/server.
#pragma once

#include "gw/provider.h"
#include "gw/request_record.h"

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

// SPEC section 3: x-provider wins; else a "provider/model" prefix naming a
// known provider is taken (and removed from the body); else the default.
// An unknown x-provider is a 400.
Result<Route> selectProvider(const HeaderLookup& headers, boost::json::object* body,
                             const ProviderRegistry& providers, std::string_view default_provider);

// Parses a request body as a JSON object, with depth and size limits.
// Returns nullopt-like empty object pointer semantics via Result: an Error
// (400 invalid_json) for malformed JSON or a non-object top level.
Result<boost::json::object> parseJsonBody(std::string_view body);

// The x-request-id to use: the client's if it is sane (printable ASCII, at
// most 128 bytes), else a new UUID.
std::string requestIdFor(const HeaderLookup& headers);

// Copies the tracking headers of SPEC section 3 into the record.
void copyTrackingHeaders(const HeaderLookup& headers, RequestRecord& record);

// True when `key` is one of the configured gateway keys (constant time).
bool gatewayKeyAccepted(std::string_view key, const std::vector<std::string>& keys);

}  // namespace gw
