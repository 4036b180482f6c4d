// The actor inspector: its registry, counters, JSON renderers, killing a
// real actor, and the admin endpoints that serve it over HTTP.

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "admin/actor_json.hpp"
#include "admin/admin_server.hpp"
#include "runtime/actor_metrics.hpp"
#include "runtime/inspector.hpp"
#include "runtime/metrics_registry.hpp"

using namespace prism;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

using time_point = caf::actor_clock::time_point;

// A fixed origin on the actor clock: tests never read a clock for ages.
const time_point t0 = time_point{} + std::chrono::hours(1);
constexpr int64_t generated_at = 1'764'280'000'000;

/// A small supervision tree: 1 supervisor with children 2 (pool) and 3
/// (router); 4 is a connection under 2; 5 names a parent that is not
/// registered.
void register_tree(inspector& ins) {
  ins.register_actor(1, "supervisor", "root", 0, t0);
  ins.register_actor(2, "pool", "pool:mem", 1, t0 + 100ms);
  ins.register_actor(3, "router", "router", 1, t0 + 200ms);
  ins.register_actor(4, "connection", "mem#0", 2, t0 + 300ms);
  ins.register_actor(5, "session", "ipv4:127.0.0.1:5555", 99, t0 + 400ms);
}

const std::vector<std::string> actor_fields = {
  "id",
  "kind",
  "name",
  "parent",
  "state",
  "started_at_ms",
  "uptime_ms",
  "mailbox_depth",
  "mailbox_high_water",
  "mailbox_limit",
  "admitted",
  "rejected",
  "handled",
  "restarts",
  "last_failure",
};

void check_actor_shape(const json& a) {
  REQUIRE(a.is_object());
  for (auto& field : actor_fields) {
    INFO("field " << field);
    CHECK(a.contains(field));
  }
  CHECK(a["id"].is_number_unsigned());
  CHECK(a["parent"].is_number_unsigned());
  CHECK(a["kind"].is_string());
  CHECK(a["name"].is_string());
  CHECK(a["state"].is_string());
  CHECK(a["uptime_ms"].is_number_integer());
  CHECK(a["started_at_ms"].is_number_integer());
  for (auto field : {"mailbox_depth", "mailbox_high_water", "mailbox_limit",
                     "admitted", "rejected", "handled", "restarts"}) {
    INFO("field " << field);
    CHECK(a[field].is_number_unsigned());
  }
  CHECK((a["last_failure"].is_null() || a["last_failure"].is_object()));
}

/// Sends `request` as is over a plain socket and returns everything the
/// server answers until it closes (the request asks it to).
std::string raw_http(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::send(fd, request.data(), request.size(), 0)
          == static_cast<ssize_t>(request.size()));
  std::string answer;
  char buf[4096];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      break;
    answer.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return answer;
}

// --- a real actor that registers itself ---------------------------------------

struct worker_state {
  inspector_registration reg;
};

caf::behavior worker(caf::stateful_actor<worker_state>* self, inspector* ins,
                     uint64_t parent) {
  self->state.reg = ins->enroll_self(self, "connection", "worker", parent);
  // Trapping exits must not save it from a kill.
  self->set_exit_handler([](caf::exit_msg&) {});
  return {
    [self](int x) {
      self->state.reg->count_handled();
      return x;
    },
  };
}

/// Spawns a worker and waits until it has registered (it answers only once
/// its behavior factory ran).
caf::actor spawn_worker(caf::actor_system& sys, inspector& ins,
                        uint64_t parent = 0) {
  auto w = sys.spawn(worker, &ins, parent);
  caf::scoped_actor self{sys};
  bool answered = false;
  self->request(w, std::chrono::seconds(10), 7)
    .receive([&](int x) { answered = x == 7; },
             [&](caf::error& err) { FAIL(sys.render(err)); });
  REQUIRE(answered);
  return w;
}

