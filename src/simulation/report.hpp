#pragma once

// What a run leaves behind (docs/SIMULATION.md, "Output files"): run.json
// (seed, scenario hash, derived parameters, verdicts, counts, the replay
// command), trace.jsonl (one JSON object per event, derived from the text
// trace: byte-identical for the same seed and scenario), history.jsonl
// (the client operations, Jepsen's shape), report.html (report_html.hpp),
// and the summary printed on stdout.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "simulation/runner.hpp"

namespace prism::simulation {

/// One JSON object per line of the trace: {"step", "t_ms", "actor",
/// "event", "message"} and "fault" (the fault id) on the lines a fault
/// caused.
std::string trace_jsonl(const run_report& r);

/// The same, one line at a time, for a trace that is still growing: each
/// call turns the next line of the text trace into its JSON object (without
/// the newline). Lines must come in order from the first.
class trace_jsonl_writer {
public:
  std::string next(const std::string& line);

private:
  size_t step_ = 0;
  int64_t t_ms_ = 0;
  /// The fault each backend's events belong to: the last one that began
  /// (or happened) on it and has not ended.
  std::map<std::string, std::string> fault_on_;
  std::map<std::string, std::string> client_of_;
};

/// The command that reruns this seed of this scenario.
std::string rerun_command(const run_report& r);

/// The command that checks a run's artifacts in `out_dir` by replaying it.
std::string verify_command(const std::string& out_dir);

/// run.json. `out_dir` is where the artifacts go (for the replay command).
std::string run_json(const run_report& r, const std::string& out_dir);

/// The short table `prism simulate` prints: calls by code, faults, oracle
/// verdicts, the replay command.
std::string summary_text(const run_report& r);

/// One line for a failing seed of a campaign: the oracle, the command that
/// reruns the seed, and the first counterexample.
std::string failure_line(const run_report& r);

/// Writes run.json, trace.jsonl, history.jsonl, scenario.yaml (the
/// scenario's bytes, which `replay` reruns) and report.html into `dir`,
/// creating it. Returns an error message, or nothing.
std::optional<std::string> write_artifacts(const run_report& r,
                                           const scenario& s,
                                           const std::string& dir);

/// The first line where two texts differ (1-based) and both lines, or
/// nothing when they are equal.
struct text_difference {
  size_t line = 0;
  std::string expected;
  std::string actual;
};
std::optional<text_difference> first_difference(const std::string& expected,
                                                const std::string& actual);

} // namespace prism::simulation
