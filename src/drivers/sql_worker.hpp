#pragma once

// The worker thread of a KeyValue driver whose library blocks (SQLite,
// PostgreSQL). execute() and reclaim_expired() only queue a driver_job; the
// driver's own thread takes the jobs in order, runs each through the
// driver's hooks and hands the outcome to the job's completion. Stopping
// lets the running job finish and answers the queued ones, and any job
// queued after, UNAVAILABLE "driver shutting down" (a reclaim: nothing
// reclaimed).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "drivers/driver.hpp"
#include "drivers/driver_job.hpp"

namespace prism::drivers {

class sql_worker {
public:
  using time_point = std::chrono::steady_clock::time_point;

  /// What a driver does on its worker thread. Every hook but stopping()
  /// runs on the worker thread.
  class hooks {
  public:
    /// Once, before the worker takes its first job.
    virtual void started() {}
    /// When the worker stops waiting for a job and calls idle(); max() to
    /// wait for one however long it takes. Asked under the queue's lock.
    virtual time_point idle_until() { return time_point::max(); }
    /// No job came by idle_until().
    virtual void idle() {}
    /// Just before `j` runs: false to answer it as a job queued at shutdown
    /// is answered, without running it.
    virtual bool admit(const driver_job& j) { return true; }
    /// Runs the operation of `j`. An exception answers it INTERNAL
    /// "unexpected failure in <kind> driver".
    virtual model::outcome run(const driver_job& j) = 0;
    /// Runs the reclaim round of `j`; an exception counts as nothing
    /// reclaimed.
    virtual uint64_t reclaim(const driver_job& j) = 0;
    /// On the thread that calls stop(), under the queue's lock, as the
    /// worker is told to stop: the place to interrupt what it is doing.
    virtual void stopping() {}
    /// Once, after the last job and before the queued ones are answered.
    virtual void stopped() {}

  protected:
    virtual ~hooks() = default;
  };

  /// `kind` names the driver in the message of an unexpected failure
  /// ("sqlite", "postgres"). The thread starts with start().
  sql_worker(hooks& h, std::string kind);
  /// Stops the worker when stop() has not.
  ~sql_worker();

  sql_worker(const sql_worker&) = delete;
  sql_worker& operator=(const sql_worker&) = delete;

  /// Starts the thread; the hooks must be ready to run.
  void start();
  /// Stops taking jobs and joins the worker; see above. The driver calls it
  /// first thing in its destructor, while the hooks can still run. Once is
  /// enough: later calls do nothing.
  void stop();

  /// The jobs of kv_driver::execute and kv_driver::reclaim_expired.
  void execute(std::string ns, operation_ptr op, op_timeout timeout,
               kv_driver::completion done);
  void reclaim_expired(uint32_t max_keys, kv_driver::reclaim_completion done);

  /// The nice value a worker thread asks for as it starts (Linux: lower
  /// runs first; the scheduler's threads keep 0). Granted only to a process
  /// allowed to raise priorities (CAP_SYS_NICE, or RLIMIT_NICE); otherwise
  /// the thread runs at the process's own.
  static constexpr int driver_thread_nice = -8;
  /// Whether the worker's thread got that priority (once it has started).
  bool priority_raised() const noexcept {
    return priority_raised_.load(std::memory_order_acquire);
  }

private:
  void submit(driver_job j);
  void run();

  hooks& hooks_;
  const std::string kind_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<driver_job> queue_;
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<bool> priority_raised_{false};
};

} // namespace prism::drivers
