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
  void subscribed() override { is_subscribed = true; }

  /// The client goes away.
  void cancel();
  /// Completes the write that waits, if any; true if there was one.
  bool release_one();

  bool hold = false;
  /// The gateway said the subscription is in place.
  bool is_subscribed = false;
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
  /// fake_pubsub.hpp); without it such a backend fails the start.
  explicit deterministic_gateway(const config::gateway_config& cfg,
                                 std::optional<uint64_t> seed = {},
                                 drivers::pubsub_driver_factory pubsub = {});
  ~deterministic_gateway();

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
  void note(std::string line) { trace_->push_back(std::move(line)); }
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
  gateway& gw() { return *gateway_; }
  caf::actor_system& system() { return *sys_; }
  caf::scheduler::test_coordinator& scheduler() { return *sched_; }
  recording_audit_sink& audit() { return *audit_; }
  /// The registry every actor of the gateway registers with.
  inspector& actors() { return *actors_; }

private:
  caf::actor_system_config sys_cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  std::shared_ptr<drivers::manual_clock> clock_;
  std::shared_ptr<simulation::sim_backends> backends_;
  std::shared_ptr<recording_audit_sink> audit_;
  std::shared_ptr<std::vector<answer>> answers_;
  std::unique_ptr<inspector> actors_;
  std::unique_ptr<gateway> gateway_;
  uint64_t next_id_ = 0;

  /// The label of an actor, e.g. "pool:disk", assigned when it first runs
  /// (after its first run, once it has registered).
  const std::string& label_of(caf::scheduled_actor& actor);
  std::string describe_next(caf::scheduled_actor& actor);
  /// Asks the interceptors about the actor's next message and carries out
  /// what they decide; true when the message was taken out.
  bool intercepted(caf::scheduled_actor& actor, const std::string& what);

  std::vector<std::shared_ptr<interceptor>> interceptors_;

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
