#pragma once

// The whole actor tree of a gateway on CAF's test coordinator: one thread,
// virtual time, simulated drivers. Tests submit calls, run the scheduler and
// read the answers; nothing depends on the wall clock.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "config/config.hpp"
#include "drivers/sim/sim_driver.hpp"
#include "gateway/gateway.hpp"

namespace prism::testing {

/// Audit lines kept in memory.
class recording_audit_sink final : public audit_sink {
public:
  void write(std::string json_line) override {
    lines.push_back(std::move(json_line));
  }
  std::vector<std::string> lines;
};

struct answer {
  std::string request_id;
  kv::outcome outcome;
};

/// A config from YAML text; fails the test (throws) when it has problems.
config::gateway_config parse_config(const std::string& yaml);

class deterministic_gateway {
public:
  explicit deterministic_gateway(const config::gateway_config& cfg);
  ~deterministic_gateway();

  /// Submits a call as the front end would (validation included). A
  /// `deadline_ms` is relative to the virtual now.
  void submit(const std::string& request_id, const std::string& ns,
              kv::operation op, std::optional<int64_t> deadline_ms = {},
              const std::string& client = "client-1");

  /// Runs every ready job; returns how many ran.
  size_t run();

  /// Moves virtual time (actor clock and the drivers' wall clock) forward and
  /// runs what became ready.
  void advance_ms(int64_t ms);

  /// Submits, runs, and returns the answer (fails if there is none).
  kv::outcome call(const std::string& ns, kv::operation op);

  /// The answer of `request_id`, if it has one.
  const kv::outcome* answer_of(const std::string& request_id) const;

  /// Every answer in completion order.
  const std::vector<answer>& answers() const { return *answers_; }

  /// Counters of every stage in Prometheus text.
  std::string metrics_text();

  drivers::sim_backend& backend(const std::string& name);
  gateway& gw() { return *gateway_; }
  caf::actor_system& system() { return *sys_; }
  caf::scheduler::test_coordinator& scheduler() { return *sched_; }
  recording_audit_sink& audit() { return *audit_; }

private:
  caf::actor_system_config sys_cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  std::shared_ptr<drivers::manual_clock> clock_;
  std::shared_ptr<drivers::sim_backends> backends_;
  std::shared_ptr<recording_audit_sink> audit_;
  std::shared_ptr<std::vector<answer>> answers_;
  std::unique_ptr<gateway> gateway_;
  uint64_t next_id_ = 0;
};

} // namespace prism::testing