/// Waits (up to 10 s, no sleeping) for `down` of `target`, which `self`
/// monitors; returns whether it ended with exit_reason::kill.
bool await_kill(caf::scoped_actor& self, const caf::actor& target) {
  bool killed = false;
  bool ended = false;
  self->receive(
    [&](caf::down_msg& down) {
      ended = down.source == target.address();
      killed = down.reason == caf::exit_reason::kill;
    },
    caf::after(std::chrono::seconds(10)) >> [] {});
  REQUIRE(ended);
  return killed;
}

} // namespace

// --- registry -------------------------------------------------------------------

TEST_CASE("actors register and deregister") {
  inspector ins;
  CHECK(ins.size() == 0);
  auto a = ins.register_actor(10, "pool", "pool:mem", 0, t0);
  auto b = ins.register_actor(11, "connection", "mem#0", 10, t0);
  CHECK(ins.size() == 2);
  CHECK(ins.find(10) == a);
  CHECK(ins.find(12) == nullptr);
  CHECK(a->state() == actor_state::running);

  ins.deregister(*a);
  CHECK(ins.size() == 1);
  CHECK(ins.find(10) == nullptr);
  ins.deregister(11);
  CHECK(ins.size() == 0);
  // Deregistering what is not there is harmless.
  ins.deregister(11);
  ins.deregister(*b);
  CHECK(ins.size() == 0);
}

TEST_CASE("a record sums its handlers' time and gives their quantiles and "
          "maximum") {
  inspector ins;
  auto r = ins.register_actor(10, "pool", "mem", 0, t0);
  auto empty = ins.snapshot(t0).front();
  CHECK(empty.busy_us == 0);
  CHECK(empty.handler_p50_us == 0);
  CHECK(empty.handler_max_us == 0);
  using std::chrono::microseconds;
  using std::chrono::nanoseconds;
  for (int i = 0; i < 50; ++i)
    r->record_work(nanoseconds(500));
  for (int i = 0; i < 49; ++i)
    r->record_work(microseconds(3));
  r->record_work(microseconds(100));
  auto info = ins.snapshot(t0).front();
  // Each duration stands for the work_sample_every messages it samples.
  CHECK(info.busy_us == (25 + 147 + 100) * actor_record::work_sample_every);
  // Half the messages took under 1 us (bucket 0), 99% under 4 us (the
  // bucket of [2, 4) us), the longest 100 us.
  CHECK(info.handler_p50_us == 1);
  CHECK(info.handler_p99_us == 4);
  CHECK(info.handler_max_us == 100);
  auto json = to_json(info, 0);
  CHECK(json["busy_us"] == 272 * actor_record::work_sample_every);
  CHECK(json["handler_us"]["p99"] == 4);
  CHECK(json["handler_us"]["max"] == 100);
  // A quantile is never above the longest duration.
  inspector one;
  auto q = one.register_actor(11, "router", "router", 0, t0);
  q->record_work(microseconds(5));
  auto single = one.snapshot(t0).front();
  CHECK(single.handler_p50_us == 5);
  CHECK(single.handler_max_us == 5);
}

TEST_CASE("handlers count every message and time one in work_sample_every") {
  inspector ins;
  auto reg = ins.enroll(20, "stage", "metrics", 0, t0, {});
  const auto n = 3 * actor_record::work_sample_every + 1;
  for (uint64_t i = 0; i < n; ++i)
    handling timed{reg};
  CHECK(reg->handled() == n);
  uint64_t timed = 0;
  for (auto c : reg->work_histogram())
    timed += c;
  // The 1st, the 9th, ...: four of 25.
  CHECK(timed == 4);
  // Without a registration nothing is counted, nothing breaks.
  inspector_registration none;
  handling untimed{none};
}

TEST_CASE("a newer registration under the same id survives the old one's "
          "deregistration") {
  inspector ins;
  auto old_record = ins.register_actor(7, "pool", "old", 0, t0);
  auto new_record = ins.register_actor(7, "pool", "new", 0, t0);
  CHECK(ins.size() == 1);
  ins.deregister(*old_record);
  REQUIRE(ins.find(7) == new_record);
  ins.deregister(*new_record);
  CHECK(ins.size() == 0);
}

