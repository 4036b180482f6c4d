// The debug console's gateway data without a gateway: the routing and JSON
// of GET /debug/pools, /debug/namespaces, /debug/clients, /debug/warnings,
// /debug/config, /debug/log and /debug/stats over fake hooks; a pool's
// figures; and a supervisor carrying a crashed child's reason onto its
// restart (CAF's test coordinator, virtual time).

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <nlohmann/json.hpp>
#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "admin/admin_routes.hpp"
#include "admin/debug_data.hpp"
#include "config/config.hpp"
#include "runtime/inspector.hpp"
#include "runtime/metrics_registry.hpp"
#include "runtime/supervisor.hpp"

using namespace prism;
using namespace std::chrono_literals;
using admin::admin_request;
using nlohmann::json;

namespace {

admin::admin_answer answer(const admin::admin_hooks& hooks, admin_request req) {
  auto routed = admin::route(hooks, req);
  INFO(req.method << " " << req.path);
  REQUIRE(routed);
  return *routed;
}

json get_json(const admin::admin_hooks& hooks, const std::string& path,
              int status = 200) {
  auto a = answer(hooks, {"GET", path, ""});
  INFO(a.body);
  CHECK(a.status == status);
  CHECK(a.content_type == "application/json");
  auto body = json::parse(a.body);
  if (status == 200)
    CHECK(body["generated_at_ms"].is_number_integer());
  return body;
}

pool_report sample_pool() {
  pool_report p;
  p.backend = "disk";
  p.driver = "sqlite";
  p.actor = 12;
  p.size = 4;
  p.active = 1;
  p.idle = 2;
  p.down = 1;
  p.waiting = 3;
  p.max_pending = 1024;
  p.max_wait_ms = 40;
  p.served = 500;
  p.errors = 7;
  p.reconnects = 2;
  p.circuit = "closed";
  return p;
}

} // namespace

// --- the endpoints over fake hooks -------------------------------------------

TEST_CASE("debug data: each endpoint answers 503 while its hook is unset") {
  admin::admin_hooks hooks;
  for (auto path : {"/debug/pools", "/debug/namespaces", "/debug/clients",
                    "/debug/config", "/debug/stats", "/debug/warnings"}) {
    auto body = get_json(hooks, path, 503);
    CHECK(body["error"] == "unavailable");
  }
  auto index = answer(hooks, {"GET", "/", ""});
  for (auto path : {"/debug/pools", "/debug/namespaces", "/debug/clients",
                    "/debug/warnings", "/debug/config", "/debug/log",
                    "/debug/log/level/{id}", "/debug/stats"})
    CHECK(index.body.find(path) != std::string::npos);
  CHECK(answer(hooks, {"POST", "/debug/pools", ""}).status == 405);
  CHECK(answer(hooks, {"GET", "/debug/log/level/info", ""}).status == 405);
}

TEST_CASE("debug data: GET /debug/pools renders every field of each pool") {
  admin::admin_hooks hooks;
  auto open = sample_pool();
  open.backend = "mem";
  open.driver = "memory";
  open.circuit = "half_open";
  open.circuit_since_ms = 1500;
  hooks.pools = [&](caf::actor_clock::time_point) {
    return std::vector<pool_report>{sample_pool(), open};
  };
  auto body = get_json(hooks, "/debug/pools");
  REQUIRE(body["pools"].size() == 2);
  auto p = body["pools"][0];
  CHECK(p
        == json{{"backend", "disk"},
                {"driver", "sqlite"},
                {"actor", 12},
                {"size", 4},
                {"active", 1},
                {"idle", 2},
                {"down", 1},
                {"waiting", 3},
                {"max_pending", 1024},
                {"max_wait_ms", 40},
                {"served", 500},
                {"errors", 7},
                {"reconnects", 2},
                {"circuit", "closed"},
                {"circuit_since_ms", nullptr}});
  CHECK(body["pools"][1]["circuit"] == "half_open");
  CHECK(body["pools"][1]["circuit_since_ms"] == 1500);
}

