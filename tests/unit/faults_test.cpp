// Faults and overload through the whole actor tree on CAF's test coordinator:
// broken and crashing connections, a backend that goes away (restart storm,
// circuit open, probes, recovery), 10x overload, random faults under many
// seeds. Every request in every test ends in exactly one answer.

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "simulation/deterministic_gateway.hpp"

using namespace prism;
using prism::simulation::deterministic_gateway;
using prism::simulation::parse_config;

namespace {

model::set_op set(std::string key, std::string value) {
  return model::set_op{std::move(key), std::move(value), 0, {}};
}

const char* two_connections = R"(
server:
  session_idle_timeout_ms: 60000
backends:
  mem: {type: memory, connections: 2}
namespaces:
  kv: {backend: mem}
)";

/// One memory connection: a single failure takes the backend's only one.
const char* one_connection = R"(
backends:
  mem: {type: memory, connections: 1}
namespaces:
  kv: {backend: mem}
)";

/// The inspector's view of one actor, by kind and name; id 0 when absent.
actor_info find_actor(deterministic_gateway& g, const std::string& kind,
                      const std::string& name) {
  for (auto& a : g.actors().snapshot(g.system().clock().now()))
    if (a.kind == kind && a.name == name)
      return a;
  return {};
}

/// Every submitted id has exactly one answer.
void require_one_answer_each(const deterministic_gateway& g,
                             const std::set<std::string>& submitted) {
  std::map<std::string, int> seen;
  for (auto& a : g.answers())
    ++seen[a.request_id];
  for (auto& id : submitted) {
    INFO("request " << id);
    CHECK(seen[id] == 1);
  }
  CHECK(g.answers().size() == submitted.size());
}

bool trace_has(const deterministic_gateway& g, const std::string& text) {
  for (auto& line : g.trace())
    if (line.find(text) != std::string::npos)
      return true;
  return false;
}

/// The value of the series `name{labels}` (labels as rendered, sorted by
/// name) in the gateway's /metrics text, or -1 when it is not there.
double metric(deterministic_gateway& g, const std::string& series) {
  auto text = g.metrics_text();
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos)
    return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

} // namespace

TEST_CASE("a connection whose driver reports a broken connection fails, its "
          "calls are answered UNAVAILABLE, a sibling serves, and the "
          "supervisor restarts it after its backoff") {
  deterministic_gateway g{parse_config(two_connections)};
  auto& mem = g.backend("mem");
  auto first = find_actor(g, "connection", "mem#0");
  REQUIRE(first.id != 0);
  // Three calls in flight at once: round robin puts q1 and q3 on mem#0.
  mem.set_holding(true);
  for (auto id : {"q1", "q2", "q3"})
    g.submit(id, "kv", set(id, "v"));
  g.run();
  REQUIRE(mem.held() == 3);
  mem.drop_next(1);
  mem.set_holding(false);
  mem.release_held();
  g.run();
  require_one_answer_each(g, {"q1", "q2", "q3"});
  auto& q1 = *g.answer_of("q1");
  CHECK(q1.status.code == status_code::unavailable);
  CHECK_THAT(q1.status.message, Catch::Contains("mem#0 broke"));
  CHECK_THAT(q1.status.message, Catch::Contains("not applied"));
  CHECK(g.answer_of("q2")->status.ok());
  auto& q3 = *g.answer_of("q3");
  CHECK(q3.status.code == status_code::unavailable);
  CHECK_THAT(q3.status.message, Catch::Contains("in flight"));
  CHECK(find_actor(g, "connection", "mem#0").id == 0);
  CHECK(trace_has(g, "sim mem dropped Set q1"));
  CHECK(trace_has(g, "exit connection:mem#0"));
  // Meanwhile the healthy sibling takes every call.
  for (int i = 0; i < 3; ++i)
    CHECK(g.call("kv", set("k" + std::to_string(i), "v")).status.ok());
  // The supervisor's first backoff is 100 ms of virtual time.
  g.advance_ms(99);
  CHECK(find_actor(g, "connection", "mem#0").id == 0);
  g.advance_ms(1);
  auto reborn = find_actor(g, "connection", "mem#0");
  REQUIRE(reborn.id != 0);
  CHECK(reborn.id != first.id);
  CHECK(reborn.restarts == 1);
  auto pool = find_actor(g, "pool", "mem");
  REQUIRE(pool.last_failure);
  CHECK_THAT(pool.last_failure->reason, Catch::Contains("mem#0"));
  CHECK(pool.state == "running");
  // The pool and its supervisor count the restart; the pool shows what its
  // mailbox admitted and how deep it got.
  CHECK(pool.restarts == 1);
  CHECK(find_actor(g, "supervisor", "pool:mem").restarts == 1);
  CHECK(pool.admitted >= 6);
  CHECK(pool.mailbox_high_water >= 1);
}