TEST_CASE("a registration deregisters when it is destroyed, once") {
  inspector ins;
  {
    auto reg = ins.enroll(1, "stage", "metrics", 0, t0);
    REQUIRE(reg);
    CHECK(ins.size() == 1);
    reg->count_handled(3);
    CHECK(ins.find(1)->handled() == 3);
    // Moving hands the registration over: the moved-from one does nothing.
    inspector_registration moved = std::move(reg);
    CHECK_FALSE(reg);
    CHECK(ins.size() == 1);
    {
      inspector_registration sink;
      sink = std::move(moved);
      CHECK(ins.size() == 1);
    }
    CHECK(ins.size() == 0);
  }
  CHECK(ins.size() == 0);
  SECTION("reset deregisters early") {
    auto reg = ins.enroll(2, "stage", "audit", 0, t0);
    reg.reset();
    CHECK(ins.size() == 0);
    reg.reset();
  }
  SECTION("a registration may outlive its inspector") {
    inspector_registration survivor;
    {
      inspector short_lived;
      survivor = short_lived.enroll(3, "router", "router", 0, t0);
    }
    survivor->count_handled();
    survivor.reset();
  }
}

TEST_CASE("counters updated from several threads lose no increment") {
  inspector ins;
  auto rec = ins.register_actor(1, "session", "s", 0, t0);
  constexpr int threads = 4;
  constexpr int per_thread = 100000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        rec->count_admitted();
        rec->enqueued();
        rec->count_handled();
        rec->dequeued();
        if (i % 10 == 0)
          rec->count_rejected();
      }
    });
  // Snapshots taken meanwhile never block the counters.
  for (int i = 0; i < 100; ++i)
    (void)ins.snapshot(t0);
  for (auto& w : workers)
    w.join();
  CHECK(rec->admitted() == uint64_t{threads} * per_thread);
  CHECK(rec->handled() == uint64_t{threads} * per_thread);
  CHECK(rec->rejected() == uint64_t{threads} * (per_thread / 10));
  CHECK(rec->mailbox_depth() == 0);
  CHECK(rec->mailbox_high_water() >= 1);
  CHECK(rec->mailbox_high_water() <= uint64_t{threads});
}

TEST_CASE("mailbox depth follows its high-water mark and never goes "
          "negative") {
  inspector ins;
  auto rec = ins.register_actor(1, "pool", "p", 0, t0);
  rec->set_mailbox_limit(64);
  CHECK(rec->enqueued(5) == 5);
  rec->dequeued(2);
  CHECK(rec->mailbox_depth() == 3);
  CHECK(rec->mailbox_high_water() == 5);
  rec->dequeued(10);
  CHECK(rec->mailbox_depth() == 0);
  rec->set_mailbox_depth(9);
  CHECK(rec->mailbox_high_water() == 9);
  rec->set_mailbox_depth(1);
  CHECK(rec->mailbox_high_water() == 9);
  CHECK(rec->mailbox_limit() == 64);
}

TEST_CASE("a snapshot is plain data with ages against the given now") {
  inspector ins;
  register_tree(ins);
  auto pool = ins.find(2);
  pool->set_state(actor_state::restarting);
  pool->count_restart();
  pool->count_restart();
  pool->record_failure("connection mem#1 failed: disk full", t0 + 1000ms);
  auto snap = ins.snapshot(t0 + 2500ms);
  REQUIRE(snap.size() == 5);
  for (size_t i = 0; i < snap.size(); ++i)
    CHECK(snap[i].id == i + 1);
  auto& p = snap[1];
  CHECK(p.kind == "pool");
  CHECK(p.name == "pool:mem");
  CHECK(p.parent == 1);
  CHECK(p.state == "restarting");
  CHECK(p.uptime_ms == 2400);
  CHECK(p.restarts == 2);
  REQUIRE(p.last_failure);
  CHECK(p.last_failure->reason == "connection mem#1 failed: disk full");
  CHECK(p.last_failure->ago_ms == 1500);
  CHECK_FALSE(snap[0].last_failure);
  // A now before the start is an uptime of 0, not negative.
  CHECK(ins.snapshot(t0)[4].uptime_ms == 0);
}

