#pragma once

// The checks of a PubSub workload's history: the publishes (calls), the
// subscriber streams and the messages written to them. Like oracles.hpp,
// each takes plain data, so a test can hand one a history made wrong on
// purpose, and each names its first counterexample.

#include <cstdint>
#include <vector>

#include "simulation/history.hpp"
#include "simulation/oracles.hpp"

namespace prism::simulation {

/// Every acknowledged publish (OK) to a topic reached each durable
/// subscription of that topic (a named one on kafka or jetstream) that was
/// in place (a stream of it ready) before the publish was called and still
/// had an open stream at the end. And no delivered message is one that no
/// publish could have stored (none made it, or its publish certainly
/// failed). Skipped without PubSub calls; on nats_core only the second
/// part applies.
oracle_result check_no_lost_publish(
  const std::vector<kv_operation>& ops,
  const std::vector<subscriber_stream>& streams,
  const std::vector<delivery>& deliveries, pubsub_model model);

/// Where the backend keeps a topic in order (everywhere but Kafka with more
/// than one partition, which spreads a topic over them): in each stream,
/// the first delivery of each message respects the real-time order of the
/// publishes: a message acknowledged before another was published comes
/// first. Streams of shared subscriptions are left out (a member takes
/// over the messages another was sent and did not acknowledge).
oracle_result check_pubsub_order(const std::vector<kv_operation>& ops,
                                 const std::vector<subscriber_stream>& streams,
                                 const std::vector<delivery>& deliveries,
                                 pubsub_model model, uint32_t kafka_partitions);

/// A message reached a subscription (a named one across its streams, an
/// ephemeral stream on its own) more than once only where the backend is
/// at-least-once: named subscriptions on kafka or jetstream.
oracle_result check_pubsub_duplicates(
  const std::vector<subscriber_stream>& streams,
  const std::vector<delivery>& deliveries, pubsub_model model);

} // namespace prism::simulation
