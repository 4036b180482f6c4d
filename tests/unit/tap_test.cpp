// Taps and follows: a tap's limits (its maximum of events, its duration, its
// ring), the successor a tap on a label takes after a restart, and a
// follow's record of one call, on a whole gateway in virtual time (CAF's
// test coordinator), so every stop is exact.

#include <algorithm>
#include <set>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "admin/admin_routes.hpp"

#include "runtime/inspector.hpp"
#include "runtime/slow_log.hpp"
#include "runtime/tap.hpp"
#include "simulation/deterministic_gateway.hpp"

using namespace prism;
using namespace prism::simulation;
using json = nlohmann::json;

namespace {

const char* config_yaml = "backends:\n"
                          "  disk: {type: sqlite, path: x.db, connections: 1}\n"
                          "namespaces:\n"
                          "  kv:\n"
                          "    backend: disk\n"
                          "    middleware: [metrics]\n"
                          "    rate_limit: {rate: 1000000}\n";

std::chrono::milliseconds ms(int64_t n) {
  return std::chrono::milliseconds(n);
}

/// The admin routing over `g`'s inspector and slow log, every request an
/// admin's.
struct admin_over {
  explicit admin_over(deterministic_gateway& g) {
    hooks.actors = &g.actors();
    hooks.slow = &g.gw().slow_calls();
    hooks.system = &g.system();
  }

  admin::admin_answer operator()(const char* method, const std::string& path,
                                 std::map<std::string, std::string> query
                                 = {}) const {
    auto a = admin::route(hooks, {method, path, "", std::move(query)});
    REQUIRE(a);
    return *a;
  }

  admin::admin_hooks hooks;
};

void set_key(deterministic_gateway& g, int i) {
  REQUIRE(g.call("kv", model::set_op{"k" + std::to_string(i), "v", 0, {}})
            .status.ok());
}

uint64_t id_of(inspector& actors, caf::actor_clock::time_point now,
               const std::string& kind, const std::string& name) {
  for (auto& a : actors.snapshot(now))
    if (a.kind == kind && a.name == name)
      return a.id;
  return 0;
}

struct echo_state {
  inspector_registration registration;
};

/// Takes any string and does nothing with it, its handler guarded.
caf::behavior echo(caf::stateful_actor<echo_state>* self, inspector* actors) {
  self->state.registration = actors->enroll_self(self, "echo", "e");
  return {
    [=](const std::string&) { handling timed{self->state.registration}; },
  };
}

} // namespace

TEST_CASE("a tapped actor's message is described by CAF's text, cut at its "
          "limit") {
  caf::actor_system_config cfg;
  cfg.set("scheduler.policy", caf::atom("testing"));
  caf::actor_system sys{cfg};
  auto& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  inspector actors;
  auto e = sys.spawn(echo, &actors);
  sched.run();
  auto start = actors.start_tap(*tap_target::parse("echo:e"), 10, ms(60000),
                                sys.clock().now());
  REQUIRE(start.refused == tap_board::refusal::none);
  caf::anon_send(e, std::string("short"));
  caf::anon_send(e, std::string(500, 'x'));
  sched.run();
  auto view = actors.taps().read(start.tap.tap, 0, sys.clock().now());
  REQUIRE(view);
  REQUIRE(view->events.size() == 2);
  CHECK(view->events[0].message == "(\"short\")");
  CHECK(view->events[0].at == sys.clock().now());
  auto& cut = view->events[1].message;
  CHECK(cut.size() == tap_board::message_bytes_max);
  CHECK(cut.rfind("(\"xxx", 0) == 0);
  CHECK(cut.substr(cut.size() - 3) == "...");
  caf::anon_send_exit(e, caf::exit_reason::kill);
  sched.run();
  // A tap on a label waits for a successor, then ends.
  sched.advance_time(tap_board::successor_wait - ms(1));
  CHECK(actors.taps().read(start.tap.tap, 0, sys.clock().now())->stopped_by
        == tap_stop::none);
  sched.advance_time(ms(1));
  CHECK(actors.taps().read(start.tap.tap, 0, sys.clock().now())->stopped_by
        == tap_stop::actors_ended);
}

