#pragma once

// The lines an audit log has not written yet, bounded by `lines_max`. A line
// holds room from the moment it is queued, or reserved ahead, until the
// writer reports it written, so a slow disk fills the queue instead of
// memory. Producers (the audit stage) never wait: with no room left, a line
// is dropped and counted, or a reservation is refused. Thread-safe; one
// consumer (the writer) takes lines out in batches.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace prism {

class audit_queue {
public:
  /// `batch_lines`: the consumer is woken when this many lines wait.
  audit_queue(size_t lines_max, size_t batch_lines);

  /// Queues a line when there is room; otherwise drops it and counts it.
  /// Returns whether it was queued.
  bool push(std::string line);

  /// Takes room for a line that will come later (push_reserved); false when
  /// there is none. No lock.
  bool reserve() noexcept;
  /// Queues a line into room reserve() took; never drops it.
  void push_reserved(std::string line);
  /// Gives back room reserve() took for a line that will never come; the
  /// line counts as dropped (its request may have run).
  void abandon() noexcept;

  /// The consumer: waits until `batch_lines` lines wait, stop() is called,
  /// or `wait_max` passes, then moves the waiting lines into `out` (which
  /// must be empty). Their
  /// room stays taken until written(). Returns false once stopped.
  bool take(std::vector<std::string>& out, std::chrono::milliseconds wait_max);
  /// Gives back the room of `n` lines the consumer has written.
  void written(size_t n) noexcept;
  /// Counts `n` lines the consumer could not write; their room comes back
  /// with written().
  void count_dropped(size_t n) noexcept;
  /// Wakes the consumer for the last time.
  void stop();

  size_t lines_max() const noexcept { return lines_max_; }
  /// Lines queued or reserved and not yet written.
  size_t occupied() const noexcept {
    return occupied_.load(std::memory_order_acquire);
  }
  uint64_t dropped() const noexcept {
    return dropped_.load(std::memory_order_relaxed);
  }

private:
  bool take_room() noexcept;
  void enqueue(std::string line);

  const size_t lines_max_;
  const size_t batch_lines_;
  std::atomic<size_t> occupied_{0};
  std::atomic<uint64_t> dropped_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::string> pending_;
  bool stopping_ = false;
};

} // namespace prism
