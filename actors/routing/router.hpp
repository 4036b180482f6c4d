#pragma once

// The router resolves a call's namespace to its backend pool and checks what
// only the namespace's config can decide: its pattern and its value limit.

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "config/config.hpp"
#include "runtime/admission.hpp"
#include "runtime/forward.hpp"
#include "runtime/inspector.hpp"

namespace prism {

struct namespace_route {
  config::pattern pattern = config::pattern::keyvalue;
  std::string backend;
  pool_actor pool;
  /// Slots in the pool's mailbox, taken before a request is sent there;
  /// while the pool marks it saturated, the router refuses the call itself.
  admission_ptr pool_gate;
  /// The backend's max_pending, for the message of that refusal.
  uint32_t max_pending = defaults::pool_max_pending;
  /// For pubsub namespaces: the backend's topic broker and its gate.
  broker_actor broker;
  admission_ptr broker_gate;
  uint64_t max_value_bytes = defaults::value_bytes_max;
};

using namespace_routes = std::unordered_map<std::string, namespace_route>;

/// The routes of `cfg`'s namespaces, without pool or broker handles.
namespace_routes routes_of(const config::gateway_config& cfg);

struct router_state {
  static inline const char* name = "router";
  /// Every namespace the router was started with or given by a reload,
  /// including those a later reload removed: sessions no longer send their
  /// new calls here (see route::configured), and calls already on the way
  /// still find their backend.
  namespace_routes routes;
  /// Slots of the mailbox; senders take one per request (forward_call).
  admission_ptr gate;
  uint64_t gate_rejections_seen = 0;
  inspector_registration registration;
};

/// A null `gate` means an unbounded mailbox.
router_actor::behavior_type router(
  router_actor::stateful_pointer<router_state> self, namespace_routes routes,
  inspector* actors = nullptr, admission_ptr gate = nullptr,
  uint64_t parent = 0);

} // namespace prism