TEST_CASE("a connection actor that dies of an exception is restarted, and "
          "its call is answered") {
  deterministic_gateway g{parse_config(two_connections)};
  auto& mem = g.backend("mem");
  mem.throw_next(1);
  g.submit("boom", "kv", set("a", "1"));
  g.run();
  require_one_answer_each(g, {"boom"});
  CHECK(g.answer_of("boom")->status.code == status_code::unavailable);
  CHECK(find_actor(g, "connection", "mem#0").id == 0);
  CHECK(trace_has(g, "sim mem threw Set a"));
  CHECK(g.call("kv", set("b", "1")).status.ok());
  g.advance_ms(100);
  auto reborn = find_actor(g, "connection", "mem#0");
  REQUIRE(reborn.id != 0);
  CHECK(reborn.restarts == 1);
  // Both connections serve again.
  for (int i = 0; i < 4; ++i)
    CHECK(g.call("kv", set("k" + std::to_string(i), "v")).status.ok());
}

TEST_CASE("a restart storm past the intensity opens the circuit: the "
          "namespace answers UNAVAILABLE at once, probes back off, and it "
          "recovers when the backend comes back") {
  auto cfg = parse_config(one_connection);
  auto& b = cfg.backends.at("mem");
  b.supervision.max_restarts = 2;
  b.supervision.period_ms = 10000;
  b.supervision.backoff_min_ms = 100;
  b.supervision.backoff_jitter = 0;
  b.circuit.probe_after_ms = 1000;
  b.circuit.probe_max_ms = 4000;
  deterministic_gateway g{cfg};
  auto& mem = g.backend("mem");
  std::set<std::string> submitted;
  auto submit = [&](const std::string& id) {
    submitted.insert(id);
    g.submit(id, "kv", set(id, "v"));
    g.run();
    REQUIRE(g.answer_of(id));
    return *g.answer_of(id);
  };

  CHECK(submit("before").status.ok());
  mem.set_down(true);
  auto lost = submit("lost");
  CHECK(lost.status.code == status_code::unavailable);
  // Restarts fail (the backend refuses connections) until the supervisor
  // gives up: 100 ms, then 200 ms, then one restart too many.
  int waited = 0;
  while (find_actor(g, "pool", "mem").state != "failed" && waited < 5000) {
    g.advance_ms(50);
    waited += 50;
  }
  REQUIRE(find_actor(g, "pool", "mem").state == "failed");
  CHECK(waited == 300);
  CHECK(trace_has(g, "sim mem connect #0 refused"));
  CHECK(find_actor(g, "supervisor", "pool:mem").id == 0);

  // Open: answered at once, without touching the backend, with a hint.
  auto applied = mem.applied() + mem.failed();
  auto open = submit("open");
  CHECK(open.status.code == status_code::unavailable);
  CHECK_THAT(open.status.message, Catch::Contains("circuit is open"));
  CHECK(open.status.retry_after_ms > 0);
  CHECK(open.status.retry_after_ms <= 1000);
  CHECK(mem.applied() + mem.failed() == applied);

  // The first probe (after 1 s) finds the backend still down: open again,
  // now for 2 s.
  g.advance_ms(1000);
  CHECK(find_actor(g, "pool", "mem").state == "failed");
  auto still = submit("still-open");
  CHECK(still.status.code == status_code::unavailable);
  CHECK(still.status.retry_after_ms > 1000);
  CHECK(still.status.retry_after_ms <= 2000);
  // Both refusals counted as such; the call its connection lost was not
  // refused.
  CHECK(
    metric(g, R"(prism_rejections_total{namespace="kv",reason="circuit_open"})")
    == 2);

  // The backend comes back; the next probe starts a connection (half
  // open), and the first request through it closes the circuit.
  mem.set_down(false);
  g.advance_ms(1999);
  CHECK(find_actor(g, "pool", "mem").state == "failed");
  g.advance_ms(1);
  CHECK(find_actor(g, "pool", "mem").state == "restarting");
  CHECK(submit("trial").status.ok());
  CHECK(find_actor(g, "pool", "mem").state == "running");
  CHECK(find_actor(g, "supervisor", "pool:mem").id != 0);
  auto conn = find_actor(g, "connection", "mem#0");
  REQUIRE(conn.id != 0);
  // Failed attempts start nothing: this is its first incarnation since.
  CHECK(conn.restarts == 1);
  CHECK(submit("after").status.ok());
  auto read = g.call("kv", model::get_op{"before"});
  REQUIRE(read.status.ok());
  CHECK(std::get<model::get_result>(read.value).found);
  submitted.insert("auto-0");
  require_one_answer_each(g, submitted);
}

