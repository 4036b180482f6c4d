#pragma once

// Makes sure a Kafka topic exists before the driver first uses it: once per
// topic per driver, on a thread of its own (metadata and Admin API calls
// block). A topic the cluster does not know is created with the Admin API
// (CreateTopics, with the backend's partitions and replication factor; "it
// already exists" counts as success); the driver never relies on the
// brokers creating topics by themselves. A failure is not remembered: the
// next use tries again.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "model/status.hpp"

namespace prism::drivers::kafka {

class topic_registry {
public:
  struct result {
    prism::status status;
    /// The topic's partition count, when status is OK.
    int32_t partitions = 0;
  };
  using continuation = std::function<void(const result&)>;

  /// Uses `client` (the driver's producer) for metadata and admin requests;
  /// it must outlive the registry.
  topic_registry(rd_kafka_t* client, int32_t partitions,
                 int32_t replication_factor);
  /// Stops: whoever still waits gets UNAVAILABLE "driver shutting down".
  ~topic_registry();

  topic_registry(const topic_registry&) = delete;
  topic_registry& operator=(const topic_registry&) = delete;

  /// Calls `then` once `topic` exists: at once, on the calling thread, when
  /// this registry already made sure of it; otherwise later, from the
  /// registry's thread.
  void ensure(const std::string& topic, continuation then);

  /// The blocking form, for driver threads: waits until the topic exists, it
  /// failed, or `cancelled()` (checked every wait slice) says to give up.
  result ensure_and_wait(const std::string& topic,
                         const std::function<bool()>& cancelled);

private:
  void run();
  result check_or_create(const std::string& topic);
  /// The topic's partition count per the cluster's metadata: > 0 when it
  /// exists, 0 when the cluster does not know it; status not OK when the
  /// metadata could not be read.
  result read_partitions(const std::string& topic);
  result create(const std::string& topic);

  rd_kafka_t* client_;
  const int32_t partitions_;
  const int32_t replication_factor_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, int32_t> ready_;
  std::map<std::string, std::vector<continuation>> waiting_;
  std::deque<std::string> queue_;
  /// Set under mutex_; read without it between the thread's requests.
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

} // namespace prism::drivers::kafka
