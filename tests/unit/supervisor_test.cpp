// The supervisor: its pure decision logic, and the actor on CAF's test
// coordinator with virtual time (restarts are observed by advancing the clock
// and watching when a child is back).

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>
#include <catch2/catch.hpp>

#include "runtime/supervision.hpp"
#include "runtime/supervisor.hpp"

using namespace prism;
using namespace std::chrono_literals;

namespace {

using ms = std::chrono::milliseconds;

caf::error crash() {
  return caf::make_error(caf::sec::runtime_error);
}

// --- a test child -----------------------------------------------------------

using fail_atom = caf::atom_constant<caf::atom("t_fail")>;
using finish_atom = caf::atom_constant<caf::atom("t_finish")>;
using ping_atom = caf::atom_constant<caf::atom("t_ping")>;

/// Fails on fail_atom, ends normally on finish_atom; a stubborn one ignores
/// polite exits (only kill ends it).
caf::behavior worker(caf::event_based_actor* self, bool stubborn) {
  if (stubborn)
    self->set_exit_handler([](caf::exit_msg&) {});
  return {
    [self](fail_atom) { self->quit(crash()); },
    [self](finish_atom) { self->quit(); },
    [](ping_atom) { return ping_atom::value; },
  };
}

struct start_event {
  std::string name;
  caf::actor handle;
  clock_time at;
};
using start_log = std::shared_ptr<std::vector<start_event>>;

/// Every exit the test watches, in the order they happen.
struct down_event {
  std::string label;
  caf::error reason;
};
using down_log = std::shared_ptr<std::vector<down_event>>;

caf::behavior watcher(caf::event_based_actor* self, caf::actor target,
                      std::string label, down_log log) {
  self->monitor(target);
  self->set_down_handler([=](caf::down_msg& m) {
    log->push_back({label, m.reason});
    self->quit();
  });
  return {[](int) {
  }};
}

struct observed {
  std::string name;
  caf::actor handle;
  /// Set for a failure notice instead of a start.
  std::string failure;
};
using observed_log = std::shared_ptr<std::vector<observed>>;

caf::behavior observer(caf::event_based_actor*, observed_log log) {
  return {
    [=](child_started_atom, const std::string& name, caf::actor h) {
      log->push_back({name, std::move(h), {}});
    },
    [=](child_failed_atom, const std::string& name, const std::string& why) {
      log->push_back({name, nullptr, why});
    },
  };
}

supervisor_options quick_options(strategy s = strategy::one_for_one) {
  supervisor_options o;
  o.strategy = s;
  o.intensity_max_restarts = 1000;
  o.backoff.jitter = 0; // exact delays unless a test wants jitter
  return o;
}

struct fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  start_log starts = std::make_shared<std::vector<start_event>>();
  down_log downs = std::make_shared<std::vector<down_event>>();
  std::vector<caf::actor> to_stop;

