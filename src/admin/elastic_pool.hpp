#pragma once

// The admin listener's workers: one thread per connection being served, as
// many as are needed up to a limit, and none kept idle past a while. An
// idle gateway holds `min_threads` of them instead of the limit (the
// listener rarely has more than a probe and a scrape at once), and a burst
// of slow clients still cannot starve a probe below the limit.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

namespace prism::admin {

class elastic_pool {
public:
  using job = std::function<void()>;

  /// Keeps `min_threads` workers always, starts more (up to `max_threads`)
  /// when a job finds every worker busy, and lets a worker beyond
  /// `min_threads` go once it has waited `idle_for` without work.
  elastic_pool(size_t min_threads, size_t max_threads,
               std::chrono::milliseconds idle_for);
  ~elastic_pool();
  elastic_pool(const elastic_pool&) = delete;
  elastic_pool& operator=(const elastic_pool&) = delete;

  /// Runs `fn` on a worker; it waits in line when all `max_threads` are busy.
  void enqueue(job fn);

  /// Runs what is queued, then stops and joins every worker. Idempotent;
  /// enqueue after it does nothing.
  void shutdown();

  /// Workers alive now (busy or idle).
  size_t threads() const;
  /// Workers waiting for a job now.
  size_t idle() const;
  /// Jobs waiting for a worker now.
  size_t queued() const;

private:
  /// Starts a worker. Call with `mutex_` held.
  void start_locked();
  void work();

  const size_t min_threads_;
  const size_t max_threads_;
  const std::chrono::milliseconds idle_for_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  /// Signalled when a worker ends (for shutdown).
  std::condition_variable gone_;
  std::deque<job> jobs_;
  /// Workers are detached, so one that ends gives its stack back at once;
  /// shutdown waits for this count to reach zero.
  size_t threads_ = 0;
  size_t idle_ = 0;
  bool stopping_ = false;
};

} // namespace prism::admin
