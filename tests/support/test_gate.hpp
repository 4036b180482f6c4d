#pragma once

// A gate that holds the threads passing it until the test opens it, and
// tells the test how many it holds: for tests of code that runs jobs or
// destructors on threads of its own.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace prism::test {

class test_gate {
public:
  /// Waits until the gate is open.
  void pass() {
    std::unique_lock<std::mutex> lock{mutex_};
    ++holding_;
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_; });
    --holding_;
  }

  void open() {
    std::lock_guard<std::mutex> guard{mutex_};
    open_ = true;
    changed_.notify_all();
  }

  /// Waits up to `timeout` until `n` threads are held; whether they were.
  bool wait_holding(size_t n,
                    std::chrono::milliseconds timeout
                    = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock{mutex_};
    return changed_.wait_for(lock, timeout, [&] { return holding_ == n; });
  }

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  size_t holding_ = 0;
  bool open_ = false;
};

} // namespace prism::test
