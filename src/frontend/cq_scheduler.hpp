#pragma once

// A CAF scheduler whose worker threads also drive gRPC completion queues, so
// that a call runs on one thread from the gRPC event that brings it in to the
// Finish that answers it.
//
// It is CAF's work stealing, except that:
// - An idle worker that has a completion queue attached (a poller) waits in
//   the queue (AsyncNext) instead of on its condition variable, and handles
//   each gRPC event on the spot. A busy one looks at its queue every few
//   jobs, so new calls are not held back by a long backlog.
// - A poller that has run jobs without a break for `busy_before_sharing`
//   while more wait wakes a parked worker without a queue, which steals;
//   below that nobody is woken, so one call at a time stays on one thread.
// - A job enqueued from one of the workers' own threads without an actor
//   context (a gRPC event handler sending to an actor) goes to that worker's
//   own queue, like a message one actor sends another: no wake-up.
// - An enqueue from any other thread (CAF's clock, a driver's thread, the
//   main thread) wakes a worker blocked in its completion queue with an
//   alarm due at once, set at most once at a time; a worker without a queue
//   is woken through its condition variable, as in CAF.
// - Work a job defers (`defer`: the answers a session completes) runs as
//   the job ends: the answers of calls completed together go out together,
//   after the actor's work.
//
// Queues are attached once the gRPC server is built (the actor system starts
// first) and detached before the actor system stops: the server shuts down,
// then each queue, and each worker drains its own to the end and goes back
// to waiting on its condition variable.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/policy/work_stealing.hpp>
#include <caf/scheduler/coordinator.hpp>
#include <grpcpp/alarm.h>
#include <grpcpp/completion_queue.h>

namespace prism::frontend {

/// Work a worker runs as the job that deferred it ends (see
/// cq_work_stealing::defer).
class deferred_work {
public:
  virtual void run() = 0;

protected:
  ~deferred_work() = default;
};

/// What every tag on an attached completion queue points to.
class cq_event {
public:
  /// Handles the event; `ok` is the queue's success flag for it.
  virtual void proceed(bool ok) = 0;

protected:
  ~cq_event() = default;
};

class cq_work_stealing : public caf::policy::work_stealing {
public:
  using super = caf::policy::work_stealing;

  /// Jobs a busy worker runs between two looks at its completion queue.
  static constexpr size_t jobs_between_cq_polls = 8;
  /// Events a busy worker takes from its completion queue in one look.
  static constexpr size_t cq_events_per_poll_max = 16;

  enum class cq_state { none, attached, draining };

  struct worker_data : super::worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator* p);
    worker_data(const worker_data& other);

    /// The attached queue; written under `waitdata.lock`, read by the
    /// worker without it.
    std::atomic<grpc::CompletionQueue*> cq{nullptr};
    // Guarded by `waitdata.lock`:
    cq_state state = cq_state::none;
    /// The worker is blocked in AsyncNext, or about to be.
    bool in_cq = false;
    /// `kick` is set and its event not yet taken.
    bool kick_armed = false;
    std::unique_ptr<grpc::Alarm> kick;
    /// Notified when the worker has drained its queue to the end.
    std::condition_variable detached;
    /// A worker without a queue waits on its condition variable for work
    /// (set just before, cleared just after): a busy worker with a queue
    /// wakes one such sibling when it has more work than it can run.
    std::atomic<bool> parked{false};
    // Only the worker touches these:
    size_t jobs_since_poll = 0;
    /// Since when the worker has found more jobs waiting without going
    /// back to wait (zero until then), and when it last woke a sibling.
    std::chrono::steady_clock::time_point busy_since{};
    std::chrono::steady_clock::time_point shared_at{};
    /// Jobs taken with more waiting since `busy_since` was set.
    uint32_t backlog_jobs = 0;
  };

  /// A worker with a backlog reads the clock at every this many jobs it
  /// takes rather than at each: a job takes a microsecond or two, a clock
  /// read a few dozen nanoseconds, and a busy poller takes ten jobs a call.
  static constexpr uint32_t jobs_between_busy_checks = 8;

  /// How long a worker with a queue runs jobs without a break before it
  /// wakes a parked sibling to take some of its backlog. Below it (one call
  /// at a time is a dozen short jobs) nobody is woken: a wake-up costs more
  /// than the work it would move.
  static constexpr std::chrono::microseconds busy_before_sharing{200};

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    // Without an actor context CAF hands a job to the coordinator; on one of
    // our own workers (a gRPC event just handled), keep it there.
    if (auto* w = current_worker<Coordinator>(); w && w->parent() == self) {
      internal_enqueue(w, job);
      return;
    }
    super::central_enqueue(self, job);
  }

  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    auto& data = d(self);
    data.queue.append(job);
    wake(data);
  }

  /// Runs `work` on this thread as the job that runs now ends; false, and
  /// nothing done, when no job of a worker runs on this thread.
  static bool defer(deferred_work& work);

  /// Around each job the workers run: `end_job` runs what it deferred.
  static void begin_job() noexcept { in_job_ = true; }
  static void end_job();

  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    current_worker_ = self;
    auto& data = d(self);
    for (;;) {
      if (auto* cq = data.cq.load(std::memory_order_acquire)) {
        if (++data.jobs_since_poll >= jobs_between_cq_polls) {
          data.jobs_since_poll = 0;
          poll(data, *cq);
        }
        if (auto* job = data.queue.take_head()) {
          if (!data.queue.empty())
            share_backlog(self, data);
          return job;
        }
        if (auto* job = try_steal(self))
          return job;
        // Not `cq`: poll() above may have taken its shutdown, after which
        // its owner may already have destroyed it.
        data.busy_since = {};
        wait_in_cq(data);
        continue;
      }
      for (size_t i = 0; i < data.strategies[0].attempts; ++i) {
        if (auto* job = data.queue.take_head())
          return job;
        if (i % data.strategies[0].steal_interval == 0)
          if (auto* job = try_steal(self))
            return job;
      }
      if (auto* job = wait_on_condition(data))
        return job;
      if (auto* job = try_steal(self))
        return job;
    }
  }

