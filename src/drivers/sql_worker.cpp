#include "drivers/sql_worker.hpp"

#include <utility>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace prism::drivers {

namespace {

/// Raises the calling thread's CPU priority to `nice` where the process may
/// (CAP_SYS_NICE or RLIMIT_NICE); otherwise it keeps the one it has.
/// Returns whether it was raised.
bool raise_priority(int nice) noexcept {
  auto tid = static_cast<id_t>(syscall(SYS_gettid));
  return setpriority(PRIO_PROCESS, tid, nice) == 0;
}

} // namespace

sql_worker::sql_worker(hooks& h, std::string kind)
  : hooks_(h), kind_(std::move(kind)) {}

sql_worker::~sql_worker() {
  if (thread_.joinable())
    stop();
}

void sql_worker::start() {
  thread_ = std::thread([this] { run(); });
}

void sql_worker::stop() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (stopping_)
      return;
    stopping_ = true;
    hooks_.stopping();
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void sql_worker::execute(std::string ns, operation_ptr op, op_timeout timeout,
                         kv_driver::completion done) {
  if (auto j = driver_job::operation(std::move(ns), std::move(op), timeout,
                                     std::move(done)))
    submit(std::move(*j));
}

void sql_worker::reclaim_expired(uint32_t max_keys,
                                 kv_driver::reclaim_completion done) {
  submit(driver_job::reclaim(max_keys, std::move(done)));
}

void sql_worker::submit(driver_job j) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (!stopping_) {
      queue_.push_back(std::move(j));
      wake_.notify_one();
      return;
    }
  }
  j.fail();
}

void sql_worker::run() {
  // A driver's thread carries work the gateway has admitted; new calls, and
  // refusing them, run on the scheduler's threads. When the CPU is short
  // (overload), the admitted work goes first: otherwise the backend waits
  // for the CPU while the scheduler refuses, and goodput falls with the
  // load offered.
  priority_raised_ = raise_priority(driver_thread_nice);
  hooks_.started();
  for (;;) {
    driver_job j;
    bool idle = false;
    {
      std::unique_lock<std::mutex> lock{mutex_};
      auto ready = [this] {
        return stopping_ || !queue_.empty();
      };
      const time_point until = hooks_.idle_until();
      if (until != time_point::max())
        idle = !wake_.wait_until(lock, until, ready);
      else
        wake_.wait(lock, ready);
      if (stopping_)
        break;
      if (!idle) {
        j = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    if (idle) {
      hooks_.idle();
      continue;
    }
    if (!hooks_.admit(j)) {
      j.fail();
      continue;
    }
    if (j.done) {
      model::outcome out;
      try {
        out = hooks_.run(j);
      } catch (...) {
        out = model::outcome::failure(
          status_code::internal, "unexpected failure in " + kind_ + " driver");
      }
      j.finish(std::move(out));
    } else if (j.reclaim_done) {
      uint64_t removed = 0;
      try {
        removed = hooks_.reclaim(j);
      } catch (...) {
      }
      j.finish_reclaim(removed);
    }
  }
  hooks_.stopped();
  std::deque<driver_job> rest;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    rest.swap(queue_);
  }
  for (auto& j : rest)
    j.fail();
}

} // namespace prism::drivers
