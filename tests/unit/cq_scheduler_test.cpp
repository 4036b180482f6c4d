// The scheduler whose workers poll gRPC completion queues: gRPC events are
// handled on the worker that polls the queue, and what they send runs there
// too; a job from another thread reaches a worker blocked in its queue; a
// detach drains every queue before it returns, and the workers go on
// without one; a worker without a queue takes work off a busy one.
//
// The workers' relaxed poll interval is set far beyond every deadline here,
// so a worker that waits is only ever woken by the mechanism under test, not
// by its periodic look for work to steal.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <sched.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <catch2/catch.hpp>
#include <grpc/support/time.h>
#include <grpcpp/alarm.h>
#include <grpcpp/completion_queue.h>

#include "frontend/cq_scheduler.hpp"

using namespace std::chrono_literals;
using prism::frontend::cq_event;

namespace {

constexpr auto wait_max = 10s;

uint64_t this_thread_hash() {
  return std::hash<std::thread::id>{}(std::this_thread::get_id());
}

/// Counts what happens on the workers, for the test thread to wait on.
struct observations {
  std::mutex mutex;
  std::condition_variable changed;
  int events = 0;
  uint64_t event_thread = 0;
  int handled = 0;
  uint64_t handler_thread = 0;

  bool wait(const std::function<bool()>& done) {
    std::unique_lock<std::mutex> guard(mutex);
    return changed.wait_for(guard, wait_max, done);
  }
};

/// A gRPC event that records where it was handled and, if given an actor,
/// sends it a message from there.
class recording_event final : public cq_event {
public:
  recording_event(observations& seen, caf::actor target = {})
    : seen_(seen), target_(std::move(target)) {}

  void proceed(bool) override {
    {
      std::lock_guard<std::mutex> guard(seen_.mutex);
      ++seen_.events;
      seen_.event_thread = this_thread_hash();
    }
    seen_.changed.notify_all();
    if (target_)
      caf::anon_send(target_, this_thread_hash());
  }

private:
  observations& seen_;
  caf::actor target_;
};

/// An actor that records the thread it runs on.
caf::behavior recorder(caf::event_based_actor*, observations* seen) {
  return {
    [seen](uint64_t) {
      {
        std::lock_guard<std::mutex> guard(seen->mutex);
        ++seen->handled;
        seen->handler_thread = this_thread_hash();
      }
      seen->changed.notify_all();
    },
  };
}

caf::behavior echo(caf::event_based_actor*) {
  return {
    [](int x) { return x; },
  };
}

struct scheduler_config : caf::actor_system_config {
  explicit scheduler_config(size_t workers) {
    set("scheduler.max-threads", workers);
    set("work-stealing.relaxed-sleep-duration", caf::timespan{1h});
    prism::frontend::use_cq_scheduler(*this);
  }
};

/// Completion queues attached to the first workers of `sys` while it lives.
class attached_queues {
public:
  /// `count` 0: one per worker.
  explicit attached_queues(caf::actor_system& sys, size_t count = 0)
    : sys_(sys) {
    if (count == 0)
      count = sys.scheduler().num_workers();
    std::vector<grpc::CompletionQueue*> raw;
    for (size_t i = 0; i < count; ++i) {
      queues_.push_back(std::make_unique<grpc::CompletionQueue>());
      raw.push_back(queues_.back().get());
    }
    prism::frontend::attach_completion_queues(sys, raw);
  }

  ~attached_queues() { detach(); }

  grpc::CompletionQueue* operator[](size_t i) { return queues_[i].get(); }

  void detach() {
    if (attached_) {
      prism::frontend::detach_completion_queues(sys_);
      attached_ = false;
    }
  }

private:
  caf::actor_system& sys_;
  std::vector<std::unique_ptr<grpc::CompletionQueue>> queues_;
  bool attached_ = true;
};

/// Asks `echo` for `x` from the test thread; true when the answer came.
bool round_trip(caf::actor_system& sys, const caf::actor& echo_actor, int x) {
  caf::scoped_actor self{sys};
  bool answered = false;
  self->request(echo_actor, caf::timespan{wait_max}, x)
    .receive([&](int y) { answered = y == x; }, [](caf::error&) {});
  return answered;
}

} // namespace

