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

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/fwd.hpp>

#include "runtime/actor_record.hpp"
#include "runtime/tap.hpp"

namespace prism {

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
  inspector_registration enroll(uint64_t id, std::string kind, std::string name,
                                uint64_t parent, time_point started_at,
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

  /// Calls `fn` with every registered actor's record, in no particular
  /// order; cheaper than a snapshot when only a few counters are needed.
  /// `fn` may read the inspector but not register or deregister.
  void visit(const std::function<void(const actor_record&)>& fn) const;

  /// Every registered actor, ordered by id, ages computed against `now`.
  std::vector<actor_info> snapshot(time_point now) const;

  /// Sends the actor under `id` an exit with `caf::exit_reason::kill` (which
  /// no exit handler can trap). False when no such actor is registered, it
  /// was registered without an address, or nothing refers to it any more.
  /// An actor that ends deregisters itself (through its registration), so
  /// a kill of an actor that has ended normally finds nothing. Its record's
  /// last failure becomes "killed by `by`" with the time, and the next actor
  /// of the same kind and name to register (its supervisor's restart)
  /// starts with that last failure.
  bool kill(uint64_t id, caf::actor_system& sys,
            const std::string& by = "the inspector");

  /// Starts a tap (runtime/tap.hpp) on the actors `target` matches now,
  /// and, for a label or a word, on those that register under it while it
  /// runs. Limits are the caller's to check.
  tap_board::start_result start_tap(const tap_target& target,
                                    uint64_t events_max,
                                    std::chrono::milliseconds duration,
                                    time_point now);
  /// The taps on these actors.
  tap_board& taps() noexcept;

  /// The actor under `id` (registered now or lately) ended with `reason`
  /// (it threw, or quit with an error): the next actor of the same kind and
  /// name to register (its supervisor's restart) starts with that last
  /// failure. A kill's reason, noted first, is kept instead. A supervisor
  /// calls it when a child fails.
  void note_failed_exit(uint64_t id, std::string reason, time_point at);

private:
  std::shared_ptr<detail::inspector_core> core_;
};

/// Plain data of one record against `now`.
actor_info snapshot_of(const actor_record& record,
                       caf::actor_clock::time_point now);

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

/// Counts one message an actor handles and times its handler: make one at
/// the top of the handler; its end is the end of the handler's work. One
/// message in actor_record::work_sample_every is timed (two reads of the
/// steady clock, about 30 ns each): the record scales the sample up. While
/// the actor is tapped (runtime/tap.hpp), every message is timed and
/// described for its taps; otherwise that costs one relaxed atomic load.
class handling {
public:
  explicit handling(inspector_registration& registration) noexcept {
    if (!registration)
      return;
    auto& record = *registration;
    sampled_ = record.count_handled() % actor_record::work_sample_every == 0;
    if (record.tapped())
      note_ = detail::begin_tapped(record);
    if (sampled_ || note_) {
      record_ = &record;
      start_ = std::chrono::steady_clock::now();
    }
  }
  ~handling() {
    if (!record_)
      return;
    auto took = std::chrono::steady_clock::now() - start_;
    if (sampled_)
      record_->record_work(took);
    if (note_)
      detail::end_tapped(*record_, note_, took);
  }
  handling(const handling&) = delete;
  handling& operator=(const handling&) = delete;

private:
  actor_record* record_ = nullptr;
  detail::tap_note* note_ = nullptr;
  bool sampled_ = false;
  std::chrono::steady_clock::time_point start_;
};

} // namespace prism
