#pragma once

// A connection actor owns one driver. It starts operations on the driver,
// receives their outcomes as messages, answers the calls' sessions and tells
// its pool when it can take more.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/defaults.hpp"
#include "drivers/driver.hpp"
#include "pool/pool_figures.hpp"
#include "runtime/call.hpp"
#include "runtime/inspector.hpp"

namespace prism {

struct connection_state {
  static inline const char* name = "connection";
  pool_actor pool;
  uint32_t index = 0;
  uint32_t sweep_batch_max = defaults::ttl_sweep_batch_max;
  uint64_t next_seq = 0;
  /// Declared before `in_flight` so it is destroyed after it: when the actor
  /// ends, its calls are answered UNAVAILABLE at once (they complete
  /// themselves), and only then does the driver wait for an operation it is
  /// still running, which holds its own reference to the operation.
  std::unique_ptr<drivers::kv_driver> driver;
  /// Calls the driver works on, with their sequence numbers, in no order:
  /// a handful at most (one for SQLite and PostgreSQL, up to 64 for
  /// memory), so a search beats a hash table's node per call.
  std::vector<std::pair<uint64_t, call_ptr>> in_flight;
  uint64_t reclaimed = 0;
  /// "disk#0": names the connection in answers and logs.
  std::string label;
  /// The pool's figures, counted per call answered; may be null.
  pool_figures_ptr figures;
  inspector_registration registration;
};

/// Carries a driver into a new connection actor, which takes it out: spawn
/// arguments must be copyable, and the actor must be the driver's only owner.
using driver_handoff = std::shared_ptr<std::unique_ptr<drivers::kv_driver>>;

/// What a connection's driver posts back to it: an operation finished (its
/// sequence number and outcome); reclamation finished (keys reclaimed).
using done_atom = caf::atom_constant<caf::atom("done")>;
using swept_atom = caf::atom_constant<caf::atom("swept")>;
/// What a connection handles: its public interface and its driver's
/// answers.
using connection_impl = connection_actor::extend<
  caf::reacts_to<done_atom, uint64_t, model::outcome>,
  caf::reacts_to<swept_atom, uint64_t>>;

connection_impl::behavior_type connection(
  connection_impl::stateful_pointer<connection_state> self, pool_actor pool,
  uint32_t index, driver_handoff driver, inspector* actors = nullptr,
  std::string name = {}, uint64_t parent = 0, uint32_t restarts = 0,
  pool_figures_ptr figures = nullptr);

} // namespace prism
