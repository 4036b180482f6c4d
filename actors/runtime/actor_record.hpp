#pragma once

// One registered actor's record: what it is, where it sits in the tree, and
// the counters it keeps up to date from its own handlers (relaxed atomics,
// no lock; the last failure sits behind a small lock of its own, set
// rarely). runtime/inspector.hpp holds the registry of records.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/actor_clock.hpp>

namespace prism {

namespace detail {
class tap;
} // namespace detail

/// What an actor is doing, from a fixed set so the console can rely on the
/// names (see docs/ADMIN.md).
enum class actor_state : uint8_t {
  starting,
  running,
  draining,
  restarting,
  stopping,
  failed,
};

/// "starting", "running", "draining", "restarting", "stopping", "failed".
std::string_view to_string(actor_state state) noexcept;

/// One registered actor. Created by `inspector::register_actor`; the actor
/// keeps the handle (through an `inspector_registration`) and updates the
/// counters from its own handlers. Every member function is thread-safe.
class actor_record {
public:
  using time_point = caf::actor_clock::time_point;

  actor_record(uint64_t id, std::string kind, std::string name, uint64_t parent,
               time_point started_at, caf::actor_addr addr, actor_state state);

  actor_record(const actor_record&) = delete;
  actor_record& operator=(const actor_record&) = delete;

  // Fixed at registration.
  uint64_t id() const noexcept { return id_; }
  const std::string& kind() const noexcept { return kind_; }
  const std::string& name() const noexcept { return name_; }
  uint64_t parent() const noexcept { return parent_; }
  time_point started_at() const noexcept { return started_at_; }
  const caf::actor_addr& address() const noexcept { return addr_; }

  // State (rare).
  void set_state(actor_state state) noexcept {
    state_.store(static_cast<uint8_t>(state), std::memory_order_relaxed);
  }
  actor_state state() const noexcept {
    return static_cast<actor_state>(state_.load(std::memory_order_relaxed));
  }

  // Mailbox. Depth is what the project's admission counting says is queued;
  // the high-water mark follows it up. A limit of 0 means unbounded.
  /// One more message queued; returns the new depth.
  uint64_t enqueued(uint64_t n = 1) noexcept {
    auto depth = depth_.fetch_add(n, std::memory_order_relaxed) + n;
    raise_high_water(depth);
    return depth;
  }
  /// One message taken out of the queue (never goes below zero).
  void dequeued(uint64_t n = 1) noexcept;
  void set_mailbox_depth(uint64_t depth) noexcept {
    depth_.store(depth, std::memory_order_relaxed);
    raise_high_water(depth);
  }
  void set_mailbox_limit(uint64_t limit) noexcept {
    limit_.store(limit, std::memory_order_relaxed);
  }
  uint64_t mailbox_depth() const noexcept {
    return depth_.load(std::memory_order_relaxed);
  }
  uint64_t mailbox_high_water() const noexcept {
    return high_water_.load(std::memory_order_relaxed);
  }
  uint64_t mailbox_limit() const noexcept {
    return limit_.load(std::memory_order_relaxed);
  }

  // Counters.
  void count_admitted(uint64_t n = 1) noexcept {
    admitted_.fetch_add(n, std::memory_order_relaxed);
  }
  void count_rejected(uint64_t n = 1) noexcept {
    rejected_.fetch_add(n, std::memory_order_relaxed);
  }
  /// Returns how many were handled before.
  uint64_t count_handled(uint64_t n = 1) noexcept {
    return handled_.fetch_add(n, std::memory_order_relaxed);
  }
  void count_restart(uint64_t n = 1) noexcept {
    restarts_.fetch_add(n, std::memory_order_relaxed);
  }
  /// For a supervisor that carries a child's history onto its next
  /// incarnation.
  void set_restarts(uint64_t n) noexcept {
    restarts_.store(n, std::memory_order_relaxed);
  }
  uint64_t admitted() const noexcept {
    return admitted_.load(std::memory_order_relaxed);
  }
  uint64_t rejected() const noexcept {
    return rejected_.load(std::memory_order_relaxed);
  }
  uint64_t handled() const noexcept {
    return handled_.load(std::memory_order_relaxed);
  }
  uint64_t restarts() const noexcept {
    return restarts_.load(std::memory_order_relaxed);
  }

  // When the latest restarts happened (a supervisor notes each restart it
  // carries out), so a restart loop can be told from old history. Rare.
  static constexpr size_t restart_times_kept = 8;
  void note_restart_at(time_point at) noexcept;
  /// How many of the kept restart times are at or after `since` (at most
  /// restart_times_kept).
  uint64_t restarts_since(time_point since) const noexcept;

