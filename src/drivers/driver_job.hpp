#pragma once

// The unit of work of a driver that blocks (SQLite, PostgreSQL): one
// KeyValue operation, or one round of reclaiming expired keys, queued by
// execute() or reclaim_expired() for the driver's own worker thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "drivers/driver.hpp"

namespace prism::drivers {

struct driver_job {
  std::string ns;
  operation_ptr op;
  kv_driver::completion done;
  /// When the client stops waiting (steady clock); max() for never.
  std::chrono::steady_clock::time_point deadline
    = std::chrono::steady_clock::time_point::max();
  uint32_t max_keys = 0;
  kv_driver::reclaim_completion reclaim_done;

  /// The job of execute(ns, op, timeout, done), its deadline `timeout` from
  /// now; with no operation, `done` gets INTERNAL at once and there is no
  /// job.
  static std::optional<driver_job> operation(std::string ns, operation_ptr op,
                                             op_timeout timeout,
                                             kv_driver::completion done);
  /// The job of reclaim_expired(max_keys, done).
  static driver_job reclaim(uint32_t max_keys,
                            kv_driver::reclaim_completion done);

  /// Hands `out` to the operation's completion, or `removed` to the
  /// reclaim's; a completion that throws does not stop the worker.
  void finish(model::outcome out) noexcept;
  void finish_reclaim(uint64_t removed) noexcept;
  /// Answers without running: UNAVAILABLE "driver shutting down", or nothing
  /// reclaimed.
  void fail() noexcept;
};

/// Whole milliseconds from `now` until `deadline`, rounded up: 0 or less once
/// it has passed.
int64_t deadline_ms_left(std::chrono::steady_clock::time_point deadline,
                         std::chrono::steady_clock::time_point now);

/// DEADLINE_EXCEEDED for an operation whose deadline passed before `server`
/// ("the database", "PostgreSQL") started it, so nothing was applied.
model::outcome deadline_passed_before_start(std::string_view server);

/// Runs each KeyValue operation on a SQL connection's statement functions,
/// `do_get(ns, op, now)` and one for each other operation, through
/// model::visit_keyvalue: a connection that lacks one does not compile. The
/// SQLite and PostgreSQL connections befriend it.
template <class Connection>
struct sql_operations {
  Connection& c;
  const std::string& ns;
  int64_t now;
  model::outcome run(const model::get_op& x) { return c.do_get(ns, x, now); }
  model::outcome run(const model::exists_op& x) {
    return c.do_exists(ns, x, now);
  }
  model::outcome run(const model::batch_get_op& x) {
    return c.do_batch_get(ns, x, now);
  }
  model::outcome run(const model::scan_op& x) { return c.do_scan(ns, x, now); }
  model::outcome run(const model::set_op& x) { return c.do_set(ns, x, now); }
  model::outcome run(const model::delete_op& x) {
    return c.do_delete(ns, x, now);
  }
  model::outcome run(const model::batch_set_op& x) {
    return c.do_batch_set(ns, x, now);
  }
  model::outcome run(const model::batch_delete_op& x) {
    return c.do_batch_delete(ns, x, now);
  }
};

} // namespace prism::drivers
