#pragma once

// A simulated KeyValue backend for deterministic runs: the memory engine on a
// manual clock, plus faults a test or scenario switches on. It completes
// inline (or holds work until released), never starts a thread and never
// draws a random number, so under CAF's test coordinator the same inputs give
// the same run. Single-threaded: use it only where one thread drives it.
//
// Faults it can be told to produce:
// - fail_next: the next operations fail with a status code (not applied);
// - drop_next: the next operations find their connection broken (not
//   applied; the connection actor fails and is restarted);
// - commit_unknown_next: the next writes are applied, then their connection
//   breaks before the acknowledgment (the outcome is unknown to the caller);
// - throw_next: the next operations throw from `execute` (the connection
//   actor dies of the exception);
// - set_crashing: every operation finds its connection broken, but new
//   connections open (connections restart over and over);
// - set_down: the backend is unreachable: every operation finds its
//   connection broken and no new connection can be opened;
// - set_failing: every operation fails with a status code until cleared;
// - set_holding: operations hang until released, or until the timeout the
//   connection gave them passes (then DEADLINE_EXCEEDED, not applied);
// - set_latency: operations complete only after some virtual time, plus a
//   seeded jitter (release_due completes those whose time has come);
// - set_random_faults: each operation fails or drops its connection with a
//   probability, drawn from a generator seeded by the test;
// - set_frozen and discard_in_flight: the process using the backend dies
//   (kill -9): what it had not sent never arrives, what was in flight gets
//   no answer (a held or delayed write is not applied, as a transaction
//   rolled back when its client vanished).
//
// And one defect a run may plant on purpose (defects.hpp):
// - set_ack_before_write: writes are acknowledged before they are durable
//   and lost when a connection breaks before the next checkpoint.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "drivers/driver.hpp"
#include "drivers/memory/memory_store.hpp"

namespace prism::simulation {

using drivers::driver_factory;
using drivers::kv_driver;
using drivers::manual_clock;
using drivers::op_timeout;
using drivers::operation_ptr;

class sim_backend {
public:
  /// Told about each fault-related event, as one line of text: "fail_next 1
  /// UNAVAILABLE", "holding on", "held Set k", "failed Set k UNAVAILABLE",
  /// "released 2". The deterministic harness records them in its trace.
  using observer = std::function<void(const std::string& event)>;

  explicit sim_backend(std::shared_ptr<manual_clock> clock);

  /// Sets (or clears, with an empty function) the observer.
  void set_observer(observer fn) { observer_ = std::move(fn); }
  bool has_observer() const { return static_cast<bool>(observer_); }

  /// The next `count` operations fail with `code` (and are not applied).
  void fail_next(uint32_t count, status_code code = status_code::unavailable);

  /// While set, every operation fails with `code` (and is not applied);
  /// nullopt clears it.
  void set_failing(std::optional<status_code> code);

  /// The next `count` operations report a broken connection.
  void drop_next(uint32_t count);

  /// The next `count` writes are applied, then report a broken connection
  /// whose message says the write may or may not have been applied (a
  /// break during COMMIT). Reads are not counted.
  void commit_unknown_next(uint32_t count);

  /// The next `count` operations throw std::runtime_error from execute.
  void throw_next(uint32_t count);

  /// While crashing, every operation reports a broken connection (not
  /// applied); new connections open as usual.
  void set_crashing(bool crashing);

  /// While down, operations report a broken connection and `connect` throws.
  void set_down(bool down);
  bool down() const { return down_; }

  /// Called by the driver factory for each new connection: throws while the
  /// backend is down.
  void connect(uint32_t index);

  /// Each operation fails with UNAVAILABLE with probability `fail`, or drops
  /// its connection with probability `drop` (checked in that order), drawn
  /// from a generator seeded with `seed`. Zero for both turns it off.
  void set_random_faults(double fail, double drop, uint64_t seed);

  /// While frozen, operations vanish: not applied, never completed (their
  /// completions are destroyed unanswered). The client process is dying.
  void set_frozen(bool frozen);

  /// Forgets every held and delayed operation without applying or
  /// completing it; returns how many there were.
  size_t discard_in_flight();

  /// While holding, operations wait until `release_held` runs them.
  void set_holding(bool holding);

  /// Operations complete `ms` of virtual (manual clock) time after they
  /// start; 0 completes them at once.
  void set_latency(int64_t ms);

