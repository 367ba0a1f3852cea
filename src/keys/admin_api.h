// The admin API (/admin/keys, /admin/budgets/...; docs/keys-and-budgets.md):
// routes, the admin key check, and the calls on the store. Runs on a
// worker's thread with the worker's state connection.
#pragma once

#include "keys/key_service_impl.h"

#include <boost/asio/awaitable.hpp>

#include <string_view>

namespace gw::keys {

net::awaitable<AdminResponse> serveAdmin(KeyWorker::Impl& worker, std::string_view method, std::string_view path,
                                         std::string_view authorization, std::string_view body);

// KeyWorker::dashboardKeys(): the keys and budgets with their usage.
net::awaitable<AdminResponse> serveDashboardKeys(KeyWorker::Impl& worker);

}  // namespace gw::keys
