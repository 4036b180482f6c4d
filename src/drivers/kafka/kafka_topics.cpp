#include "drivers/kafka/kafka_topics.hpp"

#include <chrono>
#include <memory>

namespace prism::drivers::kafka {

namespace {

using steady = std::chrono::steady_clock;

/// One metadata request waits at most this long; a check tries for
/// metadata_total_ms in all (the registry's thread checks for shutdown
/// between requests).
constexpr int metadata_request_timeout_ms = 1000;
constexpr int metadata_total_ms = 5000;
/// CreateTopics: how long the controller may take, and how long the driver
/// waits for the answer in all.
constexpr int create_operation_timeout_ms = 10000;
constexpr int create_wait_ms = 12000;
/// After a creation, how long the new topic may take to show in metadata.
constexpr int created_visible_ms = 5000;
constexpr int poll_slice_ms = 100;

prism::status unavailable(std::string message) {
  return prism::status::failure(status_code::unavailable, std::move(message));
}

struct metadata_deleter {
  void operator()(const rd_kafka_metadata_t* md) const noexcept {
    rd_kafka_metadata_destroy(md);
  }
};

struct topic_deleter {
  void operator()(rd_kafka_topic_t* rkt) const noexcept {
    rd_kafka_topic_destroy(rkt);
  }
};

} // namespace

topic_registry::topic_registry(rd_kafka_t* client, int32_t partitions,
                               int32_t replication_factor)
  : client_(client), partitions_(partitions),
    replication_factor_(replication_factor) {
  thread_ = std::thread([this] { run(); });
}

topic_registry::~topic_registry() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  std::map<std::string, std::vector<continuation>> waiting;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    waiting.swap(waiting_);
  }
  result stopped{unavailable("the Kafka driver is shutting down"), 0};
  for (auto& [topic, continuations] : waiting)
    for (auto& then : continuations)
      then(stopped);
}

void topic_registry::ensure(const std::string& topic, continuation then) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (auto it = ready_.find(topic); it != ready_.end()) {
    result ok{{}, it->second};
    lock.unlock();
    then(ok);
    return;
  }
  if (stopping_) {
    lock.unlock();
    then({unavailable("the Kafka driver is shutting down"), 0});
    return;
  }
  auto& continuations = waiting_[topic];
  if (continuations.empty())
    queue_.push_back(topic);
  continuations.push_back(std::move(then));
  lock.unlock();
  wake_.notify_all();
}

topic_registry::result topic_registry::ensure_and_wait(
  const std::string& topic, const std::function<bool()>& cancelled) {
  struct shared_wait {
    std::mutex mutex;
    std::condition_variable done;
    bool finished = false;
    result answer;
  };
  auto wait = std::make_shared<shared_wait>();
  ensure(topic, [wait](const result& r) {
    std::lock_guard<std::mutex> lock(wait->mutex);
    wait->answer = r;
    wait->finished = true;
    wait->done.notify_all();
  });
  std::unique_lock<std::mutex> lock(wait->mutex);
  while (!wait->finished) {
    if (cancelled())
      return {prism::status::failure(status_code::cancelled, "cancelled"), 0};
    wait->done.wait_for(lock, std::chrono::milliseconds(poll_slice_ms));
  }
  return wait->answer;
}

void topic_registry::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_)
      return;
    std::string topic = queue_.front();
    queue_.pop_front();
    lock.unlock();
    result answer = check_or_create(topic);
    lock.lock();
    if (answer.status.ok())
      ready_[topic] = answer.partitions;
    auto continuations = std::move(waiting_[topic]);
    waiting_.erase(topic);
    lock.unlock();
    for (auto& then : continuations)
      then(answer);
    lock.lock();
  }
}

