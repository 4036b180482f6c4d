// The gateway's actors register with the inspector: the tree the admin
// endpoints show is the real one, and killing an actor through it is
// contained. Runs on CAF's real scheduler with the memory driver.

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "drivers/factory.hpp"
#include "gateway/gateway.hpp"
#include "runtime/inspector.hpp"

using namespace prism;
using namespace std::chrono_literals;

namespace {

class null_audit final : public audit_sink {
public:
  void write(std::string) override {}
};

class promised final : public call_completion {
public:
  explicit promised(std::promise<model::outcome>& p) : p_(p) {}
  void complete(model::outcome&& o) override { p_.set_value(std::move(o)); }

private:
  std::promise<model::outcome>& p_;
};

model::outcome call(gateway& gw, caf::actor_system& sys, model::operation op) {
  std::promise<model::outcome> p;
  auto f = p.get_future();
  request_context rc;
  rc.request_id = "r";
  rc.ns = "cache";
  rc.peer = "test-client";
  rc.deadline = sys.clock().now() + 10s;
  gw.sessions().dispatch(
    "test-client", make_call(rc, std::move(op), std::make_unique<promised>(p)));
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  return f.get();
}

config::gateway_config two_connection_config() {
  auto loaded = config::parse(R"(
backends:
  mem: {type: memory, connections: 2}
namespaces:
  cache: {backend: mem}
)",
                              "test.yaml");
  REQUIRE(loaded.ok());
  return *loaded.config;
}

/// Waits until `pred(snapshot)` holds.
template <class Pred>
bool eventually(inspector& actors, caf::actor_system& sys, Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred(actors.snapshot(sys.clock().now())))
      return true;
    std::this_thread::yield();
  }
  return false;
}

} // namespace

TEST_CASE("every actor of the pipeline registers with its kind and parent") {
  inspector actors;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  gateway gw{sys, two_connection_config(),
             drivers::make_real_driver_factory(drivers::system_wall_clock()),
             std::make_shared<null_audit>(), &actors};
  REQUIRE(gw.wait_started(std::chrono::seconds(30)));
  REQUIRE(call(gw, sys, model::set_op{"k", "v", 0, {}}).status.ok());

  // An actor registers when it first runs; the rate-limit stage, which no
  // call visits here, may not have run yet on a busy machine.
  auto stages_listed = [&] {
    auto l = actors.snapshot(sys.clock().now());
    return std::count_if(l.begin(), l.end(),
                         [](const auto& a) { return a.kind == "stage"; });
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (stages_listed() < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));

  auto list = actors.snapshot(sys.clock().now());
  std::map<std::string, int> kinds;
  // Supervisors by name, and every actor's parent by "kind:name".
  std::map<std::string, uint64_t> supervisors;
  std::map<std::string, uint64_t> parent_of;
  uint64_t pool_id = 0;
  for (auto& a : list) {
    ++kinds[a.kind];
    parent_of[a.kind + ":" + a.name] = a.parent;
    if (a.kind == "pool")
      pool_id = a.id;
    if (a.kind == "supervisor")
      supervisors[a.name] = a.id;
  }
  // metrics, audit, and rate_limit (which runs so that a reload can add a
  // limit).
  CHECK(kinds["stage"] == 3);
  CHECK(kinds["router"] == 1);
  CHECK(kinds["pool"] == 1);
  // gateway (root), middleware, backends, and the pool's own.
  CHECK(kinds["supervisor"] == 4);
  CHECK(kinds["connection"] == 2);
  CHECK(kinds["session"] == 1);
  REQUIRE(supervisors.count("gateway") == 1);
  REQUIRE(supervisors.count("middleware") == 1);
  REQUIRE(supervisors.count("backends") == 1);
  REQUIRE(supervisors.count("pool:mem") == 1);
  CHECK(parent_of["supervisor:gateway"] == 0);
  CHECK(parent_of["supervisor:middleware"] == supervisors["gateway"]);
  CHECK(parent_of["supervisor:backends"] == supervisors["gateway"]);
  CHECK(parent_of["router:router"] == supervisors["gateway"]);
  CHECK(parent_of["stage:metrics"] == supervisors["middleware"]);
  CHECK(parent_of["stage:audit"] == supervisors["middleware"]);
  CHECK(parent_of["pool:mem"] == supervisors["backends"]);
  CHECK(parent_of["supervisor:pool:mem"] == pool_id);
  for (auto& a : list) {
    if (a.kind == "connection")
      CHECK(a.parent == supervisors["pool:mem"]);
    if (a.kind == "session")
      CHECK(a.handled >= 2); // the request and its reply
  }
  gw.stop();
}

TEST_CASE("a killed connection is restarted by its pool's supervisor, and "
          "the pool serves on meanwhile") {
  inspector actors;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  gateway gw{sys, two_connection_config(),
             drivers::make_real_driver_factory(drivers::system_wall_clock()),
             std::make_shared<null_audit>(), &actors};
  REQUIRE(gw.wait_started(std::chrono::seconds(30)));
  REQUIRE(call(gw, sys, model::set_op{"k", "v", 0, {}}).status.ok());
  uint64_t victim = 0;
  for (auto& a : actors.snapshot(sys.clock().now()))
    if (a.kind == "connection" && a.name == "mem#0")
      victim = a.id;
  REQUIRE(victim != 0);
  REQUIRE(actors.kill(victim, sys));
  REQUIRE(eventually(actors, sys, [&](const auto& list) {
    for (auto& a : list) {
      if (a.id == victim)
        return false;
      if (a.kind == "pool" && a.last_failure)
        return true;
    }
    return false;
  }));
  for (int i = 0; i < 10; ++i) {
    auto got = call(gw, sys, model::get_op{"k"});
    REQUIRE(got.status.ok());
    CHECK(std::get<model::get_result>(got.value).value == "v");
  }
  // After the backoff (100 ms by default) a new incarnation registers.
  REQUIRE(eventually(actors, sys, [&](const auto& list) {
    for (auto& a : list)
      if (a.kind == "connection" && a.name == "mem#0" && a.id != victim)
        return a.restarts == 1;
    return false;
  }));
  gw.stop();
}

TEST_CASE("once wait_started returns, the first call reaches its backend "
          "(the router knows every pool)") {
  // The pools start under a supervisor of their own, after the router may
  // have: each start must be known to the router before the gateway counts
  // as started. Repeated to give the race a chance.
  for (int round = 0; round < 20; ++round) {
    INFO("round " << round);
    caf::actor_system_config cfg;
    caf::actor_system sys{cfg};
    gateway gw{sys, two_connection_config(),
               drivers::make_real_driver_factory(drivers::system_wall_clock()),
               std::make_shared<null_audit>()};
    REQUIRE(gw.wait_started(std::chrono::seconds(30)));
    auto out = call(gw, sys, model::set_op{"k", "v", 0, {}});
    INFO(to_string(out.status.code) << ": " << out.status.message);
    CHECK(out.status.ok());
    gw.stop();
  }
}
