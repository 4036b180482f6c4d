#pragma once

// The supervisor actor: starts a list of children in order, monitors them and
// restarts them per strategy, restart type, backoff and intensity (the
// decisions are runtime/supervision.hpp's; this file carries them out).
//
// - Children are monitored, not linked: a child's failure reaches the
//   supervisor as a down_msg and never takes it down.
// - A restart waits its backoff delay as a delayed message on the actor clock.
// - Stopping a child: exit_reason::user_shutdown, then exit_reason::kill after
//   shutdown_timeout if it is still there.
// - Each (re)start is announced to the optional observer as
//   (child_started_atom, name, handle), so e.g. a pool routes to the new
//   handle; each abnormal exit or failed start as (child_failed_atom, name,
//   reason) (both in runtime/protocols.hpp, with supervisor_stats_atom, the
//   one query it answers).
// - Past the restart intensity the supervisor stops all children, then quits
//   with a supervision_errc::intensity_exceeded error whose text names the
//   supervisor and the child; its parent (monitoring it) decides.
// - An exit message (send_exit from its parent, or a link) stops the children
//   the same way, then the supervisor quits with that message's reason.
//
// It is a dynamically typed caf::actor: its children are heterogeneous
// caf::actor handles, what it handles from outside is system messages (down,
// exit) and one query, and its timers are messages to itself, which a typed
// interface would have to publish for anyone to send.

#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/local_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "runtime/inspector.hpp"
#include "runtime/protocols.hpp"
#include "runtime/supervision.hpp"

namespace prism {

struct child_spec {
  std::string name;
  restart_type restart = restart_type::permanent;
  /// Spawns the child from `parent` (the supervisor) and returns its handle;
  /// it must not link the child to the supervisor. An invalid handle or an
  /// exception counts as a failed start (supervision_errc::start_failed).
  std::function<caf::actor(caf::local_actor* parent)> start;
};

struct supervisor_spec {
  /// Names the supervisor in logs and in the error it gives up with.
  std::string name;
  supervisor_options options;
  /// Started in this order, stopped in reverse.
  std::vector<child_spec> children;
  /// Optional: told about every (re)start.
  caf::actor observer;
  /// Seeds the backoff jitter.
  uint64_t seed = 0;
  /// Where the supervisor registers (kind "supervisor"), under `parent`;
  /// may be null.
  inspector* actors = nullptr;
  uint64_t parent = 0;
};

/// What the inspector shows of a supervisor.
struct supervisor_snapshot {
  std::string name;
  strategy strategy_used = strategy::one_for_one;
  /// Restarts within the current intensity window.
  size_t recent_restarts = 0;
  struct child {
    std::string name;
    restart_type restart = restart_type::permanent;
    bool running = false;
    uint32_t restarts = 0;
    caf::error last_failure;
    std::optional<clock_time> last_failure_at;
    std::optional<clock_time> started_at;
  };
  std::vector<child> children;
};

struct supervisor_state {
  enum class status {
    /// Not running, and no restart pending unless pending_restart != 0.
    down,
    running,
    /// Sent a polite exit; waiting for its down_msg.
    stopping,
  };

  struct child {
    child_spec spec;
    status st = status::down;
    caf::actor handle;
    /// Counts starts, so a late kill timer spares a newer instance.
    uint64_t incarnation = 0;
    /// The restart this child waits for (0: none), and whether its delay has
    /// passed.
    uint64_t pending_restart = 0;
    bool restart_due = false;
  };

  std::optional<supervision_logic> logic;
  std::vector<child> children;
  caf::actor observer;
  std::mt19937_64 rng;
  uint64_t next_restart_id = 1;
  /// Set once the supervisor stops its children to quit.
  bool shutting_down = false;
  caf::error final_reason;
  bool quit_called = false;
  /// Where the children register, told why a child failed; may be null.
  inspector* actors = nullptr;
  inspector_registration registration;

  static const char* name;
};

using supervisor_actor_ptr = caf::stateful_actor<supervisor_state>*;

/// The actor function: spawn with `spawn(supervisor, std::move(spec))`.
caf::behavior supervisor(supervisor_actor_ptr self, supervisor_spec spec);

/// A child_spec that starts a supervisor under a supervisor (nesting).
child_spec supervisor_child(supervisor_spec spec,
                            restart_type restart = restart_type::permanent);

} // namespace prism

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(prism::supervisor_snapshot)
