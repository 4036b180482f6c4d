// The admin listener's routing without a socket: which endpoint a method
// and path reach, the 405 of a known path with another method, and the
// paths the listener hands to the routing at all.

#include <catch2/catch.hpp>

#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin/admin_routes.hpp"
#include "runtime/inspector.hpp"

using namespace prism;
using admin::admin_request;
using nlohmann::json;

namespace {

admin::admin_answer answer(const admin::admin_hooks& hooks, admin_request req) {
  auto routed = admin::route(hooks, req);
  INFO(req.method << " " << req.path);
  REQUIRE(routed);
  return *routed;
}

} // namespace

TEST_CASE("admin routing: each endpoint answers its method, HEAD as GET") {
  admin::admin_hooks hooks;
  bool ready = false;
  hooks.ready = [&] {
    return ready;
  };
  hooks.metrics = [] {
    return std::string{"prism_up 1\n"};
  };

  auto healthz = answer(hooks, {"GET", "/healthz", ""});
  CHECK(healthz.status == 200);
  CHECK(healthz.body == "ok\n");
  CHECK(healthz.content_type == "text/plain");
  CHECK(answer(hooks, {"HEAD", "/readyz", ""}).status == 503);
  ready = true;
  CHECK(answer(hooks, {"GET", "/readyz", ""}).status == 200);
  auto metrics = answer(hooks, {"GET", "/metrics", ""});
  CHECK(metrics.body == "prism_up 1\n");
  CHECK(metrics.content_type == "text/plain; version=0.0.4");

  auto index = answer(hooks, {"GET", "/", ""});
  for (auto path :
       {"/healthz", "/readyz", "/metrics", "/debug/actors", "/debug/tree",
        "/debug/actors/{id}", "/debug/actors/{id}/kill", "/admin/reload"})
    CHECK(index.body.find(path) != std::string::npos);
  CHECK(answer(hooks, {"HEAD", "/", ""}).status == 200);
}

TEST_CASE("admin routing: another method on a known path is 405 naming the "
          "one to use") {
  admin::admin_hooks hooks;
  auto wrong = answer(hooks, {"GET", "/debug/actors/7/kill", ""});
  CHECK(wrong.status == 405);
  CHECK(wrong.allow == "POST");
  auto body = json::parse(wrong.body);
  CHECK(body["error"] == "method_not_allowed");
  CHECK(body["message"]
        == "GET is not allowed on /debug/actors/{id}/kill: use POST "
           "/debug/actors/7/kill");
  CHECK(body["allow"] == json::array({"POST"}));
  for (auto method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    auto a = answer(hooks, {method, "/healthz", ""});
    CHECK(a.status == 405);
    CHECK(a.allow == "GET");
  }
  CHECK(answer(hooks, {"HEAD", "/admin/reload", ""}).status == 405);
}

TEST_CASE("admin routing: paths no endpoint has are not answered") {
  admin::admin_hooks hooks;
  for (auto path : {"/nothing", "/healthz/", "//healthz", "/debug/actors/",
                    "/debug/actors//kill", "/debug/actors/1/2",
                    "/debug/actors/1/kill/now", "", "healthz"}) {
    INFO(path);
    CHECK_FALSE(admin::route(hooks, {"GET", path, ""}));
  }
  // The index is GET's only.
  CHECK_FALSE(admin::route(hooks, {"POST", "/", ""}));
}

TEST_CASE("admin routing: the listener's pattern is exactly the routed paths") {
  admin::admin_hooks hooks;
  const std::regex pattern{admin::routed_paths_pattern()};
  const std::vector<std::string> paths
    = {"/healthz",
       "/readyz",
       "/metrics",
       "/debug/actors",
       "/debug/tree",
       "/debug/actors/12",
       "/debug/actors/abc",
       "/debug/actors/\n",
       std::string("/debug/actors/\0/kill", 20),
       "/debug/actors/9/kill",
       "/admin/reload",
       "/nothing",
       "/healthzz",
       "/debug/actors//kill",
       "/debug/actors/1/2",
       "/debug/tree/1",
       "/admin/reload/"};
  for (const auto& path : paths) {
    INFO(path);
    CHECK(std::regex_match(path, pattern)
          == admin::route(hooks, {"GET", path, ""}).has_value());
  }
}

TEST_CASE("admin routing: the inspector's actors by id, and ids that are "
          "not numbers") {
  inspector actors;
  auto now = caf::actor_clock::clock_type::now();
  actors.register_actor(1, "supervisor", "gateway", 0, now);
  actors.register_actor(7, "pool", "mem", 1, now);
  admin::admin_hooks hooks;
  CHECK(answer(hooks, {"GET", "/debug/actors/7", ""}).status == 503);
  hooks.actors = &actors;

  auto one = answer(hooks, {"GET", "/debug/actors/7", ""});
  CHECK(one.status == 200);
  CHECK(one.content_type == "application/json");
  CHECK(json::parse(one.body)["actor"]["name"] == "mem");
  CHECK(answer(hooks, {"GET", "/debug/actors/8", ""}).status == 404);
  for (auto id : {"x", "7x", "-7", "+7", "18446744073709551616", " 7"}) {
    auto bad = answer(hooks, {"GET", std::string{"/debug/actors/"} + id, ""});
    INFO(id);
    CHECK(bad.status == 400);
    CHECK(json::parse(bad.body)["error"] == "bad_request");
  }
  auto tree = json::parse(answer(hooks, {"GET", "/debug/tree", ""}).body);
  CHECK(tree["actors"][0]["children"][0]["id"] == 7);
}

TEST_CASE("admin routing: the mutating endpoints need an admin's token") {
  admin::admin_hooks hooks;
  hooks.admin_allowed = [](const std::string& authorization) {
    return authorization == "Bearer root";
  };
  int reloads = 0;
  hooks.reload = [&] {
    ++reloads;
    return admin::reload_outcome{false, "config OK", {"server.listen changed"}};
  };
  CHECK(answer(hooks, {"POST", "/admin/reload", ""}).status == 403);
  CHECK(answer(hooks, {"POST", "/admin/reload", "Bearer other"}).status == 403);
  CHECK(reloads == 0);
  auto refused = answer(hooks, {"POST", "/admin/reload", "Bearer root"});
  CHECK(reloads == 1);
  CHECK(refused.status == 422);
  CHECK(json::parse(refused.body)["problems"]
        == json::array({"server.listen changed"}));
  CHECK(answer(hooks, {"POST", "/debug/actors/1/kill", ""}).status == 403);
  // Allowed, but no inspector is wired in.
  CHECK(answer(hooks, {"POST", "/debug/actors/1/kill", "Bearer root"}).status
        == 503);
}
