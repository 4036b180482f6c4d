// The actor pipeline under CAF's test coordinator with simulated drivers:
// every actor kind (session, stages, router, pool, connection) on one thread
// with virtual time.

#include <algorithm>
#include <set>

#include <catch2/catch.hpp>

#include "session/session_directory.hpp"
#include "simulation/deterministic_gateway.hpp"

using namespace prism;
using prism::simulation::deterministic_gateway;
using prism::simulation::parse_config;

namespace {

const char* two_namespaces = R"(
server:
  session_idle_timeout_ms: 1000
backends:
  mem: {type: memory}
  disk: {type: sqlite, path: unused.db, connections: 2, max_pending: 2}
namespaces:
  cache: {backend: mem}
  durable: {backend: disk}
  small: {backend: mem, max_value_bytes: 8}
  events: {backend: mem, pattern: pubsub}
  bare: {backend: mem, middleware: []}
)";

model::set_op set(std::string key, std::string value, uint64_t ttl_ms = 0) {
  return model::set_op{std::move(key), std::move(value), ttl_ms, {}};
}

template <class Result>
const Result& result_of(const model::outcome& o) {
  INFO("status " << to_string(o.status.code) << ": " << o.status.message);
  REQUIRE(o.status.ok());
  return std::get<Result>(o.value);
}

} // namespace

TEST_CASE("a call travels the pipeline to its backend and back") {
  deterministic_gateway g{parse_config(two_namespaces)};
  auto v1
    = result_of<model::set_result>(g.call("cache", set("k", "v1"))).version;
  auto got = result_of<model::get_result>(g.call("cache", model::get_op{"k"}));
  CHECK(got.found);
  CHECK(got.value == "v1");
  CHECK(got.version == v1);
  CHECK(g.backend("mem").applied() == 2);
  // Namespaces on different backends do not share data.
  auto other
    = result_of<model::get_result>(g.call("durable", model::get_op{"k"}));
  CHECK_FALSE(other.found);
  CHECK(g.backend("disk").applied() == 1);
  // These simulated drivers answer before `execute` returns: the connection
  // finishes the call there and then, without a `done` message to itself.
  INFO(g.trace_text());
  CHECK_THAT(g.trace_text(), Catch::Contains("run connection:mem#0 request"));
  CHECK_THAT(g.trace_text(), !Catch::Contains(" done "));
}

TEST_CASE("every stage starts once when no namespace lists audit (the "
          "fallback route for unknown namespaces still needs it)") {
  deterministic_gateway g(
    parse_config("backends:\n"
                 "  m: {type: memory}\n"
                 "namespaces:\n"
                 "  a: {backend: m, middleware: [metrics]}\n"
                 "  b: {backend: m, middleware: []}\n"));
  auto actors = g.actors().snapshot(g.system().clock().now());
  size_t stages = 0;
  std::set<std::string> kinds;
  for (auto& a : actors) {
    if (a.kind == "stage") {
      ++stages;
      kinds.insert(a.name);
    }
    if (a.kind == "supervisor") {
      INFO("supervisor " << a.name);
      CHECK(a.restarts == 0);
    }
  }
  // One actor per stage kind: none started twice, none left behind.
  CHECK(kinds.count("metrics") == 1);
  CHECK(kinds.count("audit") == 1);
  CHECK(stages == kinds.size());
  CHECK(g.call("a", model::set_op{"k", "v", 0, {}}).status.ok());
  CHECK(g.call("nope", model::get_op{"k"}).status.code
        == status_code::not_found);
}