TEST_CASE("debug data: a pool's figures, as the pool and connections store "
          "them") {
  using tp = caf::actor_clock::time_point;
  metrics_registry metrics;
  auto gauges = resolve_pool_gauges(metrics, "disk");
  pool_figures f{"disk", "sqlite", 64, gauges};
  tp t0{std::chrono::seconds(100)};
  auto r = f.report(t0);
  CHECK(r.backend == "disk");
  CHECK(r.max_pending == 64);
  CHECK(r.circuit == "closed");
  CHECK_FALSE(r.circuit_since_ms);
  f.pool_started(9, t0);
  gauges.connections->Set(4);
  gauges.active->Set(1);
  gauges.idle->Set(2);
  gauges.waiting->Set(2);
  f.set_oldest_waiting(t0);
  f.count_served(false);
  f.count_served(true);
  f.count_error();
  f.count_reconnect();
  f.set_circuit(1, t0);
  r = f.report(t0 + 250ms);
  CHECK(r.actor == 9);
  CHECK(r.size == 4);
  CHECK(r.active == 1);
  CHECK(r.idle == 2);
  CHECK(r.down == 1);
  CHECK(r.waiting == 2);
  CHECK(r.max_wait_ms == 250);
  CHECK(r.served == 2);
  CHECK(r.errors == 2);
  CHECK(r.reconnects == 1);
  CHECK(r.circuit == "open");
  CHECK(r.circuit_since_ms == 250);
  gauges.waiting->Set(0);
  f.set_oldest_waiting(std::nullopt);
  f.set_circuit(0, t0 + 1s);
  r = f.report(t0 + 3s);
  CHECK(r.max_wait_ms == 0);
  CHECK(r.circuit == "closed");
  CHECK(r.circuit_since_ms == 2000);
  // A pool restarted while its predecessor's circuit was open starts closed.
  f.set_circuit(1, t0 + 3s);
  f.pool_started(10, t0 + 4s);
  r = f.report(t0 + 5s);
  CHECK(r.actor == 10);
  CHECK(r.circuit == "closed");
  CHECK(r.circuit_since_ms == 1000);
}

TEST_CASE("debug data: GET /debug/namespaces sums codes and takes quantiles "
          "from the buckets") {
  admin::admin_hooks hooks;
  namespace_report n;
  n.name = "orders";
  n.backend = "disk";
  n.api = "keyvalue";
  n.totals.by_code = {{"OK", 90}, {"NOT_FOUND", 10}};
  n.totals.rejections = {{"rate_limit", 3}, {"mailbox_full", 0}};
  n.totals.buckets = {{0.001, 50},
                      {0.01, 98},
                      {0.1, 100},
                      {std::numeric_limits<double>::infinity(), 100}};
  namespace_report unknown;
  unknown.name = "_unknown";
  hooks.namespaces = [&] {
    return std::vector<namespace_report>{n, unknown};
  };
  auto body = get_json(hooks, "/debug/namespaces");
  REQUIRE(body["namespaces"].size() == 2);
  auto o = body["namespaces"][0];
  CHECK(o["name"] == "orders");
  CHECK(o["backend"] == "disk");
  CHECK(o["api"] == "keyvalue");
  CHECK(o["requests"] == 100);
  CHECK(o["by_code"] == json{{"NOT_FOUND", 10}, {"OK", 90}});
  CHECK(o["rejections"] == json{{"mailbox_full", 0}, {"rate_limit", 3}});
  CHECK(
    o["latency_buckets_us"]
    == json::array({json::array({1000, 50}), json::array({10000, 98}),
                    json::array({100000, 100}), json::array({nullptr, 100})}));
  CHECK(o["p50_ms"] == Approx(1.0));
  CHECK(o["p99_ms"] == Approx(100.0));
  auto u = body["namespaces"][1];
  CHECK(u["requests"] == 0);
  CHECK(u["by_code"] == json::object());
  CHECK(u["latency_buckets_us"] == json::array());
  CHECK(u["p50_ms"] == 0);
}

