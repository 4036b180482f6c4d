#pragma once

// The whole actor tree of a gateway on CAF's test coordinator: one thread,
// virtual time, simulated drivers. Tests submit calls, run the scheduler and
// read the answers; nothing depends on the wall clock.
//
// Without a seed, ready actors run in the coordinator's FIFO order. With a
// seed, each step picks the next actor to run among the ready ones with a
// generator seeded by it (each actor's own mailbox stays FIFO), so different
// seeds explore different interleavings and the same seed replays one.
//
// Either way the harness keeps a trace: one line of text per event (a call
// submitted, an actor handling one message, an actor ending, an answer
// delivered, virtual time moving, a simulated backend's fault). It holds no
// pointers, thread ids or wall-clock values: the same seed and inputs give a
// byte-identical trace.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "config/config.hpp"
#include "gateway/gateway.hpp"
#include "runtime/inspector.hpp"
#include "simulation/sim_broker.hpp"
#include "simulation/sim_driver.hpp"

namespace prism::simulation {

/// Audit lines kept in memory.
class recording_audit_sink final : public audit_sink {
public:
  void write(std::string json_line) override {
    lines.push_back(std::move(json_line));
  }
  std::vector<std::string> lines;
};

/// A subscriber stream kept in memory. Writes complete at once unless
/// `hold` is set: then each write waits for `release_one` (a slow reader).
class recording_sink final : public message_sink {
public:
  void write(const model::message& m, std::function<void(bool)> done) override;
  void finish(const status& st) override;
  void on_cancel(std::function<void()> fn) override;
  void subscribed() override;

  /// The client goes away.
  void cancel();
  /// Completes the write that waits, if any; true if there was one.
  bool release_one();

  bool hold = false;
  /// The gateway said the subscription is in place.
  bool is_subscribed = false;
  /// Optional observers, for a harness that records the stream as it goes:
  /// each message written, the subscription in place, the stream finished.
  std::function<void(const model::message&)> on_write;
  std::function<void()> on_subscribed;
  std::function<void(const status&)> on_finish;
  std::vector<model::message> received;
  std::optional<status> finished;

private:
  std::function<void(bool)> pending_;
  std::function<void()> cancel_fn_;
  bool cancelled_ = false;
};

/// What the harness does with an actor's next message (see
/// deterministic_gateway::add_interceptor).
struct interception {
  enum class action : uint8_t {
    /// The actor runs it as usual.
    deliver,
    /// It is taken out of the mailbox unread, as if it was lost on its way
    /// (an admission slot its sender took stays taken; a call it carries
    /// completes itself UNAVAILABLE once nothing else holds it).
    drop,
    /// It is taken out of the mailbox, and the call it carries (a request)
    /// is answered `outcome` in place of the actor: the admission slot its
    /// sender took is given back (a stage's or the router's, which the
    /// call's route names) and the answer goes to the call's session, as
    /// the actor would have sent it.
    answer,
  };
  action what = action::deliver;
  model::outcome outcome;
  /// Why, for the trace.
  std::string note;
};

/// Looks at each message before its actor runs it, and is told after each
/// run. The harness calls it on its one thread, in the run's order, so what
/// it decides is as deterministic as the run.
class interceptor {
public:
  virtual ~interceptor() = default;
  /// `label`: the actor's label (as in the trace); `next`: its next message.
  virtual interception before(const std::string& label,
                              caf::mailbox_element& next)
    = 0;
  /// After `label` ran (a message, or its start); `ended`: that was its last
  /// run, its state is gone.
  virtual void after(const std::string& label, bool ended) {
    (void)label;
    (void)ended;
  }
  /// The gateway is about to crash (deterministic_gateway::crash): let go
  /// of every call held; the interceptor goes on with the next gateway.
  virtual void gateway_crashed() {}
};

struct answer {
  std::string request_id;
  model::outcome outcome;
  /// Virtual time of the submission and of the answer, in ms.
  int64_t submitted_ms = 0;
  int64_t answered_ms = 0;
};

/// A config from YAML text; fails the test (throws) when it has problems.
config::gateway_config parse_config(const std::string& yaml);

class deterministic_gateway {
public:
  /// `seed`: pick the next ready actor at random from it; none keeps FIFO.
  /// `pubsub` makes the clients of Kafka and NATS backends (see
  /// fake_pubsub.hpp); without it they are simulated backends
  /// (sim_broker.hpp), pumped between scheduler steps: with a seed, a
  /// simulated backend with work to do is one more candidate of each pick.
  explicit deterministic_gateway(const config::gateway_config& cfg,
                                 std::optional<uint64_t> seed = {},
                                 drivers::pubsub_driver_factory pubsub = {});
  ~deterministic_gateway();

