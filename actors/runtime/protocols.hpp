#pragma once

// Every message tag and every typed interface by which the gateway's actors
// talk to each other, in one place. An actor's own timers and the messages
// it sends itself are not here: they extend its interface in its own header
// (e.g. `pool_impl` in pool/pool.hpp), so nobody else can send them.
//
// CAF 0.17 atoms have at most 10 characters; each is defined once.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/intrusive_ptr.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "model/operation.hpp"

namespace prism::config {
struct gateway_config;
} // namespace prism::config

namespace prism {

class kv_call;
/// A client request on its way through the pipeline (runtime/call.hpp).
using call_ptr = caf::intrusive_ptr<kv_call>;
/// "call(<request id> <namespace> <operation>)": how a message that carries
/// a call reads in a tap (CAF finds it for the message's text).
std::string to_string(const call_ptr& call);

class admission;
/// The gate of an actor's mailbox (runtime/admission.hpp).
using admission_ptr = std::shared_ptr<admission>;

/// A config, as handed to actors on a reload (read-only, shared).
using config_ptr = std::shared_ptr<const config::gateway_config>;

/// Calls a session has answered, in the order it answered them, for a stage
/// that observes outcomes: one message per stage for all the calls a session
/// answered in one go, rather than one per call.
struct call_batch {
  std::vector<call_ptr> calls;
};

// --- message tags -----------------------------------------------------------

/// A call travelling towards its backend.
using request_atom = caf::atom_constant<caf::atom("request")>;
/// A call's outcome travelling back to its session.
using reply_atom = caf::atom_constant<caf::atom("reply")>;
/// Calls that their session has answered, for stages that observe outcomes.
using completed_atom = caf::atom_constant<caf::atom("completed")>;
/// To a session, from a call of its own that was dropped on its way (an
/// actor holding it died) and answered UNAVAILABLE by itself: it is no
/// longer in flight.
using dropped_atom = caf::atom_constant<caf::atom("dropped")>;
/// A connection can take one more call.
using released_atom = caf::atom_constant<caf::atom("released")>;
/// Time for a connection to reclaim expired keys.
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;
/// Finish what is in flight, then stop.
using stop_atom = caf::atom_constant<caf::atom("stop")>;
/// A reloaded config for a stage, the router or a session to take for calls
/// from now on.
using reload_atom = caf::atom_constant<caf::atom("reload")>;
/// To the router: a KeyValue backend's pool was (re)started (its name, its
/// handle and the gate of its mailbox).
using pool_up_atom = caf::atom_constant<caf::atom("pool_up")>;
/// To the router: a PubSub backend's broker was (re)started.
using broker_up_atom = caf::atom_constant<caf::atom("broker_up")>;
/// From a supervisor to its observer: (name, handle) of a child it (re)started.
using child_started_atom = caf::atom_constant<caf::atom("childstart")>;
/// From a supervisor to its observer: (name, reason) of a child that ended
/// abnormally or failed to start.
using child_failed_atom = caf::atom_constant<caf::atom("childfail")>;
/// Asks a supervisor for its counters; it answers a supervisor_snapshot.
using supervisor_stats_atom = caf::atom_constant<caf::atom("sv_stats")>;
/// A broker's answer to a subscription that it now delivers to.
using attached_atom = caf::atom_constant<caf::atom("attached")>;
/// A subscriber's credit: it can take this many more messages; and the tag
/// of the message it has just written to its client (0: none), which a
/// backend with acknowledgements acknowledges.
using demand_atom = caf::atom_constant<caf::atom("demand")>;
/// The backend ended a subscription, with the status its stream ends with.
using ended_atom = caf::atom_constant<caf::atom("ended")>;
/// A message for a subscriber.
using deliver_atom = caf::atom_constant<caf::atom("deliver")>;

// --- typed interfaces ---------------------------------------------------------

/// A middleware stage: sees each call on its way in, and each outcome.
using stage_actor = caf::typed_actor<caf::reacts_to<request_atom, call_ptr>,
                                     caf::reacts_to<completed_atom, call_batch>,
                                     caf::reacts_to<reload_atom, config_ptr>>;

/// A KeyValue backend's pool of connections. Its connections' supervisor
/// reports to it (child_started, child_failed) with the connections'
/// untyped handles, as a supervisor knows its children.
using pool_actor = caf::typed_actor<
  caf::reacts_to<request_atom, call_ptr>,
  caf::reacts_to<released_atom, uint32_t>,
  caf::reacts_to<child_started_atom, std::string, caf::actor>,
  caf::reacts_to<child_failed_atom, std::string, std::string>>;

/// One backend connection; owns a driver.
using connection_actor
  = caf::typed_actor<caf::reacts_to<request_atom, call_ptr>,
                     caf::reacts_to<sweep_atom>>;

/// A PubSub backend's topics: takes Publish and Subscribe calls, and the
/// credit of the subscriptions it delivers to.
using broker_actor
  = caf::typed_actor<caf::reacts_to<request_atom, call_ptr>,
                     caf::reacts_to<demand_atom, uint32_t, uint64_t>>;

/// One subscriber stream: buffers what its broker delivers and writes it to
/// the client one message at a time.
using subscription_actor
  = caf::typed_actor<caf::reacts_to<deliver_atom, model::message>,
                     caf::reacts_to<attached_atom, broker_actor>,
                     caf::reacts_to<stop_atom>,
                     caf::reacts_to<ended_atom, status>>;

/// Resolves a call's namespace to its backend pool or broker.
using router_actor = caf::typed_actor<
  caf::reacts_to<request_atom, call_ptr>,
  caf::reacts_to<pool_up_atom, std::string, pool_actor, admission_ptr>,
  caf::reacts_to<broker_up_atom, std::string, broker_actor, admission_ptr>,
  caf::reacts_to<reload_atom, config_ptr>>;

/// A client's session: starts calls and completes them.
using session_actor
  = caf::typed_actor<caf::reacts_to<request_atom, call_ptr>,
                     caf::reacts_to<reply_atom, call_ptr, model::outcome>,
                     caf::reacts_to<dropped_atom>, caf::reacts_to<stop_atom>,
                     caf::reacts_to<reload_atom>>;

} // namespace prism

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(prism::call_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(prism::call_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(prism::model::outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(prism::admission_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(prism::model::message)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(prism::status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(prism::config_ptr)