TEST_CASE("A gRPC event is handled on the worker polling its queue, and what "
          "it sends runs there too",
          "[cq_scheduler]") {
  scheduler_config cfg{1};
  caf::actor_system sys{cfg};
  REQUIRE(prism::frontend::runs_cq_scheduler(sys));
  observations seen;
  auto target = sys.spawn(recorder, &seen);
  attached_queues queues{sys};
  recording_event event{seen, target};
  grpc::Alarm alarm;
  alarm.Set(queues[0], gpr_now(GPR_CLOCK_MONOTONIC), &event);
  REQUIRE(seen.wait([&] { return seen.handled == 1; }));
  CHECK(seen.events == 1);
  CHECK(seen.handler_thread == seen.event_thread);
  CHECK(seen.event_thread != this_thread_hash());
  caf::anon_send_exit(target, caf::exit_reason::user_shutdown);
}

TEST_CASE("A message from another thread wakes workers blocked in their "
          "completion queues",
          "[cq_scheduler]") {
  scheduler_config cfg{2};
  caf::actor_system sys{cfg};
  attached_queues queues{sys};
  auto echo_actor = sys.spawn(echo);
  // Each round trip starts from the test thread, so it reaches a worker from
  // outside; the workers wait in their queues between round trips.
  for (int i = 0; i < 200; ++i)
    REQUIRE(round_trip(sys, echo_actor, i));
  caf::anon_send_exit(echo_actor, caf::exit_reason::user_shutdown);
}

TEST_CASE("Detaching drains every queue, and the workers go on without one",
          "[cq_scheduler]") {
  scheduler_config cfg{2};
  caf::actor_system sys{cfg};
  observations seen;
  attached_queues queues{sys};
  // Events waiting in both queues when the detach starts are handled before
  // it returns.
  constexpr int events_per_queue = 50;
  std::vector<std::unique_ptr<recording_event>> events;
  std::vector<std::unique_ptr<grpc::Alarm>> alarms;
  for (size_t q = 0; q < 2; ++q)
    for (int i = 0; i < events_per_queue; ++i) {
      events.push_back(std::make_unique<recording_event>(seen));
      alarms.push_back(std::make_unique<grpc::Alarm>());
      alarms.back()->Set(queues[q], gpr_now(GPR_CLOCK_MONOTONIC),
                         events.back().get());
    }
  queues.detach();
  {
    std::lock_guard<std::mutex> guard(seen.mutex);
    CHECK(seen.events == 2 * events_per_queue);
  }
  auto echo_actor = sys.spawn(echo);
  for (int i = 0; i < 50; ++i)
    REQUIRE(round_trip(sys, echo_actor, i));
  // And a queue can be attached again.
  attached_queues again{sys};
  REQUIRE(round_trip(sys, echo_actor, 7));
  caf::anon_send_exit(echo_actor, caf::exit_reason::user_shutdown);
}

/// Spins for `length` on whichever worker runs it, then records the thread.
caf::behavior slow_worker(caf::event_based_actor*, observations* seen,
                          std::chrono::microseconds length) {
  return {
    [seen, length](uint64_t) {
      auto until = std::chrono::steady_clock::now() + length;
      while (std::chrono::steady_clock::now() < until) {
      }
      {
        std::lock_guard<std::mutex> guard(seen->mutex);
        ++seen->handled;
        seen->handler_thread = this_thread_hash();
      }
      seen->changed.notify_all();
    },
  };
}

/// A gRPC event that sends one message to each of `targets`.
class fan_out_event final : public cq_event {
public:
  explicit fan_out_event(std::vector<caf::actor> targets)
    : targets_(std::move(targets)) {}

  void proceed(bool) override {
    for (auto& t : targets_)
      caf::anon_send(t, this_thread_hash());
  }

private:
  std::vector<caf::actor> targets_;
};

