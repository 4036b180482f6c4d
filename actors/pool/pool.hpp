#pragma once

// A backend's pool: hands each call to a connection with room for it, holds
// at most `max_pending` calls while every connection is busy, and rejects the
// rest at once. It also paces the reclamation of expired keys.
//
//   request --> [connection with room?] --yes--> connection
//                     | no
//                     v
//               [pending < max_pending?] --yes--> pending (FIFO)
//                     | no
//                     v
//               RESOURCE_EXHAUSTED
//
// While every connection is busy and the queue is full, the pool marks its
// gate saturated, and the backend's calls are refused where they would be
// sent to the router (forward_call), or by the router, without coming here:
// under overload a refusal costs no trip through the router and the pool,
// and the pool's mailbox holds only work it takes, so the messages that free
// a connection are not queued behind calls it would refuse.
//
// Its connections run under a supervisor of their own. When that supervisor
// gives up (too many restarts within its intensity period), the pool opens
// its circuit: every request is answered UNAVAILABLE at once, with a retry
// hint, and after `probe_after` the pool starts a fresh supervisor (half
// open). Once a connection is up, one request at a time goes through as a
// trial (a connection actor may start before its driver has reached the
// backend); the first that succeeds closes the circuit. A failure while half
// open opens it again, for twice as long (up to `probe_max`).
//
//   closed --supervisor gives up--> open --probe timer--> half-open
//     ^                                ^                      |
//     |                                +---a connection fails-+
//     +-------------a trial request succeeds------------------+

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "pool/connection.hpp"
#include "pool/pool_figures.hpp"
#include "runtime/admission.hpp"
#include "runtime/call.hpp"
#include "runtime/metrics_registry.hpp"
#include "runtime/supervision.hpp"

namespace prism {

struct pool_options {
  std::string backend;
  /// Calls one connection works on at once.
  uint32_t in_flight_per_connection = 1;
  uint32_t max_pending = defaults::pool_max_pending;
  caf::timespan sweep_interval
    = std::chrono::milliseconds(defaults::ttl_sweep_interval_ms);
  /// Where the pool and its connections register; may be null.
  inspector* actors = nullptr;
  /// The pool's parent in the inspector's tree.
  uint64_t parent = 0;
  /// How the pool's supervisor restarts its connections.
  supervisor_options supervision;
  /// Opens a fresh driver for connection `index` when it is restarted;
  /// throws when the backend cannot be reached (the supervisor then retries
  /// with backoff).
  std::function<std::unique_ptr<drivers::kv_driver>(uint32_t index)> reopen;
  /// Seeds the restart backoff jitter.
  uint64_t seed = 0;
  /// How long an open circuit waits before its first probe, and at most.
  caf::timespan probe_after
    = std::chrono::milliseconds(defaults::circuit_probe_after_ms);
  caf::timespan probe_max
    = std::chrono::milliseconds(defaults::circuit_probe_max_ms);
  /// The slots the router takes before it enqueues a request here.
  admission_ptr gate
    = std::make_shared<admission>(defaults::pool_mailbox_limit);
  /// Where the pool shows its connections and waiting calls; may be null.
  metrics_registry_ptr metrics;
  /// Where the pool and its connections show GET /debug/pools their
  /// figures; may be null.
  pool_figures_ptr figures;
};

enum class circuit_state { closed, open, half_open };

/// "closed", "open", "half-open".
const char* to_string(circuit_state s) noexcept;

struct pool_state {
  static inline const char* name = "pool";
  circuit_state circuit = circuit_state::closed;
  /// The wait before the next probe; doubles with each failed probe.
  caf::timespan probe_delay{0};
  caf::actor_clock::time_point probe_at;
  /// Tells a stale probe timer from the current one.
  uint64_t probe_id = 0;
  /// Half open: a trial request is running.
  bool trial_running = false;
  /// Times the circuit opened, and why it last did.
  uint64_t opened = 0;
  std::string open_reason;
  pool_options options;
  std::vector<connection_actor> connections;
  std::vector<uint32_t> busy;
  std::vector<bool> alive;
  /// Starts of each connection so far (the first is not a restart).
  std::vector<uint32_t> starts;
  caf::actor supervisor;
  /// The same handle, for the cleanup that ends it when the pool ends.
  std::shared_ptr<caf::actor> current_supervisor
    = std::make_shared<caf::actor>();
  uint64_t gate_rejections_seen = 0;
  /// The gate's refused_ahead() counted so far as the pool's own refusals.
  uint64_t refused_ahead_seen = 0;
  std::deque<call_ptr> pending;
  /// When each of `pending` started waiting, in the same order.
  std::deque<caf::actor_clock::time_point> pending_since;
  uint32_t cursor = 0;
  uint32_t sweep_cursor = 0;
  uint64_t rejected = 0;
  /// prism_pool_connections, _connections_active, _connections_idle and
  /// prism_pool_requests_waiting of this backend; null without a registry.
  prometheus::Gauge* connections_gauge = nullptr;
  prometheus::Gauge* active_gauge = nullptr;
  prometheus::Gauge* idle_gauge = nullptr;
  prometheus::Gauge* waiting_gauge = nullptr;
  inspector_registration registration;
};

/// The pool's own timers: probe the backend of an open circuit (the
/// probe's id), and pace TTL reclamation.
using probe_atom = caf::atom_constant<caf::atom("probe")>;
/// What a pool handles: its public interface and its own timers.
using pool_impl = pool_actor::extend<caf::reacts_to<probe_atom, uint64_t>,
                                     caf::reacts_to<sweep_atom>>;

pool_impl::behavior_type pool(pool_impl::stateful_pointer<pool_state> self,
                              pool_options options,
                              std::vector<driver_handoff> drivers);

} // namespace prism