  // Work: how long the actor's handlers ran. Each duration goes into a
  // bucket by powers of two of microseconds: bucket 0 holds those under
  // 1 us, bucket i those in [2^(i-1), 2^i) us, the last everything longer.
  // One message in work_sample_every is timed (see `handling`): the busy
  // time adds each sample that many times; the histogram and the maximum
  // are the samples'.
  static constexpr size_t work_buckets = 24;
  static constexpr uint64_t work_sample_every = 8;
  void record_work(std::chrono::nanoseconds d) noexcept;
  uint64_t busy_ns() const noexcept {
    return busy_ns_.load(std::memory_order_relaxed);
  }
  uint64_t work_max_ns() const noexcept {
    return work_max_ns_.load(std::memory_order_relaxed);
  }
  std::array<uint64_t, work_buckets> work_histogram() const noexcept;

  // Last failure (rare; a small lock).
  void record_failure(std::string reason, time_point at);
  /// The reason and time of the last failure, if there was one.
  std::optional<std::pair<std::string, time_point>> last_failure() const;

  // Taps (runtime/tap.hpp) reading the messages this actor handles. The
  // handler guard loads the count (relaxed) on every message; the list sits
  // behind a small lock of its own, taken only while the actor is tapped.
  bool tapped() const noexcept {
    return tap_count_.load(std::memory_order_relaxed) != 0;
  }
  void add_tap(std::shared_ptr<detail::tap> tap);
  void remove_tap(const detail::tap* tap);
  std::vector<std::shared_ptr<detail::tap>> taps() const;

private:
  void raise_high_water(uint64_t depth) noexcept {
    auto hw = high_water_.load(std::memory_order_relaxed);
    while (depth > hw
           && !high_water_.compare_exchange_weak(hw, depth,
                                                 std::memory_order_relaxed))
      ;
  }

  const uint64_t id_;
  const std::string kind_;
  const std::string name_;
  const uint64_t parent_;
  const time_point started_at_;
  const caf::actor_addr addr_;

  std::atomic<uint8_t> state_;
  std::atomic<uint64_t> depth_{0};
  std::atomic<uint64_t> high_water_{0};
  std::atomic<uint64_t> limit_{0};
  std::atomic<uint64_t> admitted_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> handled_{0};
  std::atomic<uint64_t> restarts_{0};
  std::atomic<uint64_t> busy_ns_{0};
  std::atomic<uint64_t> work_max_ns_{0};
  std::array<std::atomic<uint64_t>, work_buckets> work_{};
  /// Actor-clock ticks since its epoch of the latest restarts (0: none), a
  /// ring written at `restart_next_`.
  std::array<std::atomic<int64_t>, restart_times_kept> restart_times_{};
  std::atomic<uint64_t> restart_next_{0};

  mutable std::mutex failure_mtx_;
  bool failed_ = false;
  std::string failure_reason_;
  time_point failed_at_;

  std::atomic<uint32_t> tap_count_{0};
  mutable std::mutex tap_mtx_;
  std::vector<std::shared_ptr<detail::tap>> taps_;
};

using actor_record_ptr = std::shared_ptr<actor_record>;

/// A record's values at one moment, as plain data.
struct actor_info {
  uint64_t id = 0;
  std::string kind;
  std::string name;
  /// 0 for roots.
  uint64_t parent = 0;
  std::string state;
  /// Time since the actor started, against the snapshot's `now`.
  int64_t uptime_ms = 0;
  uint64_t mailbox_depth = 0;
  uint64_t mailbox_high_water = 0;
  /// 0 means unbounded.
  uint64_t mailbox_limit = 0;
  uint64_t admitted = 0;
  uint64_t rejected = 0;
  uint64_t handled = 0;
  uint64_t restarts = 0;
  /// Restarts it carried out within the minute before the snapshot (at
  /// most actor_record::restart_times_kept).
  uint64_t restarts_last_minute = 0;
  /// Time its handlers ran, in total, and per message (from the histogram
  /// of durations: the upper bound of the bucket the quantile falls in;
  /// the maximum exactly).
  uint64_t busy_us = 0;
  uint64_t handler_p50_us = 0;
  uint64_t handler_p99_us = 0;
  uint64_t handler_max_us = 0;
  struct failure {
    std::string reason;
    /// How long before the snapshot's `now` it happened.
    int64_t ago_ms = 0;
  };
  std::optional<failure> last_failure;
};

} // namespace prism