TEST_CASE("a tap on the router takes each call it routes and stops at its "
          "maximum") {
  deterministic_gateway g(parse_config(config_yaml));
  auto start = g.actors().start_tap(*tap_target::parse("router"), 3, ms(10000),
                                    g.system().clock().now());
  REQUIRE(start.refused == tap_board::refusal::none);
  REQUIRE(start.tap.actors.size() == 1);
  for (int i = 0; i < 5; ++i)
    set_key(g, i);
  auto view
    = g.actors().taps().read(start.tap.tap, 0, g.system().clock().now());
  REQUIRE(view);
  CHECK(view->stopped_by == tap_stop::max);
  REQUIRE(view->events.size() == 3);
  CHECK(view->dropped == 0);
  for (size_t i = 0; i < 3; ++i) {
    auto& e = view->events[i];
    CHECK(e.seq == i + 1);
    CHECK(e.actor == start.tap.actors.front());
    CHECK(e.label == "router:router");
    // CAF's text of (request, call): the call shows its request id,
    // namespace and operation.
    CHECK(e.message.rfind("('request', call(", 0) == 0);
    CHECK(e.message.find(" kv Set))") != std::string::npos);
    CHECK(e.message.size() <= tap_board::message_bytes_max);
  }
  // A stopped tap leaves its actor: the guard is back to one load.
  auto router = g.actors().find(start.tap.actors.front());
  REQUIRE(router);
  CHECK_FALSE(router->tapped());
  // Reading after the last seq gives nothing new.
  auto again
    = g.actors().taps().read(start.tap.tap, 3, g.system().clock().now());
  REQUIRE(again);
  CHECK(again->events.empty());
}

TEST_CASE("a tap stops when its duration passes, and takes nothing after") {
  deterministic_gateway g(parse_config(config_yaml));
  auto& taps = g.actors().taps();
  auto start = g.actors().start_tap(*tap_target::parse("pool"), 1000, ms(50),
                                    g.system().clock().now());
  REQUIRE(start.refused == tap_board::refusal::none);
  set_key(g, 1);
  auto running = taps.read(start.tap.tap, 0, g.system().clock().now());
  REQUIRE(running);
  CHECK(running->stopped_by == tap_stop::none);
  auto seen = running->events.size();
  CHECK(seen >= 1);
  g.advance_ms(49);
  CHECK(taps.read(start.tap.tap, 0, g.system().clock().now())->stopped_by
        == tap_stop::none);
  g.advance_ms(1);
  auto stopped = taps.read(start.tap.tap, 0, g.system().clock().now());
  REQUIRE(stopped);
  CHECK(stopped->stopped_by == tap_stop::time);
  set_key(g, 2);
  auto after = taps.read(start.tap.tap, 0, g.system().clock().now());
  REQUIRE(after);
  CHECK(after->events.size() == stopped->events.size());
  CHECK(after->stopped_by == tap_stop::time);
  // Kept for its reader for a minute, then forgotten.
  g.advance_ms(tap_board::kept_after_stop.count() - 1);
  CHECK(taps.read(start.tap.tap, 0, g.system().clock().now()));
  g.advance_ms(1);
  CHECK_FALSE(taps.read(start.tap.tap, 0, g.system().clock().now()));
}

TEST_CASE("events that leave the ring before a reader saw them are counted "
          "as dropped") {
  inspector actors;
  auto now = caf::actor_clock::clock_type::now();
  auto registration = actors.enroll(5, "worker", "w", 0, now);
  auto start = actors.start_tap(*tap_target::parse("5"), 5000, ms(600000), now);
  REQUIRE(start.refused == tap_board::refusal::none);
  auto handle = [&](size_t n) {
    for (size_t i = 0; i < n; ++i)
      handling timed{registration};
  };
  handle(100);
  // A reader takes the first 100: those are not lost when overwritten.
  auto first = actors.taps().read(start.tap.tap, 0, now);
  REQUIRE(first);
  CHECK(first->events.size() == 100);
  handle(tap_board::ring_events_max + 50);
  auto later = actors.taps().read(start.tap.tap, 100, now);
  REQUIRE(later);
  CHECK(later->dropped == 50);
  REQUIRE(later->events.size() == tap_board::ring_events_max);
  CHECK(later->events.front().seq == 151);
  CHECK(later->events.back().seq == tap_board::ring_events_max + 150);
  CHECK(registration->handled() == tap_board::ring_events_max + 150);
}