topic_registry::result topic_registry::check_or_create(
  const std::string& topic) {
  result known = read_partitions(topic);
  if (!known.status.ok() || known.partitions > 0)
    return known;
  result created = create(topic);
  if (!created.status.ok())
    return created;
  // The controller has it; the brokers' metadata may lag a little.
  auto deadline = steady::now() + std::chrono::milliseconds(created_visible_ms);
  do {
    result visible = read_partitions(topic);
    if (visible.status.ok() && visible.partitions > 0)
      return visible;
  } while (steady::now() < deadline && !stopping_);
  // It exists; the producer and the consumers find its partitions themselves.
  return {{}, partitions_};
}

topic_registry::result topic_registry::read_partitions(
  const std::string& topic) {
  std::unique_ptr<rd_kafka_topic_t, topic_deleter> rkt(
    rd_kafka_topic_new(client_, topic.c_str(), nullptr));
  if (!rkt)
    return {unavailable("cannot look up the Kafka topic \"" + topic
                        + "\": " + rd_kafka_err2str(rd_kafka_last_error())),
            0};
  auto deadline = steady::now() + std::chrono::milliseconds(metadata_total_ms);
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  do {
    const rd_kafka_metadata_t* raw = nullptr;
    err = rd_kafka_metadata(client_, 0, rkt.get(), &raw,
                            metadata_request_timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
      continue;
    std::unique_ptr<const rd_kafka_metadata_t, metadata_deleter> md(raw);
    for (int i = 0; i < md->topic_cnt; ++i) {
      const auto& t = md->topics[i];
      if (topic != t.topic)
        continue;
      if (t.partition_cnt > 0)
        return {{}, t.partition_cnt};
      if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        return {{}, 0};
      err = t.err;
    }
  } while (steady::now() < deadline && !stopping_);
  return {unavailable("cannot read the metadata of the Kafka topic \"" + topic
                      + "\": " + rd_kafka_err2str(err)),
          0};
}

topic_registry::result topic_registry::create(const std::string& topic) {
  char error[512];
  rd_kafka_NewTopic_t* new_topic
    = rd_kafka_NewTopic_new(topic.c_str(), static_cast<int>(partitions_),
                            replication_factor_, error, sizeof error);
  if (new_topic == nullptr)
    return {
      unavailable("cannot create the Kafka topic \"" + topic + "\": " + error),
      0};
  rd_kafka_AdminOptions_t* options
    = rd_kafka_AdminOptions_new(client_, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(
    options, create_operation_timeout_ms, error, sizeof error);
  rd_kafka_AdminOptions_set_request_timeout(
    options, create_operation_timeout_ms, error, sizeof error);
  rd_kafka_queue_t* answers = rd_kafka_queue_new(client_);
  rd_kafka_CreateTopics(client_, &new_topic, 1, options, answers);
  rd_kafka_NewTopic_destroy(new_topic);
  rd_kafka_AdminOptions_destroy(options);

  rd_kafka_event_t* event = nullptr;
  auto deadline = steady::now() + std::chrono::milliseconds(create_wait_ms);
  while (event == nullptr && steady::now() < deadline && !stopping_)
    event = rd_kafka_queue_poll(answers, poll_slice_ms);
  rd_kafka_queue_destroy(answers);
  if (event == nullptr)
    return {
      unavailable("cannot create the Kafka topic \"" + topic
                  + "\": the cluster did not answer CreateTopics in time"),
      0};

  result answer{{}, partitions_};
  if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    answer = {unavailable("cannot create the Kafka topic \"" + topic
                          + "\": " + rd_kafka_event_error_string(event)),
              0};
  } else if (const auto* created = rd_kafka_event_CreateTopics_result(event)) {
    size_t count = 0;
    const rd_kafka_topic_result_t** topics
      = rd_kafka_CreateTopics_result_topics(created, &count);
    for (size_t i = 0; i < count; ++i) {
      auto err = rd_kafka_topic_result_error(topics[i]);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR
          && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        const char* why = rd_kafka_topic_result_error_string(topics[i]);
        answer = {unavailable("cannot create the Kafka topic \"" + topic
                              + "\": " + (why ? why : rd_kafka_err2str(err))),
                  0};
      }
    }
  }
  rd_kafka_event_destroy(event);
  return answer;
}

} // namespace prism::drivers::kafka
