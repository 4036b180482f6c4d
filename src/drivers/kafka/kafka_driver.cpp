// The Kafka client of a pubsub backend. Threads it owns:
// - the poll thread: serves the producer (delivery reports, errors), answers
//   publishes whose time ran out, and runs every other completion the driver
//   posts, so no callback ever runs on a caller's thread;
// - the monitor thread: probes the cluster and reports the connection state;
// - the topic registry's thread (kafka_topics.hpp): makes sure topics exist;
// - one thread per consumer: per ephemeral subscriber (kafka_ephemeral.hpp)
//   and per named subscription (kafka_group.hpp).
// Every publish gets one entry in `pending_`, keyed by an id that travels as
// the message's opaque; whoever erases the entry (delivery report, deadline,
// shutdown) answers it, which is what makes `done` run exactly once.

#include "drivers/kafka/kafka_driver.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "drivers/kafka/kafka_ephemeral.hpp"
#include "drivers/kafka/kafka_group.hpp"
#include "drivers/kafka/kafka_subscriber.hpp"
#include "drivers/kafka/kafka_support.hpp"
#include "drivers/kafka/kafka_topics.hpp"

namespace prism::drivers {

namespace {

using namespace kafka;
using steady = std::chrono::steady_clock;

/// The producer's message.timeout.ms unless the backend's properties set
/// one: the longest librdkafka keeps trying to deliver a publish that has no
/// deadline of its own (one with a deadline is answered at its deadline).
constexpr const char* default_message_timeout_ms = "30000";
/// The poll thread sleeps at most this long between looks at its work.
constexpr int poll_wait_max_ms = 1000;
/// On shutdown: how long outstanding publishes may take to be delivered.
constexpr int shutdown_flush_ms = 2000;
/// How long librdkafka may take to report the purged ones.
constexpr int shutdown_purge_ms = 500;
/// The monitor's probe: a metadata request waits this long for an answer,
/// and comes this often while the cluster is reachable / while it is not.
constexpr int probe_timeout_ms = 2000;
constexpr auto probe_interval_up = std::chrono::milliseconds(5000);
constexpr auto probe_interval_down = std::chrono::milliseconds(500);

std::string maybe_stored(bool sent) {
  return sent ? "the message may or may not have been stored"
              : "the message was not stored";
}

/// A subscription the driver could not make: it ends (on a driver thread)
/// and does nothing else.
class failed_subscription final : public pubsub_driver::subscription {
public:
  explicit failed_subscription(std::shared_ptr<subscriber> target)
    : target_(std::move(target)) {}
  ~failed_subscription() override { target_->detach(); }
  void request(uint32_t) override {}
  void ack(uint64_t) override {}

private:
  std::shared_ptr<subscriber> target_;
};

class ephemeral_subscription final : public pubsub_driver::subscription {
public:
  ephemeral_subscription(std::shared_ptr<subscriber> target,
                         std::shared_ptr<ephemeral_consumer> consumer)
    : target_(std::move(target)), consumer_(std::move(consumer)) {}
  ~ephemeral_subscription() override {
    target_->detach();
    consumer_->request_stop();
  }
  void request(uint32_t) override {}
  void ack(uint64_t) override {}

private:
  std::shared_ptr<subscriber> target_;
  std::shared_ptr<ephemeral_consumer> consumer_;
};

class named_subscription final : public pubsub_driver::subscription {
public:
  named_subscription(std::shared_ptr<subscriber> target,
                     std::shared_ptr<group_consumer> group, uint64_t member)
    : target_(std::move(target)), group_(std::move(group)), member_(member) {}
  ~named_subscription() override {
    target_->detach();
    group_->leave(member_);
  }
  void request(uint32_t n) override { group_->credit(member_, n); }
  void ack(uint64_t tag) override { group_->ack(member_, tag); }

private:
  std::shared_ptr<subscriber> target_;
  std::shared_ptr<group_consumer> group_;
  uint64_t member_;
};

class kafka_driver final : public pubsub_driver {
public:
  kafka_driver(const config::backend& backend,
               std::shared_ptr<wall_clock> clock);
  ~kafka_driver() override;

  kafka_driver(const kafka_driver&) = delete;
  kafka_driver& operator=(const kafka_driver&) = delete;