TEST_CASE("a tap on an id ends with its actor, one on a label takes the "
          "actor's successor after a restart") {
  deterministic_gateway g(parse_config(config_yaml));
  auto now = [&] {
    return g.system().clock().now();
  };
  set_key(g, 0);
  auto victim = id_of(g.actors(), now(), "connection", "disk#0");
  REQUIRE(victim != 0);
  auto by_label = g.actors().start_tap(*tap_target::parse("connection:disk#0"),
                                       1000, ms(600000), now());
  auto by_id = g.actors().start_tap(*tap_target::parse(std::to_string(victim)),
                                    1000, ms(600000), now());
  REQUIRE(by_label.refused == tap_board::refusal::none);
  REQUIRE(by_id.refused == tap_board::refusal::none);
  CHECK(by_label.tap.actors == std::vector<uint64_t>{victim});
  REQUIRE(g.actors().kill(victim, g.system()));
  // The supervisor restarts it after its backoff.
  uint64_t successor = 0;
  for (int i = 0; i < 50 && successor == 0; ++i) {
    g.advance_ms(50);
    auto id = id_of(g.actors(), now(), "connection", "disk#0");
    if (id != victim)
      successor = id;
  }
  REQUIRE(successor != 0);
  set_key(g, 1);
  auto label_view = g.actors().taps().read(by_label.tap.tap, 0, now());
  REQUIRE(label_view);
  CHECK(label_view->stopped_by == tap_stop::none);
  CHECK(label_view->actors == std::vector<uint64_t>{victim, successor});
  REQUIRE_FALSE(label_view->events.empty());
  CHECK(label_view->events.back().actor == successor);
  auto id_view = g.actors().taps().read(by_id.tap.tap, 0, now());
  REQUIRE(id_view);
  CHECK(id_view->stopped_by == tap_stop::actors_ended);
  for (auto& e : id_view->events)
    CHECK(e.actor == victim);
}

TEST_CASE("the trace endpoints check their limits, refuse a fifth tap and "
          "stop one on request") {
  deterministic_gateway g(parse_config(config_yaml));
  admin_over route(g);
  auto bad_max = route("POST", "/debug/trace/router", {{"max", "10001"}});
  CHECK(bad_max.status == 400);
  CHECK(json::parse(bad_max.body)["message"].get<std::string>().find(
          "from 1 to 10000")
        != std::string::npos);
  auto bad_time = route("POST", "/debug/trace/router", {{"for_ms", "600001"}});
  CHECK(bad_time.status == 400);
  CHECK(json::parse(bad_time.body)["limit"] == 600000);
  CHECK(route("POST", "/debug/trace/router", {{"maxx", "1"}}).status == 400);
  auto nothing = route("POST", "/debug/trace/nosuchthing");
  CHECK(nothing.status == 400);
  CHECK(json::parse(nothing.body)["message"].get<std::string>().find(
          "no live actor matches \"nosuchthing\"")
        != std::string::npos);

  std::vector<uint64_t> taps;
  for (int i = 0; i < 4; ++i) {
    auto started = route("POST", "/debug/trace/router",
                         {{"max", "10"}, {"for_ms", "60000"}});
    REQUIRE(started.status == 201);
    auto body = json::parse(started.body);
    CHECK(body["state"] == "running");
    CHECK(body["max"] == 10);
    CHECK(body["for_ms"] == 60000);
    taps.push_back(body["tap"].get<uint64_t>());
  }
  auto fifth = route("POST", "/debug/trace/router");
  CHECK(fifth.status == 409);
  CHECK(json::parse(fifth.body)["message"].get<std::string>().find(
          "4 taps run already")
        != std::string::npos);

  set_key(g, 1);
  auto read = route("GET", "/debug/trace/" + std::to_string(taps[0]));
  REQUIRE(read.status == 200);
  auto body = json::parse(read.body);
  REQUIRE(body["events"].size() >= 1);
  CHECK(body["events"][0]["label"] == "router:router");
  CHECK(body["events"][0]["at_ms"].get<int64_t>()
        <= body["generated_at_ms"].get<int64_t>());
  CHECK(body["stopped_by"].is_null());

  auto stop
    = route("POST", "/debug/trace/" + std::to_string(taps[0]) + "/stop");
  REQUIRE(stop.status == 200);
  CHECK(json::parse(stop.body)["stopped_by"] == "cancelled");
  CHECK(json::parse(stop.body)["state"] == "stopped");
  // Its place is free again.
  CHECK(route("POST", "/debug/trace/router").status == 201);
  CHECK(route("GET", "/debug/trace/999").status == 404);
  CHECK(route("GET", "/debug/trace/x").status == 400);
  CHECK(route("PUT", "/debug/trace/1").status == 405);
  CHECK(route("PUT", "/debug/trace/1").allow == "POST, GET");

  route.hooks.admin_allowed = [](const std::string&) {
    return false;
  };
  CHECK(route("POST", "/debug/trace/router").status == 403);
  CHECK(route("POST", "/debug/trace/1/stop").status == 403);
  CHECK(route("POST", "/debug/follow/x").status == 403);
  CHECK(route("GET", "/debug/trace/1").status == 200);
}

