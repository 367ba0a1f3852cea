// An exporter that is scraped instead of pushing records (prometheus): the
// HTTP server asks Telemetry::prometheusText(), which renders through this
// interface.
//
// Threading: render() is called from any server thread, concurrently; it
// must only read the (thread-safe) MetricsRegistry. It may be called before
// init() and after shutdown().
#pragma once

#include <string>

namespace gw {

class MetricsEndpoint {
 public:
  virtual ~MetricsEndpoint() = default;
  virtual std::string render() const = 0;
};

}  // namespace gw