TEST_CASE("10x overload is refused with RESOURCE_EXHAUSTED, admitted calls "
          "keep their latency, and no mailbox exceeds its limit") {
  // Capacity: 2 connections, one call each, 10 ms per call = 200 calls/s.
  // Offered: 10 clients x 2 calls every 10 ms = 2000 calls/s.
  auto cfg = parse_config(R"(
server:
  session_mailbox_limit: 4
  session_max_in_flight: 8
  stage_mailbox_limit: 16
  router_mailbox_limit: 16
backends:
  slow: {type: sqlite, path: unused.db, connections: 2, max_pending: 4,
         mailbox_limit: 8}
namespaces:
  kv: {backend: slow}
)");
  deterministic_gateway g{cfg};
  g.backend("slow").set_latency(10);
  std::set<std::string> submitted;
  int n = 0;
  for (int tick = 0; tick < 100; ++tick) {
    for (int client = 0; client < 10; ++client)
      for (int k = 0; k < 2; ++k) {
        auto id = "r" + std::to_string(n++);
        submitted.insert(id);
        g.submit(id, "kv", set("k" + std::to_string(client), "v"), {},
                 "client-" + std::to_string(client));
      }
    g.run();
    if (tick == 0) {
      // The pool's gauges under load: both connections busy, its queue full.
      CHECK(metric(g, R"(prism_pool_connections_active{backend="slow"})") == 2);
      CHECK(metric(g, R"(prism_pool_connections_idle{backend="slow"})") == 0);
      CHECK(metric(g, R"(prism_pool_requests_waiting{backend="slow"})") == 4);
    }
    g.advance_ms(10);
  }
  for (int i = 0; i < 10; ++i)
    g.advance_ms(10);
  require_one_answer_each(g, submitted);

  size_t ok = 0, refused = 0;
  int64_t worst_ok_ms = 0;
  for (auto& a : g.answers()) {
    if (a.outcome.status.ok()) {
      ++ok;
      worst_ok_ms = std::max(worst_ok_ms, a.answered_ms - a.submitted_ms);
    } else {
      INFO(a.request_id << ": " << a.outcome.status.message);
      REQUIRE(a.outcome.status.code == status_code::resource_exhausted);
      CHECK(a.outcome.status.retry_after_ms > 0);
      // A refusal is immediate: answered in the same virtual instant.
      CHECK(a.answered_ms == a.submitted_ms);
      ++refused;
    }
  }
  // Goodput stays at capacity (1 s at 200 calls/s, give or take the edges).
  CHECK(ok >= 190);
  CHECK(ok <= 210);
  CHECK(refused == submitted.size() - ok);
  // Every refusal is counted under the limit that refused it.
  double counted = 0;
  for (auto reason : {"mailbox_full", "window_full", "queue_full"})
    counted
      += metric(g,
                std::string(R"(prism_rejections_total{namespace="kv",reason=")")
                  + reason + "\"}");
  CHECK(counted == static_cast<double>(refused));
  CHECK(
    metric(g, R"(prism_rejections_total{namespace="kv",reason="queue_full"})")
    > 0);
  CHECK(metric(g, R"(prism_pool_connections_idle{backend="slow"})") == 2);
  CHECK(metric(g, R"(prism_pool_requests_waiting{backend="slow"})") == 0);
  // An admitted call waits at most for the calls ahead of it in the pool
  // (max_pending 4 over 2 connections) plus its own 10 ms.
  CHECK(worst_ok_ms <= 40);

  // No request gate was ever over its limit, except that a stage that only
  // observes takes batches of outcomes past it: once it is full, sessions
  // start no new call whose outcome it would get, and only the calls
  // already in flight and the refusals add batches (here within the
  // sessions' windows, 10 x 8)...
  for (auto& a : g.actors().snapshot(g.system().clock().now()))
    if (a.mailbox_limit > 0) {
      INFO(a.kind << ":" << a.name << " held " << a.mailbox_high_water);
      if (a.kind == "stage" && (a.name == "metrics" || a.name == "audit"))
        CHECK(a.mailbox_high_water <= a.mailbox_limit + 10 * 8);
      else
        CHECK(a.mailbox_high_water <= a.mailbox_limit);
    }
  // ...and, counted independently from CAF's own mailboxes, every mailbox
  // stayed within its request limit plus the replies and notices the
  // in-flight bounds allow: a session's window (8) of replies, a pool's
  // releases from 2 connections, a stage's completion notices from all
  // sessions' windows (10 x 8), and a few timers.
  for (auto& [label, depth] : g.max_mailbox_depths()) {
    INFO(label << " held " << depth << " messages at most");
    if (label.rfind("session:", 0) == 0)
      CHECK(depth <= 4 + 8 + 2);
    else if (label.rfind("pool:", 0) == 0)
      CHECK(depth <= 8 + 2 + 4);
    else if (label.rfind("router", 0) == 0)
      CHECK(depth <= 16);
    else if (label.rfind("stage:", 0) == 0)
      CHECK(depth <= 16 + 10 * 8);
  }
}

