#pragma once

// Message tags of the actor protocols. CAF 0.17 atoms: at most 10 characters.

#include <caf/atom.hpp>

namespace prism {

/// A call travelling towards its backend.
using request_atom = caf::atom_constant<caf::atom("request")>;
/// A call's outcome travelling back to its session.
using reply_atom = caf::atom_constant<caf::atom("reply")>;
/// A call that its session has answered, for stages that observe outcomes.
using completed_atom = caf::atom_constant<caf::atom("completed")>;
/// A session's own reminder to tell its stages about the calls it answered.
using report_atom = caf::atom_constant<caf::atom("report")>;
/// A driver finished an operation.
using done_atom = caf::atom_constant<caf::atom("done")>;
/// A connection can take one more call.
using released_atom = caf::atom_constant<caf::atom("released")>;
/// Time to reclaim expired keys; and how many were reclaimed.
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;
using swept_atom = caf::atom_constant<caf::atom("swept")>;
/// Periodic housekeeping of a session.
using tick_atom = caf::atom_constant<caf::atom("tick")>;
/// Finish what is in flight, then stop.
using stop_atom = caf::atom_constant<caf::atom("stop")>;
/// A reloaded config for a stage or the router to take for calls from now on.
using reload_atom = caf::atom_constant<caf::atom("reload")>;

} // namespace prism
