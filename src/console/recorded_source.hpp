#pragma once

// A recorded simulation run (a directory written by `prism simulate --out`)
// as a console source: the console stands on one step of its trace and
// reads the gateway as it was then, through the admin listener's paths.
//
// The trace alone lacks what the console shows (the tree's parent links,
// what waits in each mailbox), so the run is made again, as `prism simulate
// replay` makes it: same scenario text and seed, each event checked against
// trace.jsonl, and stopped at the step asked for; the deterministic
// gateway's inspector and mailboxes are read there. Opening a run checks
// its whole trace once; each move after that runs it again from the start
// (docs/SIMULATION.md, "Walking through a run in the console").

#include <memory>
#include <string>

#include "console/source.hpp"

namespace prism::console {

/// Opens the run in `dir`, standing on its first step. On failure returns
/// null with `error` naming the problem: a missing or unreadable file, a
/// scenario.yaml whose SHA-256 is not the one run.json records, a trace the
/// rerun does not reproduce (with the first step that differs).
std::unique_ptr<source> open_recorded_run(const std::string& dir,
                                          std::string& error);

} // namespace prism::console
