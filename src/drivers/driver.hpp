#pragma once

// The one asynchronous interface every KeyValue backend implements. This is
// the determinism boundary: actors call `execute` and get the outcome back as
// a message; a real driver does its blocking work on threads it owns, a
// simulated driver answers through the actor clock.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "model/operation.hpp"

namespace prism::config {
struct backend;
} // namespace prism::config

namespace prism::drivers {

/// Milliseconds since the Unix epoch. Drivers read time only through this, so
/// tests can move it by hand (TTL expiry is defined on wall-clock time because
/// expiry times are stored and must survive a restart).
class wall_clock {
public:
  virtual ~wall_clock() = default;
  virtual int64_t now_ms() const = 0;
};

/// The system's real-time clock.
std::shared_ptr<wall_clock> system_wall_clock();

/// A clock that moves only when told to (safe to read from driver threads
/// while a test moves it).
class manual_clock final : public wall_clock {
public:
  explicit manual_clock(int64_t start_ms = 1'000'000) : now_(start_ms) {}
  int64_t now_ms() const override {
    return now_.load(std::memory_order_acquire);
  }
  void advance_ms(int64_t delta) {
    now_.fetch_add(delta, std::memory_order_acq_rel);
  }

private:
  std::atomic<int64_t> now_;
};

using operation_ptr = std::shared_ptr<const model::operation>;

/// How long an operation may take from the moment `execute` is called: the
/// time left until the client's deadline. `no_timeout` when it set none.
using op_timeout = std::chrono::nanoseconds;
inline constexpr op_timeout no_timeout = op_timeout::max();

class kv_driver {
public:
  using completion = std::function<void(model::outcome)>;
  using reclaim_completion = std::function<void(uint64_t reclaimed)>;

  virtual ~kv_driver() = default;

  /// Starts `op` on namespace `ns`. Calls `done` exactly once, either before
  /// returning or later from a thread the driver owns. Never blocks the caller
  /// on I/O. A driver that cannot finish within `timeout` gives up with
  /// DEADLINE_EXCEEDED, without applying the operation where it can (a
  /// transaction rolled back); where it cannot tell, it says so. An outcome
  /// with `connection_lost` set means the operation was not applied, unless
  /// its message says it "may or may not have been applied".
  virtual void execute(std::string ns, operation_ptr op, op_timeout timeout,
                       completion done)
    = 0;

  /// Without a timeout.
  void execute(std::string ns, operation_ptr op, completion done) {
    execute(std::move(ns), std::move(op), no_timeout, std::move(done));
  }

  /// Deletes up to `max_keys` keys whose TTL has passed and reports how many.
  virtual void reclaim_expired(uint32_t max_keys, reclaim_completion done) = 0;

  /// A short description for logs, e.g. "sqlite ./data/prism.db #2".
  virtual std::string describe() const = 0;
};

/// Makes the driver for connection `index` of a backend.
using driver_factory = std::function<std::unique_ptr<kv_driver>(
  const config::backend& backend, uint32_t index)>;

} // namespace prism::drivers
