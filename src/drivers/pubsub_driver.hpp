#pragma once

// The asynchronous interface of a PubSub backend client (Kafka, NATS). Like
// kv_driver, this is the determinism boundary: the backend's broker actor
// calls these functions and turns every callback into a message; the driver
// does its blocking work and runs its client library's callbacks on threads
// it owns, never on the caller's.
//
// Names: a driver maps (namespace, topic) to its own name space so that two
// namespaces on one backend never share a topic (Kafka: one topic per pair;
// NATS: one subject per pair, one JetStream stream per namespace), and
// (namespace, topic, subscription) to a durable consumer the same way.
//
// Threading contract:
// - Every function may be called from any thread; none blocks on I/O.
// - Callbacks of one subscription never run concurrently with each other.
// - After a subscription object is destroyed, or the driver is, none of its
//   callbacks runs any more (the destructor waits for one that is running).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "drivers/driver.hpp"
#include "model/operation.hpp"

namespace prism::config {
struct backend;
} // namespace prism::config

namespace prism::drivers {

class pubsub_driver {
public:
  /// Receives the outcome of a publish: a model::publish_result, or a failure.
  using completion = std::function<void(model::outcome)>;

  /// How the backend's connection is doing: `up` false with the reason when
  /// the client lost it (or never got it), true when it has it again.
  /// Reported on changes only; the first report comes once the first
  /// connection attempt succeeded or failed.
  using state_listener
    = std::function<void(bool up, const std::string& reason)>;

  /// What one subscription receives, all on driver threads.
  struct subscriber_events {
    /// The subscription is in place: messages published from now on reach
    /// it. At most once, before the first message.
    std::function<void()> ready;
    /// One message. For a named subscription `message.tag` identifies it for
    /// ack(); ephemeral ones get tag 0.
    std::function<void(model::message message)> message;
    /// The subscription ended from the backend's side (or could not be set
    /// up, before any `ready`) and delivers nothing more; called at most
    /// once, never after the subscription object is destroyed.
    std::function<void(prism::status why)> ended;
    /// Named subscriptions: how many messages published to the topic the
    /// subscription has not consumed (acknowledged) yet, as the driver last
    /// measured it. Kafka: end offset minus commit point, summed over the
    /// partitions this client reads; JetStream: the durable consumer's
    /// pending plus unacknowledged messages. Reported about every
    /// `lag_report_interval` while the subscription runs and the backend is
    /// reachable; never for ephemeral subscriptions or core NATS. Optional.
    std::function<void(uint64_t lag)> lag;
  };

  /// How often drivers measure a named subscription's lag.
  static constexpr std::chrono::milliseconds lag_report_interval{1000};

  /// One subscriber's subscription. Destroying it unsubscribes (a durable
  /// subscription's position stays on the backend).
  class subscription {
  public:
    virtual ~subscription() = default;
    /// Named subscriptions: the subscriber can take `n` more messages. The
    /// driver delivers no more than the credit it was given (pausing its
    /// consumer, or fetching no more), so a slow subscriber holds messages on
    /// the backend rather than in memory. Ephemeral subscriptions are pushed
    /// every message and ignore this.
    virtual void request(uint32_t n) = 0;
    /// Named subscriptions: the message with this tag was written to the
    /// client; the backend may forget it for this subscription name (Kafka:
    /// commit past its offset; JetStream: ack). Messages delivered but never
    /// acknowledged are delivered again, to this name, after a reconnect
    /// (at-least-once).
    virtual void ack(uint64_t tag) = 0;
  };

  virtual ~pubsub_driver() = default;

  /// Starts connecting in the background and reports the connection's state
  /// to `listener` from then on. Called once, before anything else.
  virtual void start(state_listener listener) = 0;

  /// Publishes to (ns, op.topic). `done` runs exactly once: success once the
  /// backend has accepted the message (Kafka: acknowledged by all in-sync
  /// replicas; JetStream: stored; core NATS: written to the server
  /// connection), with its id; UNAVAILABLE when it was not accepted (the
  /// message says whether it may still have been); DEADLINE_EXCEEDED when
  /// `timeout` ran out first; INVALID_ARGUMENT for a topic the backend cannot
  /// name.
  virtual void publish(const std::string& ns, const model::publish_op& op,
                       op_timeout timeout, completion done)
    = 0;

  /// Subscribes to (ns, op.topic): an ephemeral subscriber when
  /// op.subscription is empty, else a member of that named subscription,
  /// durable where the backend can be. Never null; failures are reported
  /// through `events.ended`.
  virtual std::unique_ptr<subscription> subscribe(const std::string& ns,
                                                  const model::subscribe_op& op,
                                                  subscriber_events events)
    = 0;

  /// For logs and the inspector, e.g. "kafka 127.0.0.1:9092".
  virtual std::string describe() const = 0;
};

using pubsub_driver_ptr = std::unique_ptr<pubsub_driver>;

/// Makes the client of a pubsub backend (tests pass their own).
using pubsub_driver_factory
  = std::function<pubsub_driver_ptr(const config::backend& backend)>;

/// Makes the client of a Kafka or NATS backend; throws std::invalid_argument
/// for a backend of another type, std::runtime_error for a config the client
/// library refuses (with its reason).
pubsub_driver_ptr make_pubsub_driver(const config::backend& backend,
                                     std::shared_ptr<wall_clock> clock);

} // namespace prism::drivers