TEST_CASE("stages observe every outcome: metrics count it, audit writes it") {
  deterministic_gateway g{parse_config(two_namespaces)};
  g.call("cache", set("a", "1"));
  g.call("cache", model::get_op{"a"});
  g.call("nowhere", model::get_op{"a"});
  g.run();
  auto text = g.metrics_text();
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_requests_total{code="OK",namespace="cache",operation="Set"} 1)"));
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_requests_total{code="OK",namespace="cache",operation="Get"} 1)"));
  // Unknown namespaces share one label so clients cannot grow the series.
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_requests_total{code="NOT_FOUND",namespace="_unknown",operation="Get"} 1)"));
  // Neither stage may refuse these calls, so neither is visited on the way
  // in: both are told of the three outcomes.
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_stage_calls_total{stage="metrics",verdict="observed"} 3)"));
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_stage_calls_total{stage="audit",verdict="observed"} 3)"));
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_stage_calls_total{stage="metrics",verdict="passed"} 0)"));
  for (auto& line : g.trace()) {
    INFO(line);
    CHECK_FALSE((line.rfind("run stage:", 0) == 0
                 && line.find(" request ") != std::string::npos));
  }
  REQUIRE(g.audit().lines.size() == 3);
  CHECK_THAT(g.audit().lines[0], Catch::Contains(R"("operation":"Set")"));
  CHECK_THAT(g.audit().lines[0], Catch::Contains(R"("key":"a")"));
  CHECK_THAT(g.audit().lines[0], Catch::Contains(R"("backend":"mem")"));
  CHECK_THAT(g.audit().lines[2], Catch::Contains(R"("code":"NOT_FOUND")"));
}

TEST_CASE("a call visits on its way in only the stages that may refuse it") {
  deterministic_gateway g{parse_config(std::string(two_namespaces) + R"(
  strict: {backend: mem, audit_required: true}
  limited: {backend: mem, rate_limit: {rate: 1000, burst: 10}}
)")};
  auto visits = [&](const std::string& ns) {
    g.note("-- " + ns);
    auto id = "v-" + ns;
    g.submit(id, ns, model::get_op{"k"});
    g.run();
    REQUIRE(g.answer_of(id));
    CHECK(g.answer_of(id)->status.ok());
    std::vector<std::string> stages;
    bool mine = false;
    for (auto& line : g.trace()) {
      if (line.rfind("-- ", 0) == 0)
        mine = line == "-- " + ns;
      else if (mine && line.rfind("run stage:", 0) == 0
               && line.find(" request " + id) != std::string::npos)
        stages.push_back(line.substr(10, line.find(' ', 10) - 10));
    }
    return stages;
  };
  using list = std::vector<std::string>;
  // metrics and audit only count and write outcomes here.
  CHECK(visits("cache") == list{});
  // audit_required: audit may refuse (no room for the line).
  CHECK(visits("strict") == list{"audit"});
  CHECK(visits("limited") == list{"rate_limit"});
  g.run();
  // Every stage of each route heard of each outcome all the same.
  auto text = g.metrics_text();
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_stage_calls_total{stage="metrics",verdict="observed"} 3)"));
  CHECK_THAT(text,
             Catch::Contains(
               R"(prism_stage_calls_total{stage="audit",verdict="passed"} 1)"));
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_stage_calls_total{stage="rate_limit",verdict="passed"} 1)"));
  CHECK(g.audit().lines.size() == 3);
}

TEST_CASE("a session tells each stage of the calls it answered together in "
          "one message") {
  deterministic_gateway g{parse_config(two_namespaces)};
  for (auto id : {"q1", "q2", "q3"})
    g.submit(id, "cache", model::get_op{"k"});
  g.submit("q4", "bare", model::get_op{"k"});
  g.run();
  REQUIRE(g.answers().size() == 4);
  std::vector<std::string> reports;
  for (auto& line : g.trace())
    if (line.rfind("run stage:", 0) == 0
        && line.find(" completed ") != std::string::npos)
      reports.push_back(line);
  INFO(g.trace_text());
  // The three answers reached the session before its reminder to report
  // them; the call of the namespace without middleware is not reported.
  CHECK(reports
        == std::vector<std::string>{"run stage:metrics completed q1,q2,q3",
                                    "run stage:audit completed q1,q2,q3"});
  REQUIRE(g.audit().lines.size() == 3);
  CHECK_THAT(
    g.metrics_text(),
    Catch::Contains(
      R"(prism_requests_total{code="OK",namespace="cache",operation="Get"} 3)"));
}

