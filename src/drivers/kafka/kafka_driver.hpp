#pragma once

// The Kafka client of a pubsub backend (`type: kafka`); see pubsub_driver.hpp
// for the contract. In short:
//
// - Names: (ns, topic) is the Kafka topic "<topic_prefix><ns>.<topic>"
//   (a-z A-Z 0-9 . _ -, at most 249 characters, else INVALID_ARGUMENT); a
//   named subscription is the consumer group "<topic_prefix><ns>.<topic>.<name>".
//   A topic the cluster does not have is created through the Admin API on
//   its first use by the driver (kafka_topics.hpp).
// - Publish: one idempotent producer (acks=all); success once every in-sync
//   replica has the message, with id "<partition>-<offset>"; the publish
//   time subscribers see is the record's CreateTime, taken from the driver's
//   wall_clock. Order holds per partition: messages carry no key, so a
//   topic of several partitions spreads one publisher's messages.
// - Ephemeral subscribers: a consumer of their own outside any group, every
//   message pushed (no credit), nothing committed: at-most-once, no
//   duplicates in normal operation.
// - Named subscriptions: one group consumer per name in the driver, shared by
//   its local members with credit; commits never pass an unacknowledged
//   message: at-least-once (kafka_group.hpp).
//
// The backend's `properties` go to the producer and every consumer; they
// cannot change acks, idempotence, group ids or offset handling.
// `max_pending` bounds the publishes in flight (more: RESOURCE_EXHAUSTED).

#include <memory>

#include "drivers/pubsub_driver.hpp"

namespace prism::drivers {

/// Throws std::runtime_error for a config the client library refuses.
pubsub_driver_ptr make_kafka_driver(const config::backend& backend,
                                    std::shared_ptr<wall_clock> clock);

} // namespace prism::drivers