TEST_CASE("debug data: quantiles of a histogram") {
  using buckets = std::vector<std::pair<double, uint64_t>>;
  auto inf = std::numeric_limits<double>::infinity();
  CHECK(admin::bucket_quantile_ms({}, 0.5) == 0);
  CHECK(admin::bucket_quantile_ms(buckets{{0.001, 0}, {inf, 0}}, 0.5) == 0);
  // Everything beyond the last finite bound: that bound is the answer.
  CHECK(admin::bucket_quantile_ms(buckets{{0.005, 0}, {inf, 4}}, 0.99)
        == Approx(5.0));
  CHECK(
    admin::bucket_quantile_ms(buckets{{0.001, 1}, {0.002, 2}, {inf, 2}}, 0.5)
    == Approx(1.0));
  CHECK(
    admin::bucket_quantile_ms(buckets{{0.001, 1}, {0.002, 2}, {inf, 2}}, 0.51)
    == Approx(2.0));
}

TEST_CASE("debug data: GET /debug/clients lists sessions by actor id") {
  admin::admin_hooks hooks;
  client_report a;
  a.actor = 40;
  a.peer = "ipv4:127.0.0.1:50612";
  a.principal = "alice";
  a.age_ms = 2000;
  a.in_flight = 2;
  a.streams = 1;
  a.calls = 17;
  client_report b;
  b.actor = 31;
  b.peer = "ipv6:[::1]:40000";
  hooks.clients = [&](caf::actor_clock::time_point) {
    return std::vector<client_report>{a, b};
  };
  auto body = get_json(hooks, "/debug/clients");
  REQUIRE(body["clients"].size() == 2);
  CHECK(body["clients"][0]["actor"] == 31);
  CHECK(body["clients"][0]["principal"] == "");
  auto c = body["clients"][1];
  CHECK(c["peer"] == "ipv4:127.0.0.1:50612");
  CHECK(c["principal"] == "alice");
  CHECK(c["age_ms"] == 2000);
  CHECK(c["started_at_ms"].get<int64_t>()
        == body["generated_at_ms"].get<int64_t>() - 2000);
  CHECK(c["in_flight"] == 2);
  CHECK(c["streams"] == 1);
  CHECK(c["calls"] == 17);
}

// --- warnings ----------------------------------------------------------------

namespace {

/// The warnings of one kind in a /debug/warnings body.
std::vector<json> of_kind(const json& body, const std::string& kind) {
  std::vector<json> out;
  for (auto& w : body["warnings"])
    if (w["kind"] == kind)
      out.push_back(w);
  return out;
}

} // namespace

