#pragma once

// What the gateway shows the admin listener's /debug endpoints about its
// pools, namespaces, clients and subscriptions: plain data, read from
// figures the actors keep up to date (never by asking an actor).

#include <cstdint>
#include <string>
#include <vector>

#include "pool/pool_figures.hpp"
#include "runtime/metrics_registry.hpp"
#include "session/session_directory.hpp"

namespace prism {

/// One configured namespace (or `_unknown`) and its requests since the start.
struct namespace_report {
  std::string name;
  /// Its backend and API ("keyvalue" or "pubsub"); empty for `_unknown`.
  std::string backend;
  std::string api;
  namespace_totals totals;
};

/// A named PubSub subscription's lag, as last measured.
struct subscription_lag_report {
  std::string ns;
  std::string topic;
  std::string subscription;
  uint64_t lag = 0;
};

} // namespace prism
