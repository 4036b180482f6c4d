#pragma once

// The PubSub operations and their results. They travel the same call path
// as the KeyValue ones (session, stages, router) and end at a topic broker
// instead of a pool.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace prism::model {

using metadata = std::vector<std::pair<std::string, std::string>>;

struct publish_op {
  std::string topic;
  std::string payload;
  model::metadata metadata;
};

/// `unknown`: a value the API does not define, refused by validate_request.
enum class start_position { latest, earliest, unknown };

/// Subscribes the calling stream to a topic. An empty `subscription` is an
/// ephemeral subscriber; a named one is shared by every subscriber that
/// names it (each message goes to one of them) and keeps its position.
struct subscribe_op {
  std::string topic;
  std::string subscription;
  start_position start = start_position::latest;
};

/// One message as a subscriber receives it.
struct message {
  std::string topic;
  std::string payload;
  model::metadata metadata;
  std::string id;
  int64_t publish_time_ms = 0;
  /// The backend's handle for acknowledging it (named subscriptions on
  /// Kafka and NATS); never sent to clients.
  uint64_t tag = 0;
};

struct publish_result {
  std::string message_id;
};

/// The subscription is in place; messages follow on the stream.
struct subscribe_result {};

} // namespace prism::model
