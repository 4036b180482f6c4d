#include "admin/elastic_pool.hpp"

#include <thread>

namespace prism::admin {

elastic_pool::elastic_pool(size_t min_threads, size_t max_threads,
                           std::chrono::milliseconds idle_for)
  : min_threads_(min_threads), max_threads_(max_threads < 1 ? 1 : max_threads),
    idle_for_(idle_for) {
  std::lock_guard<std::mutex> guard{mutex_};
  while (threads_ < min_threads_ && threads_ < max_threads_)
    start_locked();
}

elastic_pool::~elastic_pool() {
  shutdown();
}

void elastic_pool::start_locked() {
  ++threads_;
  std::thread([this] { work(); }).detach();
}

void elastic_pool::enqueue(job fn) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (stopping_)
    return;
  jobs_.push_back(std::move(fn));
  // A worker is started only when no idle one is left to take the job.
  if (idle_ < jobs_.size() && threads_ < max_threads_)
    start_locked();
  else
    wake_.notify_one();
}

void elastic_pool::shutdown() {
  std::unique_lock<std::mutex> lock{mutex_};
  stopping_ = true;
  wake_.notify_all();
  gone_.wait(lock, [this] { return threads_ == 0; });
}

size_t elastic_pool::threads() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return threads_;
}

size_t elastic_pool::idle() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return idle_;
}

size_t elastic_pool::queued() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return jobs_.size();
}

void elastic_pool::work() {
  std::unique_lock<std::mutex> lock{mutex_};
  for (;;) {
    if (jobs_.empty()) {
      if (stopping_)
        break;
      ++idle_;
      bool woken = wake_.wait_for(
        lock, idle_for_, [this] { return !jobs_.empty() || stopping_; });
      --idle_;
      // Past its idle time with nothing to do, a worker beyond the minimum
      // goes; the others keep waiting.
      if (!woken && threads_ > min_threads_)
        break;
      continue;
    }
    auto fn = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    fn();
    lock.lock();
  }
  --threads_;
  // Signalled once this thread has fully ended its use of the lock, so
  // shutdown (and the destructor after it) cannot run ahead of it.
  std::notify_all_at_thread_exit(gone_, std::move(lock));
}

} // namespace prism::admin
