#pragma once

// The slow log: the most recent calls that took at least a threshold from
// the moment their session started them to the moment it answered, each
// with the time it spent at each hop (in the session before its first
// stage, in each stage, the router, waiting in the pool for a connection,
// in the backend, and back to the session). Sessions offer every call they
// answer; a call under the threshold costs one comparison. Bounded: the
// oldest entry goes first. Thread-safe.
//
// Follows: an admin arms one for a request id (POST /debug/follow/{id});
// the next call with that id is recorded, in the same shape, whatever its
// time, with the actor that took each hop. While none is armed, a call
// costs the follows one relaxed atomic load.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_clock.hpp>

#include "model/status.hpp"

namespace prism {

class kv_call;
class inspector;

struct slow_hop {
  /// "session", "stage:audit", "router", "pool wait:disk", "backend:disk",
  /// "reply" (from the backend's answer back to the client).
  std::string name;
  int64_t us = 0;
  /// The actor whose hop began this span (0 when unknown), and its
  /// "kind:name" when a follow recorded the call (else empty).
  uint64_t actor = 0;
  std::string label;
};

struct slow_entry {
  /// Increases with every entry recorded (survives a reset).
  uint64_t id = 0;
  std::string request_id;
  std::string ns;
  std::string operation;
  std::string principal;
  std::string peer;
  status_code code = status_code::ok;
  /// When the session answered, on the actor clock.
  caf::actor_clock::time_point completed_at;
  int64_t total_us = 0;
  std::vector<slow_hop> hops;
  /// Hops past what a call records (call_hops::hops_max).
  size_t hops_dropped = 0;
};

/// A call's entry, whatever its time; `actors` (optional) names the actor
/// of each hop.
slow_entry entry_of(const kv_call& call, const inspector* actors = nullptr);

/// A follow of one request id.
struct follow_entry {
  std::string request_id;
  caf::actor_clock::time_point armed_at;
  /// The call, once one with this request id has been answered.
  std::optional<slow_entry> call;
};

class slow_log {
public:
  /// Follows armed or recorded at once (arming one more forgets the
  /// oldest), and how long one is kept after it is armed.
  static constexpr size_t follows_max = 16;
  static constexpr std::chrono::milliseconds follow_kept{600000};

  slow_log(size_t capacity, std::chrono::microseconds threshold);

  /// Records `call` when it took at least the threshold, or when a follow
  /// waits for its request id. Call it once the call's completed_at is set;
  /// `actors` names the actors of a followed call's hops.
  void offer(const kv_call& call, const inspector* actors = nullptr);

  /// The newest entry with this request id, if one is still kept.
  std::optional<slow_entry> find(const std::string& request_id) const;

  /// Arms a follow of the next call with `request_id` (again, when one was
  /// recorded already).
  void follow(const std::string& request_id, caf::actor_clock::time_point now);
  /// The follow of `request_id`, if one is kept.
  std::optional<follow_entry> followed(const std::string& request_id,
                                       caf::actor_clock::time_point now);

  /// The newest `n` entries, newest first.
  std::vector<slow_entry> latest(size_t n) const;
  /// Forgets every entry (ids keep counting).
  void reset();

  std::chrono::microseconds threshold() const noexcept {
    return std::chrono::microseconds(
      threshold_us_.load(std::memory_order_relaxed));
  }
  void set_threshold(std::chrono::microseconds t) noexcept {
    threshold_us_.store(t.count(), std::memory_order_relaxed);
  }
  size_t capacity() const noexcept { return capacity_; }
  /// Entries recorded since the start (reset does not clear it).
  uint64_t recorded() const;

private:
  void record_follow(const kv_call& call, const inspector* actors);
  /// Forgets follows kept for follow_kept (under follow_mtx_).
  void forget_follows(caf::actor_clock::time_point now);

  const size_t capacity_;
  std::atomic<int64_t> threshold_us_;
  mutable std::mutex mtx_;
  std::deque<slow_entry> entries_;
  uint64_t next_id_ = 1;

  /// Follows that wait for their call.
  std::atomic<size_t> following_{0};
  mutable std::mutex follow_mtx_;
  std::deque<follow_entry> follows_;
};

using slow_log_ptr = std::shared_ptr<slow_log>;

} // namespace prism
