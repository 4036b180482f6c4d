#include "middleware/audit/audit_queue.hpp"

namespace prism {

audit_queue::audit_queue(size_t lines_max, size_t batch_lines)
  : lines_max_(lines_max), batch_lines_(batch_lines) {}

bool audit_queue::take_room() noexcept {
  auto now = occupied_.load(std::memory_order_acquire);
  do {
    if (now >= lines_max_)
      return false;
  } while (
    !occupied_.compare_exchange_weak(now, now + 1, std::memory_order_acq_rel));
  return true;
}

void audit_queue::enqueue(std::string line) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    pending_.push_back(std::move(line));
    wake = pending_.size() == batch_lines_;
  }
  if (wake)
    wake_.notify_one();
}

bool audit_queue::push(std::string line) {
  if (!take_room()) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  enqueue(std::move(line));
  return true;
}

bool audit_queue::reserve() noexcept {
  return take_room();
}

void audit_queue::push_reserved(std::string line) {
  enqueue(std::move(line));
}

void audit_queue::abandon() noexcept {
  dropped_.fetch_add(1, std::memory_order_relaxed);
  written(1);
}

bool audit_queue::take(std::vector<std::string>& out,
                       std::chrono::milliseconds wait_max) {
  std::unique_lock<std::mutex> guard{mutex_};
  wake_.wait_for(guard, wait_max, [this] {
    return stopping_ || pending_.size() >= batch_lines_;
  });
  out.swap(pending_);
  return !stopping_;
}

void audit_queue::written(size_t n) noexcept {
  occupied_.fetch_sub(n, std::memory_order_acq_rel);
}

void audit_queue::count_dropped(size_t n) noexcept {
  dropped_.fetch_add(n, std::memory_order_relaxed);
}

void audit_queue::stop() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stopping_ = true;
  }
  wake_.notify_one();
}

} // namespace prism