TEST_CASE("A worker without a queue takes work off a polling worker that has "
          "more than it can run",
          "[cq_scheduler]") {
  // Two workers, one polling. The relaxed poll interval is an hour, so the
  // second worker, parked, runs something only when the busy one wakes it.
  scheduler_config cfg{2};
  caf::actor_system sys{cfg};
  attached_queues queues{sys, 1};
  constexpr int jobs = 40;
  std::vector<observations> seen(jobs);
  std::vector<caf::actor> targets;
  for (int i = 0; i < jobs; ++i)
    targets.push_back(sys.spawn(slow_worker, &seen[static_cast<size_t>(i)],
                                std::chrono::microseconds{500}));
  // All forty land in the polling worker's own queue: 20 ms of work, far
  // past the 200 µs it runs before it shares.
  fan_out_event event{targets};
  grpc::Alarm alarm;
  alarm.Set(queues[0], gpr_inf_past(GPR_CLOCK_MONOTONIC), &event);
  std::set<uint64_t> threads;
  for (auto& s : seen) {
    REQUIRE(s.wait([&] { return s.handled == 1; }));
    threads.insert(s.handler_thread);
  }
  CHECK(threads.size() == 2);
  for (auto& t : targets)
    caf::anon_send_exit(t, caf::exit_reason::user_shutdown);
}

namespace {

/// Deferred work that records, when it runs, where and what it saw.
struct recording_work final : prism::frontend::deferred_work {
  observations* seen = nullptr;
  const bool* handler_done = nullptr;
  bool ran = false;
  bool ran_after_handler = false;
  uint64_t thread = 0;

  void run() override {
    std::lock_guard<std::mutex> guard(seen->mutex);
    ran = true;
    ran_after_handler = *handler_done;
    thread = this_thread_hash();
    seen->changed.notify_all();
  }
};

} // namespace

TEST_CASE("Work a job defers runs on its thread as the job ends, outside a "
          "job nothing is deferred",
          "[cq_scheduler]") {
  scheduler_config cfg{2};
  caf::actor_system sys{cfg};
  observations seen;
  recording_work first, second;
  bool handler_done = false;
  uint64_t handler_thread = 0;
  for (auto* w : {&first, &second}) {
    w->seen = &seen;
    w->handler_done = &handler_done;
  }
  auto deferring = sys.spawn([&](caf::event_based_actor*) -> caf::behavior {
    return {[&](int) {
      // Both wait for the end of this handler: one message, one job.
      bool a = prism::frontend::cq_work_stealing::defer(first);
      bool b = prism::frontend::cq_work_stealing::defer(second);
      std::lock_guard<std::mutex> guard(seen.mutex);
      handler_thread = this_thread_hash();
      handler_done = a && b;
    }};
  });
  caf::anon_send(deferring, 1);
  REQUIRE(seen.wait([&] { return first.ran && second.ran; }));
  CHECK(first.ran_after_handler);
  CHECK(second.ran_after_handler);
  CHECK(first.thread == handler_thread);
  CHECK(second.thread == handler_thread);
  // The test's own thread runs no job of a worker.
  recording_work outside;
  CHECK_FALSE(prism::frontend::cq_work_stealing::defer(outside));
  CHECK_FALSE(outside.ran);
  caf::anon_send_exit(deferring, caf::exit_reason::user_shutdown);
}

TEST_CASE("The gRPC server needs the scheduler that polls its queues",
          "[cq_scheduler]") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  CHECK_FALSE(prism::frontend::runs_cq_scheduler(sys));
  std::vector<grpc::CompletionQueue*> none;
  CHECK_THROWS_AS(prism::frontend::attach_completion_queues(sys, none),
                  std::logic_error);
}

TEST_CASE("the default thread count follows the CPUs the process may run on, "
          "not all the machine has") {
  cpu_set_t all;
  CPU_ZERO(&all);
  REQUIRE(sched_getaffinity(0, sizeof(all), &all) == 0);
  CHECK(prism::frontend::usable_cores()
        == static_cast<uint32_t>(CPU_COUNT(&all)));
  int first = -1;
  for (int c = 0; c < CPU_SETSIZE && first < 0; ++c)
    if (CPU_ISSET(c, &all))
      first = c;
  REQUIRE(first >= 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  REQUIRE(sched_setaffinity(0, sizeof(one), &one) == 0);
  const auto pinned = prism::frontend::usable_cores();
  REQUIRE(sched_setaffinity(0, sizeof(all), &all) == 0);
  CHECK(pinned == 1);
}
