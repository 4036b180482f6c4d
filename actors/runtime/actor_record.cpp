#include "runtime/actor_record.hpp"

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

} // namespace prism
