#include "runtime/actor_record.hpp"

#include <algorithm>

#include "runtime/tap.hpp"

namespace prism {

std::string_view to_string(actor_state state) noexcept {
  switch (state) {
    case actor_state::starting: return "starting";
    case actor_state::running: return "running";
    case actor_state::draining: return "draining";
    case actor_state::restarting: return "restarting";
    case actor_state::stopping: return "stopping";
    case actor_state::failed: return "failed";
  }
  return "unknown";
}

// --- actor_record ------------------------------------------------------------

actor_record::actor_record(uint64_t id, std::string kind, std::string name,
                           uint64_t parent, time_point started_at,
                           caf::actor_addr addr, actor_state state)
  : id_(id), kind_(std::move(kind)), name_(std::move(name)), parent_(parent),
    started_at_(started_at), addr_(std::move(addr)),
    state_(static_cast<uint8_t>(state)) {
  // nop
}

void actor_record::dequeued(uint64_t n) noexcept {
  auto depth = depth_.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    next = depth > n ? depth - n : 0;
  } while (
    !depth_.compare_exchange_weak(depth, next, std::memory_order_relaxed));
}

void actor_record::record_work(std::chrono::nanoseconds d) noexcept {
  auto ns = static_cast<uint64_t>(std::max<int64_t>(d.count(), 0));
  busy_ns_.fetch_add(ns * work_sample_every, std::memory_order_relaxed);
  auto us = ns / 1000;
  size_t bucket = 0;
  while (us > 0 && bucket + 1 < work_buckets) {
    us >>= 1;
    ++bucket;
  }
  work_[bucket].fetch_add(1, std::memory_order_relaxed);
  auto max = work_max_ns_.load(std::memory_order_relaxed);
  while (
    ns > max
    && !work_max_ns_.compare_exchange_weak(max, ns, std::memory_order_relaxed))
    ;
}

std::array<uint64_t, actor_record::work_buckets> actor_record::work_histogram()
  const noexcept {
  std::array<uint64_t, work_buckets> out{};
  for (size_t i = 0; i < work_buckets; ++i)
    out[i] = work_[i].load(std::memory_order_relaxed);
  return out;
}

void actor_record::note_restart_at(time_point at) noexcept {
  auto slot = restart_next_.fetch_add(1, std::memory_order_relaxed)
    % restart_times_kept;
  // Tick 0 marks an empty slot: an actor clock at its epoch counts as 1.
  restart_times_[slot].store(
    std::max<int64_t>(at.time_since_epoch().count(), 1),
    std::memory_order_relaxed);
}

uint64_t actor_record::restarts_since(time_point since) const noexcept {
  uint64_t n = 0;
  for (auto& t : restart_times_) {
    auto ticks = t.load(std::memory_order_relaxed);
    if (ticks != 0 && ticks >= since.time_since_epoch().count())
      ++n;
  }
  return n;
}

void actor_record::record_failure(std::string reason, time_point at) {
  std::lock_guard<std::mutex> guard{failure_mtx_};
  failed_ = true;
  failure_reason_ = std::move(reason);
  failed_at_ = at;
}

std::optional<std::pair<std::string, actor_record::time_point>>
actor_record::last_failure() const {
  std::lock_guard<std::mutex> guard{failure_mtx_};
  if (!failed_)
    return std::nullopt;
  return std::make_pair(failure_reason_, failed_at_);
}

void actor_record::add_tap(std::shared_ptr<detail::tap> tap) {
  std::lock_guard<std::mutex> guard{tap_mtx_};
  if (std::find(taps_.begin(), taps_.end(), tap) != taps_.end())
    return;
  taps_.push_back(std::move(tap));
  tap_count_.store(static_cast<uint32_t>(taps_.size()),
                   std::memory_order_relaxed);
}

void actor_record::remove_tap(const detail::tap* tap) {
  std::lock_guard<std::mutex> guard{tap_mtx_};
  taps_.erase(std::remove_if(taps_.begin(), taps_.end(),
                             [tap](const std::shared_ptr<detail::tap>& t) {
                               return t.get() == tap;
                             }),
              taps_.end());
  tap_count_.store(static_cast<uint32_t>(taps_.size()),
                   std::memory_order_relaxed);
}

std::vector<std::shared_ptr<detail::tap>> actor_record::taps() const {
  std::lock_guard<std::mutex> guard{tap_mtx_};
  return taps_;
}

} // namespace prism
