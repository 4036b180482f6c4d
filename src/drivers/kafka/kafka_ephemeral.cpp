#include "drivers/kafka/kafka_ephemeral.hpp"

#include <chrono>
#include <cstdio>
#include <vector>

#include "drivers/kafka/kafka_topics.hpp"

namespace prism::drivers::kafka {

namespace {

using steady = std::chrono::steady_clock;

/// How long one fetch wait lasts (a stop wakes it earlier).
constexpr int fetch_wait_ms = 1000;
/// Reading a partition's end offset: per request, and in all.
constexpr int watermark_request_timeout_ms = 1000;
constexpr int watermark_total_ms = 10000;

struct topic_deleter {
  void operator()(rd_kafka_topic_t* rkt) const noexcept {
    rd_kafka_topic_destroy(rkt);
  }
};

} // namespace

ephemeral_consumer::ephemeral_consumer(consumer_settings settings,
                                       std::string kafka_topic,
                                       std::string topic,
                                       model::start_position start,
                                       std::shared_ptr<subscriber> target)
  : settings_(std::move(settings)), kafka_topic_(std::move(kafka_topic)),
    topic_(std::move(topic)), start_(start), target_(std::move(target)) {}

ephemeral_consumer::~ephemeral_consumer() {
  request_stop();
  join();
}

void ephemeral_consumer::start() {
  thread_ = std::thread([this] { run(); });
}

void ephemeral_consumer::request_stop() {
  stop_.store(true, std::memory_order_release);
  std::lock_guard<std::mutex> lock(wake_mutex_);
  if (wake_queue_ != nullptr)
    rd_kafka_queue_yield(wake_queue_);
}

void ephemeral_consumer::run() {
  auto ensured = settings_.topics->ensure_and_wait(
    kafka_topic_, [this] { return stopping(); });
  if (!ensured.status.ok()) {
    if (!stopping())
      target_->end(ensured.status);
    mark_finished();
    return;
  }

  handle rk;
  try {
    rk = make_client(RD_KAFKA_CONSUMER,
                     make_config({}, settings_.configured,
                                 {{"bootstrap.servers", settings_.brokers},
                                  {"client.id", settings_.client_id},
                                  {"enable.auto.commit", "false"},
                                  {"enable.auto.offset.store", "false"},
                                  {"enable.partition.eof", "false"},
                                  {"allow.auto.create.topics", "false"}}));
  } catch (const std::exception& e) {
    target_->end(prism::status::failure(status_code::unavailable, e.what()));
    mark_finished();
    return;
  }
  queue_ptr queue(rd_kafka_queue_new(rk.get()));
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    wake_queue_ = queue.get();
  }
  std::unique_ptr<rd_kafka_topic_t, topic_deleter> rkt(
    rd_kafka_topic_new(rk.get(), kafka_topic_.c_str(), nullptr));

  int32_t started = 0;
  if (rkt && position(rk.get(), queue.get(), rkt.get(), ensured.partitions)) {
    started = ensured.partitions;
    target_->ready();
    while (!stopping()) {
      rd_kafka_message_t* record
        = rd_kafka_consume_queue(queue.get(), fetch_wait_ms);
      if (record != nullptr) {
        if (record->err == RD_KAFKA_RESP_ERR_NO_ERROR)
          target_->deliver(to_message(*record, topic_, 0));
        else if (record->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
          std::fprintf(stderr, "kafka %s: %s: %s\n", rd_kafka_name(rk.get()),
                       kafka_topic_.c_str(), rd_kafka_message_errstr(record));
        rd_kafka_message_destroy(record);
      }
      rd_kafka_poll(rk.get(), 0); // errors and logs of the handle itself
    }
  } else if (!rkt && !stopping()) {
    target_->end(prism::status::failure(
      status_code::unavailable,
      "cannot read the Kafka topic \"" + kafka_topic_
        + "\": " + rd_kafka_err2str(rd_kafka_last_error())));
  }

  for (int32_t p = 0; p < started; ++p)
    rd_kafka_consume_stop(rkt.get(), p);
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    wake_queue_ = nullptr;
  }
  rkt.reset();
  queue.reset();
  rk.reset();
  mark_finished();
}

bool ephemeral_consumer::position(rd_kafka_t* rk, rd_kafka_queue_t* queue,
                                  rd_kafka_topic_t* rkt, int32_t partitions) {
  // LATEST is resolved to each partition's end offset here, before `ready`,
  // so that a message published after `ready` is never skipped by a lazy
  // end-offset lookup that happens after it.
  std::vector<int64_t> offsets(static_cast<size_t>(partitions),
                               RD_KAFKA_OFFSET_BEGINNING);
  if (start_ == model::start_position::latest) {
    auto deadline
      = steady::now() + std::chrono::milliseconds(watermark_total_ms);
    for (int32_t p = 0; p < partitions; ++p) {
      int64_t low = 0, high = 0;
      rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
      do {
        err = rd_kafka_query_watermark_offsets(rk, kafka_topic_.c_str(), p,
                                               &low, &high,
                                               watermark_request_timeout_ms);
      } while (err != RD_KAFKA_RESP_ERR_NO_ERROR && !stopping()
               && steady::now() < deadline);
      if (stopping())
        return false;
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        target_->end(prism::status::failure(
          status_code::unavailable,
          "cannot read the end offset of the Kafka topic \"" + kafka_topic_
            + "\" partition " + std::to_string(p) + ": "
            + rd_kafka_err2str(err)));
        return false;
      }
      offsets[static_cast<size_t>(p)] = high;
    }
  }
  for (int32_t p = 0; p < partitions; ++p)
    if (rd_kafka_consume_start_queue(rkt, p, offsets[static_cast<size_t>(p)],
                                     queue)
        != 0) {
      for (int32_t q = 0; q < p; ++q)
        rd_kafka_consume_stop(rkt, q);
      target_->end(
        prism::status::failure(status_code::unavailable,
                               "cannot read the Kafka topic \"" + kafka_topic_
                                 + "\" partition " + std::to_string(p) + ": "
                                 + rd_kafka_err2str(rd_kafka_last_error())));
      return false;
    }
  return true;
}

} // namespace prism::drivers::kafka