TEST_CASE("stages hear of the last calls of a session that stops as soon as "
          "they are answered") {
  deterministic_gateway g{parse_config(two_namespaces)};
  g.submit("q1", "cache", model::get_op{"k"});
  // Told to stop while q1 is in flight, the session ends with q1's answer,
  // before the reminder to report q1 that it sent itself could run.
  auto session = g.gw().sessions().find("client-1");
  REQUIRE(session);
  caf::anon_send(session, stop_atom::value);
  g.run();
  REQUIRE(g.answers().size() == 1);
  INFO(g.trace_text());
  CHECK_THAT(g.trace_text(), !Catch::Contains("run session:client-1 report"));
  REQUIRE(g.audit().lines.size() == 1);
  CHECK_THAT(g.audit().lines[0], Catch::Contains(R"("request_id":"q1")"));
}

TEST_CASE("a namespace without middleware skips the stages") {
  deterministic_gateway g{parse_config(two_namespaces)};
  result_of<model::set_result>(g.call("bare", set("k", "v")));
  g.run();
  CHECK(g.audit().lines.empty());
  // Its refusals are counted (by its session), its requests are not.
  CHECK_THAT(g.metrics_text(),
             !Catch::Contains(R"(namespace="bare",operation=)"));
}

TEST_CASE("the router answers what only the namespace config can decide") {
  deterministic_gateway g{parse_config(two_namespaces)};
  SECTION("unknown namespace") {
    auto o = g.call("nowhere", model::get_op{"k"});
    CHECK(o.status.code == status_code::not_found);
    CHECK_THAT(o.status.message, Catch::Contains("\"nowhere\""));
  }
  SECTION("a pubsub namespace refuses KeyValue calls") {
    auto o = g.call("events", model::get_op{"k"});
    CHECK(o.status.code == status_code::failed_precondition);
    CHECK_THAT(o.status.message, Catch::Contains("pubsub"));
  }
  SECTION("a value over the namespace's limit") {
    auto o = g.call("small", set("k", "123456789"));
    CHECK(o.status.code == status_code::invalid_argument);
    CHECK_THAT(o.status.message,
               Catch::StartsWith("value of 9 bytes")
                 && Catch::Contains("max_value_bytes"));
    auto batch = g.call(
      "small", model::batch_set_op{{{"a", "1", 0}, {"b", "123456789", 0}}});
    CHECK(batch.status.code == status_code::invalid_argument);
    CHECK_FALSE(
      result_of<model::exists_result>(g.call("small", model::exists_op{"a"}))
        .exists);
  }
  CHECK(g.backend("mem").failed() == 0);
}

TEST_CASE("malformed requests are answered by the session, still observed") {
  deterministic_gateway g{parse_config(two_namespaces)};
  auto empty_key = g.call("cache", model::get_op{""});
  CHECK(empty_key.status.code == status_code::invalid_argument);
  auto long_key = g.call("cache", model::get_op{std::string(4097, 'k')});
  CHECK(long_key.status.code == status_code::invalid_argument);
  CHECK_THAT(long_key.status.message, Catch::Contains("4096"));
  auto no_ns = g.call("", model::get_op{"k"});
  CHECK(no_ns.status.code == status_code::invalid_argument);
  CHECK_THAT(no_ns.status.message, Catch::Contains("namespace"));
  auto big_page = g.call("cache", model::scan_op{"", "", 1001, false});
  CHECK(big_page.status.code == status_code::invalid_argument);
  auto empty_entry
    = g.call("cache", model::batch_set_op{{{"a", "1", 0}, {"", "2", 0}}});
  CHECK(empty_entry.status.code == status_code::invalid_argument);
  CHECK_THAT(empty_entry.status.message,
             Catch::StartsWith("entries[1].key is empty"));
  CHECK(g.backend("mem").applied() == 0);
  g.run();
  CHECK(g.audit().lines.size() == 5);
}

