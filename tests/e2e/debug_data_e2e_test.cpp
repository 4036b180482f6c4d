// The debug console's gateway data from the real `prism serve` (memory and
// SQLite backends, token auth): the pools', namespaces' and clients'
// counters move under real calls; a backend whose circuit opens shows in
// /debug/pools and /debug/warnings; /debug/config holds no token; a log
// level set through /debug/log/level changes what the gateway logs.
//
// Every wait polls a condition until a deadline; nothing sleeps.

#include <chrono>
#include <cstdint>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "admin_view.hpp"
#include "gateway_process.hpp"

using namespace prism::test;
using namespace std::chrono_literals;
using grpc::StatusCode;
using nlohmann::json;

namespace {

constexpr auto condition_timeout = 10s;

template <class Probe>
bool eventually(Probe probe) {
  return prism::test::eventually(probe, condition_timeout);
}

// The tokens, and their SHA-256 as the config lists them.
const std::string writer_token = "writer-token";
const std::string writer_hash
  = "3590c0a59f72ce02700194a05f228a725c1f135a6dcb3ded9b2d86ab6a6f52cb";
const std::string root_token = "admin-token";
const std::string root_hash
  = "10a4c7c9fc5206d6f36dc6944a81bb6f4a3cb0e25014ae3b12e6c3e52712292a";

/// `local` gives up after its second connection failure within a minute and
/// probes again only after a minute: its circuit stays open for the test.
std::string debug_config() {
  return R"(audit:
  path: {dir}/audit.log
auth:
  mode: token
  tokens:
    writer: )"
    + writer_hash + R"(
    root: )"
    + root_hash + R"(
  admins: [root]
backends:
  mem: {type: memory}
  local:
    type: sqlite
    path: {dir}/prism.db
    connections: 2
    synchronous: full
    supervision:
      max_restarts: 1
      period_ms: 60000
      backoff: {min_ms: 10, max_ms: 100, jitter: 0.0}
    circuit: {probe_after_ms: 60000, probe_max_ms: 60000}
namespaces:
  cache: {backend: mem, access: {read: [writer], write: [writer]}}
  default: {backend: local, access: {read: [writer], write: [writer]}}
)";
}

/// GET `path` on the admin listener: 200 and a JSON object with
/// generated_at_ms, or the test fails.
json debug_json(gateway_process& gw, const std::string& path) {
  auto r = http_get(gw.admin_port(), path);
  INFO("GET " << path << " -> " << r.status << " " << r.body);
  REQUIRE(r.status == 200);
  auto parsed = json::parse(r.body, nullptr, false);
  REQUIRE(parsed.is_object());
  REQUIRE(parsed["generated_at_ms"].is_number_integer());
  return parsed;
}

/// The element of `list` whose `field` is `value`, or null.
json find_by(const json& list, const std::string& field, const json& value) {
  for (auto& e : list)
    if (e[field] == value)
      return e;
  return nullptr;
}

json pool_of(gateway_process& gw, const std::string& backend) {
  return find_by(debug_json(gw, "/debug/pools")["pools"], "backend", backend);
}

json namespace_of(gateway_process& gw, const std::string& name) {
  return find_by(debug_json(gw, "/debug/namespaces")["namespaces"], "name",
                 name);
}

uint64_t code_count(const json& ns, const std::string& code) {
  return ns["by_code"].contains(code) ? ns["by_code"][code].get<uint64_t>() : 0;
}

http_response post_as(gateway_process& gw, const std::string& path,
                      const std::string& token) {
  return http_request(gw.admin_port(), "POST", path, "", 5s,
                      {{"Authorization", "Bearer " + token}});
}

/// Kills an actor through the admin listener (with the admin's token).
void kill_as_root(gateway_process& gw, uint64_t id) {
  auto path = "/debug/actors/" + std::to_string(id) + "/kill";
  auto r = post_as(gw, path, root_token);
  INFO("POST " << path << " -> " << r.status << " " << r.body);
  REQUIRE(r.status == 202);
}

/// Waits until connection `name` is listed with another id than `gone`;
/// returns it.
json wait_for_restart(gateway_process& gw, const std::string& name,
                      uint64_t gone) {
  json found;
  bool back = eventually([&] {
    found = find_actor(actor_list(gw), "connection", name);
    return !found.is_null() && found["id"].get<uint64_t>() != gone;
  });
  INFO("connection " << name << " last seen as " << found.dump()
                     << "\ngateway log:\n"
                     << gw.log_tail());
  REQUIRE(back);
  return found;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos;
       at = text.find(what, at + what.size()))
    ++n;
  return n;
}

} // namespace

