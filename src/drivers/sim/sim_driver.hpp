#pragma once

// A simulated KeyValue backend for deterministic runs: the memory engine on a
// manual clock, plus faults a test or scenario switches on. It completes
// inline (or holds work until released), never starts a thread and never
// draws a random number, so under CAF's test coordinator the same inputs give
// the same run. Single-threaded: use it only where one thread drives it.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "drivers/driver.hpp"
#include "kv/memory_store.hpp"

namespace prism::drivers {

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

  /// While holding, operations wait until `release_held` runs them.
  void set_holding(bool holding);

  /// Runs and completes every held operation in arrival order; returns how
  /// many ran.
  size_t release_held();

  size_t held() const { return held_.size(); }
  /// Operations applied to the store (failed and held ones not counted).
  uint64_t applied() const { return applied_; }
  uint64_t failed() const { return failed_; }
  uint64_t reclaimed() const { return reclaimed_; }
  const kv::memory_store& store() const { return store_; }
  manual_clock& clock() { return *clock_; }

  void execute(std::string ns, operation_ptr op, kv_driver::completion done);
  void reclaim_expired(uint32_t max_keys,
                       kv_driver::reclaim_completion done);

private:
  struct held_operation {
    std::string ns;
    operation_ptr op;
    kv_driver::completion done;
  };

  void apply(held_operation& work);
  void notify(const std::string& event) const {
    if (observer_)
      observer_(event);
  }

  std::shared_ptr<manual_clock> clock_;
  kv::memory_store store_;
  std::deque<held_operation> held_;
  bool holding_ = false;
  uint32_t fail_next_ = 0;
  status_code fail_code_ = status_code::unavailable;
  uint64_t applied_ = 0;
  uint64_t failed_ = 0;
  uint64_t reclaimed_ = 0;
  observer observer_;
};

/// A driver that forwards to a shared sim_backend.
class sim_driver final : public kv_driver {
public:
  sim_driver(std::shared_ptr<sim_backend> backend, std::string name,
             uint32_t index);

  void execute(std::string ns, operation_ptr op, completion done) override;
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

} // namespace prism::drivers