TEST_CASE("an expired deadline is answered without touching the backend") {
  deterministic_gateway g{parse_config(two_namespaces)};
  g.submit("late", "cache", set("k", "v"), /*deadline_ms=*/0);
  g.run();
  REQUIRE(g.answer_of("late"));
  CHECK(g.answer_of("late")->status.code == status_code::deadline_exceeded);
  CHECK(g.backend("mem").applied() == 0);
}

TEST_CASE("a call whose deadline passes while it waits for a connection is "
          "not executed") {
  deterministic_gateway g{parse_config(two_namespaces)};
  auto& disk = g.backend("disk");
  disk.set_holding(true);
  g.submit("a", "durable", set("a", "1"));
  g.submit("b", "durable", set("b", "1"));
  g.submit("c", "durable", set("c", "1"), /*deadline_ms=*/50);
  g.run();
  CHECK(disk.held() == 2); // two connections, one call each
  CHECK(g.answers().empty());
  g.advance_ms(100);
  disk.set_holding(false);
  CHECK(disk.release_held() == 2);
  g.run();
  REQUIRE(g.answers().size() == 3);
  CHECK(g.answer_of("a")->status.ok());
  CHECK(g.answer_of("b")->status.ok());
  CHECK(g.answer_of("c")->status.code == status_code::deadline_exceeded);
  CHECK(disk.applied() == 2);
}

TEST_CASE("a saturated pool rejects at once instead of queueing") {
  deterministic_gateway g{parse_config(two_namespaces)};
  auto& disk = g.backend("disk");
  disk.set_holding(true);
  // 2 connections x 1 in flight + max_pending 2 = 4 admitted.
  for (int i = 0; i < 6; ++i)
    g.submit("r" + std::to_string(i), "durable", model::get_op{"k"});
  g.run();
  REQUIRE(g.answers().size() == 2);
  for (auto& a : g.answers()) {
    CHECK(a.outcome.status.code == status_code::resource_exhausted);
    CHECK_THAT(a.outcome.status.message, Catch::Contains("disk"));
  }
  disk.set_holding(false);
  disk.release_held();
  g.run();
  CHECK(g.answers().size() == 6);
  CHECK(disk.applied() == 4);
}

TEST_CASE("while a pool is saturated its calls are refused before they reach "
          "the router, counted as the pool's, and admitted again once it "
          "has room") {
  deterministic_gateway g{parse_config(two_namespaces)};
  auto& disk = g.backend("disk");
  disk.set_holding(true);
  // 2 connections x 1 in flight + max_pending 2: the pool is full.
  for (int i = 0; i < 4; ++i)
    g.submit("a" + std::to_string(i), "durable", model::get_op{"k"});
  g.run();
  REQUIRE(g.answers().empty());
  auto router_requests = [&] {
    size_t n = 0;
    for (auto& line : g.trace())
      if (line.rfind("run router request", 0) == 0)
        ++n;
    return n;
  };
  const auto before = router_requests();
  CHECK(before == 4);
  for (int i = 0; i < 3; ++i)
    g.submit("b" + std::to_string(i), "durable", model::get_op{"k"});
  g.run();
  REQUIRE(g.answers().size() == 3);
  for (auto& a : g.answers()) {
    INFO(a.outcome.status.message);
    CHECK(a.outcome.status.code == status_code::resource_exhausted);
    CHECK(a.outcome.status.reason == refusal::queue_full);
    CHECK(a.outcome.status.retry_after_ms > 0);
    CHECK_THAT(a.outcome.status.message,
               Catch::Contains("backend \"disk\" is saturated")
                 && Catch::Contains("2 requests are waiting"));
  }
  // Refused where the session would have sent them to the router.
  CHECK(router_requests() == before);
  // A namespace on another backend is not affected.
  CHECK(g.call("cache", model::get_op{"k"}).status.ok());
  disk.set_holding(false);
  disk.release_held();
  g.run();
  CHECK(g.answers().size() == 8);
  CHECK(disk.applied() == 4);
  // The pool counts the refusals as its own.
  for (auto& a : g.actors().snapshot(g.system().clock().now()))
    if (a.kind == "pool" && a.name == "disk")
      CHECK(a.rejected == 3);
  CHECK_THAT(
    g.metrics_text(),
    Catch::Contains(
      R"(prism_rejections_total{namespace="durable",reason="queue_full"} 3)"));
  // With room again, the next call goes through the router to the pool.
  const auto routed = router_requests();
  CHECK(g.call("durable", model::get_op{"k"}).status.ok());
  CHECK(router_requests() == routed + 1);
}

