#pragma once

// A simulated PubSub backend for deterministic runs: the cluster behind a
// Kafka or NATS backend, played by the harness. The gateway's remote broker
// talks to it through ordinary pubsub_driver clients (one per start of the
// broker actor), and the backend's state (each topic's log, each named
// subscription's position) outlives them, as a real cluster outlives its
// clients.
//
// Nothing happens when the gateway calls it: publishes, subscriptions,
// credit and acknowledgements are recorded, and every callback (a publish's
// answer, a message, a subscription being ready, the connection's state)
// runs only in `pump`, which the deterministic gateway calls between
// scheduler steps. No thread, no clock of its own, no unseeded randomness.
//
// What it promises, by model (config: kafka; nats with jetstream true or
// false):
// - kafka: each topic is one retained log (the order the gateway's Kafka
//   topics keep with one partition). A named subscription is a durable
//   consumer group: it starts at the end of the log, members share the
//   messages round robin within their credit, each acknowledged message is
//   forgotten, and what a member was sent but never acknowledged goes to the
//   next member that asks (at-least-once). An ephemeral subscriber reads the
//   log from its end (or start) and keeps its place while it lives.
// - jetstream: the same for named subscriptions (durable consumers);
//   ephemeral subscribers read with core NATS (below).
// - nats_core: nothing is retained. A message reaches the subscribers that
//   are ready when it is accepted, pushed without regard to credit; a named
//   subscription is a queue group whose members take turns and which keeps
//   no position (at-most-once).
//
// Faults it can be told to produce: down (the clients report the connection
// lost; publishes wait, nothing is delivered), holding (publishes wait),
// latency, failing / fail_next (publishes answered with a code, not
// stored), commit_unknown_next (stored, then answered UNAVAILABLE "may or
// may not"), duplicating (at-least-once subscriptions get each message
// again). And one planted defect: drops_on_reconnect (after the backend
// comes back, durable subscriptions that existed get nothing more).

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "drivers/pubsub_driver.hpp"
#include "simulation/history.hpp"

namespace prism::simulation {

/// What a backend of this type promises (see above).
pubsub_model model_of(const config::backend& backend);

class sim_broker : public std::enable_shared_from_this<sim_broker> {
public:
  /// Told about each event as one line of text ("stored t1 #4 c2-7",
  /// "deliver t1 #4 to sub 3", "down"), for the trace.
  using observer = std::function<void(const std::string& event)>;

  sim_broker(std::string name, pubsub_model model,
             std::shared_ptr<drivers::manual_clock> clock);
  ~sim_broker();
  sim_broker(const sim_broker&) = delete;
  sim_broker& operator=(const sim_broker&) = delete;

  void set_observer(observer fn) { observer_ = std::move(fn); }
  pubsub_model model() const { return model_; }
  const std::string& name() const { return name_; }

  // --- faults --------------------------------------------------------------
  void set_down(bool down);
  bool down() const { return down_; }
  void set_holding(bool holding);
  void set_latency(int64_t ms);
  void set_latency_jitter(int64_t jitter_ms, uint64_t seed);
  void set_failing(std::optional<status_code> code);
  void fail_next(uint32_t count, status_code code = status_code::unavailable);
  void commit_unknown_next(uint32_t count);
  void set_duplicating(bool duplicating);
  /// The planted defect "subscription_drops_on_reconnect".
  void plant_drops_on_reconnect(bool on) { drops_on_reconnect_ = on; }

  // --- the harness ---------------------------------------------------------
  /// Whether `pump` has something to do now.
  bool has_work() const;
  /// Virtual time moved: publishes waiting for it may be due.
  void clock_moved() {
    if (!publishes_.empty())
      dirty_ = true;
  }
  /// Does what is due: connection reports, publishes whose time has come
  /// (or whose timeout passed), readiness, deliveries. Returns whether it
  /// called anything back.
  bool pump();
  /// The manual-clock time (ms) at which a waiting publish falls due or
  /// times out; nullopt when none waits for time.
  std::optional<int64_t> next_due_ms() const;
  /// Messages durable subscriptions have not acknowledged yet, plus
  /// publishes not answered: zero once everything settled.
  uint64_t backlog() const;
  /// Messages accepted so far, over all topics.
  uint64_t stored() const { return stored_; }