TEST_CASE("debug data: warnings from the actors, the pools and the "
          "subscriptions") {
  inspector ins;
  // The routing reads the actor clock (steady) without an actor system.
  auto now = caf::actor_clock::clock_type::now();
  auto quiet = ins.register_actor(1, "stage", "metrics", 0, now);
  quiet->set_mailbox_limit(100);
  quiet->set_mailbox_depth(50); // half: not over it
  auto growing = ins.register_actor(2, "router", "", 0, now);
  growing->set_mailbox_limit(100);
  growing->set_mailbox_depth(51);
  auto full = ins.register_actor(3, "connection", "disk#0", 0, now);
  full->set_mailbox_limit(64);
  full->set_mailbox_depth(64);
  auto rejecting = ins.register_actor(4, "session", "ipv4:1.2.3.4:5", 0, now);
  rejecting->set_mailbox_limit(256);
  auto slow = ins.register_actor(5, "pool", "disk", 0, now);
  slow->record_work(std::chrono::milliseconds(150));
  auto looping = ins.register_actor(6, "supervisor", "pool:disk", 0, now);
  for (int i = 0; i < 5; ++i)
    looping->note_restart_at(now - std::chrono::seconds(10 * i));
  auto old_restarts = ins.register_actor(7, "supervisor", "middleware", 0, now);
  for (int i = 0; i < 8; ++i)
    old_restarts->note_restart_at(now - std::chrono::minutes(2));
  auto unbounded = ins.register_actor(8, "broker", "mem", 0, now);
  unbounded->set_mailbox_depth(admin::mailbox_growing_unbounded_depth + 1);

  admin::admin_hooks hooks;
  hooks.actors = &ins;
  hooks.warnings_seen = std::make_shared<admin::warning_history>();
  auto open = sample_pool();
  open.circuit = "open";
  open.circuit_since_ms = 4200;
  hooks.pools = [&](caf::actor_clock::time_point) {
    return std::vector<pool_report>{sample_pool(), open};
  };
  hooks.subscription_lags = [] {
    return std::vector<subscription_lag_report>{
      {"events", "orders", "billing", admin::subscriber_behind_messages + 1},
      {"events", "orders", "audit", admin::subscriber_behind_messages}};
  };

  auto first = get_json(hooks, "/debug/warnings");
  INFO(first.dump(2));
  for (auto& w : first["warnings"]) {
    CHECK((w["severity"] == "warning" || w["severity"] == "error"));
    CHECK(w["message"].get<std::string>().size() > 40);
    CHECK(w["since_ms"].is_number_integer());
  }
  auto growing_w = of_kind(first, "mailbox_growing");
  REQUIRE(growing_w.size() == 2);
  CHECK(growing_w[0]["actor"] == 2);
  CHECK(growing_w[0]["subject"] == "router");
  CHECK(growing_w[0]["severity"] == "warning");
  CHECK(growing_w[1]["actor"] == 8);
  auto full_w = of_kind(first, "mailbox_at_limit");
  REQUIRE(full_w.size() == 1);
  CHECK(full_w[0]["actor"] == 3);
  CHECK(full_w[0]["subject"] == "connection:disk#0");
  CHECK(full_w[0]["severity"] == "error");
  CHECK(full_w[0]["message"].get<std::string>().find("64 of 64")
        != std::string::npos);
  auto slow_w = of_kind(first, "slow_handler");
  REQUIRE(slow_w.size() == 1);
  CHECK(slow_w[0]["actor"] == 5);
  CHECK(slow_w[0]["message"].get<std::string>().find("150 ms")
        != std::string::npos);
  auto loop_w = of_kind(first, "restart_loop");
  REQUIRE(loop_w.size() == 1);
  CHECK(loop_w[0]["actor"] == 6);
  CHECK(loop_w[0]["subject"] == "supervisor:pool:disk");
  auto circuit_w = of_kind(first, "circuit_open");
  REQUIRE(circuit_w.size() == 1);
  CHECK(circuit_w[0]["actor"] == 12);
  CHECK(circuit_w[0]["subject"] == "pool:disk");
  CHECK(circuit_w[0]["since_ms"] == 4200);
  auto behind_w = of_kind(first, "subscriber_behind");
  REQUIRE(behind_w.size() == 1);
  CHECK(behind_w[0]["actor"].is_null());
  CHECK(behind_w[0]["subject"] == "subscription:events/orders/billing");
  CHECK(of_kind(first, "past_deadline").empty());

  // A rejected counter that rises between two reads is a full mailbox too,
  // whatever its depth now.
  CHECK(of_kind(first, "mailbox_at_limit").size() == 1);
  rejecting->count_rejected(3);
  auto second = get_json(hooks, "/debug/warnings");
  auto rising = of_kind(second, "mailbox_at_limit");
  REQUIRE(rising.size() == 2);
  CHECK(rising[1]["actor"] == 4);
  CHECK(rising[1]["message"].get<std::string>().find("refused 3 messages")
        != std::string::npos);
  auto third = get_json(hooks, "/debug/warnings");
  CHECK(of_kind(third, "mailbox_at_limit").size() == 1);
  // A warning that holds keeps the time it was first seen.
  auto held = of_kind(third, "mailbox_growing")[0]["since_ms"].get<int64_t>();
  CHECK(held >= 0);
  growing->set_mailbox_depth(0);
  CHECK(of_kind(get_json(hooks, "/debug/warnings"), "mailbox_growing").size()
        == 1);
}

// --- config ------------------------------------------------------------------

