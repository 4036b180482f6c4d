#pragma once

// How the gateway's supervisors start each restartable actor: one child
// spec per stage kind, backend pool, broker and the router. Each start
// spawns the actor, registers its handle and mailbox gate with the wiring,
// and tells the router when a pool or broker (re)starts.

#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.hpp"
#include "config/stage_kinds.hpp"
#include "drivers/driver.hpp"
#include "drivers/pubsub_driver.hpp"
#include "gateway/wiring.hpp"
#include "pool/connection.hpp"
#include "pubsub/remote_broker.hpp"
#include "runtime/supervisor.hpp"

namespace prism {

class audit_sink;

/// The stage of `kind`; each (re)start builds its logic from the config
/// serving then.
child_spec stage_spec(wiring_ptr w, config::stage_kind kind,
                      std::shared_ptr<audit_sink> audit, inspector* actors,
                      uint32_t mailbox_limit);

/// The pool of a KeyValue backend; `opened` holds the drivers the gateway
/// opened at its start (a restart opens new ones).
child_spec pool_spec(wiring_ptr w, const config::backend& backend,
                     const drivers::driver_factory& factory,
                     std::vector<driver_handoff> opened, inspector* actors,
                     metrics_registry_ptr metrics);

/// The topics of a memory PubSub backend.
child_spec broker_spec(wiring_ptr w, const config::backend& backend,
                       std::shared_ptr<drivers::wall_clock> clock,
                       inspector* actors);

/// The broker of a Kafka or NATS backend. `first` holds the client made when
/// the gateway started (so a config the client refuses stops the start);
/// each restart makes a new one.
child_spec remote_broker_spec(wiring_ptr w, const config::backend& backend,
                              drivers::pubsub_driver_factory make,
                              pubsub_driver_handoff first, inspector* actors);

child_spec router_spec(wiring_ptr w, inspector* actors, uint32_t mailbox_limit);

/// Opens every connection's driver of `backend`; throws, naming the backend
/// and its place in the config, when one cannot be opened.
std::vector<driver_handoff> open_drivers(const config::backend& backend,
                                         const drivers::driver_factory& make);

} // namespace prism
