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

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "pool/connection.hpp"
#include "runtime/admission.hpp"
#include "runtime/call.hpp"
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
  /// How the pool's supervisor restarts its connections.
  supervisor_options supervision;
  /// Opens a fresh driver for connection `index` when it is restarted;
  /// throws when the backend cannot be reached (the supervisor then retries
  /// with backoff).
  std::function<std::unique_ptr<drivers::kv_driver>(uint32_t index)> reopen;
  /// Seeds the restart backoff jitter.
  uint64_t seed = 0;
  /// The slots the router takes before it enqueues a request here.
  admission_ptr gate = std::make_shared<admission>(defaults::pool_mailbox_limit);
};

struct pool_state {
  static inline const char* name = "pool";
  pool_options options;
  std::vector<connection_actor> connections;
  std::vector<uint32_t> busy;
  std::vector<bool> alive;
  /// Starts of each connection so far (the first is not a restart).
  std::vector<uint32_t> starts;
  caf::actor supervisor;
  uint64_t gate_rejections_seen = 0;
  inspector_registration supervisor_registration;
  std::deque<call_ptr> pending;
  uint32_t cursor = 0;
  uint32_t sweep_cursor = 0;
  uint64_t rejected = 0;
  inspector_registration registration;
};

pool_actor::behavior_type pool(pool_actor::stateful_pointer<pool_state> self,
                               pool_options options,
                               std::vector<driver_handoff> drivers);

} // namespace prism
