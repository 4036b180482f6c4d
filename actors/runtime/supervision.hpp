#pragma once

// The decisions of a supervisor, without the actor: given "child i exited with
// reason R at time T", say what to do (nothing, restart which children after
// which delay, or give up). Deterministic: time comes in as actor-clock time
// points and randomness (the backoff jitter) from a generator the caller seeds.
// The supervisor actor (runtime/supervisor.hpp) carries the decisions out.
//
// Semantics follow Erlang/OTP:
// - restart types: permanent children are always restarted, transient ones
//   only after an abnormal exit (a reason other than normal or
//   user_shutdown), temporary ones never;
// - strategies: one_for_one restarts the failed child; one_for_all stops and
//   restarts every child; rest_for_one the failed child and those started
//   after it. A group restart brings every affected child back except
//   temporary ones, which are stopped and stay stopped;
// - intensity: more than `intensity_max_restarts` restarts within
//   `intensity_period` and the supervisor gives up: it stops all children and
//   fails, so that its own parent decides.
// On top of OTP, a restart waits a backoff delay that doubles (by
// `multiplier`) with each restart of the same child, within [min, max], with
// +-jitter, and returns to `min` once the child has run `reset_after` without
// failing.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/timespan.hpp>

namespace prism {

enum class restart_type { permanent, transient, temporary };

enum class strategy { one_for_one, one_for_all, rest_for_one };

const char* to_string(restart_type x) noexcept;
const char* to_string(strategy x) noexcept;

struct backoff_options {
  caf::timespan min = std::chrono::milliseconds(100);
  caf::timespan max = std::chrono::seconds(10);
  double multiplier = 2.0;
  /// Relative: 0.2 spreads each delay uniformly over +-20%.
  double jitter = 0.2;
  /// A child that has run this long since its last start counts as healthy:
  /// its next restart starts the backoff over at `min`.
  caf::timespan reset_after = std::chrono::seconds(30);
};

struct supervisor_options {
  prism::strategy strategy = prism::strategy::one_for_one;
  uint32_t intensity_max_restarts = 5;
  caf::timespan intensity_period = std::chrono::seconds(10);
  backoff_options backoff;
  /// How long a child may take to stop after a polite exit before it is
  /// killed.
  caf::timespan shutdown_timeout = std::chrono::seconds(5);
};

using clock_time = caf::actor_clock::time_point;

/// True for the reasons an actor ends with when nothing went wrong: none,
/// exit_reason::normal and exit_reason::user_shutdown.
bool is_normal_exit(const caf::error& reason) noexcept;

/// Whether a child of this restart type is restarted after exiting with
/// `reason` (ignoring intensity).
bool should_restart(restart_type type, const caf::error& reason) noexcept;

/// The children a failure of child `failed` (out of `count`, in start order)
/// involves under `s`, in start order, the failed child included.
std::vector<size_t> affected_children(strategy s, size_t failed, size_t count);

/// The backoff delay for the `exponent`-th consecutive restart (0 = first):
/// min * multiplier^exponent capped at max, spread by +-jitter with one draw
/// from `rng`, and kept within [min, max]. Always draws exactly once, so the
/// sequence of delays depends only on the seed and the exponents.
caf::timespan backoff_delay(const backoff_options& opts, uint32_t exponent,
                            std::mt19937_64& rng);

/// Counts restarts in a sliding window: more than `max_restarts` within
/// `period` means the supervisor gives up.
class restart_intensity {
public:
  restart_intensity(uint32_t max_restarts, caf::timespan period);

  /// Records a restart at `now`; false when it is one too many.
  bool admit(clock_time now);

  /// Restarts within the window ending at `now`.
  size_t recent(clock_time now) const;

private:
  void expire(clock_time now);

  uint32_t max_restarts_;
  caf::timespan period_;
  std::deque<clock_time> restarts_;
};

/// What a supervisor keeps about each child; the inspector shows it.
struct child_record {
  std::string name;
  restart_type restart = restart_type::permanent;
  /// How often the child has been started again after its first start.
  uint32_t restarts = 0;
  /// The last abnormal exit reason and when it came (actor clock).
  caf::error last_failure;
  std::optional<clock_time> last_failure_at;
  /// The last (re)start.
  std::optional<clock_time> started_at;
  /// Consecutive restarts without a quiet period: the backoff exponent.
  uint32_t backoff_exponent = 0;
  /// False once it exits or is stopped. A child left down (not restarted)
  /// comes back only with a group restart, and a temporary one never.
  bool running = false;
};

struct decision {
  enum class action {
    /// Leave the child down (and everything else as it is).
    none,
    /// Stop the running children of `affected` that are not the failed one,
    /// then after `delay` start the children of `restart`, in order.
    restart,
    /// Intensity exceeded: stop every child and fail with `explanation`.
    give_up,
  };
  action what = action::none;
  std::vector<size_t> affected;
  std::vector<size_t> restart;
  caf::timespan delay{0};
  std::string explanation;
};

/// The decision logic of one supervisor.
class supervision_logic {
public:
  struct child_info {
    std::string name;
    restart_type restart;
  };

  supervision_logic(std::string supervisor_name, supervisor_options options,
                    std::vector<child_info> children);

  /// Child `i` (re)started at `now`.
  void started(size_t i, clock_time now);

  /// Child `i` exited with `reason` at `now` on its own (not stopped by the
  /// supervisor). `rendered_reason` is the reason as text, for the
  /// explanation when the supervisor gives up.
  decision exited(size_t i, const caf::error& reason, clock_time now,
                  std::mt19937_64& rng, const std::string& rendered_reason);

  /// Child `i` was stopped by the supervisor (as part of a group restart or
  /// a shutdown).
  void stopped(size_t i);

  const std::vector<child_record>& children() const noexcept {
    return children_;
  }

  const supervisor_options& options() const noexcept { return options_; }

  const std::string& name() const noexcept { return name_; }

  size_t recent_restarts(clock_time now) const {
    return intensity_.recent(now);
  }

private:
  std::string name_;
  supervisor_options options_;
  std::vector<child_record> children_;
  restart_intensity intensity_;
};

// --- the error a supervisor fails with --------------------------------------

enum class supervision_errc : uint8_t {
  /// Too many restarts within the intensity period.
  intensity_exceeded = 1,
  /// A child's start function returned no actor or threw.
  start_failed = 2,
  /// A connection actor's driver reported that its connection is broken.
  connection_broken = 3,
};

using supervision_category = caf::atom_constant<caf::atom("supervisor")>;

/// An error of the supervision category whose context is `text`.
caf::error make_supervision_error(supervision_errc code, std::string text);

/// The text of a supervision error, or an empty string for other errors.
std::string supervision_error_text(const caf::error& err);

} // namespace prism