TEST_CASE("a follow records the next call with its request id, hop by hop, "
          "whatever its time") {
  deterministic_gateway g(parse_config(config_yaml));
  admin_over route(g);
  auto unknown = route("GET", "/debug/follow/f-1");
  CHECK(unknown.status == 404);
  CHECK(json::parse(unknown.body)["message"].get<std::string>().find(
          "POST /debug/follow/f-1 first")
        != std::string::npos);
  auto armed = route("POST", "/debug/follow/f-1");
  CHECK(armed.status == 202);
  auto waiting = route("GET", "/debug/follow/f-1");
  CHECK(waiting.status == 202);
  CHECK(json::parse(waiting.body)["state"] == "waiting");

  g.backend("disk").set_latency(3);
  g.submit("f-1", "kv", model::get_op{"k"}, 1000);
  for (int i = 0; i < 20 && !g.answer_of("f-1"); ++i)
    g.advance_ms(1);
  REQUIRE(g.answer_of("f-1"));
  // Under the slow log's threshold: only the follow has it.
  CHECK(g.gw().slow_calls().latest(10).empty());
  auto done = route("GET", "/debug/follow/f-1");
  REQUIRE(done.status == 200);
  auto body = json::parse(done.body);
  CHECK(body["state"] == "done");
  CHECK(body["source"] == "follow");
  CHECK(body["call"]["namespace"] == "kv");
  CHECK(body["call"]["operation"] == "Get");
  CHECK(body["call"]["total_us"] == 3000);
  std::vector<std::string> what;
  std::vector<std::string> labels;
  for (auto& e : body["events"]) {
    what.push_back(e["what"]);
    labels.push_back(e["label"].is_null() ? "?"
                                          : e["label"].get<std::string>());
  }
  CHECK(what
        == std::vector<std::string>{"session", "stage:rate_limit", "router",
                                    "pool wait:disk", "backend:disk", "reply",
                                    "answered OK"});
  CHECK(labels[0].rfind("session:", 0) == 0);
  CHECK(labels[2] == "router:router");
  CHECK(labels[3] == "pool:disk");
  CHECK(labels[4] == "connection:disk#0");
  CHECK(body["events"][6]["offset_us"] == 3000);

  // The next call with the same id is not recorded unless armed again.
  g.backend("disk").set_latency(7);
  auto answered = g.answers().size();
  g.submit("f-1", "kv", model::get_op{"k"}, 1000);
  for (int i = 0; i < 50 && g.answers().size() == answered; ++i)
    g.advance_ms(1);
  REQUIRE(g.answers().size() == answered + 1);
  CHECK(json::parse(route("GET", "/debug/follow/f-1").body)["call"]["total_us"]
        == 3000);
  // Forgotten after follow_kept.
  g.advance_ms(slow_log::follow_kept.count());
  auto forgotten = route("GET", "/debug/follow/f-1");
  INFO(forgotten.body);
  CHECK(forgotten.status == 404);
}

TEST_CASE("a call in the slow log can be followed without arming, and "
          "follows are bounded") {
  deterministic_gateway g(parse_config(config_yaml));
  admin_over route(g);
  g.gw().slow_calls().set_threshold(std::chrono::microseconds(0));
  g.submit("s-1", "kv", model::get_op{"k"}, 1000);
  g.run();
  REQUIRE(g.answer_of("s-1"));
  auto got = route("GET", "/debug/follow/s-1");
  REQUIRE(got.status == 200);
  auto body = json::parse(got.body);
  CHECK(body["source"] == "slowlog");
  CHECK(body["events"].size() == 7);
  // The router lives on: its label comes from the inspector.
  CHECK(body["events"][2]["label"] == "router:router");

  auto& log = g.gw().slow_calls();
  auto now = g.system().clock().now();
  for (size_t i = 0; i <= slow_log::follows_max; ++i)
    log.follow("many-" + std::to_string(i), now);
  CHECK_FALSE(log.followed("many-0", now));
  CHECK(log.followed("many-1", now));
  CHECK(log.followed("many-" + std::to_string(slow_log::follows_max), now));
}