TEST_CASE("debug data: GET /debug/config shows the config without a secret") {
  config::gateway_config cfg;
  cfg.server.tls.cert_file = "/etc/prism/cert.pem";
  cfg.server.tls.key_file = "/etc/prism/secret-key.pem";
  cfg.auth.mode = config::auth_mode::token;
  cfg.auth.token_hashes["alice"] = std::string(64, 'a');
  cfg.auth.admins = {"alice"};
  config::backend pg;
  pg.name = "pg";
  pg.type = config::backend_type::postgres;
  pg.postgres.dsn = "host=db user=prism password='s3cr3t pw' dbname=prism";
  pg.postgres.password_env = "PG_PASSWORD";
  pg.source = "type: postgres\ndsn: host=db password='s3cr3t pw'";
  cfg.backends["pg"] = pg;
  config::backend kafka;
  kafka.name = "kafka";
  kafka.type = config::backend_type::kafka;
  kafka.kafka.brokers = "127.0.0.1:9092";
  kafka.kafka.properties = {{"sasl.password", "hunter2"},
                            {"ssl.key.pem", "-----BEGIN KEY-----"},
                            {"security.protocol", "SASL_SSL"}};
  cfg.backends["kafka"] = kafka;
  config::backend nats;
  nats.name = "nats";
  nats.type = config::backend_type::nats;
  nats.nats.url = "nats://bob:natspass@127.0.0.1:4222,nats://tok3n@10.0.0.2";
  cfg.backends["nats"] = nats;
  config::namespace_config ns;
  ns.name = "orders";
  ns.backend = "pg";
  ns.access.read = {"alice"};
  cfg.namespaces["orders"] = ns;

  admin::admin_hooks hooks;
  auto shared = std::make_shared<const config::gateway_config>(cfg);
  hooks.config = [&] {
    return shared;
  };
  auto a = answer(hooks, {"GET", "/debug/config", ""});
  REQUIRE(a.status == 200);
  const std::vector<std::string> secrets{
    "s3cr3t", std::string(64, 'a'), "hunter2", "BEGIN KEY", "natspass",
    "tok3n",  "secret-key.pem"};
  for (auto& secret : secrets)
    CHECK(a.body.find(secret) == std::string::npos);
  auto body = json::parse(a.body);
  auto c = body["config"];
  CHECK(c["auth"]["mode"] == "token");
  CHECK(c["auth"]["tokens"] == json{{"alice", "<redacted>"}});
  CHECK(c["auth"]["admins"] == json::array({"alice"}));
  CHECK(c["server"]["tls"]["cert_file"] == "/etc/prism/cert.pem");
  CHECK(c["server"]["tls"]["key_file"] == "<redacted>");
  CHECK(c["backends"]["pg"]["postgres"]["dsn"]
        == "host=db user=prism password=<redacted> dbname=prism");
  CHECK(c["backends"]["pg"]["postgres"]["password_env"] == "PG_PASSWORD");
  CHECK(c["backends"]["kafka"]["kafka"]["properties"]
        == json{{"sasl.password", "<redacted>"},
                {"security.protocol", "SASL_SSL"},
                {"ssl.key.pem", "<redacted>"}});
  CHECK(c["backends"]["nats"]["nats"]["url"]
        == "nats://bob:<redacted>@127.0.0.1:4222,nats://<redacted>@10.0.0.2");
  CHECK(c["namespaces"]["orders"]["backend"] == "pg");
  CHECK(c["namespaces"]["orders"]["pattern"] == "keyvalue");
  CHECK(c["namespaces"]["orders"]["access"]["read"] == json::array({"alice"}));
  CHECK(c["server"]["listen"] == cfg.server.listen);
}

TEST_CASE("debug data: a DSN's password, in every spelling") {
  CHECK(admin::redact_dsn("host=db dbname=x") == "host=db dbname=x");
  CHECK(admin::redact_dsn("password=abc host=db")
        == "password=<redacted> host=db");
  CHECK(admin::redact_dsn("host=db password = abc")
        == "host=db password = <redacted>");
  CHECK(admin::redact_dsn("host=db PASSWORD='a b\\' c' user=u")
        == "host=db PASSWORD=<redacted> user=u");
  CHECK(admin::redact_dsn("host=db passwordfile=x")
        == "host=db passwordfile=x");
  CHECK(admin::redact_dsn("postgresql://u:pw@db:5432/x")
        == "postgresql://u:<redacted>@db:5432/x");
  CHECK(admin::redact_dsn("postgresql://u@db/x?password=pw&sslmode=require")
        == "postgresql://u@db/x?password=<redacted>&sslmode=require");
  CHECK(admin::redact_dsn("postgresql://db/x") == "postgresql://db/x");
}