  void start(state_listener listener) override;
  void publish(const std::string& ns, const model::publish_op& op,
               op_timeout timeout, completion done) override;
  std::unique_ptr<subscription> subscribe(const std::string& ns,
                                          const model::subscribe_op& op,
                                          subscriber_events events) override;
  std::string describe() const override { return "kafka " + options_.brokers; }

private:
  struct pending_publish {
    completion done;
    steady::time_point deadline;
    /// Handed to librdkafka: from then on a failure may still have stored it.
    bool sent = false;
    // Until it is sent:
    std::string kafka_topic;
    std::string payload;
    model::metadata metadata;
    int64_t timestamp_ms = 0;
  };
  using deadline_entry = std::pair<steady::time_point, uint64_t>;

  // Publishing.
  void send(uint64_t id, const topic_registry::result& topic);
  /// Erases the publish and answers it (on the poll thread, or posted there).
  void answer(uint64_t id, model::outcome outcome, bool on_poll_thread);
  void on_delivery(const rd_kafka_message_t& report);
  static void delivery_trampoline(rd_kafka_t*, const rd_kafka_message_t* report,
                                  void* opaque);
  static void error_trampoline(rd_kafka_t*, int err, const char* reason,
                               void* opaque);
  void expire_deadlines();

  // The poll thread.
  void post(std::function<void()> task);
  void run_posted();
  void poll_loop();
  void finish_publishes();

  // Connection state.
  void monitor_loop();
  void set_state(bool up, const std::string& reason);

  void prune_consumers();
  consumer_settings consumer_config(const std::string& role) const;

  const config::kafka_options options_;
  const std::string backend_name_;
  const uint32_t max_pending_;
  std::shared_ptr<wall_clock> clock_;

  handle producer_;
  rd_kafka_queue_t* producer_queue_ = nullptr; // to wake the poll thread
  std::unique_ptr<topic_registry> topics_;

  std::mutex pending_mutex_;
  std::unordered_map<uint64_t, pending_publish> pending_;
  std::priority_queue<deadline_entry, std::vector<deadline_entry>,
                      std::greater<>>
    deadlines_;
  uint64_t next_publish_id_ = 1;
  std::deque<std::function<void()>> posted_;
  bool poll_stopping_ = false;

  std::mutex state_mutex_;
  std::condition_variable state_wake_;
  state_listener listener_;
  std::optional<bool> reported_up_;
  std::optional<std::string> brokers_down_; // set by the error callback
  std::optional<std::string> fatal_; // likewise, for good
  bool monitor_stopping_ = false;

  std::mutex consumers_mutex_;
  std::vector<std::shared_ptr<consumer_thread>> consumers_;
  std::map<std::string, std::shared_ptr<group_consumer>> groups_;
  uint64_t next_member_id_ = 1;
  bool consumers_stopping_ = false;

  std::thread poll_thread_;
  std::thread monitor_thread_;
};

kafka_driver::kafka_driver(const config::backend& backend,
                           std::shared_ptr<wall_clock> clock)
  : options_(backend.kafka), backend_name_(backend.name),
    max_pending_(std::max<uint32_t>(1, backend.max_pending)),
    clock_(clock ? std::move(clock) : system_wall_clock()) {
  if (options_.brokers.empty())
    throw std::runtime_error("Kafka backend \"" + backend_name_
                             + "\" has no brokers");
  rd_kafka_conf_t* conf = make_config(
    {{"message.timeout.ms", default_message_timeout_ms}}, options_.properties,
    {{"bootstrap.servers", options_.brokers},
     {"client.id", "prism-" + backend_name_ + "-producer"},
     {"acks", "all"},
     {"enable.idempotence", "true"},
     {"allow.auto.create.topics", "false"}});
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_dr_msg_cb(conf, delivery_trampoline);
  rd_kafka_conf_set_error_cb(conf, error_trampoline);
  producer_ = make_client(RD_KAFKA_PRODUCER, conf);
  producer_queue_ = rd_kafka_queue_get_main(producer_.get());
  topics_ = std::make_unique<topic_registry>(
    producer_.get(),
    static_cast<int32_t>(std::max<uint32_t>(1, options_.partitions)),
    options_.replication_factor);
  poll_thread_ = std::thread([this] { poll_loop(); });
}

kafka_driver::~kafka_driver() {
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    monitor_stopping_ = true;
  }
  state_wake_.notify_all();
  if (monitor_thread_.joinable())
    monitor_thread_.join();

  std::vector<std::shared_ptr<consumer_thread>> consumers;
  {
    std::lock_guard<std::mutex> lock(consumers_mutex_);
    consumers_stopping_ = true;
    consumers.swap(consumers_);
    groups_.clear();
  }
  for (auto& c : consumers)
    c->request_stop();
  for (auto& c : consumers)
    c->join();