  fixture() {
    cfg.set("scheduler.policy", caf::atom("testing"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
  }

  ~fixture() {
    for (auto& a : to_stop)
      caf::anon_send_exit(a, caf::exit_reason::kill);
    for (int i = 0;
         i < 100 && (sched->has_job() || sched->has_pending_timeout()); ++i) {
      sched->trigger_timeouts();
      run();
    }
  }

  void run() {
    while (sched->try_run_once()) {
    }
  }

  void advance(caf::timespan d) {
    sched->advance_time(d);
    run();
  }

  clock_time now() { return sys->clock().now(); }

  child_spec child(std::string name, restart_type r = restart_type::permanent,
                   bool stubborn = false) {
    child_spec c;
    c.name = name;
    c.restart = r;
    c.start = [log = starts, name, stubborn](caf::local_actor* parent) {
      auto h = parent->spawn(worker, stubborn);
      log->push_back({name, h, parent->clock().now()});
      return h;
    };
    return c;
  }

  caf::actor spawn_supervisor(supervisor_spec spec) {
    auto sup = sys->spawn(supervisor, std::move(spec));
    to_stop.push_back(sup);
    run();
    return sup;
  }

  caf::actor spawn_supervisor(supervisor_options opts,
                              std::vector<child_spec> children,
                              uint64_t seed = 1, caf::actor obs = {}) {
    supervisor_spec spec;
    spec.name = "test-sup";
    spec.options = opts;
    spec.children = std::move(children);
    spec.observer = std::move(obs);
    spec.seed = seed;
    return spawn_supervisor(std::move(spec));
  }

  void watch(caf::actor target, std::string label) {
    to_stop.push_back(
      sys->spawn(watcher, std::move(target), std::move(label), downs));
    run();
  }

  size_t count(const std::string& name) const {
    size_t n = 0;
    for (auto& e : *starts)
      if (e.name == name)
        ++n;
    return n;
  }

  caf::actor current(const std::string& name) const {
    for (auto i = starts->rbegin(); i != starts->rend(); ++i)
      if (i->name == name)
        return i->handle;
    return {};
  }

  std::vector<std::string> names_since(size_t from) const {
    std::vector<std::string> result;
    for (size_t i = from; i < starts->size(); ++i)
      result.push_back((*starts)[i].name);
    return result;
  }

  void fail(const std::string& name) {
    caf::anon_send(current(name), fail_atom::value);
    run();
  }

  /// Makes `name` fail and returns how long (in virtual time, to 1 ms) until
  /// it is started again.
  caf::timespan time_to_restart(const std::string& name) {
    auto before = count(name);
    fail(name);
    caf::timespan waited{0};
    while (count(name) == before) {
      if (waited > 60s)
        FAIL("child " << name << " was not restarted within 60 s");
      advance(1ms);
      waited += 1ms;
    }
    return waited;
  }

  const down_event* down_of(const std::string& label) const {
    for (auto& d : *downs)
      if (d.label == label)
        return &d;
    return nullptr;
  }

  supervisor_snapshot stats(const caf::actor& sup) {
    caf::scoped_actor self{*sys};
    self->send(sup, supervisor_stats_atom::value);
    run();
    supervisor_snapshot result;
    self->receive([&](supervisor_snapshot& s) { result = std::move(s); });
    return result;
  }
};

} // namespace

// --- the pure logic ----------------------------------------------------------

TEST_CASE("restart types follow Erlang's semantics") {
  const caf::error normal;
  const caf::error normal_explicit = caf::exit_reason::normal;
  const caf::error shutdown = caf::exit_reason::user_shutdown;
  const caf::error killed = caf::exit_reason::kill;
  const caf::error exception = caf::exit_reason::unhandled_exception;
  for (auto& r : {normal, normal_explicit, shutdown}) {
    CHECK(is_normal_exit(r));
    CHECK(should_restart(restart_type::permanent, r));
    CHECK_FALSE(should_restart(restart_type::transient, r));
    CHECK_FALSE(should_restart(restart_type::temporary, r));
  }
  for (auto& r : {killed, exception, crash()}) {
    CHECK_FALSE(is_normal_exit(r));
    CHECK(should_restart(restart_type::permanent, r));
    CHECK(should_restart(restart_type::transient, r));
    CHECK_FALSE(should_restart(restart_type::temporary, r));
  }
}

TEST_CASE("strategies pick the children a failure involves") {
  using v = std::vector<size_t>;
  CHECK(affected_children(strategy::one_for_one, 1, 4) == v{1});
  CHECK(affected_children(strategy::one_for_all, 1, 4) == v{0, 1, 2, 3});
  CHECK(affected_children(strategy::rest_for_one, 1, 4) == v{1, 2, 3});
  CHECK(affected_children(strategy::rest_for_one, 3, 4) == v{3});
  CHECK(affected_children(strategy::one_for_one, 4, 4).empty());
}

TEST_CASE("backoff delays grow by the multiplier within [min, max]") {
  backoff_options o; // 100 ms .. 10 s, x2
  o.jitter = 0;
  std::mt19937_64 rng{7};
  std::vector<caf::timespan> expected{100ms,  200ms,  400ms, 800ms, 1600ms,
                                      3200ms, 6400ms, 10s,   10s};
  for (uint32_t e = 0; e < expected.size(); ++e)
    CHECK(backoff_delay(o, e, rng) == expected[e]);
  // A huge exponent neither overflows nor leaves the range.
  CHECK(backoff_delay(o, 5000, rng) == 10s);
}

TEST_CASE("backoff jitter is bounded and follows the seed") {
  backoff_options o; // +-20%
  auto draw = [&](uint64_t seed) {
    std::mt19937_64 rng{seed};
    std::vector<caf::timespan> result;
    for (uint32_t e = 0; e < 10; ++e)
      result.push_back(backoff_delay(o, e, rng));
    return result;
  };
  auto a = draw(1);
  CHECK(a == draw(1));
  CHECK(a != draw(2));
  for (uint32_t e = 0; e < a.size(); ++e) {
    double base = std::min(100e6 * (1 << e), 10e9);
    INFO("exponent " << e << ": " << a[e].count() << " ns");
    CHECK(a[e] >= o.min);
    CHECK(a[e] <= o.max);
    CHECK(a[e].count() >= static_cast<int64_t>(base * 0.8) - 1);
    CHECK(a[e].count() <= static_cast<int64_t>(base * 1.2) + 1);
  }
  // Jitter actually spreads: not every first delay is the same.
  std::set<caf::timespan::rep> firsts;
  for (uint64_t seed = 0; seed < 20; ++seed)
    firsts.insert(draw(seed)[0].count());
  CHECK(firsts.size() > 10);
}

TEST_CASE("restart intensity: more than max restarts within the period") {
  restart_intensity ri{2, 10s};
  clock_time t0{};
  CHECK(ri.admit(t0));
  CHECK(ri.admit(t0 + 1s));
  CHECK_FALSE(ri.admit(t0 + 2s));
  CHECK(ri.recent(t0 + 2s) == 3);
  // The first two have left the window by t0 + 11 s.
  restart_intensity spaced{2, 10s};
  CHECK(spaced.admit(t0));
  CHECK(spaced.admit(t0 + 1s));
  CHECK(spaced.admit(t0 + 10s));
  CHECK(spaced.admit(t0 + 11s));
  CHECK_FALSE(spaced.admit(t0 + 12s));
  restart_intensity none{0, 10s};
  CHECK_FALSE(none.admit(t0));
}

TEST_CASE("supervision logic: decisions, counters, quiet period, giving up") {
  supervisor_options o;
  o.strategy = strategy::rest_for_one;
  o.intensity_max_restarts = 3;
  o.backoff.jitter = 0;
  supervision_logic logic{"backends",
                          o,
                          {{"a", restart_type::permanent},
                           {"b", restart_type::temporary},
                           {"c", restart_type::transient},
                           {"d", restart_type::permanent}}};
  std::mt19937_64 rng{1};
  clock_time t{};
  for (size_t i = 0; i < 4; ++i)
    logic.started(i, t);

  // A temporary child is left down.
  auto d = logic.exited(1, crash(), t, rng, "crash");
  CHECK(d.what == decision::action::none);
  CHECK(logic.children()[1].last_failure == crash());
  // A transient child that ends normally too.
  d = logic.exited(2, caf::error{}, t, rng, "normal");
  CHECK(d.what == decision::action::none);
  CHECK_FALSE(logic.children()[2].last_failure);
  logic.started(2, t);

  // rest_for_one from a: all four involved, the temporary one not restarted.
  t += 1s;
  d = logic.exited(0, crash(), t, rng, "crash");
  REQUIRE(d.what == decision::action::restart);
  CHECK(d.affected == std::vector<size_t>{0, 1, 2, 3});
  CHECK(d.restart == std::vector<size_t>{0, 2, 3});
  CHECK(d.delay == 100ms);
  CHECK(logic.children()[0].last_failure_at == t);
  logic.started(0, t + 100ms);
  CHECK(logic.children()[0].restarts == 1);

  // Consecutive failures double the delay...
  t += 1s;
  CHECK(logic.exited(0, crash(), t, rng, "crash").delay == 200ms);
  logic.started(0, t + 200ms);
  // ...until the child has run reset_after without failing.
  t += 31s;
  CHECK(logic.exited(0, crash(), t, rng, "crash").delay == 100ms);
  logic.started(0, t + 100ms);

  // Three restarts within 10 s are allowed, the fourth is too many.
  t += 1s;
  CHECK(logic.exited(3, crash(), t, rng, "crash").what
        == decision::action::restart);
  t += 1s;
  CHECK(logic.exited(3, crash(), t, rng, "crash").what
        == decision::action::restart);
  t += 1s;
  d = logic.exited(3, crash(), t, rng, "boom");
  REQUIRE(d.what == decision::action::give_up);
  CHECK_THAT(d.explanation, Catch::Contains("\"backends\""));
  CHECK_THAT(d.explanation, Catch::Contains("\"d\""));
  CHECK_THAT(d.explanation, Catch::Contains("boom"));
  CHECK_THAT(d.explanation, Catch::Contains("3 restarts within 10000 ms"));
}

TEST_CASE("supervision errors carry their text") {
  auto err
    = make_supervision_error(supervision_errc::intensity_exceeded, "gave up");
  CHECK(err.category() == supervision_category::value);
  CHECK(err.code()
        == static_cast<uint8_t>(supervision_errc::intensity_exceeded));
  CHECK(supervision_error_text(err) == "gave up");
  CHECK(supervision_error_text(crash()).empty());
}

// --- the actor ---------------------------------------------------------------

TEST_CASE("one_for_one restarts only the failed child, after the backoff") {
  fixture f;
  f.spawn_supervisor(quick_options(),
                     {f.child("a"), f.child("b"), f.child("c")});
  REQUIRE(f.names_since(0) == std::vector<std::string>{"a", "b", "c"});
  auto a = f.current("a");
  auto c = f.current("c");
  auto b = f.current("b");
  f.fail("b");
  f.advance(99ms);
  CHECK(f.count("b") == 1);
  f.advance(1ms);
  CHECK(f.count("b") == 2);
  CHECK(f.current("b") != b);
  CHECK(f.count("a") == 1);
  CHECK(f.count("c") == 1);
  CHECK(f.current("a") == a);
  CHECK(f.current("c") == c);
}

TEST_CASE("one_for_all stops and restarts every child, in order") {
  fixture f;
  f.spawn_supervisor(quick_options(strategy::one_for_all),
                     {f.child("a"), f.child("b"), f.child("c")});
  f.watch(f.current("a"), "old a");
  f.watch(f.current("c"), "old c");
  f.fail("b");
  // The siblings were stopped politely at once.
  REQUIRE(f.down_of("old a"));
  REQUIRE(f.down_of("old c"));
  CHECK(f.down_of("old a")->reason == caf::exit_reason::user_shutdown);
  CHECK(f.starts->size() == 3);
  f.advance(100ms);
  CHECK(f.names_since(3) == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("rest_for_one restarts the failed child and those after it") {
  fixture f;
  f.spawn_supervisor(quick_options(strategy::rest_for_one),
                     {f.child("a"), f.child("b"), f.child("c")});
  auto a = f.current("a");
  f.watch(a, "a");
  f.fail("b");
  f.advance(100ms);
  CHECK(f.names_since(3) == std::vector<std::string>{"b", "c"});
  CHECK(f.current("a") == a);
  CHECK_FALSE(f.down_of("a"));
}

TEST_CASE("permanent, transient and temporary children") {
  fixture f;
  f.spawn_supervisor(quick_options(),
                     {f.child("perm", restart_type::permanent),
                      f.child("trans", restart_type::transient),
                      f.child("temp", restart_type::temporary)});
  SECTION("after a normal exit only the permanent child comes back") {
    for (auto name : {"perm", "trans", "temp"})
      caf::anon_send(f.current(name), finish_atom::value);
    f.run();
    f.advance(20s);
    CHECK(f.count("perm") == 2);
    CHECK(f.count("trans") == 1);
    CHECK(f.count("temp") == 1);
  }
  SECTION("after a crash the permanent and the transient child come back") {
    for (auto name : {"perm", "trans", "temp"})
      f.fail(name);
    f.advance(20s);
    CHECK(f.count("perm") == 2);
    CHECK(f.count("trans") == 2);
    CHECK(f.count("temp") == 1);
  }
  SECTION("user_shutdown counts as a normal exit") {
    caf::anon_send_exit(f.current("trans"), caf::exit_reason::user_shutdown);
    f.run();
    f.advance(20s);
    CHECK(f.count("trans") == 1);
  }
}

TEST_CASE("backoff grows exponentially, then resets after a quiet period") {
  fixture f;
  auto o = quick_options();
  o.backoff.reset_after = 30s;
  f.spawn_supervisor(o, {f.child("a")});
  std::vector<caf::timespan> seen;
  for (int i = 0; i < 9; ++i)
    seen.push_back(f.time_to_restart("a"));
  CHECK(seen
        == std::vector<caf::timespan>{100ms, 200ms, 400ms, 800ms, 1600ms,
                                      3200ms, 6400ms, 10s, 10s});
  // Running quietly for less than reset_after does not reset...
  f.advance(29s);
  CHECK(f.time_to_restart("a") == 10s);
  // ...reset_after does.
  f.advance(30s);
  CHECK(f.time_to_restart("a") == 100ms);
  CHECK(f.time_to_restart("a") == 200ms);
}

TEST_CASE("backoff jitter: same seed, same delays, another seed, others") {
  auto delays = [](uint64_t seed) {
    fixture f;
    auto o = quick_options();
    o.backoff.jitter = 0.2;
    f.spawn_supervisor(o, {f.child("a")}, seed);
    std::vector<caf::timespan> seen;
    for (int i = 0; i < 8; ++i)
      seen.push_back(f.time_to_restart("a"));
    return seen;
  };
  auto first = delays(11);
  CHECK(first == delays(11));
  CHECK(first != delays(12));
  caf::timespan base = 100ms;
  for (auto d : first) {
    INFO("delay " << d.count() << " ns, base " << base.count() << " ns");
    CHECK(d >= std::max<caf::timespan>(base * 8 / 10, 100ms) - 1ms);
    CHECK(d <= std::min<caf::timespan>(base * 12 / 10, 10s) + 1ms);
    base = std::min<caf::timespan>(base * 2, 10s);
  }
}

TEST_CASE("past the restart intensity the supervisor stops its children and "
          "fails, naming itself and the child") {
  fixture f;
  auto o = quick_options();
  o.intensity_max_restarts = 2;
  o.intensity_period = 10s;
  supervisor_spec spec;
  spec.name = "pool-disk";
  spec.options = o;
  spec.children = {f.child("conn-0"), f.child("conn-1"), f.child("conn-2")};
  auto sup = f.spawn_supervisor(std::move(spec));
  f.watch(sup, "supervisor");
  CHECK(f.time_to_restart("conn-1") == 100ms);
  CHECK(f.time_to_restart("conn-1") == 200ms);
  f.watch(f.current("conn-0"), "conn-0");
  f.watch(f.current("conn-2"), "conn-2");
  f.fail("conn-1");
  REQUIRE(f.downs->size() == 3);
  // Children first, then the supervisor.
  CHECK((*f.downs)[2].label == "supervisor");
  CHECK(f.down_of("conn-0")->reason == caf::exit_reason::user_shutdown);
  CHECK(f.down_of("conn-2")->reason == caf::exit_reason::user_shutdown);
  auto reason = f.down_of("supervisor")->reason;
  CHECK(reason.category() == supervision_category::value);
  CHECK(reason.code()
        == static_cast<uint8_t>(supervision_errc::intensity_exceeded));
  auto text = supervision_error_text(reason);
  CHECK_THAT(text, Catch::Contains("supervisor \"pool-disk\" gave up"));
  CHECK_THAT(text, Catch::Contains("child \"conn-1\""));
  CHECK_THAT(f.sys->render(reason), Catch::Contains("pool-disk"));
  // Nothing is restarted afterwards.
  auto started = f.starts->size();
  f.advance(20s);
  CHECK(f.starts->size() == started);
}

TEST_CASE("restarts spread over more than the intensity period are fine") {
  fixture f;
  auto o = quick_options();
  o.intensity_max_restarts = 2;
  o.intensity_period = 10s;
  auto sup = f.spawn_supervisor(o, {f.child("a")});
  f.watch(sup, "supervisor");
  for (int i = 0; i < 6; ++i) {
    f.time_to_restart("a");
    f.advance(6s);
  }
  CHECK(f.downs->empty());
  CHECK(f.count("a") == 7);
}

TEST_CASE("the observer hears of every start, with the new handle") {
  fixture f;
  auto log = std::make_shared<std::vector<observed>>();
  auto obs = f.sys->spawn(observer, log);
  f.to_stop.push_back(obs);
  f.spawn_supervisor(quick_options(), {f.child("a"), f.child("b")}, 1, obs);
  REQUIRE(log->size() == 2);
  CHECK((*log)[0].name == "a");
  CHECK((*log)[0].handle == f.current("a"));
  CHECK((*log)[1].name == "b");
  auto old_b = f.current("b");
  f.time_to_restart("b");
  // First the failure, then the new start.
  REQUIRE(log->size() == 4);
  CHECK((*log)[2].name == "b");
  CHECK_FALSE((*log)[2].handle);
  CHECK((*log)[2].failure == "system_error(runtime_error)");
  CHECK((*log)[3].name == "b");
  CHECK((*log)[3].failure.empty());
  CHECK((*log)[3].handle == f.current("b"));
  CHECK((*log)[3].handle != old_b);
  // The new handle works.
  caf::scoped_actor self{*f.sys};
  self->send((*log)[3].handle, ping_atom::value);
  f.run();
  bool answered = false;
  self->receive([&](ping_atom) { answered = true; });
  CHECK(answered);
}

TEST_CASE("a child that ignores the polite exit is killed after the shutdown "
          "timeout") {
  fixture f;
  auto o = quick_options();
  o.shutdown_timeout = 5s;
  auto sup = f.spawn_supervisor(
    o, {f.child("polite"), f.child("stubborn", restart_type::permanent, true)});
  f.watch(sup, "supervisor");
  f.watch(f.current("polite"), "polite");
  f.watch(f.current("stubborn"), "stubborn");
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  f.run();
  REQUIRE(f.down_of("polite"));
  CHECK(f.down_of("polite")->reason == caf::exit_reason::user_shutdown);
  CHECK_FALSE(f.down_of("stubborn"));
  CHECK_FALSE(f.down_of("supervisor"));
  f.advance(5s - 1ms);
  CHECK_FALSE(f.down_of("stubborn"));
  f.advance(1ms);
  REQUIRE(f.down_of("stubborn"));
  CHECK(f.down_of("stubborn")->reason == caf::exit_reason::kill);
  REQUIRE(f.down_of("supervisor"));
  CHECK(f.down_of("supervisor")->reason == caf::exit_reason::user_shutdown);
  // Nobody was restarted while stopping.
  CHECK(f.starts->size() == 2);
}

TEST_CASE("a group restart waits for a stubborn sibling to be killed") {
  fixture f;
  auto o = quick_options(strategy::one_for_all);
  o.shutdown_timeout = 1s;
  f.spawn_supervisor(
    o, {f.child("stubborn", restart_type::permanent, true), f.child("b")});
  f.fail("b");
  f.advance(999ms);
  CHECK(f.starts->size() == 2);
  f.advance(1ms);
  CHECK(f.names_since(2) == std::vector<std::string>{"stubborn", "b"});
}

TEST_CASE("the supervisor keeps counters for the inspector") {
  fixture f;
  auto sup = f.spawn_supervisor(quick_options(), {f.child("a"), f.child("b")});
  f.advance(1s);
  auto failed_at = f.now();
  f.time_to_restart("b");
  auto s = f.stats(sup);
  CHECK(s.name == "test-sup");
  CHECK(s.recent_restarts == 1);
  REQUIRE(s.children.size() == 2);
  CHECK(s.children[0].restarts == 0);
  CHECK_FALSE(s.children[0].last_failure);
  CHECK(s.children[1].restarts == 1);
  CHECK(s.children[1].running);
  CHECK(s.children[1].last_failure == crash());
  CHECK(s.children[1].last_failure_at == failed_at);
  CHECK(s.children[1].started_at == failed_at + 100ms);
}

TEST_CASE("a failing start counts as a failure and is retried") {
  fixture f;
  auto attempts = std::make_shared<int>(0);
  child_spec flaky;
  flaky.name = "flaky";
  flaky.start = [attempts, log = f.starts](caf::local_actor* parent) {
    if (++*attempts < 3)
      return caf::actor{};
    auto h = parent->spawn(worker, false);
    log->push_back({"flaky", h, parent->clock().now()});
    return h;
  };
  auto sup = f.spawn_supervisor(quick_options(), {std::move(flaky)});
  CHECK(*attempts == 1);
  f.advance(100ms);
  CHECK(*attempts == 2);
  f.advance(200ms);
  CHECK(*attempts == 3);
  CHECK(f.count("flaky") == 1);
  auto s = f.stats(sup);
  CHECK(supervision_error_text(s.children[0].last_failure)
        == "the start function of child \"flaky\" returned no actor");
}

TEST_CASE("a supervisor under a supervisor: the inner one giving up is a "
          "failure the outer one handles") {
  fixture f;
  auto inner_opts = quick_options();
  inner_opts.intensity_max_restarts = 0;
  supervisor_spec inner;
  inner.name = "inner";
  inner.options = inner_opts;
  inner.children = {f.child("worker")};
  auto outer = f.spawn_supervisor(quick_options(), {supervisor_child(inner)});
  CHECK(f.count("worker") == 1);
  f.fail("worker"); // the inner supervisor gives up at once
  f.advance(100ms); // the outer one restarts it, which starts a new worker
  CHECK(f.count("worker") == 2);
  auto s = f.stats(outer);
  REQUIRE(s.children.size() == 1);
  CHECK(s.children[0].restarts == 1);
  CHECK_THAT(supervision_error_text(s.children[0].last_failure),
             Catch::Contains("supervisor \"inner\" gave up"));
}

TEST_CASE("a group restart stops a temporary sibling for good and brings the "
          "others back") {
  fixture f;
  f.spawn_supervisor(quick_options(strategy::one_for_all),
                     {f.child("temp", restart_type::temporary),
                      f.child("trans", restart_type::transient),
                      f.child("perm")});
  f.watch(f.current("temp"), "temp");
  f.fail("perm");
  REQUIRE(f.down_of("temp"));
  CHECK(f.down_of("temp")->reason == caf::exit_reason::user_shutdown);
  f.advance(100ms);
  CHECK(f.names_since(3) == std::vector<std::string>{"trans", "perm"});
}

TEST_CASE("an exit from the parent during a backoff delay cancels the "
          "restart") {
  fixture f;
  auto sup = f.spawn_supervisor(quick_options(), {f.child("a"), f.child("b")});
  f.watch(sup, "supervisor");
  f.watch(f.current("b"), "b");
  f.fail("a");
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  f.run();
  REQUIRE(f.down_of("b"));
  REQUIRE(f.down_of("supervisor"));
  CHECK(f.down_of("supervisor")->reason == caf::exit_reason::user_shutdown);
  f.advance(1s);
  CHECK(f.count("a") == 1);
}
