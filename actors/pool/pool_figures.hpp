#pragma once

// What a backend's pool shows GET /debug/pools: the pool and its
// connections store their figures here as they change (relaxed atomics, no
// lock), and the admin listener reads them without asking the pool. One
// board per backend, kept by the gateway across restarts of the pool, so
// the counters are cumulative since the gateway started. The connection
// counts and waiting calls are the pool's prism_pool_* gauges, which
// the pool sets anyway: the board reads them instead of keeping copies.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <caf/actor_clock.hpp>

#include "runtime/metrics_registry.hpp"

namespace prism {

/// prism_pool_connections, _connections_active, _connections_idle and
/// prism_pool_requests_waiting of one backend.
struct pool_gauges {
  prometheus::Gauge* connections = nullptr;
  prometheus::Gauge* active = nullptr;
  prometheus::Gauge* idle = nullptr;
  prometheus::Gauge* waiting = nullptr;
};

/// The backend's pool gauges in `metrics`, made on first use (a restarted
/// pool finds the same series).
pool_gauges resolve_pool_gauges(metrics_registry& metrics,
                                const std::string& backend);

/// A pool's figures at one moment, as plain data.
struct pool_report {
  std::string backend;
  /// "memory", "sqlite", "postgres".
  std::string driver;
  /// The pool actor's id (0 before it started).
  uint64_t actor = 0;
  uint64_t size = 0;
  uint64_t active = 0;
  uint64_t idle = 0;
  uint64_t down = 0;
  uint64_t waiting = 0;
  uint64_t max_pending = 0;
  /// Age of the oldest call waiting now (0 when none).
  int64_t max_wait_ms = 0;
  uint64_t served = 0;
  uint64_t errors = 0;
  uint64_t reconnects = 0;
  /// "closed", "open" or "half_open".
  std::string circuit = "closed";
  /// How long the circuit has been in its current state; unset while it has
  /// been closed since the pool started.
  std::optional<int64_t> circuit_since_ms;
};

class pool_figures {
public:
  using time_point = caf::actor_clock::time_point;

  /// `gauges`: where the pool shows its connections and waiting calls
  /// (none: the report shows 0 for them).
  pool_figures(std::string backend, std::string driver, uint64_t max_pending,
               pool_gauges gauges)
    : backend_(std::move(backend)), driver_(std::move(driver)),
      max_pending_(max_pending), gauges_(gauges) {}

  // The pool, from its own handlers.
  /// A pool (the first, or one its supervisor restarted) started at `at`:
  /// its circuit is closed, whatever its predecessor's was.
  void pool_started(uint64_t id, time_point at) noexcept {
    actor_.store(id, std::memory_order_relaxed);
    oldest_waiting_.store(0, std::memory_order_relaxed);
    if (circuit_.load(std::memory_order_relaxed) != 0)
      set_circuit(0, at);
  }
  /// Since when the oldest waiting call waits, or none; set when the head
  /// of the queue changes, not per call.
  void set_oldest_waiting(std::optional<time_point> since) noexcept {
    oldest_waiting_.store(since ? ticks(*since) : 0, std::memory_order_relaxed);
  }
  /// 0 closed, 1 open, 2 half open; since `at`.
  void set_circuit(uint8_t state, time_point at) noexcept {
    circuit_at_.store(ticks(at), std::memory_order_relaxed);
    circuit_.store(state, std::memory_order_relaxed);
  }
  void count_reconnect() noexcept {
    reconnects_.fetch_add(1, std::memory_order_relaxed);
  }
  /// A call the pool answered itself with an error (circuit open, queue full,
  /// no connection, deadline passed).
  void count_error(uint64_t n = 1) noexcept {
    errors_.fetch_add(n, std::memory_order_relaxed);
  }

  // The connections, per call answered.
  void count_served(bool error) noexcept {
    served_.fetch_add(1, std::memory_order_relaxed);
    if (error)
      errors_.fetch_add(1, std::memory_order_relaxed);
  }

  /// The figures against `now` (a time of the same actor clock).
  pool_report report(time_point now) const;

private:
  static int64_t ticks(time_point t) noexcept {
    // 0 marks "unset": a clock at its epoch counts as 1.
    auto n = t.time_since_epoch().count();
    return n == 0 ? 1 : n;
  }
  const std::string backend_;
  const std::string driver_;
  const uint64_t max_pending_;
  const pool_gauges gauges_;
  std::atomic<uint64_t> actor_{0};
  std::atomic<int64_t> oldest_waiting_{0};
  std::atomic<uint64_t> served_{0};
  std::atomic<uint64_t> errors_{0};
  std::atomic<uint64_t> reconnects_{0};
  std::atomic<uint8_t> circuit_{0};
  std::atomic<int64_t> circuit_at_{0};
};

using pool_figures_ptr = std::shared_ptr<pool_figures>;

} // namespace prism
