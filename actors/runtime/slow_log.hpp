#pragma once

// The slow log: the most recent calls that took at least a threshold from
// the moment their session started them to the moment it answered, each
// with the time it spent at each hop (in the session before its first
// stage, in each stage, the router, waiting in the pool for a connection,
// in the backend, and back to the session). Sessions offer every call they
// answer; a call under the threshold costs one comparison. Bounded: the
// oldest entry goes first. Thread-safe.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor_clock.hpp>

#include "model/status.hpp"

namespace prism {

class kv_call;

struct slow_hop {
  /// "session", "stage:audit", "router", "pool wait:disk", "backend:disk",
  /// "reply" (from the backend's answer back to the client).
  std::string name;
  int64_t us = 0;
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

class slow_log {
public:
  slow_log(size_t capacity, std::chrono::microseconds threshold);

  /// Records `call` when it took at least the threshold. Call it once the
  /// call's completed_at is set.
  void offer(const kv_call& call);

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
  const size_t capacity_;
  std::atomic<int64_t> threshold_us_;
  mutable std::mutex mtx_;
  std::deque<slow_entry> entries_;
  uint64_t next_id_ = 1;
};

using slow_log_ptr = std::shared_ptr<slow_log>;

} // namespace prism
