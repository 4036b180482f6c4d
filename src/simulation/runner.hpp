#pragma once

// Runs a scenario with a seed on a deterministic gateway: the workload's
// clients call in virtual time, the faults begin and end at their virtual
// times, and the oracles judge the history at the end. Every random choice
// (the scheduler's pick of the next actor, the clients' operations and
// keys, which random fault kinds are on and when they fire) comes from a
// generator seeded by a child seed of the run's seed, one per component, so
// the same seed and scenario give the same run, event for event.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "simulation/history.hpp"
#include "simulation/oracles.hpp"
#include "simulation/scenario.hpp"

namespace prism::simulation {

class deterministic_gateway;

/// A fault of the run: scheduled in the scenario or drawn by the seed.
struct planned_fault {
  /// "f1", "f2", ... in the order they begin.
  std::string id;
  fault_spec spec;
  bool random = false;
  /// Virtual ms when it ended (-1: it never began); for an instant fault,
  /// when it happened (a deadline storm: when its last call was made).
  int64_t ended_ms = -1;
  /// What it did, when that is not obvious from the kind (a kill names the
  /// actor it killed).
  std::string outcome;
};

struct run_report {
  std::string scenario_name;
  std::string scenario_file;
  std::string scenario_sha256;
  uint64_t seed = 0;
  /// Defects planted on purpose (run_options::planted).
  std::vector<std::string> planted;
  /// The seed of each component, derived from `seed`.
  std::map<std::string, uint64_t> child_seeds;
  /// Random fault kinds the seed switched on and off (empty without
  /// faults.random).
  std::vector<std::string> random_kinds_on;
  std::vector<std::string> random_kinds_off;
  std::vector<planned_fault> faults;
  /// The deterministic gateway's trace, with the runner's own lines.
  std::vector<std::string> trace;
  std::vector<kv_operation> ops;
  /// A PubSub workload's subscriber streams and the messages they got.
  std::vector<subscriber_stream> streams;
  std::vector<delivery> deliveries;
  /// Answers by code, over the workload's calls (final reads left out).
  std::map<std::string, uint64_t> calls_by_code;
  uint64_t calls_unanswered = 0;
  std::map<std::string, uint64_t> faults_by_kind;
  std::vector<oracle_result> verdicts;
  /// When the last fault ended (0 without faults).
  int64_t faults_end_ms = 0;
  int64_t virtual_ms = 0;
  /// Wall time of the whole run, and of its two parts: running the actors
  /// (workload, drain, final reads, settling) and judging the history.
  int64_t wall_ms = 0;
  int64_t wall_simulate_ms = 0;
  int64_t wall_judge_ms = 0;
  /// Messages the actors handled (one "run" event each).
  uint64_t actor_messages = 0;

  /// True when no oracle failed.
  bool passed() const;
  const oracle_result* first_failure() const;
  std::string trace_text() const;
};

/// The seed of one component of a run (e.g. "scheduler", "workload/3").
uint64_t child_seed(uint64_t seed, std::string_view component);

/// How a run differs from the scenario's own: defects planted on purpose
/// (the names of defects.hpp's table).
struct run_options {
  std::vector<std::string> planted;
};

/// Runs `s` with `seed` and judges it with the scenario's oracles.
run_report run_scenario(const scenario& s, uint64_t seed);

/// The same, with `options`; throws std::invalid_argument naming an unknown
/// planted defect and the known ones.
run_report run_scenario(const scenario& s, uint64_t seed,
                        const run_options& options);

/// Looks at a run while it goes: called with the gateway at each point where
/// it may be read whole, between two events of the trace (see
/// deterministic_gateway::on_between_events), with `complete` false; then
/// once more with `complete` true when the trace is complete, before the
/// oracles judge. It must not change the run; it may throw to stop it
/// (run_scenario then throws that). Watching a run does not change its
/// trace.
using run_watcher
  = std::function<void(deterministic_gateway& g, bool complete)>;

/// Runs `s` as above, calling `watch` between events.
run_report run_scenario(const scenario& s, uint64_t seed,
                        const run_options& options, const run_watcher& watch);

} // namespace prism::simulation