TEST_CASE("random faults under many seeds: connections break and come back, "
          "every call is answered once, and a seed replays its run") {
  auto run_seed = [](uint64_t seed) {
    auto cfg = parse_config(two_connections);
    cfg.backends.at("mem").supervision.max_restarts = 1000;
    deterministic_gateway g{cfg, seed};
    g.backend("mem").set_random_faults(0.1, 0.1, seed);
    std::set<std::string> submitted;
    for (int round = 0; round < 20; ++round) {
      for (int c = 0; c < 3; ++c) {
        auto id = "s" + std::to_string(round) + "-" + std::to_string(c);
        submitted.insert(id);
        g.submit(id, "kv", set("k" + std::to_string(c), "v"), {},
                 "client-" + std::to_string(c));
      }
      g.run();
      g.advance_ms(50);
    }
    g.advance_ms(1000);
    require_one_answer_each(g, submitted);
    size_t ok = 0;
    for (auto& a : g.answers()) {
      auto code = a.outcome.status.code;
      CHECK((code == status_code::ok || code == status_code::unavailable));
      ok += code == status_code::ok;
    }
    CHECK(ok > 0);
    return g.trace_text();
  };
  std::set<std::string> distinct;
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    INFO("seed " << seed);
    auto first = run_seed(seed);
    CHECK(first.find("dropped") != std::string::npos);
    CHECK(run_seed(seed) == first);
    distinct.insert(first);
  }
  CHECK(distinct.size() == 12);
}

TEST_CASE("a backend call gets what is left of the client's deadline as its "
          "timeout, a call that runs past it is not applied") {
  deterministic_gateway g{parse_config(two_connections)};
  auto& mem = g.backend("mem");
  mem.set_latency(50);
  // 30 ms left when the backend starts it, but it needs 50 ms.
  g.submit("late", "kv", set("late", "v"), 30);
  // Plenty of time: completes after its 50 ms.
  g.submit("fine", "kv", set("fine", "v"), 1000);
  g.run();
  CHECK(g.answers().empty());
  g.advance_ms(29);
  CHECK(g.answers().empty());
  g.advance_ms(1);
  REQUIRE(g.answers().size() == 1);
  auto& late = g.answers()[0];
  CHECK(late.request_id == "late");
  CHECK(late.outcome.status.code == status_code::deadline_exceeded);
  CHECK_THAT(late.outcome.status.message, Catch::Contains("not applied"));
  CHECK(trace_has(g, "sim mem timed out Set late"));
  CHECK(metric(g, R"(prism_rejections_total{namespace="kv",reason="deadline"})")
        == 1);
  g.advance_ms(20);
  REQUIRE(g.answer_of("fine"));
  CHECK(g.answer_of("fine")->status.ok());
  mem.set_latency(0);
  auto got = g.call("kv", model::get_op{"late"});
  REQUIRE(got.status.ok());
  CHECK_FALSE(std::get<model::get_result>(got.value).found);
}