  /// The gateway process dies at once, as under kill -9. Calls in flight
  /// get no answer (their clients see the connection drop), nothing the
  /// process had not yet handed to a backend reaches it, held and delayed
  /// backend operations are discarded unapplied, subscriber streams end
  /// without a status, and memory backends lose their data; SQLite- and
  /// PostgreSQL-like backends keep theirs, and every backend keeps the faults
  /// it was told to produce. Until `restart`, there is no gateway: time can
  /// advance, nothing can be submitted.
  void crash();
  /// A new gateway process starts with `cfg` on the same simulated backends,
  /// at the current virtual time. Actor labels start over ("pool:disk" is
  /// the new pool's).
  void restart(const config::gateway_config& cfg);
  /// Between crash and restart.
  bool down() const { return down_; }
  /// How many times the gateway crashed.
  int crashes() const { return crashes_; }

  /// Submits a call as the front end would (validation included). A
  /// `deadline_ms` is relative to the virtual now.
  void submit(const std::string& request_id, const std::string& ns,
              model::operation op, std::optional<int64_t> deadline_ms = {},
              const std::string& client = "client-1",
              const std::string& principal = {});

  /// Opens a subscriber stream as the front end would; the answer to the
  /// Subscribe call arrives like any other (OK once it is in place).
  std::shared_ptr<recording_sink> subscribe(const std::string& request_id,
                                            const std::string& ns,
                                            model::subscribe_op op,
                                            const std::string& client
                                            = "client-1",
                                            const std::string& principal = {});

  /// Runs every ready job (in the seed's order, or FIFO); returns how many
  /// ran.
  size_t run();
  /// Runs the next ready job (one message of one actor); false if none.
  bool run_one();

  /// Moves virtual time (actor clock and the drivers' wall clock) forward and
  /// runs what became ready.
  void advance_ms(int64_t ms);

  /// Virtual ms until the next thing that only time makes happen: a CAF
  /// timer (a delayed message, a timeout) or a simulated backend's delayed
  /// or timed-out operation. Rounded up; nullopt when nothing waits.
  std::optional<int64_t> next_timer_in_ms();

  /// Submits, runs, and returns the answer (fails if there is none).
  model::outcome call(const std::string& ns, model::operation op);

  /// The answer of `request_id`, if it has one.
  const model::outcome* answer_of(const std::string& request_id) const;

  /// Every answer in completion order.
  const std::vector<answer>& answers() const { return *answers_; }

  /// The gateway's metrics in Prometheus text, once every message is
  /// handled.
  std::string metrics_text();

  /// The event trace so far, one event per line, e.g.
  ///   submit q1 client-1 cache Set k1
  ///   run session:client-1 request q1
  ///   run connection:disk#0 request q1
  ///   sim disk held Get k
  ///   answer q1 OK
  ///   advance 100ms now=100ms timeouts=1
  /// An actor's label is its kind and name from the inspector (a second
  /// actor with the same label gets "#2", and so on), or CAF's name for an
  /// actor that did not register.
  const std::vector<std::string>& trace() const { return *trace_; }
  /// The trace as one text, each line ending in a newline.
  std::string trace_text() const;
  /// Adds a line of the test's own to the trace (e.g. a phase marker).
  void note(std::string line) {
    trace_->push_back(std::move(line));
    between_events();
  }
  std::optional<uint64_t> seed() const { return seed_; }
  /// Virtual time since the start, in ms.
  int64_t now_ms() const { return *virtual_ms_; }
  /// The wall clock the drivers and brokers read, in ms since the epoch.
  int64_t backend_clock_ms() const { return clock_->now_ms(); }
  /// Moves the drivers' wall clock `ms` forward without moving virtual time
  /// (the actors' timers): a host whose clock jumps.
  void jump_backend_clock_ms(int64_t ms);

  /// Adds a hook that sees every message before its actor runs it and may
  /// drop it or answer its call instead (the first that does not deliver
  /// decides), and is told after each run.
  void add_interceptor(std::shared_ptr<interceptor> hook) {
    interceptors_.push_back(std::move(hook));
  }

  /// The most messages (of any kind) seen waiting in each actor's mailbox
  /// as it was about to run, by label: an independent check of the
  /// admission limits.
  std::map<std::string, size_t> max_mailbox_depths() const;

