#pragma once

// The rule every asynchronous gRPC service here keeps: nothing is started on
// a completion queue once it is closed. gRPC treats an operation started on
// a queue that was shut down as fatal, so the services close their guard
// after the server has shut down and before the queues do, and start every
// operation (a request for the next call, a write, a finish, an alarm) under
// a `queue_guard::operation`.

#include <atomic>
#include <cstdint>
#include <thread>

namespace prism::frontend {

class queue_guard {
public:
  /// While it lives, the queues stay open; false when they are closed, and
  /// then nothing may be started on them.
  class operation {
  public:
    explicit operation(queue_guard& guard) noexcept : guard_(guard) {
      // Count first, then look: close() either sees the count or is seen
      // here.
      guard_.operations_.fetch_add(1, std::memory_order_seq_cst);
      open_ = guard_.open_.load(std::memory_order_seq_cst);
    }
    ~operation() { guard_.operations_.fetch_sub(1, std::memory_order_seq_cst); }
    operation(const operation&) = delete;
    operation& operator=(const operation&) = delete;
    explicit operator bool() const noexcept { return open_; }

  private:
    queue_guard& guard_;
    bool open_;
  };

  /// Starts no further operation and returns once none is being started
  /// (they take microseconds).
  void close() noexcept {
    open_.store(false, std::memory_order_seq_cst);
    while (operations_.load(std::memory_order_seq_cst) != 0)
      std::this_thread::yield();
  }

private:
  std::atomic<bool> open_{true};
  /// Operations being started.
  std::atomic<int64_t> operations_{0};
};

} // namespace prism::frontend
