// The slow log: calls past the threshold are recorded with their time per
// hop, on virtual time, so every figure is exact.

#include <algorithm>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "admin/admin_routes.hpp"

#include "runtime/slow_log.hpp"
#include "simulation/deterministic_gateway.hpp"

using namespace prism;
using namespace prism::simulation;

namespace {

const char* config_yaml = "backends:\n"
                          "  disk: {type: sqlite, path: x.db, connections: 1}\n"
                          "namespaces:\n"
                          "  kv:\n"
                          "    backend: disk\n"
                          "    middleware: [metrics]\n"
                          "    rate_limit: {rate: 1000000}\n";

int64_t hop_us(const slow_entry& e, const std::string& name) {
  auto i = std::find_if(e.hops.begin(), e.hops.end(),
                        [&](const slow_hop& h) { return h.name == name; });
  REQUIRE(i != e.hops.end());
  return i->us;
}

/// Runs the gateway until `id` is answered, moving virtual time.
void wait_answer(deterministic_gateway& g, const std::string& id) {
  for (int i = 0; i < 100 && g.answer_of(id) == nullptr; ++i) {
    g.run();
    if (g.answer_of(id))
      break;
    auto next = g.next_timer_in_ms();
    REQUIRE(next);
    g.advance_ms(std::max<int64_t>(*next, 1));
  }
  REQUIRE(g.answer_of(id) != nullptr);
}

} // namespace

TEST_CASE("a call past the threshold is recorded with its time per hop") {
  deterministic_gateway g(parse_config(config_yaml));
  auto& log = g.gw().slow_calls();
  CHECK(log.threshold() == std::chrono::milliseconds(10));
  // Fast calls leave nothing.
  REQUIRE(g.call("kv", model::set_op{"k", "v", 0, {}}).status.ok());
  CHECK(log.latest(10).empty());

  g.backend("disk").set_latency(25);
  g.submit("slow-1", "kv", model::get_op{"k"}, 1000, "client-9", "alice");
  wait_answer(g, "slow-1");
  auto entries = log.latest(10);
  REQUIRE(entries.size() == 1);
  auto& e = entries.front();
  CHECK(e.request_id == "slow-1");
  CHECK(e.ns == "kv");
  CHECK(e.operation == "Get");
  CHECK(e.peer == "client-9");
  CHECK(e.principal == "alice");
  CHECK(e.code == status_code::ok);
  CHECK(e.total_us == 25000);
  std::vector<std::string> names;
  for (auto& h : e.hops)
    names.push_back(h.name);
  CHECK(names
        == std::vector<std::string>{"session", "stage:rate_limit", "router",
                                    "pool wait:disk", "backend:disk", "reply"});
  CHECK(hop_us(e, "backend:disk") == 25000);
  int64_t sum = 0;
  for (auto& h : e.hops)
    sum += h.us;
  CHECK(sum == e.total_us);
  CHECK(log.recorded() == 1);
}

TEST_CASE("the slow log keeps the newest entries, newest first, and its "
          "threshold and reset apply at once") {
  deterministic_gateway g(parse_config(config_yaml));
  auto& log = g.gw().slow_calls();
  log.set_threshold(std::chrono::microseconds(0));
  for (int i = 0; i < 130; ++i)
    REQUIRE(g.call("kv", model::set_op{"k" + std::to_string(i), "v", 0, {}})
              .status.ok());
  auto all = log.latest(1000);
  REQUIRE(all.size() == log.capacity());
  CHECK(log.recorded() == 130);
  CHECK(all.front().id == 130);
  CHECK(all.back().id == 130 - log.capacity() + 1);
  CHECK(log.latest(3).size() == 3);
  log.reset();
  CHECK(log.latest(10).empty());
  log.set_threshold(std::chrono::milliseconds(50));
  g.backend("disk").set_latency(40);
  g.submit("under", "kv", model::get_op{"k1"}, 1000);
  wait_answer(g, "under");
  CHECK(log.latest(10).empty());
  CHECK(log.recorded() == 130);
}

TEST_CASE("the admin listener serves the slow log, resets it and sets its "
          "threshold, mutations for admins only") {
  deterministic_gateway g(parse_config(config_yaml));
  admin::admin_hooks hooks;
  hooks.slow = &g.gw().slow_calls();
  hooks.system = &g.system();
  bool admin = false;
  hooks.admin_allowed = [&](const std::string&) {
    return admin;
  };
  auto route = [&](const char* method, const std::string& path) {
    auto a = admin::route(hooks, {method, path, ""});
    REQUIRE(a);
    return *a;
  };
  CHECK(route("POST", "/debug/slowlog/threshold/0").status == 403);
  admin = true;
  auto set = route("POST", "/debug/slowlog/threshold/0");
  CHECK(set.status == 200);
  CHECK(nlohmann::json::parse(set.body)["threshold_ms"] == 0);
  REQUIRE(g.call("kv", model::set_op{"k", "v", 0, {}}).status.ok());
  g.advance_ms(7);
  auto got = route("GET", "/debug/slowlog");
  REQUIRE(got.status == 200);
  auto body = nlohmann::json::parse(got.body);
  CHECK(body["count"] == 1);
  CHECK(body["recorded"] == 1);
  CHECK(body["capacity"] == 128);
  auto& e = body["entries"][0];
  CHECK(e["operation"] == "Set");
  CHECK(e["namespace"] == "kv");
  CHECK(e["code"] == "OK");
  CHECK(e["ago_ms"] == 7);
  CHECK(e["hops"].size() == 6);
  CHECK(e["hops"][0]["name"] == "session");
  for (auto bad : {"abc", "-1", "3600001", "1.5"}) {
    auto r = route("POST", std::string("/debug/slowlog/threshold/") + bad);
    INFO(bad);
    CHECK(r.status == 400);
    CHECK(r.body.find("whole number of milliseconds") != std::string::npos);
  }
  CHECK(route("POST", "/debug/slowlog/threshold/250").status == 200);
  CHECK(g.gw().slow_calls().threshold() == std::chrono::milliseconds(250));
  auto reset = route("POST", "/debug/slowlog/reset");
  CHECK(reset.status == 200);
  CHECK(nlohmann::json::parse(route("GET", "/debug/slowlog").body)["count"]
        == 0);
  CHECK(route("GET", "/debug/slowlog/reset").status == 405);
  admin::admin_hooks none;
  auto missing = admin::route(none, {"GET", "/debug/slowlog", ""});
  REQUIRE(missing);
  CHECK(missing->status == 503);
}
