#include "admin_view.hpp"

#include <catch2/catch.hpp>

namespace prism::test {

nlohmann::json admin_json(gateway_process& gw, const std::string& path) {
  auto r = http_get(gw.admin_port(), path);
  INFO("GET " << path << " -> " << r.status << " " << r.body);
  REQUIRE(r.status == 200);
  auto parsed = nlohmann::json::parse(r.body, nullptr, false);
  REQUIRE(parsed.is_object());
  REQUIRE(parsed.contains("actors"));
  return parsed;
}

nlohmann::json actor_list(gateway_process& gw) {
  return admin_json(gw, "/debug/actors")["actors"];
}

nlohmann::json find_actor(const nlohmann::json& actors,
                          const std::string& kind, const std::string& name) {
  for (const auto& a : actors)
    if (a["kind"] == kind && a["name"] == name)
      return a;
  return nullptr;
}

std::string pool_state(gateway_process& gw, const std::string& backend) {
  auto pool = find_actor(actor_list(gw), "pool", backend);
  return pool.is_null() ? "(not listed)" : pool["state"].get<std::string>();
}

} // namespace prism::test