TEST_CASE("Debug data: pools, namespaces and clients count real calls",
          "[e2e][debug]") {
  gateway_process gw{debug_config()};
  gw.start();
  auto local_before = pool_of(gw, "local");
  auto mem_before = pool_of(gw, "mem");
  REQUIRE_FALSE(local_before.is_null());
  REQUIRE_FALSE(mem_before.is_null());
  CHECK(local_before["driver"] == "sqlite");
  CHECK(local_before["size"] == 2);
  CHECK(local_before["circuit"] == "closed");
  CHECK(local_before["circuit_since_ms"].is_null());
  CHECK(mem_before["driver"] == "memory");
  auto pool_actor = find_actor(actor_list(gw), "pool", "local");
  REQUIRE_FALSE(pool_actor.is_null());
  CHECK(local_before["actor"] == pool_actor["id"]);

  kv_client kv{gw.channel()};
  kv.set_token(writer_token);
  constexpr uint64_t writes = 20;
  constexpr uint64_t reads = 10;
  constexpr uint64_t cache_writes = 5;
  for (uint64_t i = 0; i < writes; ++i)
    REQUIRE(kv.set("default", "k" + std::to_string(i), "v").ok());
  for (uint64_t i = 0; i < reads; ++i)
    REQUIRE(kv.get("default", "k" + std::to_string(i)).ok());
  for (uint64_t i = 0; i < cache_writes; ++i)
    REQUIRE(kv.set("cache", "c" + std::to_string(i), "v").ok());
  // Refused (the writer has no right on a namespace nobody configured),
  // counted under _unknown all the same.
  CHECK_FALSE(kv.get("nowhere", "k").ok());

  // The connections count a call as they answer it.
  auto local = pool_of(gw, "local");
  CHECK(local["served"].get<uint64_t>()
        >= local_before["served"].get<uint64_t>() + writes + reads);
  CHECK(local["errors"] == local_before["errors"]);
  CHECK(pool_of(gw, "mem")["served"].get<uint64_t>()
        >= mem_before["served"].get<uint64_t>() + cache_writes);
  CHECK(local["waiting"] == 0);
  CHECK(local["max_wait_ms"] == 0);
  CHECK(local["active"].get<uint64_t>() + local["idle"].get<uint64_t>()
          + local["down"].get<uint64_t>()
        == 2);

  // The metrics stage hears of outcomes after the client has its answer.
  json def;
  bool counted = eventually([&] {
    def = namespace_of(gw, "default");
    return !def.is_null() && code_count(def, "OK") >= writes + reads;
  });
  INFO("default last seen as " << def.dump());
  REQUIRE(counted);
  CHECK(def["backend"] == "local");
  CHECK(def["api"] == "keyvalue");
  CHECK(def["requests"].get<uint64_t>() >= writes + reads);
  for (auto reason : {"rate_limit", "mailbox_full", "window_full", "queue_full",
                      "circuit_open", "deadline", "audit_backlog"})
    CHECK(def["rejections"].contains(reason));
  auto buckets = def["latency_buckets_us"];
  REQUIRE(buckets.size() > 2);
  CHECK(buckets.back()[0].is_null());
  CHECK(buckets.back()[1] == def["requests"]);
  CHECK(def["p50_ms"].get<double>() > 0);
  CHECK(def["p99_ms"].get<double>() >= def["p50_ms"].get<double>());
  CHECK(eventually([&] {
    auto u = namespace_of(gw, "_unknown");
    return !u.is_null() && u["requests"].get<uint64_t>() >= 1;
  }));

  // One channel, one connection, one session: the writer's.
  auto clients = debug_json(gw, "/debug/clients")["clients"];
  auto mine = find_by(clients, "principal", "writer");
  INFO("clients: " << clients.dump());
  REQUIRE_FALSE(mine.is_null());
  CHECK(mine["calls"].get<uint64_t>() == writes + reads + cache_writes + 1);
  CHECK(mine["in_flight"] == 0);
  CHECK(mine["streams"] == 0);
  CHECK(mine["peer"].get<std::string>().rfind("ipv4:127.0.0.1:", 0) == 0);
  auto session = find_by(actor_list(gw), "id", mine["actor"]);
  REQUIRE_FALSE(session.is_null());
  CHECK(session["kind"] == "session");
  CHECK(mine["started_at_ms"].get<int64_t>()
        <= debug_json(gw, "/debug/clients")["generated_at_ms"].get<int64_t>());

  auto stats = debug_json(gw, "/debug/stats");
  CHECK(stats["pid"] == gw.pid());
  CHECK(stats["rss_bytes"].get<uint64_t>() > 1024 * 1024);
  CHECK(stats["threads"].get<uint64_t>() > 1);
  CHECK(stats["sessions"].get<uint64_t>() >= 1);
  CHECK(stats["actors"].get<uint64_t>() > 5);
  CHECK(stats["requests_in_flight"] == 0);
  CHECK(stats["uptime_ms"].get<int64_t>() > 0);
  CHECK(stats["config_path"] == gw.config_path());
  CHECK(stats["listen"] == "127.0.0.1:" + std::to_string(gw.grpc_port()));
  CHECK(stats["admin"] == "127.0.0.1:" + std::to_string(gw.admin_port()));
  CHECK_FALSE(stats["version"].get<std::string>().empty());
}

