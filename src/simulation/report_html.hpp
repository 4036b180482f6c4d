#pragma once

// report.html, written beside run.json (docs/SIMULATION.md, "Output
// files"): one self-contained page (HTML, inline CSS and SVG, no script, no
// network assets) with the run's header and verdict, the oracle table, and
// three plots over virtual time with every fault's window shaded: calls
// answered by code, latency, and actors that exited or were restarted.
// Everything on it comes from the run report, so the same seed and scenario
// give the same page, byte for byte, apart from the recorded wall time.

#include <string>
#include <string_view>

#include "simulation/runner.hpp"

namespace prism::simulation {

/// The page. `description` is the scenario's; `out_dir` is where the
/// artifacts go (for the replay command).
std::string report_html(const run_report& r, const std::string& description,
                        const std::string& out_dir);

/// Text for HTML content or a quoted attribute: &, <, >, " and ' become
/// entities.
std::string html_escape(std::string_view text);

} // namespace prism::simulation
