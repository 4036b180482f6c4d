#pragma once

// The shared core of a NATS driver: the connection, the state listener,
// publishes waiting for JetStream, the streams known to exist and the live
// subscriptions, plus the gate and closures through which nats.c's
// callbacks reach them. Private to src/drivers/nats.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "drivers/nats/nats_settings.hpp"

namespace prism::drivers::nats_detail {

// --- callback gate ---------------------------------------------------------

/// Runs callbacks one at a time until closed. close() waits for the one
/// running, unless it is called from inside it (a callback that destroys its
/// own subscription).
class callback_gate {
public:
  template <class F>
  bool run(F&& f) {
    std::lock_guard<std::mutex> lock{mutex_};
    if (closed_)
      return false;
    runner_.store(std::this_thread::get_id());
    struct reset {
      std::atomic<std::thread::id>& r;
      ~reset() { r.store(std::thread::id{}); }
    } reset_runner{runner_};
    f();
    return true;
  }

  void close() {
    if (runner_.load() == std::this_thread::get_id()) {
      closed_ = true; // this thread holds mutex_ (inside run)
      return;
    }
    std::lock_guard<std::mutex> lock{mutex_};
    closed_ = true;
  }

private:
  std::mutex mutex_;
  bool closed_ = false;
  std::atomic<std::thread::id> runner_{};
};

// --- closures --------------------------------------------------------------

/// nats.c calls back with a void* closure, possibly after the object it
/// meant is gone (a delivery thread finishing a callback, an acknowledgment
/// arriving after the driver closed). So closures are numbers, looked up
/// here; a number whose object is gone finds nothing.
template <class T>
class closures {
public:
  static closures& instance() {
    // Never destroyed: nats.c threads may call back during process exit.
    static auto* r = new closures;
    return *r;
  }

  void* add(const std::shared_ptr<T>& object) {
    std::lock_guard<std::mutex> lock{mutex_};
    uint64_t id = ++next_;
    objects_[id] = object;
    return reinterpret_cast<void*>(static_cast<uintptr_t>(id));
  }

  std::shared_ptr<T> find(void* closure) {
    std::lock_guard<std::mutex> lock{mutex_};
    auto it = objects_.find(reinterpret_cast<uintptr_t>(closure));
    return it == objects_.end() ? nullptr : it->second.lock();
  }

  void remove(void* closure) {
    std::lock_guard<std::mutex> lock{mutex_};
    objects_.erase(reinterpret_cast<uintptr_t>(closure));
  }

private:
  std::mutex mutex_;
  uint64_t next_ = 0;
  std::unordered_map<uint64_t, std::weak_ptr<T>> objects_;
};

// --- the shared core -------------------------------------------------------

struct publish_job {
  std::string ns;
  model::publish_op op;
  time_point deadline = time_point::max();
  pubsub_driver::completion done;
};

/// A JetStream publish sent and waiting for its acknowledgment.
struct awaiting_ack {
  std::string ns;
  time_point deadline = time_point::max();
  int64_t max_wait_ms = 0;
  /// The wait ends with the client's deadline (it is shorter than the
  /// longest the driver waits for an acknowledgment): a timeout then means
  /// the deadline ran out, even if nats.c's whole milliseconds ended the
  /// wait a little before it.
  bool wait_ends_at_deadline = false;
  pubsub_driver::completion done;
};

class sub_state;

/// What the driver, its subscriptions and nats.c's callbacks share. The
/// connection lives as long as the driver; subscriptions that outlive it
/// are shut down by it first.
class nats_core : public std::enable_shared_from_this<nats_core> {
public:
  nats_core(nats_settings s, std::shared_ptr<wall_clock> c)
    : settings(std::move(s)), clock(std::move(c)),
      id_prefix(std::to_string(clock->now_ms()) + "-") {}

  const nats_settings settings;
  const std::shared_ptr<wall_clock> clock;
  /// "<driver start ms>-": core NATS message ids continue it with a counter.
  const std::string id_prefix;
  std::atomic<uint64_t> next_id{0};
  /// This core's closure for nats.c's connection and JetStream callbacks.
  void* handle = nullptr;

