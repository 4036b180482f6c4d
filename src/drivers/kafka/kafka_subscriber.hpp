#pragma once

// What the Kafka driver's consumers share: one subscriber's callbacks behind
// a guard, so that none runs once its subscription is destroyed, and the
// settings every consumer handle is made from.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "drivers/kafka/kafka_support.hpp"
#include "drivers/pubsub_driver.hpp"

namespace prism::drivers::kafka {

class topic_registry;

/// One subscriber's callbacks. Only the consumer thread that serves the
/// subscriber calls ready/deliver/lag/end, so they never run concurrently;
/// detach() (from the subscription's destructor, on any thread) waits for a
/// callback that is running and stops all that would follow.
class subscriber {
public:
  explicit subscriber(pubsub_driver::subscriber_events events)
    : events_(std::move(events)) {}

  /// `ready`, at most once.
  void ready() {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    if (!attached_ || ready_sent_ || ended_)
      return;
    ready_sent_ = true;
    if (events_.ready)
      events_.ready();
  }

  /// `message`, unless the subscriber is detached or ended.
  void deliver(model::message m) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    if (!attached_ || ended_)
      return;
    if (events_.message)
      events_.message(std::move(m));
  }

  /// `lag`, unless the subscriber is detached or ended.
  void lag(uint64_t n) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    if (!attached_ || ended_)
      return;
    if (events_.lag)
      events_.lag(n);
  }

  /// `ended`, at most once.
  void end(prism::status why) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    if (!attached_ || ended_)
      return;
    ended_ = true;
    if (events_.ended)
      events_.ended(std::move(why));
  }

  /// No callback runs after this returns. The mutex is recursive so that a
  /// callback may destroy its own subscription.
  void detach() {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    attached_ = false;
  }

private:
  std::recursive_mutex mutex_;
  bool attached_ = true;
  bool ready_sent_ = false;
  bool ended_ = false;
  pubsub_driver::subscriber_events events_;
};

/// What a consumer handle is made from, and the registry that makes sure its
/// topic exists (owned by the driver, which joins every consumer thread
/// before it destroys the registry).
struct consumer_settings {
  std::string brokers;
  std::string client_id;
  properties configured;
  topic_registry* topics = nullptr;
};

/// A consumer that runs on a thread of its own; the driver keeps every one
/// until its thread finished, and stops and joins them all when it goes.
class consumer_thread {
public:
  virtual ~consumer_thread() = default;
  /// Asks the thread to finish (it closes its consumer first).
  virtual void request_stop() = 0;
  /// True once the thread has nothing more to do (join() returns at once).
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  /// Waits up to `timeout` for finished(); returns it.
  bool wait_finished_for(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(finish_mutex_);
    return finish_cv_.wait_for(lock, timeout, [this] { return finished(); });
  }
  void join() {
    if (!thread_.joinable())
      return;
    // The last owner can only let go on its own thread once nothing of it
    // runs any more; joining itself would throw.
    if (thread_.get_id() == std::this_thread::get_id())
      thread_.detach();
    else
      thread_.join();
  }

protected:
  void mark_finished() {
    {
      std::lock_guard<std::mutex> lock(finish_mutex_);
      finished_.store(true, std::memory_order_release);
    }
    finish_cv_.notify_all();
  }
  std::thread thread_;

private:
  std::atomic<bool> finished_{false};
  std::mutex finish_mutex_;
  std::condition_variable finish_cv_;
};

} // namespace prism::drivers::kafka