TEST_CASE("a backend failure reaches the client with its code") {
  deterministic_gateway g{parse_config(two_namespaces)};
  g.backend("mem").fail_next(1, status_code::unavailable);
  auto failed = g.call("cache", set("k", "v"));
  CHECK(failed.status.code == status_code::unavailable);
  auto ok = g.call("cache", set("k", "v"));
  CHECK(ok.status.ok());
}

TEST_CASE("TTL: a key expires at once on the virtual clock and is reclaimed "
          "in the background") {
  deterministic_gateway g{parse_config(two_namespaces)};
  result_of<model::set_result>(g.call("cache", set("t", "v", 500)));
  result_of<model::set_result>(g.call("cache", set("p", "v")));
  CHECK(
    result_of<model::get_result>(g.call("cache", model::get_op{"t"})).found);
  g.advance_ms(499);
  CHECK(
    result_of<model::get_result>(g.call("cache", model::get_op{"t"})).found);
  g.advance_ms(1);
  CHECK_FALSE(
    result_of<model::get_result>(g.call("cache", model::get_op{"t"})).found);
  // The sweep timer (1 s by default) reclaims its storage.
  CHECK(g.backend("mem").store().size() == 2);
  g.advance_ms(1000);
  CHECK(g.backend("mem").reclaimed() == 1);
  CHECK(g.backend("mem").store().size() == 1);
}

TEST_CASE("an idle session leaves the directory, the client's next call "
          "starts a new one") {
  deterministic_gateway g{parse_config(two_namespaces)};
  g.call("cache", set("k", "v"));
  CHECK(g.gw().sessions().size() == 1);
  // One tick sees activity, the next sees none and closes the session.
  g.advance_ms(1000);
  CHECK(g.gw().sessions().size() == 1);
  g.advance_ms(1000);
  CHECK(g.gw().sessions().size() == 0);
  auto got = result_of<model::get_result>(g.call("cache", model::get_op{"k"}));
  CHECK(got.value == "v");
  CHECK(g.gw().sessions().size() == 1);
}

TEST_CASE("a session that dies leaves the directory, the client's next call "
          "starts a new one") {
  deterministic_gateway g{parse_config(two_namespaces)};
  g.call("cache", set("k", "v"));
  REQUIRE(g.gw().sessions().size() == 1);
  auto first = g.gw().sessions().find("client-1");
  REQUIRE(first);
  caf::anon_send_exit(first, caf::exit_reason::kill);
  g.run();
  CHECK(g.gw().sessions().size() == 0);
  auto got = result_of<model::get_result>(g.call("cache", model::get_op{"k"}));
  CHECK(got.value == "v");
  auto second = g.gw().sessions().find("client-1");
  REQUIRE(second);
  CHECK(second.address() != first.address());
}

