#include "frontend/cq_scheduler.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

#include <sched.h>

#include <grpc/support/time.h>

namespace prism::frontend {

namespace {

/// The tag of a worker's kick alarm: its worker data, which no cq_event
/// ever is.
void* kick_tag(cq_work_stealing::worker_data& data) {
  return &data;
}

gpr_timespec deadline_in(caf::timespan span) {
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_nanos(span.count(), GPR_TIMESPAN));
}

} // namespace

thread_local void* cq_work_stealing::current_worker_ = nullptr;
thread_local bool cq_work_stealing::in_job_ = false;
thread_local std::vector<deferred_work*> cq_work_stealing::deferred_;

bool cq_work_stealing::defer(deferred_work& work) {
  if (!in_job_)
    return false;
  deferred_.push_back(&work);
  return true;
}

void cq_work_stealing::end_job() {
  in_job_ = false;
  // Outside a job, nothing is deferred: what these run goes at once.
  for (auto* work : deferred_)
    work->run();
  deferred_.clear();
}

cq_work_stealing::worker_data::worker_data(
  caf::scheduler::abstract_coordinator* p)
  : super::worker_data(p) {}

cq_work_stealing::worker_data::worker_data(const worker_data& other)
  : super::worker_data(other) {}

void cq_work_stealing::wake(worker_data& data) {
  std::unique_lock<std::mutex> guard(data.waitdata.lock);
  if (data.state == cq_state::attached) {
    // The alarm is due at once: the queue gets its event right away, which
    // makes AsyncNext return. One armed alarm wakes for every job behind it.
    // Its deadline is in the past, not "now": gRPC rounds a deadline up to
    // the next millisecond, and one in the future goes through its timer
    // thread (a second wake-up, and up to a millisecond late), while one
    // already passed fires on this thread.
    if (data.in_cq && !data.kick_armed) {
      data.kick_armed = true;
      data.kick->Set(data.cq.load(std::memory_order_relaxed),
                     gpr_inf_past(GPR_CLOCK_MONOTONIC), kick_tag(data));
    }
    return;
  }
  // A draining worker looks at its job queue once its completion queue has
  // ended, without being told.
  if (data.waitdata.sleeping)
    data.waitdata.cv.notify_one();
}

void cq_work_stealing::poll(worker_data& data, grpc::CompletionQueue& cq) {
  for (size_t i = 0; i < cq_events_per_poll_max; ++i) {
    void* tag = nullptr;
    bool ok = false;
    auto st = cq.AsyncNext(&tag, &ok, gpr_time_0(GPR_CLOCK_MONOTONIC));
    handle(data, st, tag, ok);
    if (st != grpc::CompletionQueue::GOT_EVENT)
      return;
  }
}

void cq_work_stealing::wait_in_cq(worker_data& data) {
  grpc::CompletionQueue* cq = nullptr;
  {
    std::unique_lock<std::mutex> guard(data.waitdata.lock);
    // Checked under the lock an enqueuer takes after its append: either the
    // job is seen here or the enqueuer sees `in_cq` and kicks.
    if (!data.queue.empty())
      return;
    cq = data.cq.load(std::memory_order_relaxed);
    if (cq == nullptr)
      return;
    data.in_cq = true;
  }
  void* tag = nullptr;
  bool ok = false;
  auto st
    = cq->AsyncNext(&tag, &ok, deadline_in(data.strategies[2].sleep_duration));
  {
    std::unique_lock<std::mutex> guard(data.waitdata.lock);
    data.in_cq = false;
  }
  handle(data, st, tag, ok);
}

void cq_work_stealing::handle(worker_data& data,
                              grpc::CompletionQueue::NextStatus st, void* tag,
                              bool ok) {
  switch (st) {
    case grpc::CompletionQueue::GOT_EVENT:
      if (tag == kick_tag(data)) {
        std::unique_lock<std::mutex> guard(data.waitdata.lock);
        data.kick_armed = false;
        return;
      }
      static_cast<cq_event*>(tag)->proceed(ok);
      return;
    case grpc::CompletionQueue::TIMEOUT: return;
    case grpc::CompletionQueue::SHUTDOWN: {
      std::unique_lock<std::mutex> guard(data.waitdata.lock);
      data.cq.store(nullptr, std::memory_order_release);
      data.kick.reset();
      data.state = cq_state::none;
      data.detached.notify_all();
      return;
    }
  }
}

