#pragma once

// Hands the admin listener the gateway's data for the debug console (the
// hooks of GET /debug/pools, /debug/namespaces, /debug/clients,
// /debug/warnings, /debug/config and /debug/stats).

#include <cstdint>
#include <functional>
#include <string>

#include "admin/admin_routes.hpp"

namespace prism {
class gateway;
} // namespace prism

namespace prism::admin {

/// What GET /debug/stats says of the process that the gateway does not know.
struct serving_facts {
  std::string config_path;
  /// The gRPC listener's address.
  std::string listen;
  /// The admin listener's address (it may be bound after the hooks are
  /// made, to a port picked then).
  std::function<std::string()> admin;
  /// Requests the front end has started and not answered yet; unset: 0.
  std::function<uint64_t()> requests_in_flight;
};

/// Sets the debug console's hooks of `hooks` to read `gw` (which must
/// outlive the admin listener). The process counts as started now.
void wire_debug_hooks(admin_hooks& hooks, gateway& gw, serving_facts facts);

} // namespace prism::admin
