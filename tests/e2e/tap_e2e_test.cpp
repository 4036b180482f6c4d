// Taps and follows on the real `prism serve` under real calls: a tap on the
// router sees each call and stops at its maximum; a tap on a connection's
// label sees the connection's successor after a kill; a follow records the
// call a client sent with its own request id, hop by hop.
//
// Every wait polls the admin API for a condition until a deadline.

#include <chrono>
#include <set>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "admin_view.hpp"
#include "gateway_process.hpp"

using namespace prism::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr auto condition_timeout = 10s;

json answer_json(const http_response& r) {
  auto body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  REQUIRE(body.is_object());
  return body;
}

/// POST /debug/trace/{target}?QUERY: the new tap's answer (201).
json start_tap(gateway_process& gw, const std::string& target_and_query) {
  auto r = http_post(gw.admin_port(), "/debug/trace/" + target_and_query);
  INFO("POST /debug/trace/" << target_and_query << " -> " << r.status << " "
                            << r.body);
  REQUIRE(r.status == 201);
  return answer_json(r);
}

json read_tap(gateway_process& gw, uint64_t tap, uint64_t after = 0) {
  auto path
    = "/debug/trace/" + std::to_string(tap) + "?after=" + std::to_string(after);
  auto r = http_get(gw.admin_port(), path);
  INFO("GET " << path << " -> " << r.status << " " << r.body);
  REQUIRE(r.status == 200);
  return answer_json(r);
}

uint64_t actor_id(gateway_process& gw, const std::string& kind,
                  const std::string& name) {
  auto a = find_actor(actor_list(gw), kind, name);
  REQUIRE(!a.is_null());
  return a["id"].get<uint64_t>();
}

} // namespace

TEST_CASE("a tap on the router sees each call and stops at its maximum") {
  gateway_process gw;
  gw.start();
  kv_client kv(gw.channel());
  auto router = actor_id(gw, "router", "router");
  auto started = start_tap(gw, "router?max=5&for_ms=60000");
  CHECK(started["actors"] == json::array({router}));
  CHECK(started["max"] == 5);
  CHECK(started["state"] == "running");
  auto tap = started["tap"].get<uint64_t>();
  for (int i = 0; i < 8; ++i)
    REQUIRE(kv.set("cache", "k" + std::to_string(i), "v").ok());
  json seen;
  REQUIRE(eventually(
    [&] {
      seen = read_tap(gw, tap);
      return seen["state"] == "stopped";
    },
    condition_timeout));
  INFO(seen.dump());
  CHECK(seen["stopped_by"] == "max");
  CHECK(seen["dropped"] == 0);
  REQUIRE(seen["events"].size() == 5);
  for (auto& e : seen["events"]) {
    CHECK(e["actor"] == router);
    CHECK(e["label"] == "router:router");
    CHECK(e["message"].get<std::string>().find(" cache Set)")
          != std::string::npos);
    CHECK(e["handler_us"].get<int64_t>() >= 0);
    CHECK(e["at_ms"].get<int64_t>() <= seen["generated_at_ms"].get<int64_t>());
  }
  // Reading after the last seq gives nothing more.
  CHECK(read_tap(gw, tap, 5)["events"].empty());
  // Limits are checked.
  auto too_many = http_post(gw.admin_port(), "/debug/trace/router?max=10001");
  CHECK(too_many.status == 400);
  CHECK(too_many.body.find("10000") != std::string::npos);
  gw.stop();
}

TEST_CASE("a tap on a connection's label sees its successor after a kill, "
          "and stops on request") {
  gateway_process gw;
  gw.start();
  kv_client kv(gw.channel());
  REQUIRE(kv.set("cache", "k", "v").ok());
  auto victim = actor_id(gw, "connection", "mem#0");
  auto started = start_tap(gw, "connection:mem%230?max=1000&for_ms=60000");
  CHECK(started["actors"] == json::array({victim}));
  auto tap = started["tap"].get<uint64_t>();
  auto kill = http_post(gw.admin_port(),
                        "/debug/actors/" + std::to_string(victim) + "/kill");
  REQUIRE(kill.status == 202);
  uint64_t successor = 0;
  REQUIRE(eventually(
    [&] {
      auto a = find_actor(actor_list(gw), "connection", "mem#0");
      if (a.is_null() || a["id"].get<uint64_t>() == victim)
        return false;
      successor = a["id"].get<uint64_t>();
      return true;
    },
    condition_timeout));
  json seen;
  REQUIRE(eventually(
    [&] {
      REQUIRE(kv.get("cache", "k").ok());
      seen = read_tap(gw, tap);
      for (auto& e : seen["events"])
        if (e["actor"] == successor)
          return true;
      return false;
    },
    condition_timeout));
  INFO(seen.dump());
  CHECK(seen["state"] == "running");
  CHECK(seen["actors"] == json::array({victim, successor}));
  auto stop = http_post(gw.admin_port(),
                        "/debug/trace/" + std::to_string(tap) + "/stop");
  REQUIRE(stop.status == 200);
  auto stopped = answer_json(stop);
  CHECK(stopped["state"] == "stopped");
  CHECK(stopped["stopped_by"] == "cancelled");
  gw.stop();
}

TEST_CASE("a follow records the call a client sent with its request id, hop "
          "by hop") {
  gateway_process gw;
  gw.start();
  auto unknown = http_get(gw.admin_port(), "/debug/follow/e2e-follow-1");
  CHECK(unknown.status == 404);
  CHECK(unknown.body.find("POST /debug/follow/e2e-follow-1 first")
        != std::string::npos);
  auto armed = http_post(gw.admin_port(), "/debug/follow/e2e-follow-1");
  CHECK(armed.status == 202);
  auto waiting = http_get(gw.admin_port(), "/debug/follow/e2e-follow-1");
  CHECK(waiting.status == 202);
  CHECK(answer_json(waiting)["state"] == "waiting");

  kv_client kv(gw.channel());
  kv.set_request_id("e2e-follow-1");
  REQUIRE(kv.set("default", "k", "v").ok());
  json done;
  REQUIRE(eventually(
    [&] {
      auto r = http_get(gw.admin_port(), "/debug/follow/e2e-follow-1");
      if (r.status != 200)
        return false;
      done = answer_json(r);
      return true;
    },
    condition_timeout));
  INFO(done.dump());
  CHECK(done["state"] == "done");
  CHECK(done["request_id"] == "e2e-follow-1");
  CHECK(done["call"]["namespace"] == "default");
  CHECK(done["call"]["operation"] == "Set");
  CHECK(done["call"]["code"] == "OK");
  std::set<std::string> labels;
  int64_t previous_offset = -1;
  for (auto& e : done["events"]) {
    if (e["label"].is_string())
      labels.insert(e["label"].get<std::string>());
    CHECK(e["offset_us"].get<int64_t>() >= previous_offset);
    previous_offset = e["offset_us"].get<int64_t>();
  }
  CHECK(labels.count("router:router") == 1);
  CHECK(labels.count("pool:local") == 1);
  bool connection = false;
  for (auto& l : labels)
    connection = connection || l.rfind("connection:local#", 0) == 0;
  CHECK(connection);
  CHECK(done["events"].back()["what"] == "answered OK");
  gw.stop();
}