  // Publishes still waiting for their topic are answered (through the poll
  // thread) as the registry stops.
  topics_.reset();

  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    poll_stopping_ = true;
  }
  rd_kafka_queue_yield(producer_queue_);
  poll_thread_.join();
  rd_kafka_queue_destroy(producer_queue_);
  producer_.reset();
}

void kafka_driver::start(state_listener listener) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  if (monitor_thread_.joinable())
    throw std::logic_error("kafka_driver::start called twice");
  listener_ = std::move(listener);
  monitor_thread_ = std::thread([this] { monitor_loop(); });
}

// --- publishing ---------------------------------------------------------------------

void kafka_driver::publish(const std::string& ns, const model::publish_op& op,
                           op_timeout timeout, completion done) {
  std::string kafka_topic = topic_name(options_.topic_prefix, ns, op.topic);
  if (auto problem = topic_name_problem(kafka_topic)) {
    post([done = std::move(done), why = *problem] {
      done(model::outcome::failure(status_code::invalid_argument, why));
    });
    return;
  }
  auto now = steady::now();
  auto deadline = steady::time_point::max();
  if (timeout != no_timeout && timeout < steady::time_point::max() - now)
    deadline = now + std::chrono::duration_cast<steady::duration>(timeout);

  uint64_t id = 0;
  {
    std::unique_lock<std::mutex> lock(pending_mutex_);
    if (poll_stopping_ || pending_.size() >= max_pending_) {
      std::string why = poll_stopping_
        ? "the Kafka driver is shutting down; the message was not stored"
        : "backend \"" + backend_name_ + "\" already has "
          + std::to_string(max_pending_)
          + " publishes in flight (max_pending); the message was "
            "not stored";
      auto code = poll_stopping_ ? status_code::unavailable
                                 : status_code::resource_exhausted;
      posted_.push_back([done = std::move(done), code, why] {
        done(model::outcome::failure(code, why));
      });
      lock.unlock();
      rd_kafka_queue_yield(producer_queue_);
      return;
    }
    id = next_publish_id_++;
    auto& p = pending_[id];
    p.done = std::move(done);
    p.deadline = deadline;
    p.kafka_topic = kafka_topic;
    p.payload = op.payload;
    p.metadata = op.metadata;
    p.timestamp_ms = clock_->now_ms();
    if (deadline != steady::time_point::max()) {
      bool earliest = deadlines_.empty() || deadline < deadlines_.top().first;
      deadlines_.emplace(deadline, id);
      if (earliest)
        rd_kafka_queue_yield(producer_queue_);
    }
  }
  topics_->ensure(kafka_topic, [this, id](const topic_registry::result& topic) {
    send(id, topic);
  });
}

void kafka_driver::send(uint64_t id, const topic_registry::result& topic) {
  if (!topic.status.ok()) {
    answer(id,
           model::outcome::failure(status_code::unavailable,
                                   topic.status.message + "; "
                                     + maybe_stored(false)),
           false);
    return;
  }
  std::string kafka_topic, payload;
  model::metadata metadata;
  int64_t timestamp_ms = 0;
  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    auto it = pending_.find(id);
    if (it == pending_.end())
      return; // its deadline passed while the topic was being made sure of
    auto& p = it->second;
    p.sent = true;
    kafka_topic = std::move(p.kafka_topic);
    payload = std::move(p.payload);
    metadata = std::move(p.metadata);
    timestamp_ms = p.timestamp_ms;
  }
  rd_kafka_headers_t* headers = rd_kafka_headers_new(metadata.size());
  for (const auto& [name, value] : metadata)
    rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()),
                        value.data(), static_cast<ssize_t>(value.size()));
  auto err = rd_kafka_producev(
    producer_.get(), RD_KAFKA_V_TOPIC(kafka_topic.c_str()),
    RD_KAFKA_V_VALUE(payload.empty() ? nullptr : payload.data(),
                     payload.size()),
    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
    RD_KAFKA_V_TIMESTAMP(timestamp_ms),
    RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(id))),
    RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_headers_destroy(headers); // not taken on failure
    answer(id,
           model::outcome::failure(
             status_code::unavailable,
             std::string("the Kafka producer refused the message: ")
               + rd_kafka_err2str(err) + "; " + maybe_stored(false)),
           false);
  }
}

void kafka_driver::answer(uint64_t id, model::outcome outcome,
                          bool on_poll_thread) {
  completion done;
  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    auto it = pending_.find(id);
    if (it == pending_.end())
      return; // answered already
    done = std::move(it->second.done);
    pending_.erase(it);
    if (!on_poll_thread) {
      posted_.push_back(
        [done = std::move(done), outcome = std::move(outcome)]() mutable {
          done(std::move(outcome));
        });
    }
  }
  if (on_poll_thread)
    done(std::move(outcome));
  else
    rd_kafka_queue_yield(producer_queue_);
}

