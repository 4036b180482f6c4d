#pragma once

// The actor inspector: every actor registers itself when it starts and
// deregisters when it ends, and keeps its own counters up to date. CAF 0.17
// keeps no list of live actors and its profiler hooks are compiled out, so
// this registry is the only place that knows which actors exist.
//
// Cost on the hot path: the counters of a record are relaxed atomics, so an
// actor updates them without a lock. The registry's mutex is taken only to
// register, deregister, look up for a kill, or take a snapshot. A record's
// last failure sits behind a small lock of its own (it is set rarely).
//
// Time: actor code never reads the wall clock. A record's start time is a
// time point of the actor clock (`self->clock().now()`), and `snapshot(now)`
// computes ages against a `now` of the same clock. Renderers turn ages into
// wall-clock milliseconds against the `generated_at_ms` the caller passes
// (the admin listener reads the system clock; it is not an actor).

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/actor_clock.hpp>
#include <caf/fwd.hpp>
#include <nlohmann/json_fwd.hpp>

namespace prism {

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

  actor_record(uint64_t id, std::string kind, std::string name,
               uint64_t parent, time_point started_at, caf::actor_addr addr,
               actor_state state);

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
  void count_handled(uint64_t n = 1) noexcept {
    handled_.fetch_add(n, std::memory_order_relaxed);
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

  // Last failure (rare; a small lock).
  void record_failure(std::string reason, time_point at);
  /// The reason and time of the last failure, if there was one.
  std::optional<std::pair<std::string, time_point>> last_failure() const;

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

  mutable std::mutex failure_mtx_;
  bool failed_ = false;
  std::string failure_reason_;
  time_point failed_at_;
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
  struct failure {
    std::string reason;
    /// How long before the snapshot's `now` it happened.
    int64_t ago_ms = 0;
  };
  std::optional<failure> last_failure;
};

namespace detail {
struct inspector_core;
} // namespace detail

class inspector;

/// Keeps an actor registered for as long as it lives: deregisters in its
/// destructor. Keep it in the actor's state struct. Movable, not copyable.
/// Safe to outlive the inspector (deregistering then does nothing).
class inspector_registration {
public:
  inspector_registration() = default;
  inspector_registration(std::weak_ptr<detail::inspector_core> core,
                         actor_record_ptr record) noexcept;
  inspector_registration(inspector_registration&& other) noexcept;
  inspector_registration& operator=(inspector_registration&& other) noexcept;
  inspector_registration(const inspector_registration&) = delete;
  inspector_registration& operator=(const inspector_registration&) = delete;
  ~inspector_registration();

  /// Deregisters now (idempotent).
  void reset() noexcept;

  explicit operator bool() const noexcept { return record_ != nullptr; }
  actor_record* operator->() const noexcept { return record_.get(); }
  actor_record& operator*() const noexcept { return *record_; }
  const actor_record_ptr& record() const noexcept { return record_; }

private:
  std::weak_ptr<detail::inspector_core> core_;
  actor_record_ptr record_;
};

/// The registry of live actors. Thread-safe.
class inspector {
public:
  using time_point = caf::actor_clock::time_point;

  inspector();
  ~inspector();
  inspector(const inspector&) = delete;
  inspector& operator=(const inspector&) = delete;

  /// Registers an actor and returns the record it updates. A second
  /// registration with the same id replaces the first.
  actor_record_ptr register_actor(uint64_t id, std::string kind,
                                  std::string name, uint64_t parent,
                                  time_point started_at,
                                  caf::actor_addr addr = {},
                                  actor_state state = actor_state::running);

  /// Registers an actor and returns the RAII handle that deregisters it.
  inspector_registration enroll(uint64_t id, std::string kind,
                                std::string name, uint64_t parent,
                                time_point started_at,
                                caf::actor_addr addr = {},
                                actor_state state = actor_state::running);

  /// Registers `self` (id, address and start time from the actor itself);
  /// call it from the actor's behavior factory.
  template <class Self>
  inspector_registration enroll_self(Self* self, std::string kind,
                                     std::string name, uint64_t parent = 0) {
    return enroll(self->id(), std::move(kind), std::move(name), parent,
                  self->clock().now(), self->address());
  }

  /// Removes the record with this id, if it is `record` (a newer
  /// registration under the same id stays).
  void deregister(const actor_record& record);
  /// Removes whatever is registered under `id`.
  void deregister(uint64_t id);

  /// Number of registered actors.
  size_t size() const;

  /// The record under `id`, or null.
  actor_record_ptr find(uint64_t id) const;

  /// Every registered actor, ordered by id, ages computed against `now`.
  std::vector<actor_info> snapshot(time_point now) const;

  /// Sends the actor under `id` an exit with `caf::exit_reason::kill` (which
  /// no exit handler can trap). False when no such actor is registered, it
  /// was registered without an address, or nothing refers to it any more.
  /// An actor that ends deregisters itself (through its registration), so
  /// a kill of an actor that has ended normally finds nothing.
  bool kill(uint64_t id, caf::actor_system& sys);

private:
  std::shared_ptr<detail::inspector_core> core_;
};

/// Plain data of one record against `now`.
actor_info snapshot_of(const actor_record& record,
                    caf::actor_clock::time_point now);

// --- JSON renderers (for the admin listener and the console) --------------
//
// All three return a top-level object with "generated_at_ms" (wall-clock
// milliseconds since the Unix epoch, as passed in). Field names are fixed;
// docs/ADMIN.md lists them.

/// {"generated_at_ms", "count", "actors": [actor...]} ordered by id.
nlohmann::json to_json_list(const std::vector<actor_info>& actors,
                            int64_t generated_at_ms);

/// {"generated_at_ms", "count", "actors": [root...]}: each node is an actor
/// with "children": [node...]. Roots are actors with parent 0 and actors
/// whose parent is not registered (their "parent" still names it).
nlohmann::json to_json_tree(const std::vector<actor_info>& actors,
                            int64_t generated_at_ms);

/// {"generated_at_ms", "actor": actor with "children": [id...]}, or nullopt
/// when `id` is not in `actors`.
std::optional<nlohmann::json> to_json_one(const std::vector<actor_info>& actors,
                                          uint64_t id,
                                          int64_t generated_at_ms);

/// One actor as a JSON object (the element of every list above).
nlohmann::json to_json(const actor_info& actor, int64_t generated_at_ms);

/// Registers `self` when `actors` is set (tests may run without an
/// inspector) and returns the handle its state keeps.
template <class Self>
inspector_registration enroll_if(inspector* actors, Self* self,
                                 std::string kind, std::string name,
                                 uint64_t parent = 0) {
  if (actors == nullptr)
    return {};
  return actors->enroll_self(self, std::move(kind), std::move(name), parent);
}

/// Counts one handled message, when the actor is registered.
inline void count_handled(inspector_registration& registration) noexcept {
  if (registration)
    registration->count_handled();
}

} // namespace prism