  std::atomic<natsConnection*> nc{nullptr};
  std::atomic<jsCtx*> js{nullptr};
  std::atomic<bool> connected{false};
  std::atomic<bool> stopping{false};

  /// The state listener and publish completions pass here; the driver's
  /// destructor closes it.
  callback_gate gate;

  /// Replaces the token in `text` by "***" (nats.c's messages should never
  /// hold it; this makes sure).
  std::string mask(std::string text) const;

  std::string next_message_id() {
    return id_prefix + std::to_string(++next_id);
  }

  // --- connection state ---

  void set_listener(pubsub_driver::state_listener l);

  /// The first report: the connection as it is now (again after a connect
  /// attempt that got no connection object, when that changes it).
  void report_first(const std::string& reason_if_down);

  /// A change the connection's callbacks saw; reported when it is one.
  void on_state(bool up, const std::string& reason);

  // --- publishes ---

  /// Answers a publish (through the gate) and counts it done.
  void answer(pubsub_driver::completion& done, model::outcome o) {
    gate.run([&] { done(std::move(o)); });
    in_flight.fetch_sub(1);
  }

  /// Publishes queued or waiting for JetStream; bounded by max_pending.
  std::atomic<uint32_t> in_flight{0};

  void expect_ack(natsMsg* msg, awaiting_ack a);
  std::optional<awaiting_ack> take_ack(natsMsg* msg);
  std::vector<awaiting_ack> take_all_acks();

  /// JetStream answered (or nats.c gave up waiting) for `msg`.
  void on_publish_ack(natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae);

  /// The connection broke: publishes still waiting for JetStream cannot be
  /// told apart from lost ones any more.
  void fail_awaiting(const std::string& why);

  // --- streams ---

  /// Makes sure the stream of namespace ns exists and holds its subjects,
  /// waiting for JetStream no longer than api_wait_ms or until `deadline`.
  step ensure_stream(const std::string& ns,
                     time_point deadline = time_point::max());
  void forget_stream(const std::string& ns) {
    std::lock_guard<std::mutex> lock{streams_mutex_};
    streams_.erase(ns);
  }

  // --- subscriptions ---

  void add_sub(const std::shared_ptr<sub_state>& s);
  std::vector<std::shared_ptr<sub_state>> live_subs();

  /// Threads of JetStream members still running; the driver waits for
  /// them before it closes the connection.
  void thread_started();
  void thread_finished();
  void wait_for_threads();

  /// Messages dropped by core subscriptions that are gone.
  std::atomic<uint64_t> dropped_by_closed_subs{0};

private:
  model::outcome ack_outcome(const awaiting_ack& a, jsPubAck* pa,
                             jsPubAckErr* pae);

  std::mutex state_mutex_;
  bool first_reported_ = false;
  bool reported_up_ = false;
  pubsub_driver::state_listener listener_;

  std::mutex acks_mutex_;
  std::unordered_map<natsMsg*, awaiting_ack> awaiting_;

  std::mutex streams_mutex_;
  std::set<std::string> streams_;

  std::mutex subs_mutex_;
  std::vector<std::weak_ptr<sub_state>> subs_;

  std::mutex threads_mutex_;
  std::condition_variable threads_done_;
  int threads_ = 0;
};

// --- nats.c callbacks for the connection -----------------------------------

/// ": <nats.c's last error of the connection>", or nothing when it has none.
std::string connection_error(natsConnection* nc);

// The closure of each is the core's handle.
void on_disconnected(natsConnection* nc, void* closure);
void on_connected(natsConnection* nc, void* closure);
void on_closed(natsConnection* nc, void* closure);
void on_publish_ack(jsCtx* js, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae,
                    void* closure);

// --- messages --------------------------------------------------------------

/// A NATS message built from a publish, with metadata, id and time headers;
/// null with `s` set when nats.c refuses it.
natsMsg* make_message(const std::string& subject, const model::publish_op& op,
                      const std::string& id, int64_t now_ms, natsStatus& s);

/// The message as a subscriber receives it. JetStream deliveries take id
/// and time from their metadata; core ones from the publisher's headers,
/// else (another client published it) a fresh id and the time now.
model::message to_message(natsMsg* m, const std::string& topic, bool jetstream,
                          nats_core& core);

} // namespace prism::drivers::nats_detail
