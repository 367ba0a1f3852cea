// An exporter that is scraped instead of pushing records (prometheus)
// implements this as well as gw::Exporter: GET /metrics renders through the
// first enabled exporter that does.
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