void kafka_driver::delivery_trampoline(rd_kafka_t*,
                                       const rd_kafka_message_t* report,
                                       void* opaque) {
  static_cast<kafka_driver*>(opaque)->on_delivery(*report);
}

void kafka_driver::on_delivery(const rd_kafka_message_t& report) {
  auto id = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(report._private));
  if (report.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    answer(id,
           model::outcome::success(model::publish_result{
             message_id(report.partition, report.offset)}),
           true);
    return;
  }
  bool maybe = rd_kafka_message_status(&report)
    != RD_KAFKA_MSG_STATUS_NOT_PERSISTED;
  answer(id,
         model::outcome::failure(
           status_code::unavailable,
           std::string("Kafka did not confirm the message: ")
             + rd_kafka_err2str(report.err) + "; " + maybe_stored(maybe)),
         true);
}

void kafka_driver::expire_deadlines() {
  std::vector<std::pair<completion, bool>> expired;
  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    auto now = steady::now();
    while (!deadlines_.empty() && deadlines_.top().first <= now) {
      auto it = pending_.find(deadlines_.top().second);
      deadlines_.pop();
      if (it == pending_.end())
        continue;
      expired.emplace_back(std::move(it->second.done), it->second.sent);
      pending_.erase(it);
    }
  }
  for (auto& [done, sent] : expired)
    done(model::outcome::failure(
      status_code::deadline_exceeded,
      "the publish timed out before Kafka confirmed it; "
        + maybe_stored(sent)));
}

// --- the poll thread ----------------------------------------------------------------

void kafka_driver::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    posted_.push_back(std::move(task));
  }
  rd_kafka_queue_yield(producer_queue_);
}

void kafka_driver::run_posted() {
  std::deque<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks)
    task();
}

void kafka_driver::poll_loop() {
  while (true) {
    run_posted();
    expire_deadlines();
    int wait_ms = poll_wait_max_ms;
    {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      if (poll_stopping_)
        break;
      if (!posted_.empty())
        wait_ms = 0;
      else if (!deadlines_.empty()) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(
          deadlines_.top().first - steady::now());
        wait_ms
          = static_cast<int>(std::clamp<int64_t>(left.count(), 0, wait_ms));
      }
    }
    rd_kafka_poll(producer_.get(), wait_ms);
  }
  finish_publishes();
}

void kafka_driver::finish_publishes() {
  // Give what librdkafka holds a short time to be delivered, then take it
  // back: its delivery reports say whether each may have been stored.
  rd_kafka_flush(producer_.get(), shutdown_flush_ms);
  rd_kafka_purge(producer_.get(),
                 RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  auto deadline = steady::now() + std::chrono::milliseconds(shutdown_purge_ms);
  while (rd_kafka_outq_len(producer_.get()) > 0 && steady::now() < deadline)
    rd_kafka_poll(producer_.get(), 50);
  rd_kafka_poll(producer_.get(), 0);
  run_posted();
  std::vector<std::pair<completion, bool>> left;
  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    for (auto& [id, p] : pending_)
      left.emplace_back(std::move(p.done), p.sent);
    pending_.clear();
  }
  for (auto& [done, sent] : left)
    done(model::outcome::failure(
      status_code::unavailable,
      "the Kafka driver shut down before Kafka confirmed the "
      "publish; "
        + maybe_stored(sent)));
  run_posted();
}

// --- connection state ---------------------------------------------------------------

void kafka_driver::error_trampoline(rd_kafka_t* rk, int err, const char* reason,
                                    void* opaque) {
  auto* self = static_cast<kafka_driver*>(opaque);
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    {
      std::lock_guard<std::mutex> lock(self->state_mutex_);
      self->brokers_down_
        = std::string("all Kafka brokers are down: ") + reason;
    }
    self->state_wake_.notify_all();
    return;
  }
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    // The idempotent producer cannot go on (librdkafka fails every publish
    // from now on); the state stays down until the driver is replaced.
    char why[512];
    rd_kafka_fatal_error(rk, why, sizeof why);
    log_to_stderr(rk, 3, "FATAL", why);
    {
      std::lock_guard<std::mutex> lock(self->state_mutex_);
      self->fatal_ = std::string("the Kafka producer failed for good: ") + why;
    }
    self->state_wake_.notify_all();
    return;
  }
  // Other errors (a broker's connection, a request's) are transient; the
  // client retries them by itself.
}