// --- log and stats -----------------------------------------------------------

TEST_CASE("debug data: the log level, read and set with an admin's token") {
  auto previous = spdlog::default_logger()->level();
  admin::admin_hooks hooks;
  hooks.admin_allowed = [](const std::string& authorization) {
    return authorization == "Bearer root";
  };
  spdlog::default_logger()->set_level(spdlog::level::info);
  CHECK(get_json(hooks, "/debug/log")["level"] == "info");
  CHECK(answer(hooks, {"POST", "/debug/log/level/debug", ""}).status == 403);
  CHECK(spdlog::default_logger()->level() == spdlog::level::info);
  for (auto level :
       {"trace", "debug", "warn", "error", "critical", "off", "info"}) {
    auto a = answer(
      hooks, {"POST", std::string{"/debug/log/level/"} + level, "Bearer root"});
    CHECK(a.status == 200);
    CHECK(json::parse(a.body) == json{{"level", level}});
    CHECK(get_json(hooks, "/debug/log")["level"] == level);
  }
  auto bad = answer(hooks, {"POST", "/debug/log/level/loud", "Bearer root"});
  CHECK(bad.status == 400);
  auto body = json::parse(bad.body);
  CHECK(body["error"] == "bad_request");
  CHECK(body["message"]
        == "log level \"loud\" is not one of trace, debug, info, warn, error, "
           "critical, off");
  CHECK(body["levels"].size() == 7);
  // spdlog's "warning" and "err" are not the endpoint's names.
  CHECK(
    answer(hooks, {"POST", "/debug/log/level/warning", "Bearer root"}).status
    == 400);
  CHECK(spdlog::default_logger()->level() == spdlog::level::info);
  spdlog::default_logger()->set_level(previous);
}

TEST_CASE("debug data: GET /debug/stats reads the process from /proc") {
  inspector ins;
  ins.register_actor(1, "stage", "metrics", 0, {});
  ins.register_actor(2, "router", "", 0, {});
  admin::admin_hooks hooks;
  hooks.actors = &ins;
  hooks.stats = [] {
    admin::gateway_stats g;
    g.version = "9.9.9";
    g.started_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count()
      - 5000;
    g.sessions = 3;
    g.requests_in_flight = 4;
    g.config_path = "/etc/prism.yaml";
    g.listen = "127.0.0.1:8980";
    g.admin = "127.0.0.1:8981";
    return g;
  };
  auto body = get_json(hooks, "/debug/stats");
  CHECK(body["version"] == "9.9.9");
  CHECK(body["uptime_ms"].get<int64_t>() >= 5000);
  CHECK(body["pid"] == static_cast<int64_t>(::getpid()));
  CHECK(body["rss_bytes"].get<uint64_t>() > 1024 * 1024);
  CHECK(body["threads"].get<uint64_t>() >= 1);
  CHECK(body["cpu_user_ms"].is_number_unsigned());
  CHECK(body["cpu_system_ms"].is_number_unsigned());
  CHECK(body["actors"] == 2);
  CHECK(body["sessions"] == 3);
  CHECK(body["requests_in_flight"] == 4);
  CHECK(body["config_path"] == "/etc/prism.yaml");
  CHECK(body["listen"] == "127.0.0.1:8980");
  CHECK(body["admin"] == "127.0.0.1:8981");
}

// --- a crashed child's reason on its restart ----------------------------------

