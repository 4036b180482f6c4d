#pragma once

// A call is one client request on its way through the pipeline. It is handed
// from actor to actor (session -> stages -> router -> pool -> connection ->
// session): exactly one actor owns it at a time, and whoever sends it on gives
// it up. It completes exactly once; a call that is dropped anywhere (its
// holder dies, a message goes to a dead actor) completes itself with
// UNAVAILABLE when its last reference goes, so no client is left waiting.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/intrusive_ptr.hpp>
#include <caf/ref_counted.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "drivers/driver.hpp"
#include "model/operation.hpp"
#include "runtime/atoms.hpp"

namespace prism::config {
struct gateway_config;
} // namespace prism::config

namespace prism {

class kv_call;
using call_ptr = caf::intrusive_ptr<kv_call>;
class audit_slot;

/// Where a call goes to be answered; implemented by the gRPC front end and by
/// test and simulation clients.
class call_completion {
public:
  virtual ~call_completion() = default;
  /// Called exactly once (this or `complete_soon`), from whichever thread
  /// finishes the call.
  virtual void complete(model::outcome&& result) = 0;
  /// The same, from an actor that does nothing after it that could block
  /// its thread: the answer may wait until the thread has run the jobs it
  /// has in hand (the front end sends the answers of calls completed
  /// together together). By default it goes at once.
  virtual void complete_soon(model::outcome&& result) {
    complete(std::move(result));
  }
};

/// Where a subscription writes its messages: the front end's stream, or a
/// test's recorder. Thread-safe.
class message_sink {
public:
  virtual ~message_sink() = default;
  /// Writes one message; calls `done(true)` once it is written, or
  /// `done(false)` when the stream is gone. One write at a time.
  virtual void write(const model::message& m, std::function<void(bool)> done) = 0;
  /// Ends the stream with `st`; later calls are ignored.
  virtual void finish(const status& st) = 0;
  /// What to do when the client goes away; runs at once if it already has.
  virtual void on_cancel(std::function<void()> fn) = 0;
  /// The subscription is in place (called before the first write).
  virtual void subscribed() {}
};
using message_sink_ptr = std::shared_ptr<message_sink>;

// --- the actor protocols ----------------------------------------------------

/// A config, as handed to actors on a reload (read-only, shared).
using config_ptr = std::shared_ptr<const config::gateway_config>;

/// Calls a session has answered, in the order it answered them, for a stage
/// that observes outcomes: one message per stage for all the calls a session
/// answered in one go, rather than one per call.
struct call_batch {
  std::vector<call_ptr> calls;
};

/// A middleware stage: sees each call on its way in, and each outcome.
using stage_actor
  = caf::typed_actor<caf::reacts_to<request_atom, call_ptr>,
                     caf::reacts_to<completed_atom, call_batch>,
                     caf::reacts_to<reload_atom, config_ptr>>;

class admission;
using admission_ptr = std::shared_ptr<admission>;

/// Tells the router that a backend's pool was (re)started: its name, its
/// handle and the gate of its mailbox.
using pool_up_atom = caf::atom_constant<caf::atom("pool_up")>;

/// Tells a pool that its supervisor (re)started one of its connections
/// (same atom as the supervisor's child_started_atom).
using conn_up_atom = caf::atom_constant<caf::atom("childstart")>;
/// Tells a pool that one of its connections failed, with the reason (same
/// atom as the supervisor's child_failed_atom).
using conn_down_atom = caf::atom_constant<caf::atom("childfail")>;
/// The pool's own timer: probe the backend of an open circuit.
using probe_atom = caf::atom_constant<caf::atom("probe")>;

/// A backend's pool of connections.
using pool_actor = caf::typed_actor<
  caf::reacts_to<request_atom, call_ptr>,
  caf::reacts_to<released_atom, uint32_t>, caf::reacts_to<sweep_atom>,
  caf::reacts_to<conn_up_atom, std::string, caf::actor>,
  caf::reacts_to<conn_down_atom, std::string, std::string>,
  caf::reacts_to<probe_atom, uint64_t>>;

/// A topic broker's answer to a subscription that it now delivers to.
using attached_atom = caf::atom_constant<caf::atom("attached")>;
/// A subscriber's credit: it can take this many more messages; and the tag
/// of the message it has just written to its client (0: none), which a
/// backend with acknowledgements acknowledges.
using demand_atom = caf::atom_constant<caf::atom("demand")>;
/// The backend ended a subscription, with the status its stream ends with.
using ended_atom = caf::atom_constant<caf::atom("ended")>;
/// A message for a subscriber.
using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
/// The stream finished writing a message (true) or is gone (false).
using written_atom = caf::atom_constant<caf::atom("written")>;

/// One subscriber stream: buffers what its broker delivers and writes it to
/// the client one message at a time.
using subscription_actor = caf::typed_actor<
  caf::reacts_to<deliver_atom, model::message>, caf::reacts_to<written_atom, bool>,
  caf::reacts_to<attached_atom, caf::actor>, caf::reacts_to<stop_atom>,
  caf::reacts_to<ended_atom, status>>;

/// A PubSub backend's topics: takes Publish and Subscribe calls.
using broker_actor
  = caf::typed_actor<caf::reacts_to<request_atom, call_ptr>,
                     caf::reacts_to<demand_atom, uint32_t, uint64_t>>;

/// A Kafka or NATS backend's client reports its connection: up or down, and
/// why.
using backend_state_atom = caf::atom_constant<caf::atom("bstate")>;
/// A remote broker's timer: is the backend still down since this outage?
using outage_atom = caf::atom_constant<caf::atom("outage")>;
/// A subscription's backend side ended: the subscriber and the reason.
using sub_ended_atom = caf::atom_constant<caf::atom("subended")>;

/// The broker of a Kafka or NATS backend: a broker that also hears from the
/// client library's threads.
using remote_broker_actor = broker_actor::extend<
  caf::reacts_to<backend_state_atom, bool, std::string>,
  caf::reacts_to<outage_atom, uint64_t>,
  caf::reacts_to<sub_ended_atom, caf::actor_addr, status>>;

/// Tells the router that a PubSub backend's broker was (re)started.
using broker_up_atom = caf::atom_constant<caf::atom("broker_up")>;

/// Resolves a call's namespace to its backend pool.
using router_actor
  = caf::typed_actor<caf::reacts_to<request_atom, call_ptr>,
                     caf::reacts_to<pool_up_atom, std::string, pool_actor,
                                    admission_ptr>,
                     caf::reacts_to<broker_up_atom, std::string, broker_actor,
                                    admission_ptr>,
                     caf::reacts_to<reload_atom, config_ptr>>;

/// One backend connection; owns a driver.
using connection_actor = caf::typed_actor<
  caf::reacts_to<request_atom, call_ptr>,
  caf::reacts_to<done_atom, uint64_t, model::outcome>,
  caf::reacts_to<sweep_atom>, caf::reacts_to<swept_atom, uint64_t>>;

/// A client's session: starts calls and completes them.
using session_actor
  = caf::typed_actor<caf::reacts_to<request_atom, call_ptr>,
                     caf::reacts_to<reply_atom, call_ptr, model::outcome>,
                     caf::reacts_to<report_atom>,
                     caf::reacts_to<tick_atom>, caf::reacts_to<stop_atom>,
                     caf::reacts_to<reload_atom>>;

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
  /// Pubsub namespaces: messages a subscriber stream buffers.
  uint32_t subscription_buffer = 256;
  /// ... and whether an ephemeral subscriber whose buffer is full is
  /// disconnected rather than losing its oldest messages.
  bool disconnect_slow_subscribers = false;
  /// False for the route of namespaces the config does not have (their
  /// calls are counted and audited, then answered NOT_FOUND). The router
  /// goes by this rather than by its own table, which keeps the namespaces
  /// a reload removed so that their calls already on the way finish.
  bool configured = true;
};
using route_ptr = std::shared_ptr<const route>;

