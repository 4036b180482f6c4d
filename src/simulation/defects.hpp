#pragma once

// Planted defects: bugs a run puts in on purpose, each of a class an oracle
// is there to catch, so that a campaign can show the oracle failing on it
// (and `prism simulate shrink` reducing the failure). They are planted
// through what the simulation substitutes, never in the gateway's own code:
// the simulated backends (sim_driver.hpp) and the harness that runs every
// actor's messages one at a time (deterministic_gateway.hpp, interceptor).
//
// One table: a defect is a row (name, the oracles expected to find it, one
// line of help, how it is planted).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace prism::simulation {

class deterministic_gateway;
struct scenario;

struct defect_info {
  std::string_view name;
  /// The oracles expected to fail on it, e.g. "no_lost_writes, linearizable".
  std::string_view found_by;
  /// One line for `prism simulate list` and the docs.
  std::string_view summary;
  /// Plants it into a gateway that has started and has not run the workload
  /// yet. Null for a defect acted on where it lives (which looks for its
  /// name in run_options::planted).
  void (*plant)(deterministic_gateway& g, const scenario& s);
};

/// Every defect a run may plant.
const std::vector<defect_info>& defects();
const defect_info* defect_named(std::string_view name);

/// Empty when every name is a defect of the table, each once; otherwise why
/// not, naming the first unknown one and listing the known ones (or the one
/// named twice).
std::string check_defect_names(const std::vector<std::string>& names);

/// Within a stage_ok_without_forward run, every this many-th Set a stage
/// sees is answered OK without going on.
inline constexpr uint64_t stage_skip_every_sets = 5;
/// Within an ack_before_write run, how far apart the backend's checkpoints
/// are at least (virtual ms).
inline constexpr int64_t ack_before_write_checkpoint_ms = 200;

} // namespace prism::simulation