  /// A client for the gateway's broker actor (the broker must be owned by a
  /// shared_ptr).
  drivers::pubsub_driver_ptr make_client();

private:
  friend class sim_pubsub_client;
  friend class sim_subscription;

  struct stored_message {
    model::message message;
  };
  using topic_key = std::pair<std::string, std::string>;
  using group_key = std::tuple<std::string, std::string, std::string>;

  struct group {
    /// The next offset never handed out.
    uint64_t cursor = 0;
    bool started = false;
    /// Offsets handed back (a member left, or a duplicate), oldest first.
    std::deque<std::pair<uint64_t, bool>> redeliver;
    /// Offset -> the member it was sent to, until acknowledged.
    std::map<uint64_t, uint64_t> outstanding;
    /// Members in the order they joined; the next to serve.
    std::vector<uint64_t> members;
    size_t turn = 0;
    /// Planted defect: delivers nothing more.
    bool stalled = false;
  };

  struct member {
    uint64_t client = 0;
    std::string ns;
    model::subscribe_op op;
    drivers::pubsub_driver::subscriber_events events;
    bool ready = false;
    uint64_t credit = 0;
    /// Ephemeral: the next offset of its topic to read.
    uint64_t cursor = 0;
  };

  struct publish_work {
    uint64_t client = 0;
    std::string ns;
    model::publish_op op;
    int64_t due_ms = 0;
    std::optional<int64_t> deadline_ms;
    drivers::pubsub_driver::completion done;
  };

  struct client_state {
    drivers::pubsub_driver::state_listener listener;
    /// What the client last told its broker (nullopt: nothing yet).
    std::optional<bool> reported_up;
  };

  // Called by clients and subscriptions.
  uint64_t add_client();
  void remove_client(uint64_t id);
  void start_client(uint64_t id, drivers::pubsub_driver::state_listener fn);
  void publish(uint64_t client, const std::string& ns,
               const model::publish_op& op, drivers::op_timeout timeout,
               drivers::pubsub_driver::completion done);
  uint64_t subscribe(uint64_t client, const std::string& ns,
                     const model::subscribe_op& op,
                     drivers::pubsub_driver::subscriber_events events);
  void unsubscribe(uint64_t id);
  void request(uint64_t id, uint32_t n);
  void ack(uint64_t id, uint64_t tag);

  bool report_states();
  bool run_publishes();
  bool answer_publish(publish_work& work);
  bool make_ready();
  bool deliver();
  bool deliver_group(const group_key& key, group& g);
  bool deliver_ephemeral(uint64_t id, member& m);
  bool at_least_once(const member& m) const;
  std::vector<stored_message>& log_of(const std::string& ns,
                                      const std::string& topic);
  void notify(const std::string& event) const {
    if (observer_)
      observer_(event);
  }

  std::string name_;
  pubsub_model model_;
  std::shared_ptr<drivers::manual_clock> clock_;
  observer observer_;
  std::map<topic_key, std::vector<stored_message>> topics_;
  std::map<group_key, group> groups_;
  std::map<uint64_t, member> members_;
  std::map<uint64_t, client_state> clients_;
  std::deque<publish_work> publishes_;
  uint64_t next_client_ = 1;
  uint64_t next_member_ = 1;
  uint64_t stored_ = 0;
  bool dirty_ = false;
  bool down_ = false;
  bool was_down_ = false;
  bool holding_ = false;
  bool duplicating_ = false;
  bool drops_on_reconnect_ = false;
  int64_t latency_ms_ = 0;
  int64_t jitter_ms_ = 0;
  int64_t last_due_ms_ = 0;
  std::mt19937_64 jitter_rng_;
  std::optional<status_code> failing_;
  uint32_t fail_next_ = 0;
  status_code fail_code_ = status_code::unavailable;
  uint32_t commit_unknown_next_ = 0;
};

/// The simulated PubSub backends of one run, by backend name.
using sim_brokers = std::map<std::string, std::shared_ptr<sim_broker>>;

/// A factory whose clients talk to the simulated backend of their name
/// (made on first use, with `on_new` told of it to set its observer).
drivers::pubsub_driver_factory make_sim_pubsub_factory(
  std::shared_ptr<sim_brokers> brokers,
  std::shared_ptr<drivers::manual_clock> clock,
  std::function<void(sim_broker&)> on_new);

} // namespace prism::simulation