// --- JSON -------------------------------------------------------------------------

TEST_CASE("the list renders every actor with fixed fields") {
  inspector ins;
  register_tree(ins);
  auto conn = ins.find(4);
  conn->set_mailbox_limit(100);
  conn->enqueued(3);
  conn->count_admitted(3);
  conn->count_rejected();
  conn->count_handled(2);
  conn->record_failure("driver error", t0 + 900ms);
  auto j = to_json_list(ins.snapshot(t0 + 1000ms), generated_at);
  CHECK(j["generated_at_ms"] == generated_at);
  CHECK(j["count"] == 5);
  REQUIRE(j["actors"].is_array());
  REQUIRE(j["actors"].size() == 5);
  for (auto& a : j["actors"])
    check_actor_shape(a);
  auto& c = j["actors"][3];
  CHECK(c["id"] == 4);
  CHECK(c["kind"] == "connection");
  CHECK(c["name"] == "mem#0");
  CHECK(c["parent"] == 2);
  CHECK(c["state"] == "running");
  CHECK(c["uptime_ms"] == 700);
  CHECK(c["started_at_ms"] == generated_at - 700);
  CHECK(c["mailbox_depth"] == 3);
  CHECK(c["mailbox_high_water"] == 3);
  CHECK(c["mailbox_limit"] == 100);
  CHECK(c["admitted"] == 3);
  CHECK(c["rejected"] == 1);
  CHECK(c["handled"] == 2);
  CHECK(c["restarts"] == 0);
  REQUIRE(c["last_failure"].is_object());
  CHECK(c["last_failure"]["reason"] == "driver error");
  CHECK(c["last_failure"]["ago_ms"] == 100);
  CHECK(c["last_failure"]["at_ms"] == generated_at - 100);
  CHECK(j["actors"][0]["last_failure"].is_null());
  CHECK(j["actors"][0]["parent"] == 0);
}

TEST_CASE("an empty registry renders empty lists, not nulls") {
  inspector ins;
  auto list = to_json_list(ins.snapshot(t0), generated_at);
  CHECK(list["actors"].is_array());
  CHECK(list["actors"].empty());
  CHECK(list["count"] == 0);
  auto tree = to_json_tree(ins.snapshot(t0), generated_at);
  CHECK(tree["actors"].is_array());
  CHECK(tree["actors"].empty());
}

TEST_CASE("the tree nests actors by parent") {
  inspector ins;
  register_tree(ins);
  auto j = to_json_tree(ins.snapshot(t0 + 1s), generated_at);
  CHECK(j["generated_at_ms"] == generated_at);
  CHECK(j["count"] == 5);
  auto& roots = j["actors"];
  REQUIRE(roots.size() == 2);
  // The supervisor, and the session whose parent (99) is not registered.
  CHECK(roots[0]["id"] == 1);
  CHECK(roots[1]["id"] == 5);
  CHECK(roots[1]["parent"] == 99);
  CHECK(roots[1]["children"].empty());
  auto& kids = roots[0]["children"];
  REQUIRE(kids.size() == 2);
  CHECK(kids[0]["id"] == 2);
  CHECK(kids[1]["id"] == 3);
  CHECK(kids[1]["children"].empty());
  REQUIRE(kids[0]["children"].size() == 1);
  auto& conn = kids[0]["children"][0];
  CHECK(conn["id"] == 4);
  CHECK(conn["children"].is_array());
  CHECK(conn["children"].empty());
  check_actor_shape(conn);
}