/// What the client asked, and who asks.
struct request_context {
  std::string request_id;
  std::string ns;
  std::string principal;
  std::string peer;
  /// W3C traceparent, carried into logs and audit lines when present.
  std::string traceparent;
  /// Time points on the actor clock.
  caf::actor_clock::time_point received_at;
  caf::actor_clock::time_point deadline = caf::actor_clock::time_point::max();
};

class kv_call final : public caf::ref_counted {
public:
  kv_call(request_context context, model::operation op,
          std::unique_ptr<call_completion> completion);
  ~kv_call() override;

  kv_call(const kv_call&) = delete;
  kv_call& operator=(const kv_call&) = delete;

  request_context context;
  drivers::operation_ptr operation;

  /// Set by the front end when the request is malformed: the session answers
  /// with it at once (after attaching the route, so stages still see it).
  status rejection;

  /// Subscribe calls: the stream the front end opened, and the subscription
  /// actor the session started for it.
  message_sink_ptr sink;
  caf::actor subscriber;

  // Filled in on the way.
  session_actor session;
  route_ptr path;
  size_t next_stage = 0;
  std::string backend;
  /// Room the audit stage reserved for the call's line (namespaces with
  /// audit_required); given back if the call ends without its line.
  std::shared_ptr<audit_slot> audit_reservation;