caf::resumable* cq_work_stealing::wait_on_condition(worker_data& data) {
  std::unique_lock<std::mutex> guard(data.waitdata.lock);
  data.waitdata.sleeping = true;
  data.parked.store(true, std::memory_order_release);
  // Until notified (a job of its own, an attached queue, or a busy
  // sibling's surplus, which the caller then steals) or the relaxed
  // interval passes; a spurious wake-up only makes the caller look again.
  data.waitdata.cv.wait_for(guard, data.strategies[2].sleep_duration);
  data.parked.store(false, std::memory_order_release);
  data.waitdata.sleeping = false;
  return data.queue.take_head();
}

uint32_t usable_cores() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0)
      return static_cast<uint32_t>(n);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

void use_cq_scheduler(caf::actor_system_config& cfg) {
  cfg.load<cq_scheduler>();
}

bool runs_cq_scheduler(caf::actor_system& sys) {
  return dynamic_cast<cq_scheduler*>(&sys.scheduler()) != nullptr;
}

namespace {

cq_scheduler& scheduler_of(caf::actor_system& sys) {
  auto* sched = dynamic_cast<cq_scheduler*>(&sys.scheduler());
  if (sched == nullptr)
    throw std::logic_error("the actor system does not run on cq_scheduler");
  return *sched;
}

} // namespace

void attach_completion_queues(caf::actor_system& sys,
                              const std::vector<grpc::CompletionQueue*>& cqs) {
  auto& sched = scheduler_of(sys);
  if (cqs.empty() || cqs.size() > sched.num_workers())
    throw std::logic_error("one to num_workers completion queues");
  for (size_t i = 0; i < cqs.size(); ++i) {
    auto& data = sched.worker_by_id(i)->data();
    std::unique_lock<std::mutex> guard(data.waitdata.lock);
    if (data.state != cq_work_stealing::cq_state::none)
      throw std::logic_error("a completion queue is already attached");
    data.kick = std::make_unique<grpc::Alarm>();
    data.kick_armed = false;
    data.cq.store(cqs[i], std::memory_order_release);
    data.state = cq_work_stealing::cq_state::attached;
    if (data.waitdata.sleeping)
      data.waitdata.cv.notify_one();
  }
}

void detach_completion_queues(caf::actor_system& sys) {
  auto& sched = scheduler_of(sys);
  std::vector<grpc::CompletionQueue*> draining;
  for (size_t i = 0; i < sched.num_workers(); ++i) {
    auto& data = sched.worker_by_id(i)->data();
    std::unique_lock<std::mutex> guard(data.waitdata.lock);
    if (data.state != cq_work_stealing::cq_state::attached)
      continue;
    // No kick is armed after this; one already armed is due and ends before
    // the queue's shutdown does.
    data.state = cq_work_stealing::cq_state::draining;
    data.cq.load(std::memory_order_relaxed)->Shutdown();
  }
  for (size_t i = 0; i < sched.num_workers(); ++i) {
    auto& data = sched.worker_by_id(i)->data();
    std::unique_lock<std::mutex> guard(data.waitdata.lock);
    data.detached.wait(
      guard, [&] { return data.state == cq_work_stealing::cq_state::none; });
  }
}

} // namespace prism::frontend

namespace caf::scheduler {

// CAF's worker loop tells its logger which actor runs before each job: a
// dynamic_cast from the job to its actor base that walks the actor's class
// hierarchy, about a thousand instructions per job whether anything logs or
// not (CAF is built here with its logger quiet), and a busy poller runs some
// ten jobs per call. This loop is CAF's without that bookkeeping.
template <>
void worker<prism::frontend::cq_work_stealing>::run() {
  for (;;) {
    resumable* job = policy_.dequeue(this);
    policy_.before_resume(this, job);
    prism::frontend::cq_work_stealing::begin_job();
    auto result = job->resume(this, max_throughput_);
    prism::frontend::cq_work_stealing::end_job();
    policy_.after_resume(this, job);
    switch (result) {
      case resumable::resume_later:
        // It gave the thread up with more to do: it keeps its reference and
        // goes to the back of this worker's queue.
        policy_.resume_job_later(this, job);
        break;
      case resumable::done:
        policy_.after_completion(this, job);
        intrusive_ptr_release(job);
        break;
      case resumable::awaiting_message:
        // Scheduled again (with a new reference) when a message arrives.
        intrusive_ptr_release(job);
        break;
      case resumable::shutdown_execution_unit:
        policy_.after_completion(this, job);
        policy_.before_shutdown(this);
        return;
    }
  }
}

} // namespace caf::scheduler
