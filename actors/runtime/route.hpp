#pragma once

// The path of a namespace's calls: its stages and the router after them,
// each with the gate of its mailbox. Built by the gateway for each config
// and attached to every call by its session.

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config/defaults.hpp"
#include "runtime/protocols.hpp"

namespace prism {

/// The stages of a namespace's chain and the router after them, each with
/// the admission gate of its mailbox (a null gate admits everything).
struct route {
  /// Every stage of the chain, in order; each hears of every call's outcome.
  std::vector<stage_actor> stages;
  std::vector<admission_ptr> stage_gates;
  /// The stages' kinds, to name a saturated one.
  std::vector<std::string> stage_kinds;
  /// Which of `stages` (indexes, in order) a call visits on its way in: those
  /// that may answer it themselves for this namespace. A stage that only
  /// observes outcomes (metrics; audit unless audit_required) is not
  /// visited, it only hears of the outcome...
  std::vector<uint32_t> checkpoints;
  /// ... and those are the rest: a call starts only while each of them has
  /// room in its mailbox for outcomes (see admission::has_room).
  std::vector<uint32_t> observers;
  router_actor router;
  admission_ptr router_gate;
  /// KeyValue namespaces: the backend's name, its max_pending, and the gate
  /// of its pool as of the table's publication (null until the pool has
  /// started). While the pool marks that gate saturated, a call is refused
  /// where it would be sent to the router (forward_call), before it costs a
  /// trip to the router and the pool; the router checks again for calls
  /// already on their way, and a pool that restarts publishes a new table.
  std::string backend;
  uint32_t max_pending = 0;
  admission_ptr pool_gate;
  /// Pubsub namespaces: messages a subscriber stream buffers.
  uint32_t subscription_buffer_messages
    = defaults::subscription_buffer_messages;
  /// ... and whether an ephemeral subscriber whose buffer is full is
  /// disconnected rather than losing its oldest messages.
  bool disconnect_slow_subscribers = false;
  /// With authentication on: the principals that may read the namespace
  /// (a Subscribe stream of anyone else ends PERMISSION_DENIED when a
  /// reload takes the right away). Null with authentication off.
  std::shared_ptr<const std::set<std::string>> readers;
  /// False for the route of namespaces the config does not have (their
  /// calls are counted and audited, then answered NOT_FOUND). The router
  /// goes by this rather than by its own table, which keeps the namespaces
  /// a reload removed so that their calls already on the way finish.
  bool configured = true;
};
using route_ptr = std::shared_ptr<const route>;

} // namespace prism
