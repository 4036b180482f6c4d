#pragma once

// The subscriptions of a NATS driver: what every kind shares (sub_state),
// the ones nats.c pushes messages to (push_sub, in nats_push.cpp) and the
// members of JetStream named subscriptions (pull_member, in nats_pull.cpp).
// Private to src/drivers/nats.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "drivers/nats/nats_core.hpp"
#include "drivers/nats/nats_names.hpp"

namespace prism::drivers::nats_detail {

// --- subscriptions ---------------------------------------------------------

/// One subscriber's subscription, whatever NATS object serves it.
class sub_state : public std::enable_shared_from_this<sub_state> {
public:
  sub_state(std::shared_ptr<nats_core> c, std::string n,
            const model::subscribe_op& op, pubsub_driver::subscriber_events ev)
    : core(std::move(c)), ns(std::move(n)), topic(op.topic),
      name(op.subscription), start(op.start), events_(std::move(ev)) {
    subject = nats_names::subject(core->settings.subject_prefix, ns, topic);
  }
  virtual ~sub_state() = default;

  virtual void request(uint32_t) {}
  virtual void ack(uint64_t) {}
  /// Ends delivery: once it returns, no callback of this subscription runs.
  /// It unsubscribes (a JetStream member finishes that on its own thread,
  /// see pull_member). Safe to call more than once, and from inside a
  /// callback.
  virtual void shutdown() = 0;
  /// Messages NATS dropped because this subscriber fell behind.
  virtual uint64_t dropped() { return 0; }

  const std::shared_ptr<nats_core> core;
  const std::string ns;
  const std::string topic;
  const std::string name;
  const model::start_position start;
  std::string subject;

protected:
  void deliver_ready() {
    gate_.run([&] { send_ready(); });
  }

  /// False once the subscription is closing.
  bool deliver(model::message m) {
    return gate_.run([&] {
      if (ended_)
        return;
      send_ready();
      if (events_.message)
        events_.message(std::move(m));
    });
  }

  void deliver_ended(prism::status why) {
    why.message = core->mask(std::move(why.message));
    gate_.run([&] {
      if (ended_)
        return;
      ended_ = true;
      if (events_.ended)
        events_.ended(std::move(why));
    });
  }

  void deliver_lag(uint64_t lag) {
    gate_.run([&] {
      if (!ended_ && events_.lag)
        events_.lag(lag);
    });
  }

  void close_gate() { gate_.close(); }

  /// Setup failures while connected: the subscription ends UNAVAILABLE when
  /// they last unavailable_after_ms.
  failure_clock failing_;

private:
  void send_ready() {
    if (ready_)
      return;
    ready_ = true;
    if (events_.ready)
      events_.ready();
  }

  pubsub_driver::subscriber_events events_;
  callback_gate gate_;
  // Under gate_.
  bool ready_ = false;
  bool ended_ = false;
};

// --- push subscriptions: core NATS and ordered JetStream consumers ---------

/// A subscription nats.c pushes messages to: a core subscription (plain or
/// queue group) or an ordered JetStream consumer. Set up by the driver's
/// control thread; messages arrive on nats.c's delivery thread.
class push_sub final : public sub_state {
public:
  enum class kind { plain, queue, ordered };

  push_sub(std::shared_ptr<nats_core> c, std::string n,
           const model::subscribe_op& op, pubsub_driver::subscriber_events ev,
           kind k)
    : sub_state(std::move(c), std::move(n), op, std::move(ev)), kind_(k) {}

  void register_closure();

  /// One setup attempt on the control thread: the retry delay, or nothing
  /// once it is in place (ready sent) or has ended.
  std::optional<int64_t> setup_step();

  void on_message(natsMsg* m);
  void shutdown() override;
  uint64_t dropped() override;

private:
  /// Keeps the subscription, unless shutdown() came first.
  bool keep(natsSubscription* s);
  bool is_shut();
  /// A failed attempt: retry later, or end when it failed for too long
  /// while connected.
  std::optional<int64_t> retry_or_end(const step& st);

  const kind kind_;
  void* handle_ = nullptr;
  std::atomic<uint64_t> next_tag_{0};
  std::mutex mutex_;
  natsSubscription* sub_ = nullptr;
  bool shut_ = false;
  /// The subscription exists; what is left is to confirm it with the server.
  bool subscribed_ = false;
};

// --- JetStream named members: durable pull consumers -----------------------

/// One member of a named subscription in JetStream mode. Its own thread sets
/// up the durable consumer and binds to it, fetches what its credit allows,
/// acks, and keeps held messages in progress. Every natsMsg it delivered
/// stays here until acked or, when the member goes, given back (NAK), always
/// before the natsSubscription is destroyed.
class pull_member final : public sub_state {
public:
  using sub_state::sub_state;

  void launch();

  void request(uint32_t n) override {
    std::lock_guard<std::mutex> lock{mutex_};
    credit_
      = std::min<uint64_t>(credit_ + n, defaults::nats_member_credit_max_count);
    wake_.notify_all();
  }

  void ack(uint64_t tag) override {
    std::lock_guard<std::mutex> lock{mutex_};
    if (stop_)
      return;
    to_ack_.push_back(tag);
    wake_.notify_all();
  }

  /// Returns at once: the member's thread finishes the pull request it
  /// may have outstanding (at most fetch_wait_ms), then acks, gives back
  /// what it holds and unsubscribes. Waiting for that request, rather than
  /// unsubscribing under it, keeps nats-server 2.9 from handing a message
  /// it redelivers to a request nobody listens to any more (it then
  /// rewinds the consumer by one: a duplicate, and a redelivery delayed).
  /// The driver waits for the thread before it closes the connection.
  void shutdown() override {
    close_gate();
    std::lock_guard<std::mutex> lock{mutex_};
    stop_ = true;
    wake_.notify_all();
  }

private:
  struct held {
    natsMsg* msg = nullptr;
    time_point delivered_at;
  };

  void run();
  step setup();
  void fetch(int batch);
  void take(natsMsgList& list);
  void on_fetch_error(natsStatus s);
  void send_acks(const std::vector<uint64_t>& tags);
  void keep_in_progress();
  void report_lag();
  void finish();

  /// Waits up to `ms` or until stopped; true when stopped.
  bool pause(int64_t ms) {
    std::unique_lock<std::mutex> lock{mutex_};
    return wake_.wait_for(lock, milliseconds(ms), [this] { return stop_; });
  }

  bool stopped() {
    std::lock_guard<std::mutex> lock{mutex_};
    return stop_;
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  // Under mutex_.
  uint64_t credit_ = 0;
  std::vector<uint64_t> to_ack_;
  bool stop_ = false;

  // The member's thread only.
  natsSubscription* sub_ = nullptr;
  std::string stream_;
  std::string durable_;
  std::map<uint64_t, held> held_;
  uint64_t next_tag_ = 0;
  int64_t progress_every_ms_ = nats_tuning::ack_wait_ms / 3;
  time_point next_progress_ = time_point::max();
  time_point next_lag_ = time_point::min();
  int64_t backoff_ms_ = nats_tuning::retry_min_ms;
  /// Set once the member delivered `ended` (it then only finishes).
  bool over_ = false;
};

} // namespace prism::drivers::nats_detail