  /// Adds 0..`jitter_ms` (uniform, drawn from a generator seeded with
  /// `seed`) to each delayed operation's latency; 0 turns it off.
  void set_latency_jitter(int64_t jitter_ms, uint64_t seed);

  /// The manual-clock time (ms) at which the next delayed operation
  /// completes or the next held one times out; nullopt when none waits for
  /// time.
  std::optional<int64_t> next_due_ms() const;

  /// Completes the delayed operations whose time has come (in start order)
  /// and times out the held ones whose timeout passed; returns how many.
  size_t release_due();

  /// Runs and completes every held operation in arrival order; returns how
  /// many ran.
  size_t release_held();

  /// A planted defect: writes are acknowledged once applied in memory and
  /// made durable only at checkpoints, taken with the first operation at
  /// least `checkpoint_ms` after the last one; a broken connection (dropped,
  /// crashed, thrown, the backend down) before then loses every write since
  /// the last checkpoint. 0 turns it off.
  void set_ack_before_write(int64_t checkpoint_ms);

  size_t held() const { return held_.size(); }
  /// Operations applied to the store (failed and held ones not counted).
  uint64_t applied() const { return applied_; }
  uint64_t failed() const { return failed_; }
  uint64_t reclaimed() const { return reclaimed_; }
  const drivers::memory_store& store() const { return store_; }
  manual_clock& clock() { return *clock_; }

  /// An operation that would take longer than `timeout` (a latency is set)
  /// gives up when the timeout passes, not applied, with DEADLINE_EXCEEDED.
  void execute(std::string ns, operation_ptr op, op_timeout timeout,
               kv_driver::completion done);
  void reclaim_expired(uint32_t max_keys, kv_driver::reclaim_completion done);

private:
  struct held_operation {
    std::string ns;
    operation_ptr op;
    kv_driver::completion done;
    /// For delayed operations: when they complete (manual clock, ms), and
    /// whether they time out then instead. For held ones: when they time
    /// out, if they have a timeout.
    int64_t due_ms = 0;
    bool times_out = false;
  };

  void apply(held_operation& work);
  /// ack_before_write: takes a checkpoint when one is due...
  void checkpoint_if_due();
  /// ... and loses what was written since the last one.
  void lose_unflushed_writes();
  void time_out(held_operation& work);
  size_t time_out_held(int64_t now_ms);
  void notify(const std::string& event) const {
    if (observer_)
      observer_(event);
  }

  std::shared_ptr<manual_clock> clock_;
  drivers::memory_store store_;
  std::deque<held_operation> held_;
  std::deque<held_operation> delayed_;
  bool holding_ = false;
  bool frozen_ = false;
  bool down_ = false;
  bool crashing_ = false;
  int64_t latency_ms_ = 0;
  int64_t jitter_ms_ = 0;
  std::mt19937_64 jitter_rng_;
  std::optional<status_code> failing_;
  uint32_t drop_next_ = 0;
  uint32_t throw_next_ = 0;
  uint32_t commit_unknown_next_ = 0;
  double random_fail_ = 0;
  double random_drop_ = 0;
  std::mt19937_64 rng_;
  uint32_t fail_next_ = 0;
  status_code fail_code_ = status_code::unavailable;
  uint64_t applied_ = 0;
  uint64_t failed_ = 0;
  uint64_t reclaimed_ = 0;
  observer observer_;
  int64_t ack_checkpoint_ms_ = 0;
  int64_t last_checkpoint_ms_ = 0;
  uint64_t unflushed_writes_ = 0;
  drivers::memory_store durable_;
};

/// A driver that forwards to a shared sim_backend.
class sim_driver final : public kv_driver {
public:
  sim_driver(std::shared_ptr<sim_backend> backend, std::string name,
             uint32_t index);

  using kv_driver::execute;
  void execute(std::string ns, operation_ptr op, op_timeout timeout,
               completion done) override;
  void reclaim_expired(uint32_t max_keys, reclaim_completion done) override;
  std::string describe() const override;

private:
  std::shared_ptr<sim_backend> backend_;
  std::string name_;
  uint32_t index_;
};

/// One sim_backend per backend name, made on first use; the map stays
/// reachable so a test can reach into each backend.
using sim_backends = std::map<std::string, std::shared_ptr<sim_backend>>;

driver_factory make_sim_driver_factory(std::shared_ptr<sim_backends> backends,
                                       std::shared_ptr<manual_clock> clock);

} // namespace prism::simulation