  // Filled in on completion, for stages that observe outcomes.
  status_code final_code = status_code::ok;
  caf::actor_clock::time_point completed_at;

  bool expired(caf::actor_clock::time_point now) const noexcept {
    return now >= context.deadline;
  }

  /// Hands the outcome to the client. Later calls are ignored (and counted as
  /// a bug by returning false).
  bool complete(model::outcome&& result);
  /// The same, through call_completion::complete_soon: for the session's
  /// answers, never from a path that may block afterwards (a destructor
  /// that waits for a driver, the main thread).
  bool complete_soon(model::outcome&& result);

  bool completed() const noexcept {
    return completed_.load(std::memory_order_acquire);
  }

private:
  /// The first call of complete or complete_soon hands `result` on.
  bool deliver(model::outcome&& result, bool soon);

  std::unique_ptr<call_completion> completion_;
  std::atomic<bool> completed_{false};
};

call_ptr make_call(request_context context, model::operation op,
                   std::unique_ptr<call_completion> completion);

/// Takes a slot of `gate` (null admits); false when the mailbox is full.
bool admit_to(const admission_ptr& gate) noexcept;

/// The refusal for a full mailbox of the actor `what` names.
model::outcome saturated(const std::string& what, const admission_ptr& gate);

/// Sends `call` to its next checkpoint stage, or to the router after the last,
/// after taking a slot in that actor's mailbox; when there is none, the call
/// is answered RESOURCE_EXHAUSTED with a retry hint instead.
template <class Self>
void forward_call(Self* self, call_ptr call) {
  const auto& path = *call->path;
  if (call->next_stage < path.checkpoints.size()) {
    auto i = path.checkpoints[call->next_stage++];
    if (i < path.stage_gates.size() && !admit_to(path.stage_gates[i])) {
      auto outcome = saturated("middleware stage \"" + path.stage_kinds[i]
                                 + "\"",
                               path.stage_gates[i]);
      auto session = call->session;
      self->send(session, reply_atom::value, std::move(call),
                 std::move(outcome));
      return;
    }
    auto next = path.stages[i];
    self->send(next, request_atom::value, std::move(call));
  } else {
    if (!admit_to(path.router_gate)) {
      auto outcome = saturated("the router", path.router_gate);
      auto session = call->session;
      self->send(session, reply_atom::value, std::move(call),
                 std::move(outcome));
      return;
    }
    auto router = path.router;
    self->send(router, request_atom::value, std::move(call));
  }
}

/// Answers `call` with a failure by sending it back to its session.
template <class Self>
void fail_call(Self* self, call_ptr call, status_code code,
               std::string message) {
  auto session = call->session;
  self->send(session, reply_atom::value, std::move(call),
             model::outcome::failure(code, std::move(message)));
}

} // namespace prism

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(prism::call_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(prism::call_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(prism::model::outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(prism::admission_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(prism::model::message)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(prism::status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(prism::config_ptr)