TEST_CASE("a connection that dies is restarted by its pool's supervisor "
          "after a backoff, the calls it held are answered UNAVAILABLE") {
  deterministic_gateway g{parse_config(two_namespaces)};
  auto& disk = g.backend("disk");
  disk.set_holding(true);
  g.submit("held-a", "durable", set("a", "1"));
  g.submit("held-b", "durable", set("b", "1"));
  g.run();
  REQUIRE(disk.held() == 2);
  auto find_connection = [&](const std::string& name) -> uint64_t {
    for (auto& a : g.actors().snapshot(g.system().clock().now()))
      if (a.kind == "connection" && a.name == name)
        return a.id;
    return 0;
  };
  auto victim = find_connection("disk#0");
  REQUIRE(victim != 0);
  REQUIRE(g.actors().kill(victim, g.system()));
  g.run();
  // The call the dead connection held is answered at once; its sibling's
  // is not touched.
  REQUIRE(g.answers().size() == 1);
  CHECK(g.answers()[0].outcome.status.code == status_code::unavailable);
  CHECK(find_connection("disk#0") == 0);
  // The sibling's call completes normally. (The dead connection's write may
  // still reach the backend: UNAVAILABLE on a write means "unknown", which
  // its message says.)
  disk.set_holding(false);
  disk.release_held();
  g.run();
  REQUIRE(g.answers().size() == 2);
  CHECK(g.answers()[1].outcome.status.ok());
  // While one connection is down, the pool serves from the other.
  CHECK(g.call("durable", model::get_op{"b"}).status.ok());
  // The supervisor's first backoff is 100 ms of virtual time.
  g.advance_ms(99);
  CHECK(find_connection("disk#0") == 0);
  g.advance_ms(1);
  auto reborn = find_connection("disk#0");
  REQUIRE(reborn != 0);
  CHECK(reborn != victim);
  // The restarted connection's record says why its predecessor ended, and
  // when: 100 ms before it started.
  auto record = g.actors().find(reborn);
  REQUIRE(record);
  auto failure = record->last_failure();
  REQUIRE(failure);
  CHECK(failure->first == "killed by the inspector");
  CHECK(record->started_at() - failure->second
        == std::chrono::milliseconds(100));
  for (int i = 0; i < 4; ++i)
    CHECK(g.call("durable", set("k" + std::to_string(i), "v")).status.ok());
}

TEST_CASE("one client connection cannot have more than its window in "
          "flight, others are not affected") {
  auto cfg = parse_config(two_namespaces);
  cfg.server.session_max_in_flight = 3;
  deterministic_gateway g{cfg};
  g.backend("disk").set_holding(true);
  for (int i = 0; i < 4; ++i)
    g.submit("w" + std::to_string(i), "durable", model::get_op{"k"}, {},
             "greedy");
  g.run();
  REQUIRE(g.answers().size() == 1);
  auto& refused = g.answers()[0];
  CHECK(refused.request_id == "w3");
  CHECK(refused.outcome.status.code == status_code::resource_exhausted);
  CHECK(refused.outcome.status.retry_after_ms > 0);
  CHECK_THAT(refused.outcome.status.message, Catch::Contains("in flight"));
  // Another client is served while the first one's window is full.
  g.submit("other", "cache", model::get_op{"k"}, {}, "polite");
  g.run();
  REQUIRE(g.answer_of("other"));
  CHECK(g.answer_of("other")->status.ok());
  // Once answers come back, the window opens again.
  g.backend("disk").set_holding(false);
  g.backend("disk").release_held();
  g.run();
  g.submit("w4", "durable", model::get_op{"k"}, {}, "greedy");
  g.run();
  REQUIRE(g.answer_of("w4"));
  CHECK(g.answer_of("w4")->status.ok());
}