TEST_CASE("actors on a parent cycle still appear in the tree") {
  inspector ins;
  ins.register_actor(1, "supervisor", "a", 2, t0);
  ins.register_actor(2, "supervisor", "b", 1, t0);
  auto j = to_json_tree(ins.snapshot(t0), generated_at);
  REQUIRE(j["actors"].size() == 1);
  CHECK(j["actors"][0]["id"] == 1);
  REQUIRE(j["actors"][0]["children"].size() == 1);
  CHECK(j["actors"][0]["children"][0]["id"] == 2);
  CHECK(j["actors"][0]["children"][0]["children"].empty());
}

TEST_CASE("one actor renders with its children's ids") {
  inspector ins;
  register_tree(ins);
  auto snap = ins.snapshot(t0 + 1s);
  auto one = to_json_one(snap, 1, generated_at);
  REQUIRE(one);
  auto& j = *one;
  CHECK(j["generated_at_ms"] == generated_at);
  REQUIRE(j["actor"].is_object());
  check_actor_shape(j["actor"]);
  CHECK(j["actor"]["id"] == 1);
  CHECK(j["actor"]["kind"] == "supervisor");
  CHECK(j["actor"]["children"] == json::array({2, 3}));
  CHECK((*to_json_one(snap, 4, generated_at))["actor"]["children"]
        == json::array());
  CHECK_FALSE(to_json_one(snap, 42, generated_at));
}

// --- a real actor -----------------------------------------------------------------

TEST_CASE("kill ends a real actor, which deregisters as it ends") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  inspector ins;
  {
    auto w = spawn_worker(sys, ins, 0);
    auto rec = ins.find(w.id());
    REQUIRE(rec);
    CHECK(rec->kind() == "connection");
    CHECK(rec->handled() == 1);
    CHECK(rec->address() == w.address());

    caf::scoped_actor self{sys};
    self->monitor(w);
    CHECK_FALSE(ins.kill(w.id() + 100000, sys));
    REQUIRE(ins.kill(w.id(), sys));
    CHECK(await_kill(self, w));
    // Its state (and the registration in it) went with it.
    CHECK(ins.find(w.id()) == nullptr);
    CHECK(ins.size() == 0);
    CHECK_FALSE(ins.kill(w.id(), sys));
    // A record without an address cannot be killed.
    ins.register_actor(w.id() + 1, "connection", "no address", 0, t0);
    CHECK_FALSE(ins.kill(w.id() + 1, sys));
  }
}

// --- the admin endpoints ----------------------------------------------------------