void kafka_driver::monitor_loop() {
  std::unique_lock<std::mutex> lock(state_mutex_);
  while (!monitor_stopping_) {
    if (fatal_) {
      std::string why = *fatal_;
      lock.unlock();
      set_state(false, why);
      lock.lock();
      state_wake_.wait(lock, [this] { return monitor_stopping_; });
      break;
    }
    if (brokers_down_) {
      std::string why = std::move(*brokers_down_);
      brokers_down_.reset();
      lock.unlock();
      set_state(false, why);
      lock.lock();
    } else {
      lock.unlock();
      const rd_kafka_metadata_t* md = nullptr;
      auto err
        = rd_kafka_metadata(producer_.get(), 0, nullptr, &md, probe_timeout_ms);
      if (md != nullptr)
        rd_kafka_metadata_destroy(md);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        set_state(true, "");
      else
        set_state(false,
                  "cannot reach the Kafka cluster at " + options_.brokers + ": "
                    + rd_kafka_err2str(err));
      prune_consumers();
      lock.lock();
    }
    auto interval = reported_up_.value_or(false) ? probe_interval_up
                                                 : probe_interval_down;
    state_wake_.wait_for(lock, interval, [this] {
      return monitor_stopping_ || brokers_down_ || fatal_;
    });
  }
}

void kafka_driver::set_state(bool up, const std::string& reason) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  if (reported_up_ == up)
    return;
  reported_up_ = up;
  if (listener_)
    listener_(up, reason);
}

// --- subscribing --------------------------------------------------------------------

consumer_settings kafka_driver::consumer_config(const std::string& role) const {
  consumer_settings s;
  s.brokers = options_.brokers;
  s.client_id = "prism-" + backend_name_ + "-" + role;
  s.configured = options_.properties;
  s.topics = topics_.get();
  return s;
}

void kafka_driver::prune_consumers() {
  std::vector<std::shared_ptr<consumer_thread>> done;
  {
    std::lock_guard<std::mutex> lock(consumers_mutex_);
    auto keep = std::partition(consumers_.begin(), consumers_.end(),
                               [](const auto& c) { return !c->finished(); });
    done.assign(keep, consumers_.end());
    consumers_.erase(keep, consumers_.end());
    for (auto g = groups_.begin(); g != groups_.end();)
      g = g->second->finished() ? groups_.erase(g) : std::next(g);
  }
  for (auto& c : done)
    c->join();
}

std::unique_ptr<pubsub_driver::subscription> kafka_driver::subscribe(
  const std::string& ns, const model::subscribe_op& op,
  subscriber_events events) {
  auto target = std::make_shared<subscriber>(std::move(events));
  std::string kafka_topic = topic_name(options_.topic_prefix, ns, op.topic);
  if (auto problem = topic_name_problem(kafka_topic)) {
    post([target, why = *problem] {
      target->end(prism::status::failure(status_code::invalid_argument, why));
    });
    return std::make_unique<failed_subscription>(target);
  }
  prune_consumers();

  std::lock_guard<std::mutex> lock(consumers_mutex_);
  if (consumers_stopping_) {
    post([target] {
      target->end(prism::status::failure(status_code::unavailable,
                                         "the Kafka driver is shutting down"));
    });
    return std::make_unique<failed_subscription>(target);
  }
  if (op.subscription.empty()) {
    auto consumer = std::make_shared<ephemeral_consumer>(
      consumer_config("reader"), kafka_topic, op.topic, op.start, target);
    consumers_.push_back(consumer);
    consumer->start();
    return std::make_unique<ephemeral_subscription>(target, consumer);
  }

  uint64_t member = next_member_id_++;
  auto& group
    = groups_[group_id(options_.topic_prefix, ns, op.topic, op.subscription)];
  if (!group || !group->add_member(member, target)) {
    // None yet, or the one there closes (its last member left): a new one
    // takes over once that one has committed and left the group.
    auto id = group_id(options_.topic_prefix, ns, op.topic, op.subscription);
    auto fresh = std::make_shared<group_consumer>(
      consumer_config("group"), kafka_topic, op.topic, id, op.start, group);
    fresh->add_member(member, target);
    group = fresh;
    consumers_.push_back(fresh);
    fresh->start();
  }
  return std::make_unique<named_subscription>(target, group, member);
}

} // namespace

pubsub_driver_ptr make_kafka_driver(const config::backend& backend,
                                    std::shared_ptr<wall_clock> clock) {
  if (backend.type != config::backend_type::kafka)
    throw std::invalid_argument("backend \"" + backend.name
                                + "\" is not a Kafka backend");
  return std::make_unique<kafka_driver>(backend, std::move(clock));
}

} // namespace prism::drivers
