#pragma once

// Shrinking a failing run (`prism simulate shrink`): from a scenario that
// fails one oracle with one seed, a greedy, bounded search in the style of
// delta debugging for a smaller scenario that still fails that oracle. Each
// candidate is scenario YAML text that the scenario checker accepts, run in
// full; a candidate is kept when the oracle still fails. In order, over and
// over until a pass keeps nothing or the runs run out:
//
// - keep only the failing oracle;
// - turn random faults into the schedule of those that fired;
// - drop scheduled faults (ddmin over the list);
// - halve fault durations and counts;
// - lower clients, keys and duration_ms;
// - drop operation kinds from the mix;
// - take the deadline off the calls.
//
// A reduction that changes the faults and no longer fails with the current
// seed is tried with a few seeds after it (seed+1, seed+2, ...); the seed
// that failed is kept for what follows and reported.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "simulation/catalog.hpp"
#include "simulation/runner.hpp"

namespace prism::simulation {

/// Runs one shrink may make, when not told.
inline constexpr uint64_t shrink_runs_max_default = 200;
/// Seeds after the current one a fault reduction is tried with.
inline constexpr uint32_t shrink_neighbour_seeds_default = 2;

struct shrink_options {
  uint64_t max_runs = shrink_runs_max_default;
  uint32_t neighbour_seeds = shrink_neighbour_seeds_default;
  /// Told one line for each reduction kept.
  std::function<void(const std::string&)> progress;
};

struct shrink_input {
  /// The failing scenario's YAML, and where it was read from.
  std::string text;
  std::string file;
  uint64_t seed = 0;
  run_options options;
  /// The oracle that must keep failing.
  oracle_kind oracle = oracle_kind::answered_once;
};

/// How large a scenario is, to say what shrinking took away.
struct scenario_size {
  size_t faults = 0;
  bool random_faults = false;
  uint32_t clients = 0;
  int64_t duration_ms = 0;
  uint32_t keys = 0;
  size_t operation_kinds = 0;
  size_t oracles = 0;
};
scenario_size size_of(const scenario& s);
/// "faults 7 -> 1, clients 6 -> 1, ...": what differs.
std::string describe_change(const scenario_size& from, const scenario_size& to);

struct shrink_result {
  /// The input failed the oracle with its seed (else nothing was shrunk and
  /// `problem` says why).
  bool reproduced = false;
  std::string problem;
  /// The smallest failing scenario found (the input when nothing was kept),
  /// with a comment header saying where it comes from.
  std::string text;
  /// The seed it fails with.
  uint64_t seed = 0;
  /// Runs made, the first (the input) included.
  uint64_t runs = 0;
  /// One line per reduction kept.
  std::vector<std::string> steps;
  scenario_size before;
  scenario_size after;
};

shrink_result shrink_scenario(const shrink_input& in,
                              const shrink_options& options);

} // namespace prism::simulation