TEST_CASE("the root supervisor restarts a killed stage, router or pool, and "
          "the gateway rewires it: calls flow again after the backoff") {
  deterministic_gateway g{parse_config(two_connections)};
  REQUIRE(g.call("kv", set("kept", "1")).status.ok());
  int n = 0;
  for (auto [kind, name] :
       {std::pair{"stage", "metrics"}, std::pair{"router", "router"},
        std::pair{"pool", "mem"}}) {
    INFO(kind << ":" << name);
    auto before = find_actor(g, kind, name);
    REQUIRE(before.id != 0);
    REQUIRE(g.actors().kill(before.id, g.system()));
    g.run();
    CHECK(find_actor(g, kind, name).id == 0);
    // Meanwhile a call is answered, never left hanging.
    auto id = "during-" + std::to_string(n++);
    g.submit(id, "kv", model::get_op{"kept"});
    g.run();
    REQUIRE(g.answer_of(id));
    auto code = g.answer_of(id)->status.code;
    CHECK((code == status_code::unavailable || code == status_code::ok));
    // Its supervisor starts a new one after the first backoff (100 ms).
    g.advance_ms(100);
    auto after = find_actor(g, kind, name);
    REQUIRE(after.id != 0);
    CHECK(after.id != before.id);
    auto got = g.call("kv", model::get_op{"kept"});
    REQUIRE(got.status.ok());
    CHECK(std::get<model::get_result>(got.value).found);
    CHECK(g.call("kv", set("k" + std::to_string(n), "v")).status.ok());
  }
  // The restarted pool opened fresh connections through its factory.
  CHECK(find_actor(g, "connection", "mem#0").id != 0);
  CHECK(find_actor(g, "connection", "mem#1").id != 0);
}

TEST_CASE("drain: calls in flight complete, and those still held when the "
          "drain time runs out are answered UNAVAILABLE, each exactly once") {
  auto cfg = parse_config(R"(
backends:
  slow: {type: sqlite, path: unused.db, connections: 2, max_pending: 8}
namespaces:
  kv: {backend: slow}
)");
  deterministic_gateway g{cfg};
  auto& slow = g.backend("slow");
  slow.set_latency(10);
  std::set<std::string> submitted;
  for (int i = 0; i < 6; ++i) {
    auto id = "d" + std::to_string(i);
    submitted.insert(id);
    g.submit(id, "kv", set(id, "v"), {}, "client-" + std::to_string(i % 3));
  }
  g.run();
  // The drain starts: the front end takes no new calls (tested against the
  // binary in drain_e2e_test); the actors finish what they hold. Two
  // connections, 10 ms per call: the six calls need 30 ms.
  g.note("drain begins");
  g.advance_ms(10);
  CHECK(g.answers().size() == 2);
  g.advance_ms(10);
  CHECK(g.answers().size() == 4);
  // The drain time runs out with two calls still inside; stopping the tree
  // answers them.
  g.note("drain timeout");
  g.gw().stop();
  g.run();
  require_one_answer_each(g, submitted);
  size_t ok = 0;
  for (auto& a : g.answers()) {
    if (a.outcome.status.ok()) {
      ++ok;
    } else {
      CHECK(a.outcome.status.code == status_code::unavailable);
      CHECK_THAT(a.outcome.status.message,
                 Catch::Contains("may or may not have been applied"));
    }
  }
  CHECK(ok == 4);
}

TEST_CASE("half open: a connection that starts is not enough, a failed trial "
          "request opens the circuit again for twice as long") {
  auto cfg = parse_config(one_connection);
  auto& b = cfg.backends.at("mem");
  b.supervision.max_restarts = 0;
  b.supervision.backoff_jitter = 0;
  b.circuit.probe_after_ms = 1000;
  b.circuit.probe_max_ms = 8000;
  deterministic_gateway g{cfg};
  auto& mem = g.backend("mem");
  // One broken connection is past an intensity of 0: the circuit opens.
  mem.drop_next(1);
  CHECK(g.call("kv", set("a", "1")).status.code == status_code::unavailable);
  REQUIRE(find_actor(g, "pool", "mem").state == "failed");
  // The probe's connection starts (connecting works), but the backend still
  // breaks the first request: that trial fails and the circuit reopens.
  mem.drop_next(1);
  g.advance_ms(1000);
  CHECK(find_actor(g, "pool", "mem").state == "restarting");
  auto trial = g.call("kv", set("b", "1"));
  CHECK(trial.status.code == status_code::unavailable);
  CHECK(find_actor(g, "pool", "mem").state == "failed");
  // Only one trial at a time, and none while open: refused at once, with the
  // doubled wait as hint.
  auto refused = g.call("kv", set("c", "1"));
  CHECK(refused.status.code == status_code::unavailable);
  CHECK(refused.status.retry_after_ms > 1000);
  CHECK(refused.status.retry_after_ms <= 2000);
  g.advance_ms(2000);
  CHECK(g.call("kv", set("d", "1")).status.ok());
  CHECK(find_actor(g, "pool", "mem").state == "running");
  CHECK(mem.applied() == 1);
}