TEST_CASE("Debug data: an open circuit shows in the pools and the warnings",
          "[e2e][debug]") {
  gateway_process gw{debug_config()};
  gw.start();
  kv_client kv{gw.channel()};
  kv.set_token(writer_token);
  REQUIRE(kv.set("default", "before", "v").ok());
  CHECK(find_by(debug_json(gw, "/debug/warnings")["warnings"], "kind",
                "circuit_open")
          .is_null());

  // Two connection failures within a minute: the supervisor gives up.
  auto first = find_actor(actor_list(gw), "connection", "local#0");
  REQUIRE_FALSE(first.is_null());
  kill_as_root(gw, first["id"].get<uint64_t>());
  auto second = wait_for_restart(gw, "local#0", first["id"].get<uint64_t>());
  CHECK(pool_of(gw, "local")["reconnects"].get<uint64_t>() >= 1);
  kill_as_root(gw, second["id"].get<uint64_t>());

  json pool;
  bool opened = eventually([&] {
    pool = pool_of(gw, "local");
    return pool["circuit"] == "open";
  });
  INFO("pool last seen as " << pool.dump() << "\ngateway log:\n"
                            << gw.log_tail());
  REQUIRE(opened);
  CHECK(pool["circuit_since_ms"].is_number_integer());
  CHECK(pool["idle"] == 0);
  CHECK(pool["active"] == 0);
  CHECK(pool["down"] == 2);

  auto errors_before = pool["errors"].get<uint64_t>();
  auto refused = kv.set("default", "while-open", "never applied");
  CHECK(refused.status.error_code() == StatusCode::UNAVAILABLE);
  CHECK(pool_of(gw, "local")["errors"].get<uint64_t>() == errors_before + 1);

  auto warnings = debug_json(gw, "/debug/warnings")["warnings"];
  INFO("warnings: " << warnings.dump(2));
  auto circuit = find_by(warnings, "kind", "circuit_open");
  REQUIRE_FALSE(circuit.is_null());
  CHECK(circuit["severity"] == "error");
  CHECK(circuit["subject"] == "pool:local");
  CHECK(circuit["actor"] == pool["actor"]);
  CHECK(circuit["since_ms"].is_number_integer());
  CHECK_THAT(circuit["message"].get<std::string>(),
             Catch::Contains("backend \"local\""));
  CHECK(find_by(warnings, "subject", "pool:mem").is_null());
}

TEST_CASE("Debug data: the config without its tokens", "[e2e][debug]") {
  gateway_process gw{debug_config()};
  gw.start();
  auto r = http_get(gw.admin_port(), "/debug/config");
  REQUIRE(r.status == 200);
  for (auto& secret : {writer_hash, root_hash, writer_token, root_token})
    CHECK(r.body.find(secret) == std::string::npos);
  auto body = json::parse(r.body);
  auto cfg = body["config"];
  CHECK(cfg["auth"]["mode"] == "token");
  CHECK(cfg["auth"]["tokens"]
        == json{{"root", "<redacted>"}, {"writer", "<redacted>"}});
  CHECK(cfg["auth"]["admins"] == json::array({"root"}));
  CHECK(cfg["backends"]["local"]["sqlite"]["path"] == gw.dir() + "/prism.db");
  CHECK(cfg["backends"]["local"]["supervision"]["max_restarts"] == 1);
  CHECK(cfg["namespaces"]["default"]["backend"] == "local");
  // Defaults show too: the effective config.
  CHECK(cfg["backends"]["mem"]["max_pending"].get<uint64_t>() > 0);
}

TEST_CASE("Debug data: a log level set through the admin listener takes "
          "effect at once",
          "[e2e][debug]") {
  gateway_process gw{debug_config()};
  gw.start();
  CHECK(debug_json(gw, "/debug/log")["level"] == "info");
  CHECK(http_post(gw.admin_port(), "/debug/log/level/critical").status == 403);
  CHECK(post_as(gw, "/debug/log/level/critical", writer_token).status == 403);
  auto bad = post_as(gw, "/debug/log/level/chatty", root_token);
  CHECK(bad.status == 400);
  CHECK_THAT(bad.body, Catch::Contains("chatty"));
  auto set = post_as(gw, "/debug/log/level/critical", root_token);
  REQUIRE(set.status == 200);
  CHECK(json::parse(set.body)["level"] == "critical");
  CHECK(debug_json(gw, "/debug/log")["level"] == "critical");

  // A connection's restart logs a warning from its supervisor: not at
  // critical...
  const std::string stopped = "child \"mem#0\" stopped";
  auto first = find_actor(actor_list(gw), "connection", "mem#0");
  REQUIRE_FALSE(first.is_null());
  kill_as_root(gw, first["id"].get<uint64_t>());
  auto second = wait_for_restart(gw, "mem#0", first["id"].get<uint64_t>());
  CHECK(occurrences(read_file(gw.log_path()), stopped) == 0);

  // ... and again once the level is back to warn.
  REQUIRE(post_as(gw, "/debug/log/level/warn", root_token).status == 200);
  CHECK(debug_json(gw, "/debug/log")["level"] == "warn");
  kill_as_root(gw, second["id"].get<uint64_t>());
  wait_for_restart(gw, "mem#0", second["id"].get<uint64_t>());
  CHECK(eventually(
    [&] { return occurrences(read_file(gw.log_path()), stopped) == 1; }));
}