  simulation::sim_backend& backend(const std::string& name);
  bool has_backend(const std::string& name) const {
    return backends_->count(name) > 0;
  }
  /// A simulated PubSub backend (none when the caller passed a factory).
  simulation::sim_broker& broker(const std::string& name);
  bool has_broker(const std::string& name) const {
    return brokers_->count(name) > 0;
  }
  /// Runs the simulated PubSub backends that have work; true if one called
  /// anything back.
  bool pump_brokers();
  gateway& gw() { return *gateway_; }
  caf::actor_system& system() { return *sys_; }
  caf::scheduler::test_coordinator& scheduler() { return *sched_; }
  recording_audit_sink& audit() { return *audit_; }
  /// Calls `fn` once with the record of each actor that registered with the
  /// inspector, after the actor's first run (the gateway's actors register
  /// as they start), and at once with those of the actors that ran already.
  /// The record outlives its actor for as long as it is kept, so its last
  /// figures stay readable.
  void on_new_actor(std::function<void(const actor_record_ptr&)> fn);

  /// The registry every actor of the gateway registers with.
  inspector& actors() { return *actors_; }

  /// Sets the function called at each point of the run where the whole
  /// gateway may be read: between two events of the trace, never while an
  /// actor runs (before each job, after a note, a submission, time moving, a
  /// crash or a restart), and only when the trace grew since the last call.
  /// It must not change the run (no sends, no draws, no trace lines); it may
  /// throw to stop the run. Empty: none (the default).
  void on_between_events(std::function<void()> fn) {
    between_events_ = std::move(fn);
  }
  /// Calls that function now if the trace grew since its last call.
  void between_events();

  /// One message waiting in an actor's mailbox, described as the trace
  /// describes the message an actor runs.
  struct queued_message {
    /// The sender's label (as in the trace), or empty when it has none.
    std::string from;
    std::string message;
  };
  /// The messages waiting in the mailbox of the registered actor `id`, in
  /// the order its queues hold them (urgent before normal); nullopt when no
  /// live actor has that id. Between events only (see on_between_events).
  std::optional<std::vector<queued_message>> mailbox_of(uint64_t id);
  /// The label of actor `id` as the trace gives it ("pool:disk", "#2" for a
  /// later incarnation), or empty when it has not run yet.
  std::string label_of_id(uint64_t id) const;

private:
  void start(const config::gateway_config& cfg,
             std::optional<caf::actor_clock::time_point> now);
  void stop_actors();

  std::unique_ptr<caf::actor_system_config> sys_cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  std::shared_ptr<drivers::manual_clock> clock_;
  std::shared_ptr<simulation::sim_backends> backends_;
  std::shared_ptr<simulation::sim_brokers> brokers_;
  std::shared_ptr<recording_audit_sink> audit_;
  std::shared_ptr<std::vector<answer>> answers_;
  std::unique_ptr<inspector> actors_;
  std::unique_ptr<gateway> gateway_;
  drivers::pubsub_driver_factory pubsub_;
  std::function<void(const actor_record_ptr&)> new_actor_;
  /// False once the process that made a call has crashed: its answer, if any
  /// actor still gives one while the old tree is torn down, is lost.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  int crashes_ = 0;
  bool down_ = false;
  /// The actor clock's time while the gateway is down.
  caf::actor_clock::time_point down_clock_{};
  /// The type of each backend of the running config.
  std::map<std::string, config::backend_type> config_backends_;
  /// Deepest mailboxes of the actors of crashed gateways, by label.
  std::map<std::string, size_t> retired_depths_;
  uint64_t next_id_ = 0;

  /// The label of an actor, e.g. "pool:disk", assigned when it first runs
  /// (after its first run, once it has registered).
  const std::string& label_of(caf::scheduled_actor& actor);
  bool brokers_have_work() const;
  std::string describe_next(caf::scheduled_actor& actor);
  /// Asks the interceptors about the actor's next message and carries out
  /// what they decide; true when the message was taken out.
  bool intercepted(caf::scheduled_actor& actor, const std::string& what);

  std::vector<std::shared_ptr<interceptor>> interceptors_;
  std::function<void()> between_events_;
  /// The trace's length at the last call of between_events_.
  size_t between_events_seen_ = 0;

  std::optional<uint64_t> seed_;
  std::optional<std::mt19937_64> rng_;
  std::shared_ptr<std::vector<std::string>> trace_;
  std::map<caf::actor_id, std::string> labels_;
  std::map<caf::actor_id, size_t> max_depth_;
  std::map<std::string, size_t> label_counts_;
  /// Virtual time since the start, in ms; shared with the completions.
  std::shared_ptr<int64_t> virtual_ms_ = std::make_shared<int64_t>(0);
};

} // namespace prism::simulation