TEST_CASE("the admin listener serves the inspector as JSON") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  inspector ins;
  // Fixed ids far above what the actor system hands out.
  ins.register_actor(1000001, "supervisor", "root", 0, sys.clock().now());
  ins.register_actor(1000002, "pool", "pool:mem", 1000001, sys.clock().now());
  ins.register_actor(1000003, "connection", "mem#0", 1000002,
                     sys.clock().now());
  admin::admin_hooks hooks;
  hooks.actors = &ins;
  hooks.system = &sys;
  admin::admin_server server{"127.0.0.1:0", hooks};
  REQUIRE(server.port() > 0);
  httplib::Client http{"127.0.0.1", server.port()};
  http.set_read_timeout(10, 0);

  auto get_json = [&](const std::string& path, int status) {
    auto res = http.Get(path.c_str());
    INFO("GET " << path);
    REQUIRE(res);
    CHECK(res->status == status);
    CHECK(res->get_header_value("Content-Type") == "application/json");
    return json::parse(res->body);
  };

  SECTION("GET / lists the new endpoints") {
    auto res = http.Get("/");
    REQUIRE(res);
    for (auto path : {"/debug/actors", "/debug/tree", "/debug/actors/{id}",
                      "/debug/actors/{id}/kill"}) {
      INFO(path);
      CHECK(res->body.find(path) != std::string::npos);
    }
    CHECK(res->body.find("POST  /debug/actors/{id}/kill") != std::string::npos);
  }

  SECTION("GET /debug/actors") {
    auto j = get_json("/debug/actors", 200);
    CHECK(j["generated_at_ms"].is_number_integer());
    CHECK(j["generated_at_ms"].get<int64_t>() > 1'600'000'000'000);
    CHECK(j["count"] == 3);
    REQUIRE(j["actors"].size() == 3);
    for (auto& a : j["actors"])
      check_actor_shape(a);
    CHECK(j["actors"][0]["id"] == 1000001);
    CHECK(j["actors"][2]["kind"] == "connection");
  }

  SECTION("GET /debug/tree") {
    auto j = get_json("/debug/tree", 200);
    REQUIRE(j["actors"].size() == 1);
    auto& root = j["actors"][0];
    CHECK(root["id"] == 1000001);
    REQUIRE(root["children"].size() == 1);
    CHECK(root["children"][0]["id"] == 1000002);
    REQUIRE(root["children"][0]["children"].size() == 1);
    CHECK(root["children"][0]["children"][0]["id"] == 1000003);
  }

  SECTION("a name that is not UTF-8 does not break the answer") {
    ins.register_actor(1000004, "session", "peer\xff", 1000001,
                       sys.clock().now());
    auto j = get_json("/debug/actors/1000004", 200);
    CHECK(j["actor"]["kind"] == "session");
  }

  SECTION("GET /debug/actors/{id}") {
    auto j = get_json("/debug/actors/1000002", 200);
    CHECK(j["actor"]["id"] == 1000002);
    CHECK(j["actor"]["name"] == "pool:mem");
    CHECK(j["actor"]["children"] == json::array({1000003}));
    auto missing = get_json("/debug/actors/42", 404);
    CHECK(missing["error"] == "not_found");
    CHECK(missing["id"] == 42);
    CHECK(missing["message"].get<std::string>().find("42")
          != std::string::npos);
    auto bad = get_json("/debug/actors/abc", 400);
    CHECK(bad["error"] == "bad_request");
    CHECK(bad["message"].get<std::string>().find("abc") != std::string::npos);
    get_json("/debug/actors/-1", 400);
    get_json("/debug/actors/99999999999999999999999", 400);
  }

  SECTION("POST /debug/actors/{id}/kill kills a real actor") {
    auto w = spawn_worker(sys, ins, 1000001);
    caf::scoped_actor self{sys};
    self->monitor(w);
    auto path = "/debug/actors/" + std::to_string(w.id()) + "/kill";
    // As `curl -X POST URL` sends it: no body, no Content-Length.
    auto answer = raw_http(server.port(),
                           "POST " + path
                             + " HTTP/1.1\r\nHost: test\r\n"
                               "Connection: close\r\n\r\n");
    INFO(answer);
    REQUIRE(answer.rfind("HTTP/1.1 202 ", 0) == 0);
    auto body_at = answer.find("\r\n\r\n");
    REQUIRE(body_at != std::string::npos);
    auto j = json::parse(answer.substr(body_at + 4));
    CHECK(j["actor"]["id"] == w.id());
    CHECK(j["actor"]["parent"] == 1000001);
    check_actor_shape(j["actor"]);
    CHECK(await_kill(self, w));
    CHECK(ins.find(w.id()) == nullptr);
    // Gone now: 404.
    auto again = http.Post(path.c_str(), "", "application/json");
    REQUIRE(again);
    CHECK(again->status == 404);
    auto unknown = http.Post("/debug/actors/42/kill", "{}", "application/json");
    REQUIRE(unknown);
    CHECK(unknown->status == 404);
    CHECK(json::parse(unknown->body)["id"] == 42);
    auto bad = http.Post("/debug/actors/x/kill", "", "application/json");
    REQUIRE(bad);
    CHECK(bad->status == 400);
  }

  SECTION("the kill endpoint takes POST only") {
    auto res = http.Get("/debug/actors/1000002/kill");
    REQUIRE(res);
    CHECK(res->status == 405);
    CHECK(res->get_header_value("Allow") == "POST");
    auto j = json::parse(res->body);
    CHECK(j["error"] == "method_not_allowed");
    CHECK(j["allow"] == json::array({"POST"}));
    CHECK(j["message"].get<std::string>().find("POST") != std::string::npos);
    CHECK(ins.size() == 3);
    auto del = http.Delete("/debug/actors/1000002/kill");
    REQUIRE(del);
    CHECK(del->status == 405);
    // And the read-only endpoints take GET only.
    auto post = http.Post("/debug/actors", "{}", "application/json");
    REQUIRE(post);
    CHECK(post->status == 405);
    CHECK(post->get_header_value("Allow") == "GET");
    auto bare = raw_http(server.port(),
                         "POST /debug/tree HTTP/1.1\r\nHost: "
                         "test\r\nConnection: close\r\n\r\n");
    CHECK(bare.rfind("HTTP/1.1 405 ", 0) == 0);
    auto options = raw_http(server.port(),
                            "OPTIONS /debug/tree HTTP/1.1\r\nHost: "
                            "test\r\nConnection: close\r\n\r\n");
    CHECK(options.rfind("HTTP/1.1 405 ", 0) == 0);
    CHECK(options.find("Allow: GET") != std::string::npos);
  }
}

