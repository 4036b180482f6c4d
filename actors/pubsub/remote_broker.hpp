#pragma once

// The broker of a Kafka or NATS backend: one actor per backend that owns the
// backend's client (a pubsub_driver, whose threads do the I/O) and turns its
// callbacks into messages.
//
// - Publish: handed to the client with the time left until the call's
//   deadline; answered when the backend accepted it (or not). At most
//   `max_pending` publishes are in the client at once; more are refused
//   RESOURCE_EXHAUSTED with a retry hint.
// - Subscribe: one client subscription per subscriber stream. Its messages
//   go straight to the subscription actor; the actor's credit and
//   acknowledgements come back here and go to the client. The lag the
//   client measures for a named subscription goes straight to the lag board.
// - Outages: the client reports when it loses the backend. While it is down
//   publishes wait in the client (up to their deadline) and subscriptions
//   stay; once it has been down for `unavailable_after`, every subscriber
//   stream ends UNAVAILABLE and publishes and subscribes are refused at once
//   (UNAVAILABLE with a retry hint) until the client reports it is back.
//
// The backends supervisor restarts it when it fails (e.g. its client cannot
// be made); its subscribers' streams then end UNAVAILABLE.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "drivers/pubsub_driver.hpp"
#include "pubsub/client_closer.hpp"
#include "pubsub/lag_board.hpp"
#include "runtime/admission.hpp"
#include "runtime/call.hpp"
#include "runtime/inspector.hpp"

namespace prism {

/// Hands a driver made outside the actor to the actor (made where a failure
/// to make it can be reported).
using pubsub_driver_handoff
  = std::shared_ptr<std::unique_ptr<drivers::pubsub_driver>>;

struct remote_broker_options {
  std::string backend;
  /// "kafka" or "nats", for messages.
  std::string kind;
  uint32_t max_pending = 1024;
  std::chrono::milliseconds unavailable_after{10000};
  /// What refused calls suggest as a retry delay while the backend is down.
  std::chrono::milliseconds retry_after{1000};
  inspector* actors = nullptr;
  uint64_t parent = 0;
  admission_ptr gate;
  /// Where the client's lag figures of named subscriptions go (none in
  /// some tests).
  pubsub_lag_board_ptr lag_board;
  /// Closes the client (and the subscriptions it still holds) when the
  /// broker ends, off the scheduler's threads. Null: they are closed on the
  /// spot (tests and simulations, whose clients never block and must stay
  /// on one thread).
  client_closer_ptr closer;
};

struct remote_broker_state {
  static inline const char* name = "remote_broker";

  struct subscriber {
    subscription_actor actor;
    std::unique_ptr<drivers::pubsub_driver::subscription> handle;
    /// Named subscriptions: the figure the client last measured; the series
    /// goes with the stream.
    pubsub_lag_board::entry_ptr lag;
  };

  remote_broker_options options;
  std::unique_ptr<drivers::pubsub_driver> driver;
  /// By the subscription actor's address.
  std::map<caf::actor_addr, subscriber> subscribers;
  /// Publishes in the client (their completions count down from its
  /// threads).
  std::shared_ptr<std::atomic<uint32_t>> in_flight
    = std::make_shared<std::atomic<uint32_t>>(0);
  /// Whether the client has the backend; unknown (treated as up) until its
  /// first report.
  bool up = true;
  /// Down for longer than unavailable_after: refuse at once.
  bool unavailable = false;
  /// Counts outages, so a timer of an earlier one is recognised.
  uint64_t outage = 0;
  caf::actor_clock::time_point down_since;
  std::string down_reason;
  uint64_t gate_rejections_seen = 0;
  inspector_registration registration;

  ~remote_broker_state();
};

/// What the client library's threads post back to the broker: its
/// connection is up or down, and why; a subscription's backend side ended
/// (the subscriber and the reason). And the broker's own timer: is the
/// backend still down since this outage?
using backend_state_atom = caf::atom_constant<caf::atom("bstate")>;
using sub_ended_atom = caf::atom_constant<caf::atom("subended")>;
using outage_atom = caf::atom_constant<caf::atom("outage")>;
/// What the broker of a Kafka or NATS backend handles: a broker's public
/// interface, and what it hears from its client and itself.
using remote_broker_impl = broker_actor::extend<
  caf::reacts_to<backend_state_atom, bool, std::string>,
  caf::reacts_to<outage_atom, uint64_t>,
  caf::reacts_to<sub_ended_atom, caf::actor_addr, status>>;

remote_broker_impl::behavior_type remote_broker(
  remote_broker_impl::stateful_pointer<remote_broker_state> self,
  pubsub_driver_handoff driver, remote_broker_options options);

} // namespace prism