TEST_CASE("a full session mailbox refuses at once instead of queueing") {
  auto cfg = parse_config(two_namespaces);
  cfg.server.session_mailbox_limit = 2;
  deterministic_gateway g{cfg};
  // Nothing runs between these submissions, so the session's mailbox fills.
  for (int i = 0; i < 5; ++i)
    g.submit("m" + std::to_string(i), "cache", set("k", "v"), {}, "flood");
  REQUIRE(g.answers().size() == 3);
  for (auto& a : g.answers()) {
    CHECK(a.outcome.status.code == status_code::resource_exhausted);
    CHECK(a.outcome.status.retry_after_ms > 0);
    CHECK_THAT(a.outcome.status.message, Catch::Contains("overloaded"));
  }
  g.run();
  REQUIRE(g.answers().size() == 5);
  CHECK(g.answer_of("m0")->status.ok());
  CHECK(g.answer_of("m1")->status.ok());
  CHECK(g.backend("mem").applied() == 2);
  // Taken requests free their slots: the next ones are admitted again.
  g.submit("m5", "cache", model::get_op{"k"}, {}, "flood");
  g.submit("m6", "cache", model::get_op{"k"}, {}, "flood");
  g.run();
  CHECK(g.answer_of("m5")->status.ok());
  CHECK(g.answer_of("m6")->status.ok());
  // The inspector shows the limit and the refusals.
  for (auto& a : g.actors().snapshot(g.system().clock().now()))
    if (a.kind == "session") {
      CHECK(a.mailbox_limit == 2);
      CHECK(a.mailbox_high_water <= 2);
      CHECK(a.rejected == 3);
    }
}

TEST_CASE("a full pool mailbox makes the router refuse at once") {
  auto cfg = parse_config(two_namespaces);
  cfg.backends.at("disk").mailbox_limit = 2;
  deterministic_gateway g{cfg};
  for (int i = 0; i < 5; ++i)
    g.submit("p" + std::to_string(i), "durable", model::get_op{"k"}, {},
             "client-" + std::to_string(i));
  g.run();
  REQUIRE(g.answers().size() == 5);
  int refused = 0;
  for (auto& a : g.answers())
    if (a.outcome.status.code == status_code::resource_exhausted) {
      ++refused;
      CHECK(a.outcome.status.retry_after_ms > 0);
      CHECK_THAT(a.outcome.status.message, Catch::Contains("\"disk\""));
    } else {
      CHECK(a.outcome.status.ok());
    }
  // The router handles the five calls in one turn, before the pool runs.
  CHECK(refused == 3);
  CHECK(g.backend("disk").applied() == 2);
  for (auto& a : g.actors().snapshot(g.system().clock().now()))
    if (a.kind == "pool" && a.name == "disk") {
      CHECK(a.mailbox_limit == 2);
      CHECK(a.rejected == 3);
    }
  // Slots come back as the pool takes its requests.
  CHECK(g.call("durable", model::get_op{"k"}).status.ok());
}

