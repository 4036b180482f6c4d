// The worker thread of the SQL drivers: its CPU priority.

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "admin_view.hpp"
#include "drivers/sql_worker.hpp"

using namespace prism;

namespace {

/// The nice value of thread `tid` of this process, from /proc (field 19).
int nice_of(long tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string field;
  // After "pid (comm) ", field 3 (state) comes first; nice is field 19.
  for (int i = 3; i <= 19; ++i)
    rest >> field;
  return std::stoi(field);
}

/// Records the id of the thread the worker runs its hooks on.
class recording_hooks : public drivers::sql_worker::hooks {
public:
  std::atomic<long> tid{0};
  void started() override { tid = static_cast<long>(syscall(SYS_gettid)); }
  model::outcome run(const drivers::driver_job&) override {
    return model::outcome::failure(status_code::unimplemented, "none");
  }
  uint64_t reclaim(const drivers::driver_job&) override { return 0; }
};

/// Whether this process may give a thread a nice value below its own.
bool may_raise_priority() {
  auto tid = static_cast<id_t>(syscall(SYS_gettid));
  auto before = getpriority(PRIO_PROCESS, tid);
  if (setpriority(PRIO_PROCESS, tid, before - 1) != 0)
    return false;
  setpriority(PRIO_PROCESS, tid, before);
  return true;
}

} // namespace

TEST_CASE("a SQL driver's thread runs at a higher CPU priority than the "
          "scheduler's where the process may raise it, and at its own "
          "otherwise") {
  const bool allowed = may_raise_priority();
  const int own = nice_of(static_cast<long>(syscall(SYS_gettid)));
  recording_hooks hooks;
  drivers::sql_worker worker{hooks, "test"};
  worker.start();
  std::atomic<bool> answered{false};
  worker.execute("ns",
                 std::make_shared<const model::operation>(model::get_op{"k"}),
                 drivers::no_timeout, [&](model::outcome) { answered = true; });
  // The job is answered on the worker's thread, after started().
  REQUIRE(prism::test::eventually([&] { return answered.load(); },
                                  std::chrono::seconds(5)));
  REQUIRE(hooks.tid != 0);
  INFO("allowed " << allowed << ", own nice " << own);
  CHECK(worker.priority_raised() == allowed);
  CHECK(nice_of(hooks.tid)
        == (allowed ? drivers::sql_worker::driver_thread_nice : own));
  worker.stop();
}
