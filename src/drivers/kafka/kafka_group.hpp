#pragma once

// A named subscription within one driver: ONE Kafka group consumer per
// (namespace, topic, subscription), shared by every local subscriber
// (member) of that name, on a thread of its own.
//
// Delivery. Fetched records wait in a small local queue and go round-robin
// to the members that have credit, never more than a member's credit. When
// the credit of all members together does not cover what waits, every
// assigned partition is paused (librdkafka drops what it prefetched and
// resumes from the next undelivered offset), so a slow subscription holds
// its messages on the cluster; the thread keeps polling so the group
// membership stays alive.
//
// Acknowledgement. Per partition, the offsets fetched and not yet acked are
// kept in order; the committed offset is the first of them (or the next one
// to fetch when none is outstanding), so a commit never passes an
// unacknowledged message: at-least-once. A member that leaves hands its
// unacknowledged messages to the others (first in line); when the last one
// leaves, the consumer commits what was acknowledged and closes, so a later
// subscriber of the name gets the rest again. A rebalance that takes a
// partition away commits it the same way and forgets its deliveries; the
// new owner delivers them again.
//
// Start. On assignment, each partition starts at the group's committed
// offset; a partition without one (a new group) starts at the end or the
// beginning, as the subscriber that made the consumer asked, resolved to an
// absolute offset and committed at once, before `ready`: a message
// published after `ready` is delivered, and the group keeps its place.
//
// Lag. About once a second the thread reads the end offset of each assigned
// partition (a bounded request to its leader) and reports the sum of end
// offset minus commit point to the members: what this gateway's share of the
// group has not consumed, delivered-but-unacknowledged messages included.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "drivers/kafka/kafka_subscriber.hpp"

namespace prism::drivers::kafka {

class group_consumer final : public consumer_thread {
public:
  /// `predecessor`: the consumer of the same name that is closing, if any;
  /// this one joins the group only after it finished, so that it reads what
  /// that one committed (and the group never waits for a member that left).
  group_consumer(consumer_settings settings, std::string kafka_topic,
                 std::string topic, std::string group_id,
                 model::start_position start,
                 std::shared_ptr<consumer_thread> predecessor);
  ~group_consumer() override;

  void start();
  void request_stop() override;

  /// Adds a member; false once the consumer is closing (its last member
  /// left), in which case the caller makes a new consumer.
  bool add_member(uint64_t member, std::shared_ptr<subscriber> target);
  void credit(uint64_t member, uint32_t n);
  void ack(uint64_t member, uint64_t tag);
  /// The member's subscription is gone (its subscriber already detached).
  void leave(uint64_t member);

private:
  struct command {
    enum class kind { add, credit, ack, leave } what;
    uint64_t member = 0;
    uint64_t value = 0;
    std::shared_ptr<subscriber> target;
  };

  struct member_state {
    uint64_t id = 0;
    std::shared_ptr<subscriber> target;
    uint64_t credit = 0;
    /// Delivered and not acknowledged, by tag (so in (partition, offset)
    /// order), kept to hand to another member if this one leaves.
    std::map<uint64_t, model::message> unacked;
  };

  struct partition_state {
    /// The next offset expected from the fetcher; -1 until known.
    int64_t next_offset = -1;
    /// What was last committed (or sent to be); -1 for nothing yet.
    int64_t committed = -1;
    /// Fetched and not yet acknowledged: offset -> acknowledged. Acked
    /// entries at the front are dropped as the commit point moves past them.
    std::map<int64_t, bool> outstanding;
  };

  struct waiting_message {
    int32_t partition;
    int64_t offset;
    model::message message;
  };

  void post(command c);
  void run();
  /// Applies queued commands; false when the consumer should close (no
  /// member is left and none is on its way).
  bool apply_commands();
  void apply(command& c);
  void remove_member(uint64_t id);

  void on_rebalance(rd_kafka_resp_err_t err,
                    rd_kafka_topic_partition_list_t* parts);
  void on_assign(rd_kafka_topic_partition_list_t* parts);
  void on_revoke(rd_kafka_topic_partition_list_t* parts);
  static void rebalance_trampoline(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t* parts,
                                   void* opaque);

  void on_record(const rd_kafka_message_t& record);
  void dispatch();
  void update_pause();
  /// Commits every partition whose commit point moved; `wait` makes it
  /// synchronous (bounded).
  void commit(bool wait, const rd_kafka_topic_partition_list_t* only = nullptr);
  static int64_t commit_point(partition_state& p);
  /// Measures the lag of the partitions this consumer holds (end offset
  /// minus commit point) and tells every member; skipped when an end offset
  /// cannot be read.
  void report_lag();
  void end_all(const prism::status& why);
  /// Commits what was acknowledged, leaves the group (bounded) and finishes;
  /// with a failure, every member ends with it first.
  void close_consumer(const prism::status* failure);
  bool stopping() const { return stop_.load(std::memory_order_acquire); }

  consumer_settings settings_;
  const std::string kafka_topic_;
  const std::string topic_;
  const std::string group_id_;
  const model::start_position start_;
  std::shared_ptr<consumer_thread> predecessor_;

  std::atomic<bool> stop_{false};

  // Shared with the callers; guarded by inbox_mutex_.
  std::mutex inbox_mutex_;
  std::deque<command> inbox_;
  bool accepting_ = true;
  rd_kafka_queue_t* wake_queue_ = nullptr;

  // The consumer thread's own.
  handle rk_;
  std::vector<member_state> members_;
  size_t next_member_ = 0;
  std::map<int32_t, partition_state> partitions_;
  std::deque<waiting_message> waiting_;
  bool assigned_once_ = false;
  bool paused_ = false;
  bool commit_due_ = false;
  std::chrono::steady_clock::time_point next_lag_report_{};
  /// Why the consumer stops by itself (a fatal client error), if it does.
  std::optional<prism::status> failure_;
};

} // namespace prism::drivers::kafka