private:
  template <class Coordinator>
  static typename Coordinator::worker_type* current_worker() {
    return static_cast<typename Coordinator::worker_type*>(current_worker_);
  }

  /// Makes the worker of `data` look at its job queue.
  static void wake(worker_data& data);

  /// The worker of `data` has more jobs waiting: once it has been busy for
  /// `busy_before_sharing`, it wakes a parked sibling (at most once per that
  /// interval), which steals.
  template <class Worker>
  static void share_backlog(Worker* self, worker_data& data) {
    if (data.busy_since != std::chrono::steady_clock::time_point{}
        && ++data.backlog_jobs % jobs_between_busy_checks != 0)
      return;
    auto now = std::chrono::steady_clock::now();
    if (data.busy_since == std::chrono::steady_clock::time_point{}) {
      data.busy_since = now;
      data.backlog_jobs = 0;
      return;
    }
    if (now - data.busy_since < busy_before_sharing
        || now - data.shared_at < busy_before_sharing)
      return;
    data.shared_at = now;
    wake_parked_sibling(self);
  }

  /// Wakes one sibling of `self` that waits on its condition variable, if
  /// any does.
  template <class Worker>
  static void wake_parked_sibling(Worker* self) {
    auto* parent = self->parent();
    auto n = parent->num_workers();
    for (size_t i = 0; i < n; ++i) {
      auto* w = parent->worker_by_id(i);
      if (w == self)
        continue;
      auto& other = d(w);
      if (!other.parked.load(std::memory_order_acquire))
        continue;
      std::unique_lock<std::mutex> guard(other.waitdata.lock);
      if (other.waitdata.sleeping) {
        other.waitdata.cv.notify_one();
        return;
      }
    }
  }

  /// Handles what is ready in `cq`, without blocking.
  static void poll(worker_data& data, grpc::CompletionQueue& cq);

  /// Blocks in `cq` until an event, a kick or the relaxed poll interval (to
  /// steal from a busy sibling), unless a job is already waiting.
  /// Returns at once when the queue has been detached meanwhile.
  static void wait_in_cq(worker_data& data);

  /// Handles one result of AsyncNext.
  static void handle(worker_data& data, grpc::CompletionQueue::NextStatus st,
                     void* tag, bool ok);

  /// Waits on the condition variable until a job arrives, a queue is
  /// attached or the relaxed poll interval passes; returns the job if any.
  static caf::resumable* wait_on_condition(worker_data& data);

  /// The worker this thread runs, if it is one of any cq_work_stealing
  /// coordinator's.
  static thread_local void* current_worker_;
  /// A worker's job runs on this thread, and what it deferred.
  static thread_local bool in_job_;
  static thread_local std::vector<deferred_work*> deferred_;
};

using cq_scheduler = caf::scheduler::coordinator<cq_work_stealing>;

} // namespace prism::frontend

namespace caf::scheduler {

/// The workers of cq_scheduler run jobs with a loop of their own (see
/// cq_scheduler.cpp); declared before anything instantiates CAF's.
template <>
void worker<prism::frontend::cq_work_stealing>::run();

} // namespace caf::scheduler

namespace prism::frontend {

/// Makes `cfg`'s actor system run on cq_scheduler.
void use_cq_scheduler(caf::actor_system_config& cfg);

/// The CPUs the calling thread may run on (its affinity mask: a cpuset,
/// taskset, a container's CPUs), at least 1; all the machine's cores when
/// the mask cannot be read.
uint32_t usable_cores() noexcept;

/// Whether `sys` runs on cq_scheduler (so completion queues can be attached).
bool runs_cq_scheduler(caf::actor_system& sys);

/// Attaches `cqs[i]` to worker i of `sys`'s cq_scheduler (at least one
/// queue, at most one per worker), each polled by no one else from now on.
/// Workers without a queue run actors and steal from the others.
void attach_completion_queues(caf::actor_system& sys,
                              const std::vector<grpc::CompletionQueue*>& cqs);

/// Shuts down every attached queue and returns once each worker has drained
/// its own to the end. The caller makes sure nothing starts new operations
/// on them first (the gRPC server is shut down).
void detach_completion_queues(caf::actor_system& sys);

} // namespace prism::frontend
