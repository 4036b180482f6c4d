#pragma once

// An ephemeral subscriber: a consumer of its own, outside any consumer
// group, that reads every partition of the topic from the end (LATEST) or
// the beginning (EARLIEST) and pushes every message (credit does not apply).
// It commits nothing; when it goes, nothing of it stays on the cluster.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "drivers/kafka/kafka_subscriber.hpp"

namespace prism::drivers::kafka {

class ephemeral_consumer final
  : public consumer_thread,
    public std::enable_shared_from_this<ephemeral_consumer> {
public:
  ephemeral_consumer(consumer_settings settings, std::string kafka_topic,
                     std::string topic, model::start_position start,
                     std::shared_ptr<subscriber> target);
  ~ephemeral_consumer() override;

  /// Starts the thread: it makes sure the topic exists, positions itself on
  /// every partition, says `ready`, then delivers.
  void start();
  void request_stop() override;

private:
  void run();
  /// Starts fetching every partition; false (after `end`) when it cannot.
  bool position(rd_kafka_t* rk, rd_kafka_queue_t* queue, rd_kafka_topic_t* rkt,
                int32_t partitions);
  bool stopping() const { return stop_.load(std::memory_order_acquire); }

  consumer_settings settings_;
  const std::string kafka_topic_;
  const std::string topic_;
  const model::start_position start_;
  std::shared_ptr<subscriber> target_;

  std::atomic<bool> stop_{false};
  /// The queue the thread waits on, to wake it for a stop.
  std::mutex wake_mutex_;
  rd_kafka_queue_t* wake_queue_ = nullptr;
};

} // namespace prism::drivers::kafka
