#pragma once

// The inspector's view of the live actors as Prometheus families, for
// GET /metrics: per actor kind, mailbox depth and high-water mark, admitted
// and refused messages; restarts per supervisor; and per pubsub namespace,
// subscriber streams with what they were handed, dropped and still buffer.
//
// The values cover the actors alive at the snapshot (an actor that ended
// takes its counts with it), so every family is a gauge.

#include <vector>

#include "runtime/inspector.hpp"
#include "runtime/metric_report.hpp"

namespace prism {

metric_report actor_metrics(const std::vector<actor_info>& actors);

} // namespace prism