namespace {

using crash_atom = caf::atom_constant<caf::atom("dd_crash")>;
using throw_atom = caf::atom_constant<caf::atom("dd_throw")>;

struct crasher_state {
  static inline const char* name = "crasher";
  inspector_registration registration;
};

/// Registers as kind "worker" named "w"; crash_atom quits with an error,
/// throw_atom throws.
caf::behavior crasher(caf::stateful_actor<crasher_state>* self,
                      inspector* ins) {
  self->state.registration = ins->enroll_self(self, "worker", "w");
  return {
    [self](crash_atom) {
      self->quit(caf::make_error(caf::sec::runtime_error));
    },
    [](throw_atom) { throw std::runtime_error("disk on fire"); },
  };
}

struct crash_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  inspector ins;
  caf::actor sup;

  crash_fixture() {
    cfg.set("scheduler.policy", caf::atom("testing"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
    supervisor_spec spec;
    spec.name = "test-sup";
    spec.options.intensity_max_restarts = 1000;
    spec.options.backoff.jitter = 0;
    spec.actors = &ins;
    child_spec c;
    c.name = "w";
    c.start = [this](caf::local_actor* parent) {
      return caf::actor_cast<caf::actor>(parent->spawn(crasher, &ins));
    };
    spec.children.push_back(std::move(c));
    sup = sys->spawn(supervisor, std::move(spec));
    run();
  }
  ~crash_fixture() {
    caf::anon_send_exit(sup, caf::exit_reason::kill);
    for (int i = 0;
         i < 100 && (sched->has_job() || sched->has_pending_timeout()); ++i) {
      sched->trigger_timeouts();
      run();
    }
  }
  void run() {
    while (sched->try_run_once()) {
    }
  }
  /// The registered worker's record, or null.
  actor_record_ptr worker() const {
    actor_record_ptr found;
    ins.visit([&](const actor_record& r) {
      if (r.kind() == "worker")
        found = ins.find(r.id());
    });
    return found;
  }
  /// Sends `what` to the worker, then lets virtual time pass until its
  /// restart registered; returns the new record.
  template <class Atom>
  actor_record_ptr crash_and_restart(Atom what) {
    auto before = worker();
    REQUIRE(before);
    caf::anon_send(caf::actor_cast<caf::actor>(before->address()), what);
    run();
    for (int i = 0; i < 100; ++i) {
      auto now = worker();
      if (now && now->id() != before->id())
        return now;
      sched->advance_time(10ms);
      run();
    }
    FAIL("the worker was not restarted");
    return nullptr;
  }
};

} // namespace

TEST_CASE("debug data: a child that crashed hands its exit reason to its "
          "restart as last failure") {
  crash_fixture f;
  auto first = f.worker();
  REQUIRE(first);
  CHECK_FALSE(first->last_failure());

  auto restarted = f.crash_and_restart(crash_atom::value);
  auto failure = restarted->last_failure();
  REQUIRE(failure);
  CHECK(failure->first.find("runtime_error") != std::string::npos);
  // The supervisor noted its restart for the restart_loop warning.
  std::optional<uint64_t> recent;
  f.ins.visit([&](const actor_record& r) {
    if (r.kind() == "supervisor")
      recent = r.restarts_since(f.sys->clock().now() - std::chrono::minutes(1));
  });
  CHECK(recent == 1u);

  auto after_throw = f.crash_and_restart(throw_atom::value);
  failure = after_throw->last_failure();
  REQUIRE(failure);
  // CAF 0.17 ends an actor whose handler threw with sec::runtime_error.
  CHECK(failure->first.find("runtime_error") != std::string::npos);
}

TEST_CASE("debug data: a killed child's restart keeps the kill's reason") {
  crash_fixture f;
  auto first = f.worker();
  REQUIRE(first);
  REQUIRE(f.ins.kill(first->id(), *f.sys, "POST /debug/actors/1/kill"));
  f.run();
  actor_record_ptr restarted;
  for (int i = 0; i < 100 && !restarted; ++i) {
    auto now = f.worker();
    if (now && now->id() != first->id())
      restarted = now;
    f.sched->advance_time(10ms);
    f.run();
  }
  REQUIRE(restarted);
  auto failure = restarted->last_failure();
  REQUIRE(failure);
  CHECK(failure->first == "killed by POST /debug/actors/1/kill");
}