TEST_CASE("a stage that only observes holds back new calls while its "
          "mailbox is full of outcomes, and loses none") {
  auto cfg = parse_config(two_namespaces);
  cfg.server.stage_mailbox_limit = 2;
  deterministic_gateway g{cfg};
  std::set<uint64_t> stages;
  for (auto& a : g.actors().snapshot(g.system().clock().now()))
    if (a.kind == "stage")
      stages.insert(a.id);
  REQUIRE(stages.size() == 3); // rate_limit, metrics, audit
  // Runs every ready job except the stages', which stay queued.
  auto run_all_but_stages = [&] {
    for (;;) {
      auto& jobs = g.scheduler().jobs;
      auto i = std::find_if(jobs.begin(), jobs.end(), [&](caf::resumable* j) {
        auto* a = dynamic_cast<caf::scheduled_actor*>(j);
        return a == nullptr || stages.count(a->id()) == 0;
      });
      if (i == jobs.end())
        return;
      std::rotate(jobs.begin(), i, std::next(i));
      g.run_one();
    }
  };
  // Three clients, three sessions: each reports its answered call to
  // metrics and audit, three reports for a mailbox of two.
  for (auto id : {"a", "b", "c"})
    g.submit(id, "cache", set(id, "1"), {}, std::string("client-") + id);
  run_all_but_stages();
  for (auto id : {"a", "b", "c"}) {
    REQUIRE(g.answer_of(id));
    CHECK(g.answer_of(id)->status.ok());
  }
  g.submit("d", "cache", model::get_op{"a"}, {}, "client-d");
  run_all_but_stages();
  REQUIRE(g.answer_of("d"));
  CHECK(g.answer_of("d")->status.code == status_code::resource_exhausted);
  CHECK(g.answer_of("d")->status.retry_after_ms > 0);
  CHECK_THAT(g.answer_of("d")->status.message,
             Catch::Contains("middleware stage \"metrics\""));
  CHECK(g.backend("mem").applied() == 3);
  // Once the stages catch up, every outcome (the refusal's too) has been
  // counted and audited, and calls start again.
  g.run();
  CHECK(g.audit().lines.size() == 4);
  auto text = g.metrics_text();
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_stage_calls_total{stage="metrics",verdict="observed"} 4)"));
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_rejections_total{namespace="cache",reason="mailbox_full"} 1)"));
  CHECK(g.call("cache", model::get_op{"a"}).status.ok());
  for (auto& a : g.actors().snapshot(g.system().clock().now()))
    if (a.kind == "stage" && a.name == "metrics") {
      CHECK(a.mailbox_limit == 2);
      CHECK(a.rejected == 1);
    }
}

TEST_CASE("a session with calls in flight is not closed") {
  deterministic_gateway g{parse_config(two_namespaces)};
  g.backend("disk").set_holding(true);
  g.submit("held", "durable", model::get_op{"k"});
  g.run();
  g.advance_ms(5000);
  CHECK(g.gw().sessions().size() == 1);
  g.backend("disk").set_holding(false);
  g.backend("disk").release_held();
  g.run();
  REQUIRE(g.answer_of("held"));
  CHECK(g.answer_of("held")->status.ok());
}

TEST_CASE("every call is answered exactly once, even when the gateway stops "
          "with calls in hand") {
  auto answers_after_stop = [] {
    deterministic_gateway g{parse_config(two_namespaces)};
    g.backend("disk").set_holding(true);
    for (int i = 0; i < 4; ++i)
      g.submit("s" + std::to_string(i), "durable", model::get_op{"k"});
    g.run();
    g.gw().stop();
    g.run();
    return g.answers();
  };
  auto answers = answers_after_stop();
  REQUIRE(answers.size() == 4);
  for (auto& a : answers)
    CHECK(a.outcome.status.code == status_code::unavailable);
}

TEST_CASE("the same inputs give the same run") {
  auto run_once = [] {
    deterministic_gateway g{parse_config(two_namespaces)};
    g.backend("disk").set_holding(true);
    for (int i = 0; i < 20; ++i) {
      auto client = "client-" + std::to_string(i % 3);
      auto ns = i % 2 ? "cache" : "durable";
      g.submit("q" + std::to_string(i), ns,
               set("k" + std::to_string(i % 5), "v"), {}, client);
    }
    g.run();
    g.backend("disk").set_holding(false);
    g.backend("disk").release_held();
    g.run();
    std::vector<std::string> trace;
    for (auto& a : g.answers()) {
      auto line
        = a.request_id + ":" + std::string(to_string(a.outcome.status.code));
      if (a.outcome.status.ok())
        line += ":"
          + std::to_string(
                  std::get<model::set_result>(a.outcome.value).version);
      trace.push_back(line);
    }
    return trace;
  };
  auto first = run_once();
  CHECK(first.size() == 20);
  // The disk pool admits 4 (2 connections + 2 pending) of its 10 calls.
  CHECK(std::count_if(first.begin(), first.end(),
                      [](const std::string& line) {
                        return line.find("RESOURCE_EXHAUSTED")
                          != std::string::npos;
                      })
        == 6);
  CHECK(first == run_once());
}