TEST_CASE("without an inspector the /debug endpoints answer 503") {
  admin::admin_server server{"127.0.0.1:0", admin::admin_hooks{}};
  httplib::Client http{"127.0.0.1", server.port()};
  for (auto path : {"/debug/actors", "/debug/tree", "/debug/actors/1"}) {
    auto res = http.Get(path);
    INFO(path);
    REQUIRE(res);
    CHECK(res->status == 503);
    CHECK(json::parse(res->body)["error"] == "unavailable");
  }
  auto health = http.Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
}

TEST_CASE("the live actors as Prometheus gauges: per kind, per supervisor "
          "and per pubsub namespace") {
  auto info = [](std::string kind, std::string name, uint64_t depth,
                 uint64_t high, uint64_t admitted, uint64_t rejected,
                 uint64_t restarts) {
    actor_info a;
    a.kind = std::move(kind);
    a.name = std::move(name);
    a.mailbox_depth = depth;
    a.mailbox_high_water = high;
    a.admitted = admitted;
    a.rejected = rejected;
    a.restarts = restarts;
    return a;
  };
  std::vector<actor_info> actors{
    info("session", "a", 2, 5, 10, 1, 0),
    info("session", "b", 1, 9, 20, 0, 0),
    info("supervisor", "pool:disk", 0, 0, 0, 0, 3),
    info("subscription", "events/orders", 4, 16, 100, 7, 0),
    info("subscription", "events/orders/workers", 1, 8, 50, 0, 0),
    info("subscription", "audit.log/x", 0, 1, 5, 0, 0),
  };
  auto text = render_prometheus(actor_metrics(actors));
  CHECK_THAT(text, Catch::Contains("prism_actors{kind=\"session\"} 2\n"));
  CHECK_THAT(
    text, Catch::Contains("prism_actor_mailbox_depth{kind=\"session\"} 3\n"));
  CHECK_THAT(
    text,
    Catch::Contains("prism_actor_mailbox_high_water{kind=\"session\"} 9\n"));
  CHECK_THAT(text,
             Catch::Contains("prism_actor_admitted{kind=\"session\"} 30\n"));
  CHECK_THAT(
    text, Catch::Contains("prism_actor_rejected{kind=\"subscription\"} 7\n"));
  CHECK_THAT(
    text,
    Catch::Contains("prism_supervisor_restarts{supervisor=\"pool:disk\"} 3\n"));
  CHECK_THAT(text,
             Catch::Contains("prism_pubsub_streams{namespace=\"events\"} 2\n"));
  CHECK_THAT(
    text,
    Catch::Contains("prism_pubsub_delivered{namespace=\"events\"} 150\n"));
  CHECK_THAT(text,
             Catch::Contains("prism_pubsub_dropped{namespace=\"events\"} 7\n"));
  CHECK_THAT(
    text, Catch::Contains("prism_pubsub_buffered{namespace=\"events\"} 5\n"));
  CHECK_THAT(
    text, Catch::Contains("prism_pubsub_streams{namespace=\"audit.log\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE prism_pubsub_dropped gauge\n"));
}
