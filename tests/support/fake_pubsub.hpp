#pragma once

// A pubsub client (drivers::pubsub_driver) that does nothing by itself: it
// records what the broker asks of it, and the test plays the backend by
// calling the recorded callbacks on its own thread. Under the test
// coordinator that keeps Kafka and NATS broker tests deterministic.

#include <memory>
#include <string>
#include <vector>

#include "drivers/pubsub_driver.hpp"

namespace prism::testing {

/// What the fake clients of one backend were asked; shared with the test.
class fake_pubsub_backend {
public:
  struct publish_record {
    std::string ns;
    model::publish_op op;
    drivers::op_timeout timeout{};
    drivers::pubsub_driver::completion done;
  };

  struct subscription_record {
    std::string ns;
    model::subscribe_op op;
    drivers::pubsub_driver::subscriber_events events;
    /// Credit granted so far, and the tags acknowledged, in order.
    uint64_t credit = 0;
    std::vector<uint64_t> acked;
    /// The broker let go of it (unsubscribed).
    bool closed = false;
  };

  /// Publishes not answered yet, oldest first.
  std::vector<publish_record> publishes;
  /// Every subscription made, in order (closed ones stay, flagged).
  std::vector<std::shared_ptr<subscription_record>> subscriptions;
  /// Clients made so far (one per start of the broker).
  int clients_made = 0;
  /// Clients destroyed so far.
  int clients_destroyed = 0;

  /// Answers the oldest waiting publish.
  void answer_publish(model::outcome outcome);
  /// The current client reports its connection.
  void report(bool up, const std::string& reason = {});
  /// Subscriptions not closed.
  std::vector<std::shared_ptr<subscription_record>> open_subscriptions() const;

  drivers::pubsub_driver::state_listener listener;
};

/// A factory whose clients record into `backend`.
drivers::pubsub_driver_factory fake_pubsub_factory(
  std::shared_ptr<fake_pubsub_backend> backend);

} // namespace prism::testing
