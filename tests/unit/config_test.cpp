#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.hpp"

using namespace prism::config;

namespace {

load_result check(const std::string& yaml) {
  return parse(yaml, "test.yaml");
}

/// Every field that has a problem, for failure messages.
std::string fields_of(const load_result& r) {
  std::string out;
  for (const auto& p : r.problems)
    out += format(p) + "\n";
  return out;
}

/// The first problem on `field`, or nullptr.
const problem* find(const load_result& r, const std::string& field) {
  auto it = std::find_if(r.problems.begin(), r.problems.end(),
                         [&](const problem& p) { return p.field == field; });
  return it == r.problems.end() ? nullptr : &*it;
}

/// Checks that `r` has a problem on `field` at `line` whose message contains `text`.
void expect_problem(const load_result& r, const std::string& field, int line,
                    const std::string& text) {
  INFO("problems:\n" << fields_of(r));
  CHECK_FALSE(r.ok());
  CHECK_FALSE(r.config.has_value());
  const problem* p = find(r, field);
  REQUIRE(p != nullptr);
  CHECK(p->where.file == "test.yaml");
  CHECK(p->where.line == line);
  CHECK(p->where.column > 0);
  CHECK_THAT(p->message, Catch::Contains(text));
  CHECK_FALSE(p->hint.empty());
}

// A valid config; the bad ones below change one thing of it.
const char* valid = R"(server:
  listen: 127.0.0.1:9000
  admin: 127.0.0.1:9001
backends:
  mem:
    type: memory
  disk:
    type: sqlite
    path: ./data/test.db
namespaces:
  cache:
    backend: mem
  default:
    backend: disk
)";

} // namespace

TEST_CASE("the default config file is valid", "[config]") {
  auto r = load_file(std::string{PRISM_SOURCE_DIR} + "/config/prism.yaml");
  INFO("problems:\n" << fields_of(r));
  REQUIRE(r.problems.empty());
  REQUIRE(r.ok());
  const auto& cfg = *r.config;

  CHECK(cfg.server.listen == "127.0.0.1:8980");
  CHECK(cfg.server.admin == "127.0.0.1:8981");
  REQUIRE(cfg.namespaces.size() == 3);
  REQUIRE(cfg.namespaces.count("cache") == 1);
  REQUIRE(cfg.namespaces.count("default") == 1);
  REQUIRE(cfg.namespaces.count("events") == 1);
  const auto& events = cfg.namespaces.at("events");
  CHECK(events.pattern == pattern::pubsub);
  CHECK(cfg.backends.at(events.backend).type == backend_type::memory);

  const auto& cache = cfg.namespaces.at("cache");
  REQUIRE(cfg.backends.count(cache.backend) == 1);
  CHECK(cfg.backends.at(cache.backend).type == backend_type::memory);
  CHECK(cache.pattern == pattern::keyvalue);

  const auto& def = cfg.namespaces.at("default");
  REQUIRE(cfg.backends.count(def.backend) == 1);
  const auto& db = cfg.backends.at(def.backend);
  CHECK(db.type == backend_type::sqlite);
  CHECK(db.sqlite.path == "./data/prism.db");
  CHECK(db.sqlite.path.rfind("./data/", 0) == 0);

  CHECK(
    summary(cfg)
    == "config OK: 3 namespaces (cache->mem memory, default->local sqlite, "
       "events->mem memory pubsub), 2 backends, listen 127.0.0.1:8980, admin 127.0.0.1:8981");
}

TEST_CASE("the example configs are valid", "[config]") {
  int seen = 0;
  for (const auto& file : std::filesystem::directory_iterator(
         std::string{PRISM_SOURCE_DIR} + "/config/examples")) {
    if (file.path().extension() != ".yaml")
      continue;
    auto r = load_file(file.path().string());
    INFO(file.path().string() << "\n" << fields_of(r));
    CHECK(r.ok());
    ++seen;
  }
  CHECK(seen >= 2);
}

TEST_CASE("defaults apply when keys are absent", "[config]") {
  auto r = check(R"(backends:
  mem: {type: memory}
  disk: {type: sqlite, path: ./data/d.db}
namespaces:
  a: {backend: mem}
  b: {backend: disk}
)");
  INFO("problems:\n" << fields_of(r));
  REQUIRE(r.ok());
  const auto& cfg = *r.config;
  CHECK(cfg.server.listen == prism::defaults::grpc_listen);
  CHECK(cfg.server.admin == prism::defaults::admin_listen);
  CHECK(cfg.server.session_idle_timeout_ms == 60000);
  CHECK(cfg.server.scheduler_max_throughput == 64);
  CHECK(cfg.server.scheduler_threads == 0);
  CHECK(cfg.server.scheduler_pollers == 0);
  CHECK(cfg.audit.path == "./data/audit.log");

  const auto& mem = cfg.backends.at("mem");
  CHECK(mem.name == "mem");
  CHECK(mem.connections == 1);
  CHECK(mem.max_pending == 1024);
  CHECK(mem.ttl_sweep_interval_ms == 1000);
  CHECK(mem.where.line == 2);

  const auto& disk = cfg.backends.at("disk");
  CHECK(disk.connections == 4);
  CHECK(disk.sqlite.synchronous == sqlite_synchronous::full);
  CHECK(disk.sqlite.busy_timeout_ms == 5000);

  const auto& a = cfg.namespaces.at("a");
  CHECK(a.name == "a");
  CHECK(a.pattern == pattern::keyvalue);
  CHECK(a.max_value_bytes == 4 * 1024 * 1024);
  CHECK(a.middleware == std::vector<std::string>{"metrics", "audit"});
  CHECK(a.where.line == 5);
  CHECK(cfg.max_request_bytes()
        == 4 * 1024 * 1024 + prism::defaults::message_overhead_bytes);
}

TEST_CASE("explicit values are read", "[config]") {
  auto r = check(R"(server:
  listen: "[::1]:0"
  admin: localhost:0
  session_idle_timeout_ms: 1000
  scheduler: {max_throughput: 100000, threads: 64, pollers: 3}
audit:
  path: /var/log/prism/audit.log
backends:
  mem: {type: memory, connections: 256, max_pending: 0, ttl_sweep_interval_ms: 10}
  disk: {type: sqlite, path: db.sqlite, synchronous: normal, busy_timeout_ms: 0, connections: 2}
  spare: {type: memory}
namespaces:
  events: {pattern: pubsub, backend: mem, max_value_bytes: 67108864, middleware: []}
  store: {backend: disk, max_value_bytes: 1, middleware: [audit, metrics]}
)");
  INFO("problems:\n" << fields_of(r));
  REQUIRE(
    r.ok()); // an unused backend ("spare") is fine, and port 0 twice is fine
  const auto& cfg = *r.config;
  CHECK(cfg.server.listen == "[::1]:0");
  CHECK(cfg.server.session_idle_timeout_ms == 1000);
  CHECK(cfg.server.scheduler_max_throughput == 100000);
  CHECK(cfg.server.scheduler_threads == 64);
  CHECK(cfg.server.scheduler_pollers == 3);
  CHECK(cfg.audit.path == "/var/log/prism/audit.log");
  CHECK(cfg.backends.at("mem").connections == 256);
  CHECK(cfg.backends.at("mem").max_pending == 0);
  CHECK(cfg.backends.at("mem").ttl_sweep_interval_ms == 10);
  CHECK(cfg.backends.at("disk").connections == 2);
  CHECK(cfg.backends.at("disk").sqlite.synchronous
        == sqlite_synchronous::normal);
  CHECK(cfg.backends.at("disk").sqlite.busy_timeout_ms == 0);
  CHECK(cfg.namespaces.at("events").pattern == pattern::pubsub);
  CHECK(cfg.namespaces.at("events").middleware.empty());
  CHECK(cfg.namespaces.at("store").middleware
        == std::vector<std::string>{"audit", "metrics"});
  CHECK(cfg.max_request_bytes()
        == 67108864 + prism::defaults::message_overhead_bytes);
  CHECK(
    summary(cfg)
    == "config OK: 2 namespaces (events->mem memory pubsub, store->disk sqlite), 3 backends, "
       "listen [::1]:0, admin localhost:0");
}

TEST_CASE("the test's base config is valid", "[config]") {
  auto r = check(valid);
  INFO("problems:\n" << fields_of(r));
  CHECK(r.ok());
}

TEST_CASE("YAML syntax errors carry the parser's place", "[config]") {
  auto r = check("backends:\n  mem: [memory\nnamespaces: {}\n");
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems[0].where.line == 3);
  CHECK(r.problems[0].where.column == 11);
  CHECK(r.problems[0].field.empty());
  CHECK_THAT(r.problems[0].message, Catch::StartsWith("YAML syntax error: "));

  auto tabs = check("server:\n\tlisten: x:1\n");
  REQUIRE(tabs.problems.size() == 1);
  CHECK(tabs.problems[0].where.line == 2);
  CHECK_THAT(tabs.problems[0].message, Catch::Contains("YAML syntax error"));
}

TEST_CASE("a document that is not a map, or is empty", "[config]") {
  auto list = check("- backends\n- namespaces\n");
  REQUIRE(list.problems.size() == 1);
  CHECK(list.problems[0].where.line == 1);
  CHECK_THAT(list.problems[0].message,
             Catch::Contains("must be a map") && Catch::Contains("a list"));

  auto scalar = check("hello\n");
  REQUIRE(scalar.problems.size() == 1);
  CHECK_THAT(scalar.problems[0].message, Catch::Contains("\"hello\""));

  auto empty = check("# nothing here\n");
  REQUIRE(empty.problems.size() == 1);
  CHECK_THAT(empty.problems[0].message, Catch::Contains("empty"));

  // yaml-cpp 0.7's LoadAll loops forever on this; parse must return.
  auto stray = check(",# stray comma\n");
  REQUIRE(stray.problems.size() == 1);
  CHECK_FALSE(stray.ok());
}

TEST_CASE("a second YAML document is a problem", "[config]") {
  auto r = check(std::string{valid} + "---\nbackends: {}\n");
  INFO("problems:\n" << fields_of(r));
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems[0].where.line == 16);
  CHECK_THAT(r.problems[0].message,
             Catch::Contains("more than one YAML document"));

  // A leading "---" or a trailing empty document is fine.
  CHECK(check(std::string{"---\n"} + valid + "---\n").ok());

  // A syntax error in a later document is still found.
  auto later = check(std::string{valid} + "---\nbackends: [\n");
  REQUIRE(later.problems.size() == 1);
  CHECK_THAT(later.problems[0].message, Catch::StartsWith("YAML syntax error"));
}

TEST_CASE("unknown keys get a did-you-mean hint or the allowed keys",
          "[config]") {
  auto r = check(R"(server:
  lisen: 127.0.0.1:9000
backends:
  mem:
    type: memory
    conections: 2
namespaces:
  cache:
    backend: mem
    colour: blue
)");
  expect_problem(r, "server.lisen", 2, "unknown key \"lisen\"");
  CHECK(find(r, "server.lisen")->hint == "did you mean \"listen\"?");
  CHECK(find(r, "server.lisen")->where.column == 3);
  expect_problem(r, "backends.mem.conections", 6, "unknown key \"conections\"");
  CHECK(find(r, "backends.mem.conections")->hint
        == "did you mean \"connections\"?");
  expect_problem(r, "namespaces.cache.colour", 10, "unknown key \"colour\"");
  CHECK(
    find(r, "namespaces.cache.colour")->hint
    == "allowed keys here: pattern, backend, max_value_bytes, middleware, subscription_buffer, slow_subscriber, access, rate_limit, redact_keys, audit_required");
  CHECK(r.problems.size() == 3);

  auto top = check(std::string{valid} + "threads: 4\n");
  expect_problem(top, "threads", 15, "unknown key \"threads\"");

  auto nested = check(std::string{valid} + "audit:\n  file: a.log\n");
  expect_problem(nested, "audit.file", 16, "unknown key \"file\"");
}

TEST_CASE("duplicate keys are reported at the second one", "[config]") {
  auto r = check(R"(backends:
  mem:
    type: memory
    connections: 1
    connections: 2
  mem:
    type: memory
namespaces:
  cache: {backend: mem}
)");
  expect_problem(r, "backends.mem.connections", 5,
                 "duplicate key \"connections\"");
  CHECK_THAT(find(r, "backends.mem.connections")->hint,
             Catch::Contains("line 4"));
  expect_problem(r, "backends.mem", 6, "duplicate backend \"mem\"");
  CHECK(r.problems.size() == 2);
}

TEST_CASE("wrong types", "[config]") {
  SECTION("trailing garbage in a number") {
    auto r = check(R"(backends:
  mem:
    type: memory
    connections: 12abc
namespaces:
  cache: {backend: mem}
)");
    expect_problem(r, "backends.mem.connections", 4,
                   "expected a whole number, got \"12abc\"");
    CHECK(find(r, "backends.mem.connections")->where.column == 18);
  }
  SECTION("a string where a number is needed") {
    auto s = check(R"(server:
  session_idle_timeout_ms: soon
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
    expect_problem(s, "server.session_idle_timeout_ms", 2,
                   "expected a whole number, got \"soon\"");
  }
  SECTION("a quoted number") {
    auto r = check(R"(backends:
  mem: {type: memory, max_pending: "12"}
namespaces: {cache: {backend: mem}}
)");
    expect_problem(r, "backends.mem.max_pending", 2, "quoted string \"12\"");
  }
  SECTION("a negative number for an unsigned field") {
    auto r = check(R"(server:
  scheduler:
    max_throughput: -5
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
    expect_problem(r, "server.scheduler.max_throughput", 3,
                   "must not be negative, got -5");
  }
  SECTION("a map where a list is needed") {
    auto r = check(R"(backends: {mem: {type: memory}}
namespaces:
  cache:
    backend: mem
    middleware: {metrics: true}
)");
    expect_problem(r, "namespaces.cache.middleware", 5,
                   "expected a list of stages, got a map");
  }
  SECTION("a list where a map is needed") {
    auto r = check(R"(backends:
  - mem
namespaces: {cache: {backend: mem}}
)");
    expect_problem(r, "backends", 2, "expected a map");
    CHECK(find(r, "namespaces.cache.backend")
          == nullptr); // no knock-on complaint
  }
  SECTION("a list where a string is needed") {
    auto r = check(R"(audit:
  path: [a, b]
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
    expect_problem(r, "audit.path", 2, "expected a string, got a list");
  }
}

TEST_CASE("values out of range", "[config]") {
  auto r = check(R"(server:
  session_idle_timeout_ms: 999
  scheduler: {max_throughput: 0, threads: 65, pollers: 65}
backends:
  mem: {type: memory, connections: 0, max_pending: 1000001, ttl_sweep_interval_ms: 9}
  disk: {type: sqlite, path: x.db, busy_timeout_ms: 600001, connections: 257}
namespaces:
  cache: {backend: mem, max_value_bytes: 67108865}
  zero: {backend: disk, max_value_bytes: 0}
  huge: {backend: disk, max_value_bytes: 99999999999999999999999}
)");
  expect_problem(r, "server.session_idle_timeout_ms", 2,
                 "999 is out of range 1000..86400000");
  expect_problem(r, "server.scheduler.max_throughput", 3,
                 "0 is out of range 1..100000");
  expect_problem(r, "server.scheduler.threads", 3, "65 is out of range 0..64");
  expect_problem(r, "server.scheduler.pollers", 3, "65 is out of range 0..64");
  expect_problem(r, "backends.mem.connections", 5, "0 is out of range 1..256");
  expect_problem(r, "backends.mem.max_pending", 5,
                 "1000001 is out of range 0..1000000");
  expect_problem(r, "backends.mem.ttl_sweep_interval_ms", 5,
                 "9 is out of range 10..3600000");
  expect_problem(r, "backends.disk.busy_timeout_ms", 6,
                 "600001 is out of range 0..600000");
  expect_problem(r, "backends.disk.connections", 6,
                 "257 is out of range 1..256");
  expect_problem(r, "namespaces.cache.max_value_bytes", 8,
                 "67108865 is out of range 1..67108864");
  expect_problem(r, "namespaces.zero.max_value_bytes", 9, "0 is out of range");
  expect_problem(r, "namespaces.huge.max_value_bytes", 10, "out of range");
  CHECK(r.problems.size() == 12);
}

TEST_CASE("missing required keys point at their map", "[config]") {
  auto r = check(R"(backends:
  mem:
    connections: 2
  disk:
    type: sqlite
namespaces:
  cache:
    pattern: keyvalue
)");
  expect_problem(r, "backends.mem.type", 3, "missing required key \"type\"");
  expect_problem(r, "backends.disk.path", 5, "missing required key \"path\"");
  expect_problem(r, "namespaces.cache.backend", 8,
                 "missing required key \"backend\"");

  auto sections = check("server: {listen: 127.0.0.1:9000}\n");
  expect_problem(sections, "backends", 1, "missing required key \"backends\"");
  expect_problem(sections, "namespaces", 1,
                 "missing required key \"namespaces\"");
}

TEST_CASE("empty backends and namespaces", "[config]") {
  auto r = check("backends: {}\nnamespaces:\n");
  expect_problem(r, "backends", 1, "no backends defined");
  expect_problem(r, "namespaces", 2, "no namespaces defined");
}

TEST_CASE("unknown backend type", "[config]") {
  auto r = check(R"(backends:
  mem:
    type: memroy
namespaces: {cache: {backend: mem}}
)");
  expect_problem(r, "backends.mem.type", 3, "unknown backend type \"memroy\"");
  CHECK(
    find(r, "backends.mem.type")->hint
    == "did you mean \"memory\"? use one of: memory, sqlite, postgres, kafka, nats");
  CHECK(r.problems.size() == 1);
}

TEST_CASE("a namespace naming an unknown backend", "[config]") {
  auto r = check(R"(backends:
  mem: {type: memory}
  local: {type: sqlite, path: ./data/p.db}
namespaces:
  cache:
    backend: memx
)");
  expect_problem(r, "namespaces.cache.backend", 6, "unknown backend \"memx\"");
  CHECK(find(r, "namespaces.cache.backend")->hint
        == "define it under backends: or use one of: local, mem");
  CHECK(find(r, "namespaces.cache.backend")->where.column == 14);
}

TEST_CASE("invalid backend and namespace names", "[config]") {
  auto r = check(R"(backends:
  my mem: {type: memory}
  _x: {type: memory}
namespaces:
  "-cache": {backend: _x}
  ok.name-1_2: {backend: _x}
)");
  expect_problem(r, "backends.my mem", 2, "invalid backend name \"my mem\"");
  expect_problem(r, "backends._x", 3, "invalid backend name \"_x\"");
  expect_problem(r, "namespaces.-cache", 5,
                 "invalid namespace name \"-cache\"");
  CHECK(find(r, "namespaces.ok.name-1_2") == nullptr);

  std::string long_name(65, 'b');
  auto too_long = check("backends:\n  " + long_name
                        + ": {type: memory}\nnamespaces: {a: {backend: "
                        + long_name + "}}\n");
  expect_problem(too_long, "backends." + long_name, 2, "invalid backend name");
  std::string ok_name(64, 'b');
  CHECK(check("backends:\n  " + ok_name
              + ": {type: memory}\nnamespaces: {a: {backend: " + ok_name
              + "}}\n")
          .ok());
}

TEST_CASE("invalid listen addresses", "[config]") {
  auto r = check(R"(server:
  listen: "localhost"
  admin: "host:99999"
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
  expect_problem(r, "server.listen", 2, "address \"localhost\" has no port");
  expect_problem(r, "server.admin", 3, "port 99999");

  auto empty_host = check(
    "server: {listen: \":80\"}\nbackends: {mem: {type: memory}}\nnamespaces: {c: {backend: mem}}\n");
  expect_problem(empty_host, "server.listen", 1, "empty host");

  for (std::string bad : {"999.1.1.1", "256.0.0.1", "1.2.3.4.5", "1..2"}) {
    auto ipv4 = check("server: {listen: \"" + bad
                      + ":80\"}\nbackends: {mem: {type: memory}}\n"
                        "namespaces: {c: {backend: mem}}\n");
    INFO(bad);
    expect_problem(ipv4, "server.listen", 1,
                   "invalid IPv4 address \"" + bad + "\"");
  }
  auto dash = check(
    "server: {listen: \"-host:80\"}\nbackends: {mem: {type: memory}}\nnamespaces: {c: {backend: mem}}\n");
  expect_problem(dash, "server.listen", 1, "invalid host \"-host\"");
  // Forms the resolver takes stay valid, and digits alone may be a host name.
  for (std::string good : {"my-host.local", "0", "127.1", "010.0.0.1",
                           "2130706433", "123456789012"})
    CHECK(check("server: {listen: \"" + good
                + ":80\"}\nbackends: {mem: {type: memory}}\n"
                  "namespaces: {c: {backend: mem}}\n")
            .ok());
}

TEST_CASE("listen and admin on the same address", "[config]") {
  auto r = check(R"(server:
  listen: 127.0.0.1:9000
  admin: 127.0.0.1:9000
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
  expect_problem(r, "server.admin", 3,
                 "collides with the gRPC listener 127.0.0.1:9000");
  CHECK(r.problems.size() == 1);

  auto wildcard = check(R"(server:
  listen: 0.0.0.0:9000
  admin: 127.0.0.1:9000
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
  expect_problem(wildcard, "server.admin", 3, "collides");

  auto default_admin = check(
    "server: {listen: 127.0.0.1:8981}\nbackends: {mem: {type: memory}}\nnamespaces: {c: {backend: mem}}\n");
  expect_problem(default_admin, "server.listen", 1, "collides");

  // The hint's address is one the check takes.
  auto ipv6 = check(
    "server: {listen: \"[::1]:9000\", admin: \"[::1]:9000\"}\n"
    "backends: {mem: {type: memory}}\nnamespaces: {c: {backend: mem}}\n");
  expect_problem(ipv6, "server.admin", 1, "collides");
  CHECK_THAT(find(ipv6, "server.admin")->hint,
             Catch::Contains("e.g. [::1]:9001"));

  CHECK(
    check(
      "server: {listen: 127.0.0.1:0, admin: 127.0.0.1:0}\nbackends: {mem: {type: memory}}\n"
      "namespaces: {c: {backend: mem}}\n")
      .ok());
}

TEST_CASE("middleware stages", "[config]") {
  auto r = check(R"(backends: {mem: {type: memory}}
namespaces:
  a:
    backend: mem
    middleware: [metrcs]
  b:
    backend: mem
    middleware:
      - audit
      - metrics
      - audit
  c:
    backend: mem
    middleware: metrics
)");
  expect_problem(r, "namespaces.a.middleware[0]", 5,
                 "unknown middleware stage \"metrcs\"");
  CHECK(find(r, "namespaces.a.middleware[0]")->hint
        == "did you mean \"metrics\"? known stages: metrics, audit");
  expect_problem(r, "namespaces.b.middleware[2]", 11,
                 "middleware stage \"audit\" is listed twice");
  expect_problem(r, "namespaces.c.middleware", 14,
                 "expected a list of stages, got the value \"metrics\"");
  CHECK(r.problems.size() == 3);
}

TEST_CASE("patterns", "[config]") {
  auto r = check(R"(backends:
  mem: {type: memory}
  disk: {type: sqlite, path: ./data/p.db}
namespaces:
  a: {backend: mem, pattern: queue}
  b:
    backend: disk
    pattern: pubsub
  c: {backend: mem, pattern: pubsub}
)");
  expect_problem(r, "namespaces.a.pattern", 5, "unknown pattern \"queue\"");
  CHECK_THAT(find(r, "namespaces.a.pattern")->hint,
             Catch::Contains("keyvalue, pubsub"));
  expect_problem(r, "namespaces.b.pattern", 8,
                 "backend \"disk\" is sqlite, which cannot serve pubsub");
  CHECK(find(r, "namespaces.c.pattern") == nullptr);
  CHECK(r.problems.size() == 2);
}

TEST_CASE("sqlite-only keys on a memory backend", "[config]") {
  auto r = check(R"(backends:
  mem:
    type: memory
    path: ./data/x.db
    synchronous: full
    busy_timeout_ms: 10
namespaces: {cache: {backend: mem}}
)");
  expect_problem(r, "backends.mem.path", 4, "only valid on sqlite backends");
  expect_problem(r, "backends.mem.synchronous", 5,
                 "only valid on sqlite backends");
  expect_problem(r, "backends.mem.busy_timeout_ms", 6,
                 "only valid on sqlite backends");
  CHECK(r.problems.size() == 3);

  auto sync = check(R"(backends:
  disk: {type: sqlite, path: a.db, synchronous: off}
namespaces: {cache: {backend: disk}}
)");
  expect_problem(sync, "backends.disk.synchronous", 2,
                 "unknown synchronous mode \"off\"");

  auto empty_path = check(R"(backends:
  disk: {type: sqlite, path: ""}
namespaces: {cache: {backend: disk}}
)");
  expect_problem(empty_path, "backends.disk.path", 2, "must not be empty");
}

TEST_CASE("every problem in a file is reported, in file order", "[config]") {
  auto r = check(R"(server:
  listen: 127.0.0.1
  admni: 127.0.0.1:1
backends:
  mem:
    type: memory
    connections: 0
  disk:
    type: sqlite
namespaces:
  cache:
    backend: nowhere
    max_value_bytes: 10MB
)");
  INFO("problems:\n" << fields_of(r));
  REQUIRE(r.problems.size() == 6);
  CHECK(r.problems[0].field == "server.listen");
  CHECK(r.problems[1].field == "server.admni");
  CHECK(r.problems[2].field == "backends.mem.connections");
  CHECK(r.problems[3].field == "backends.disk.path");
  CHECK(r.problems[4].field == "namespaces.cache.backend");
  CHECK(r.problems[5].field == "namespaces.cache.max_value_bytes");
  for (size_t i = 1; i < r.problems.size(); ++i)
    CHECK(r.problems[i - 1].where.line <= r.problems[i].where.line);
}

TEST_CASE("format gives file:line:column: field: message (hint)", "[config]") {
  auto r = check(R"(backends:
  mem: {type: memory}
  local: {type: sqlite, path: ./data/p.db}
namespaces:
  cache:
    backend: memx
)");
  REQUIRE(r.problems.size() == 1);
  CHECK(format(r.problems[0])
        == "test.yaml:6:14: namespaces.cache.backend: unknown backend \"memx\" "
           "(hint: define it under backends: or use one of: local, mem)");
}

TEST_CASE("an unreadable file is one problem naming the path and the error",
          "[config]") {
  std::string path
    = std::string{PRISM_SOURCE_DIR} + "/config/does-not-exist.yaml";
  auto r = load_file(path);
  REQUIRE(r.problems.size() == 1);
  CHECK_FALSE(r.ok());
  CHECK(r.problems[0].where.file == path);
  CHECK_THAT(r.problems[0].message,
             Catch::Contains(path)
               && Catch::Contains("No such file or directory"));
  CHECK_THAT(format(r.problems[0]),
             Catch::StartsWith(path + ": cannot read config file"));

  auto dir = load_file(PRISM_SOURCE_DIR);
  REQUIRE(dir.problems.size() == 1);
  CHECK_THAT(dir.problems[0].message, Catch::Contains("Is a directory"));

  // A file without end is refused once it is larger than any config.
  auto endless = load_file("/dev/zero");
  REQUIRE(endless.problems.size() == 1);
  CHECK_THAT(endless.problems[0].message, Catch::Contains("more than 64 MiB"));
}

TEST_CASE("split_host_port", "[config]") {
  std::string host;
  uint16_t port = 1;

  CHECK(split_host_port("127.0.0.1:8980", host, port));
  CHECK(host == "127.0.0.1");
  CHECK(port == 8980);
  CHECK(split_host_port("localhost:0", host, port));
  CHECK(host == "localhost");
  CHECK(port == 0);
  CHECK(split_host_port("[::1]:8980", host, port));
  CHECK(host == "::1");
  CHECK(port == 8980);
  CHECK(split_host_port("0.0.0.0:65535", host, port));
  CHECK(port == 65535);

  host = "unchanged";
  port = 7;
  for (const char* bad :
       {"", ":80", "host", "host:", "host:99999", "host:12x", "host:65536",
        "::1:80", "[::1]", "[::1]80", "[]:80", "ho st:80", "host:-1"}) {
    INFO(bad);
    CHECK_FALSE(split_host_port(bad, host, port));
  }
  CHECK(host == "unchanged");
  CHECK(port == 7);
}

TEST_CASE("known stages and names of choices", "[config]") {
  CHECK(known_stages() == std::vector<std::string>{"metrics", "audit"});
  CHECK(to_string(backend_type::sqlite) == "sqlite");
  CHECK(to_string(backend_type::memory) == "memory");
  CHECK(to_string(backend_type::postgres) == "postgres");
  CHECK(to_string(pattern::pubsub) == "pubsub");
  CHECK(to_string(sqlite_synchronous::normal) == "normal");
}

TEST_CASE("overload and shutdown limits: defaults, values and ranges",
          "[config]") {
  SECTION("defaults") {
    auto r = check(R"(backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
    REQUIRE(r.ok());
    CHECK(r.config->server.session_max_in_flight
          == prism::defaults::session_max_in_flight);
    CHECK(r.config->server.session_mailbox_limit
          == prism::defaults::session_mailbox_limit);
    CHECK(r.config->server.drain_timeout_ms
          == prism::defaults::drain_timeout_ms);
  }
  SECTION("set") {
    auto r = check(R"(server:
  session_max_in_flight: 16
  session_mailbox_limit: 32
  drain_timeout_ms: 0
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
    REQUIRE(r.ok());
    CHECK(r.config->server.session_max_in_flight == 16);
    CHECK(r.config->server.session_mailbox_limit == 32);
    CHECK(r.config->server.drain_timeout_ms == 0);
  }
  SECTION("out of range") {
    auto r = check(R"(server:
  session_max_in_flight: 0
  session_mailbox_limit: 1000001
  drain_timeout_ms: 3600001
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
    expect_problem(r, "server.session_max_in_flight", 2,
                   "0 is out of range 1..1000000");
    expect_problem(r, "server.session_mailbox_limit", 3,
                   "1000001 is out of range 1..1000000");
    expect_problem(r, "server.drain_timeout_ms", 4,
                   "3600001 is out of range 0..3600000");
  }
  SECTION("a backend's mailbox limit") {
    auto ok = check(R"(backends: {mem: {type: memory, mailbox_limit: 8}}
namespaces: {cache: {backend: mem}}
)");
    REQUIRE(ok.ok());
    CHECK(ok.config->backends.at("mem").mailbox_limit == 8);
    auto bad = check(R"(backends: {mem: {type: memory, mailbox_limit: 0}}
namespaces: {cache: {backend: mem}}
)");
    expect_problem(bad, "backends.mem.mailbox_limit", 1,
                   "0 is out of range 1..1000000");
  }
}

TEST_CASE("supervision, circuit and mailbox limits: defaults when absent",
          "[config][supervision]") {
  auto r = check(R"(backends:
  mem: {type: memory}
  disk: {type: sqlite, path: ./data/d.db}
  empty: {type: memory, supervision: , circuit: }
namespaces: {cache: {backend: mem}}
)");
  INFO("problems:\n" << fields_of(r));
  REQUIRE(r.ok());
  CHECK(r.config->server.stage_mailbox_limit == 4096);
  CHECK(r.config->server.router_mailbox_limit == 8192);
  for (const char* name : {"mem", "disk", "empty"}) {
    INFO(name);
    const auto& sup = r.config->backends.at(name).supervision;
    CHECK(sup.strategy == supervision_strategy::one_for_one);
    CHECK(sup.max_restarts == 5);
    CHECK(sup.period_ms == 10000);
    CHECK(sup.backoff_min_ms == 100);
    CHECK(sup.backoff_max_ms == 10000);
    CHECK(sup.backoff_multiplier == 2.0);
    CHECK(sup.backoff_jitter == 0.2);
    CHECK(sup.backoff_reset_after_ms == 30000);
    CHECK(sup.shutdown_timeout_ms == 5000);
    const auto& circuit = r.config->backends.at(name).circuit;
    CHECK(circuit.probe_after_ms == 1000);
    CHECK(circuit.probe_max_ms == 30000);
  }
}

TEST_CASE("every supervision and circuit field is read",
          "[config][supervision]") {
  auto r = check(R"(server:
  stage_mailbox_limit: 17
  router_mailbox_limit: 33
backends:
  mem:
    type: memory
    supervision:
      strategy: one_for_all
      max_restarts: 0
      period_ms: 2500
      backoff:
        min_ms: 7
        max_ms: 900
        multiplier: 3
        jitter: 0.25
        reset_after_ms: 45000
      shutdown_timeout_ms: 1234
    circuit:
      probe_after_ms: 250
      probe_max_ms: 60000
  disk:
    type: sqlite
    path: ./data/d.db
    supervision: {strategy: rest_for_one, backoff: {multiplier: 1.5, jitter: 0}}
    circuit: {probe_after_ms: 5}
namespaces: {cache: {backend: mem}, store: {backend: disk}}
)");
  INFO("problems:\n" << fields_of(r));
  REQUIRE(r.ok());
  CHECK(r.config->server.stage_mailbox_limit == 17);
  CHECK(r.config->server.router_mailbox_limit == 33);

  const auto& mem = r.config->backends.at("mem");
  CHECK(mem.supervision.strategy == supervision_strategy::one_for_all);
  CHECK(mem.supervision.max_restarts == 0);
  CHECK(mem.supervision.period_ms == 2500);
  CHECK(mem.supervision.backoff_min_ms == 7);
  CHECK(mem.supervision.backoff_max_ms == 900);
  CHECK(mem.supervision.backoff_multiplier == 3.0);
  CHECK(mem.supervision.backoff_jitter == 0.25);
  CHECK(mem.supervision.backoff_reset_after_ms == 45000);
  CHECK(mem.supervision.shutdown_timeout_ms == 1234);
  CHECK(mem.circuit.probe_after_ms == 250);
  CHECK(mem.circuit.probe_max_ms == 60000);

  // Keys left out of a map that is present keep their defaults.
  const auto& disk = r.config->backends.at("disk");
  CHECK(disk.supervision.strategy == supervision_strategy::rest_for_one);
  CHECK(disk.supervision.max_restarts == 5);
  CHECK(disk.supervision.backoff_min_ms == 100);
  CHECK(disk.supervision.backoff_multiplier == 1.5);
  CHECK(disk.supervision.backoff_jitter == 0.0);
  CHECK(disk.circuit.probe_after_ms == 5);
  CHECK(disk.circuit.probe_max_ms == 30000);

  auto one = check(
    R"(backends: {mem: {type: memory, supervision: {strategy: one_for_one}}}
namespaces: {cache: {backend: mem}}
)");
  REQUIRE(one.ok());
  CHECK(one.config->backends.at("mem").supervision.strategy
        == supervision_strategy::one_for_one);
  CHECK(to_string(supervision_strategy::one_for_one) == "one_for_one");
  CHECK(to_string(supervision_strategy::one_for_all) == "one_for_all");
  CHECK(to_string(supervision_strategy::rest_for_one) == "rest_for_one");
}

TEST_CASE("supervision, circuit and mailbox limits: bounds",
          "[config][supervision]") {
  SECTION("the bounds themselves are accepted") {
    auto r
      = check(R"(server: {stage_mailbox_limit: 1000000, router_mailbox_limit: 1}
backends:
  low:
    type: memory
    supervision:
      max_restarts: 0
      period_ms: 1
      backoff: {min_ms: 1, max_ms: 1, multiplier: 1.0, jitter: 0.0, reset_after_ms: 1}
      shutdown_timeout_ms: 1
    circuit: {probe_after_ms: 1, probe_max_ms: 1}
  high:
    type: memory
    supervision:
      max_restarts: 1000
      period_ms: 3600000
      backoff: {min_ms: 3600000, max_ms: 3600000, multiplier: 10, jitter: 1, reset_after_ms: 86400000}
      shutdown_timeout_ms: 600000
    circuit: {probe_after_ms: 3600000, probe_max_ms: 86400000}
namespaces: {cache: {backend: low}}
)");
    INFO("problems:\n" << fields_of(r));
    REQUIRE(r.ok());
    CHECK(r.config->server.stage_mailbox_limit == 1000000);
    CHECK(r.config->server.router_mailbox_limit == 1);
    const auto& low = r.config->backends.at("low");
    CHECK(low.supervision.period_ms == 1);
    CHECK(low.supervision.backoff_multiplier == 1.0);
    CHECK(low.supervision.backoff_jitter == 0.0);
    CHECK(low.circuit.probe_max_ms == 1);
    const auto& high = r.config->backends.at("high");
    CHECK(high.supervision.max_restarts == 1000);
    CHECK(high.supervision.backoff_max_ms == 3600000);
    CHECK(high.supervision.backoff_multiplier == 10.0);
    CHECK(high.supervision.backoff_jitter == 1.0);
    CHECK(high.supervision.backoff_reset_after_ms == 86400000);
    CHECK(high.supervision.shutdown_timeout_ms == 600000);
    CHECK(high.circuit.probe_after_ms == 3600000);
    CHECK(high.circuit.probe_max_ms == 86400000);
  }
  SECTION("one past each bound") {
    auto r
      = check(R"(server: {stage_mailbox_limit: 0, router_mailbox_limit: 1000001}
backends:
  low:
    type: memory
    supervision:
      period_ms: 0
      backoff: {min_ms: 0, max_ms: 0, multiplier: 0.99, jitter: -0.01, reset_after_ms: 0}
      shutdown_timeout_ms: 0
    circuit: {probe_after_ms: 0, probe_max_ms: 0}
  high:
    type: memory
    supervision:
      max_restarts: 1001
      period_ms: 3600001
      backoff: {min_ms: 3600001, max_ms: 3600001, multiplier: 10.01, jitter: 1.001, reset_after_ms: 86400001}
      shutdown_timeout_ms: 600001
    circuit: {probe_after_ms: 3600001, probe_max_ms: 86400001}
  negative:
    type: memory
    supervision: {max_restarts: -1}
namespaces: {cache: {backend: low}}
)");
    expect_problem(r, "server.stage_mailbox_limit", 1,
                   "0 is out of range 1..1000000");
    expect_problem(r, "server.router_mailbox_limit", 1,
                   "1000001 is out of range 1..1000000");
    CHECK(find(r, "server.router_mailbox_limit")->hint
          == "use 1..1000000 requests");

    expect_problem(r, "backends.low.supervision.period_ms", 6,
                   "0 is out of range 1..3600000");
    expect_problem(r, "backends.low.supervision.backoff.min_ms", 7,
                   "0 is out of range 1..3600000");
    expect_problem(r, "backends.low.supervision.backoff.max_ms", 7,
                   "0 is out of range 1..3600000");
    expect_problem(r, "backends.low.supervision.backoff.multiplier", 7,
                   "0.99 is out of range 1.0..10.0");
    expect_problem(r, "backends.low.supervision.backoff.jitter", 7,
                   "must not be negative, got -0.01");
    expect_problem(r, "backends.low.supervision.backoff.reset_after_ms", 7,
                   "0 is out of range 1..86400000");
    expect_problem(r, "backends.low.supervision.shutdown_timeout_ms", 8,
                   "0 is out of range 1..600000");
    expect_problem(r, "backends.low.circuit.probe_after_ms", 9,
                   "0 is out of range 1..3600000");
    expect_problem(r, "backends.low.circuit.probe_max_ms", 9,
                   "0 is out of range 1..86400000");

    expect_problem(r, "backends.high.supervision.max_restarts", 13,
                   "1001 is out of range 0..1000");
    CHECK(find(r, "backends.high.supervision.max_restarts")->hint
          == "use 0..1000 restarts (0: the first failure gives up)");
    expect_problem(r, "backends.high.supervision.period_ms", 14,
                   "3600001 is out of range 1..3600000");
    expect_problem(r, "backends.high.supervision.backoff.min_ms", 15,
                   "3600001 is out of range 1..3600000");
    expect_problem(r, "backends.high.supervision.backoff.max_ms", 15,
                   "3600001 is out of range 1..3600000");
    expect_problem(r, "backends.high.supervision.backoff.multiplier", 15,
                   "10.01 is out of range 1.0..10.0");
    expect_problem(r, "backends.high.supervision.backoff.jitter", 15,
                   "1.001 is out of range 0.0..1.0");
    expect_problem(r, "backends.high.supervision.backoff.reset_after_ms", 15,
                   "86400001 is out of range 1..86400000");
    expect_problem(r, "backends.high.supervision.shutdown_timeout_ms", 16,
                   "600001 is out of range 1..600000");
    expect_problem(r, "backends.high.circuit.probe_after_ms", 17,
                   "3600001 is out of range 1..3600000");
    expect_problem(r, "backends.high.circuit.probe_max_ms", 17,
                   "86400001 is out of range 1..86400000");

    expect_problem(r, "backends.negative.supervision.max_restarts", 20,
                   "must not be negative, got -1");
    // Out-of-range values give no cross-field complaint on top.
    CHECK(r.problems.size() == 22);
  }
}

TEST_CASE("supervision and circuit: wrong types", "[config][supervision]") {
  auto r = check(R"(server:
  stage_mailbox_limit: many
  router_mailbox_limit: [1]
backends:
  a:
    type: memory
    supervision: [one_for_one]
    circuit: off
  b:
    type: sqlite
    path: ./data/b.db
    supervision:
      strategy: one_for_none
      max_restarts: "5"
      period_ms: 10s
      backoff: 100
    circuit:
      probe_after_ms: {ms: 1}
      probe_max_ms:
  c:
    type: memory
    supervision:
      strategy: [one_for_all]
      backoff:
        multiplier: [2]
        jitter: {x: 1}
        min_ms: 1.5
namespaces: {cache: {backend: a}}
)");
  expect_problem(r, "server.stage_mailbox_limit", 2,
                 "expected a whole number, got \"many\"");
  expect_problem(r, "server.router_mailbox_limit", 3,
                 "expected a whole number, got a list");
  expect_problem(r, "backends.a.supervision", 7,
                 "expected a map of supervision settings, got a list");
  CHECK(
    find(r, "backends.a.supervision")->hint
    == "write it as indented \"name: value\" lines under \"backends.a.supervision:\"");
  expect_problem(r, "backends.a.circuit", 8,
                 "expected a map of circuit settings, got the value \"off\"");
  expect_problem(r, "backends.b.supervision.strategy", 13,
                 "unknown supervision strategy \"one_for_none\"");
  CHECK(
    find(r, "backends.b.supervision.strategy")->hint
    == "did you mean \"one_for_one\"? use one of: one_for_one, one_for_all, rest_for_one");
  expect_problem(r, "backends.b.supervision.max_restarts", 14,
                 "quoted string \"5\"");
  expect_problem(r, "backends.b.supervision.period_ms", 15,
                 "expected a whole number, got \"10s\"");
  expect_problem(r, "backends.b.supervision.backoff", 16,
                 "expected a map of backoff settings, got the value \"100\"");
  expect_problem(r, "backends.b.circuit.probe_after_ms", 18,
                 "expected a whole number, got a map");
  expect_problem(r, "backends.b.circuit.probe_max_ms", 19,
                 "has no value; expected a whole number");
  expect_problem(r, "backends.c.supervision.strategy", 23,
                 "expected a supervision strategy, got a list");
  expect_problem(r, "backends.c.supervision.backoff.multiplier", 25,
                 "expected a number, got a list");
  expect_problem(r, "backends.c.supervision.backoff.jitter", 26,
                 "expected a number, got a map");
  expect_problem(r, "backends.c.supervision.backoff.min_ms", 27,
                 "expected a whole number, got \"1.5\"");
  CHECK(r.problems.size() == 14);
}

TEST_CASE("real numbers: what is accepted and what is not",
          "[config][supervision]") {
  auto with = [](const std::string& key, const std::string& value) {
    return check(
      "backends:\n  mem:\n    type: memory\n    supervision:\n      backoff:\n        "
      + key + ": " + value + "\nnamespaces: {cache: {backend: mem}}\n");
  };
  auto multiplier = [&](const std::string& value) {
    auto r = with("multiplier", value);
    INFO(value << "\n" << fields_of(r));
    REQUIRE(r.ok());
    return r.config->backends.at("mem").supervision.backoff_multiplier;
  };
  auto jitter = [&](const std::string& value) {
    auto r = with("jitter", value);
    INFO(value << "\n" << fields_of(r));
    REQUIRE(r.ok());
    return r.config->backends.at("mem").supervision.backoff_jitter;
  };
  CHECK(multiplier("2") == 2.0);
  CHECK(multiplier("2.0") == 2.0);
  CHECK(multiplier("1.25") == 1.25);
  CHECK(multiplier("10.000") == 10.0);
  CHECK(multiplier("3.") == 3.0);
  CHECK(multiplier("01.5") == 1.5);
  CHECK(jitter("0.25") == 0.25);
  CHECK(jitter(".5") == 0.5);
  CHECK(jitter("0") == 0.0);
  CHECK(jitter("1") == 1.0);

  const std::string field = "backends.mem.supervision.backoff.jitter";
  auto rejected = [&](const std::string& value, const std::string& message,
                      const std::string& hint) {
    INFO(value);
    auto r = with("jitter", value);
    expect_problem(r, field, 6, message);
    REQUIRE(r.problems.size() == 1);
    CHECK_THAT(r.problems[0].hint, Catch::Contains(hint));
    CHECK(r.problems[0].where.column == 17);
  };
  rejected("\"0.2\"", "expected a number, got the quoted string \"0.2\"",
           "remove the quotes");
  rejected("'0.2'", "expected a number, got the quoted string \"0.2\"",
           "remove the quotes");
  rejected(".nan", "expected a number, got \".nan\" (not a number)",
           "use a fraction in 0.0..1.0");
  rejected("NaN", "expected a number, got \"NaN\" (not a number)",
           "use a fraction in 0.0..1.0");
  rejected(".inf", "must be a finite number, got \".inf\"",
           "use a fraction in 0.0..1.0");
  rejected("-.inf", "must be a finite number, got \"-.inf\"",
           "use a fraction in 0.0..1.0");
  rejected("inf", "must be a finite number, got \"inf\"",
           "use a fraction in 0.0..1.0");
  rejected("-0.5", "must not be negative, got -0.5",
           "use a fraction in 0.0..1.0");
  rejected("-0", "must not be negative, got -0", "use a fraction in 0.0..1.0");
  rejected("20%", "expected a number, got \"20%\"",
           "write a fraction, not a percentage: 0.2 for 20%");
  rejected("0.2x", "expected a number, got \"0.2x\"",
           "no quotes, units, signs or exponent");
  rejected("+0.2", "expected a number, got \"+0.2\"",
           "no quotes, units, signs or exponent");
  rejected("2e-1", "expected a number, got \"2e-1\"", "without an exponent");
  rejected("0,2", "expected a number, got \"0,2\"",
           "use '.' as the decimal point: 0.2");
  rejected("0.2.1", "expected a number, got \"0.2.1\"",
           "no quotes, units, signs or exponent");
  rejected(".", "expected a number, got \".\"",
           "no quotes, units, signs or exponent");
  rejected("1.5", "1.5 is out of range 0.0..1.0", "use a fraction in 0.0..1.0");
  rejected(std::string(400, '9') + ".0", "is out of range 0.0..1.0",
           "use a fraction in 0.0..1.0");
  rejected("[0.2]", "expected a number, got a list",
           "use a fraction in 0.0..1.0");

  auto empty = with("multiplier", "");
  expect_problem(empty, "backends.mem.supervision.backoff.multiplier", 6,
                 "has no value; expected a number");
  CHECK(
    find(empty, "backends.mem.supervision.backoff.multiplier")->hint
    == "use a number in 1.0..10.0: each restart delay is the previous one times this (1.0 keeps it at min_ms)");
  auto low = with("multiplier", "0.5");
  expect_problem(low, "backends.mem.supervision.backoff.multiplier", 6,
                 "0.5 is out of range 1.0..10.0");
}

TEST_CASE("supervision and circuit: cross-field checks",
          "[config][supervision]") {
  SECTION(
    "max_ms below min_ms, both set: at the later one, naming both values") {
    auto r = check(R"(backends:
  mem:
    type: memory
    supervision:
      backoff:
        min_ms: 500
        max_ms: 200
namespaces: {cache: {backend: mem}}
)");
    expect_problem(r, "backends.mem.supervision.backoff.max_ms", 7,
                   "max_ms (200) is less than min_ms (500)");
    CHECK(
      find(r, "backends.mem.supervision.backoff.max_ms")->hint
      == "the longest restart delay cannot be shorter than the first: raise max_ms to at least 500, "
         "or lower min_ms to at most 200");
    CHECK(find(r, "backends.mem.supervision.backoff.max_ms")->where.column
          == 17);
    CHECK(r.problems.size() == 1);

    auto reversed = check(R"(backends:
  mem:
    type: memory
    supervision:
      backoff:
        max_ms: 200
        min_ms: 500
namespaces: {cache: {backend: mem}}
)");
    expect_problem(reversed, "backends.mem.supervision.backoff.min_ms", 7,
                   "min_ms (500) is greater than max_ms (200)");
    CHECK(reversed.problems.size() == 1);
  }
  SECTION("against a default") {
    auto r = check(R"(backends:
  big: {type: memory, supervision: {backoff: {min_ms: 20000}}}
  small: {type: memory, supervision: {backoff: {max_ms: 50}}}
  probe:
    type: memory
    circuit:
      probe_after_ms: 40000
namespaces: {cache: {backend: big}}
)");
    expect_problem(
      r, "backends.big.supervision.backoff.min_ms", 2,
      "min_ms (20000) is greater than max_ms (10000, its default)");
    CHECK_THAT(
      find(r, "backends.big.supervision.backoff.min_ms")->hint,
      Catch::EndsWith(
        "raise max_ms to at least 20000, or lower min_ms to at most 10000"));
    expect_problem(r, "backends.small.supervision.backoff.max_ms", 3,
                   "max_ms (50) is less than min_ms (100, its default)");
    expect_problem(
      r, "backends.probe.circuit.probe_after_ms", 7,
      "probe_after_ms (40000) is greater than probe_max_ms (30000, its default)");
    CHECK(
      find(r, "backends.probe.circuit.probe_after_ms")->hint
      == "the longest wait between probes cannot be shorter than the first: raise probe_max_ms to at least "
         "40000, or lower probe_after_ms to at most 30000");
    CHECK(r.problems.size() == 3);
  }
  SECTION("probe_max_ms below probe_after_ms") {
    auto r = check(R"(backends:
  mem:
    type: memory
    circuit: {probe_after_ms: 2000, probe_max_ms: 1999}
namespaces: {cache: {backend: mem}}
)");
    expect_problem(r, "backends.mem.circuit.probe_max_ms", 4,
                   "probe_max_ms (1999) is less than probe_after_ms (2000)");
    CHECK(find(r, "backends.mem.circuit.probe_max_ms")->where.column == 51);
    CHECK(r.problems.size() == 1);
  }
  SECTION("equal values are fine") {
    auto r = check(R"(backends:
  mem:
    type: memory
    supervision: {backoff: {min_ms: 300, max_ms: 300}}
    circuit: {probe_after_ms: 2000, probe_max_ms: 2000}
namespaces: {cache: {backend: mem}}
)");
    INFO("problems:\n" << fields_of(r));
    REQUIRE(r.ok());
    CHECK(r.config->backends.at("mem").supervision.backoff_max_ms == 300);
    CHECK(r.config->backends.at("mem").circuit.probe_max_ms == 2000);
  }
  SECTION("a bad value gives no cross-field complaint on top") {
    auto r = check(R"(backends:
  mem:
    type: memory
    supervision: {backoff: {min_ms: 500, max_ms: 20x}}
namespaces: {cache: {backend: mem}}
)");
    expect_problem(r, "backends.mem.supervision.backoff.max_ms", 4,
                   "expected a whole number, got \"20x\"");
    CHECK(r.problems.size() == 1);
  }
}

TEST_CASE("misplaced supervision and circuit keys", "[config][supervision]") {
  auto r = check(R"(supervision: {}
server:
  circuit: {}
  mailbox_limit: 10
backends:
  disk:
    type: sqlite
    path: ./data/d.db
    strategy: one_for_all
    probe_after_ms: 10
    backoff_min_ms: 5
    supervision:
      backoff_min_ms: 100
      min_ms: 100
      jitter: 0.1
      probe_max_ms: 100
      max_restart: 3
      backoff:
        max_restarts: 3
        backoff_max_ms: 100
        probe_after_ms: 10
        resets_after_ms: 10
    circuit:
      max_ms: 100
      probe_max: 100
      period_ms: 10
namespaces: {cache: {backend: disk}}
)");
  auto hint = [&](const std::string& field) {
    const problem* p = find(r, field);
    REQUIRE(p != nullptr);
    return p->hint;
  };
  expect_problem(r, "supervision", 1, "unknown key \"supervision\"");
  CHECK(hint("supervision")
        == "it belongs under backends.<name>: (each backend has its own)");
  expect_problem(r, "server.circuit", 3, "unknown key \"circuit\"");
  CHECK(hint("server.circuit")
        == "it belongs under backends.<name>: (each backend has its own)");
  expect_problem(r, "server.mailbox_limit", 4, "unknown key \"mailbox_limit\"");
  CHECK_THAT(hint("server.mailbox_limit"),
             Catch::Contains("stage_mailbox_limit"));

  expect_problem(r, "backends.disk.strategy", 9, "unknown key \"strategy\"");
  CHECK(hint("backends.disk.strategy")
        == "it belongs under backends.disk.supervision:");
  expect_problem(r, "backends.disk.probe_after_ms", 10,
                 "unknown key \"probe_after_ms\"");
  CHECK(hint("backends.disk.probe_after_ms")
        == "it belongs under backends.disk.circuit:");
  expect_problem(r, "backends.disk.backoff_min_ms", 11,
                 "unknown key \"backoff_min_ms\"");
  CHECK(hint("backends.disk.backoff_min_ms")
        == "write it as min_ms under backends.disk.supervision.backoff:");

  expect_problem(r, "backends.disk.supervision.backoff_min_ms", 13,
                 "unknown key \"backoff_min_ms\"");
  CHECK(hint("backends.disk.supervision.backoff_min_ms")
        == "write it as min_ms under backends.disk.supervision.backoff:");
  expect_problem(r, "backends.disk.supervision.min_ms", 14,
                 "unknown key \"min_ms\"");
  CHECK(hint("backends.disk.supervision.min_ms")
        == "it belongs under backends.disk.supervision.backoff:");
  expect_problem(r, "backends.disk.supervision.jitter", 15,
                 "unknown key \"jitter\"");
  CHECK(hint("backends.disk.supervision.jitter")
        == "it belongs under backends.disk.supervision.backoff:");
  expect_problem(r, "backends.disk.supervision.probe_max_ms", 16,
                 "unknown key \"probe_max_ms\"");
  CHECK(hint("backends.disk.supervision.probe_max_ms")
        == "it belongs under backends.disk.circuit:");
  expect_problem(r, "backends.disk.supervision.max_restart", 17,
                 "unknown key \"max_restart\"");
  CHECK(hint("backends.disk.supervision.max_restart")
        == "did you mean \"max_restarts\"?");

  expect_problem(r, "backends.disk.supervision.backoff.max_restarts", 19,
                 "unknown key \"max_restarts\"");
  CHECK(hint("backends.disk.supervision.backoff.max_restarts")
        == "it belongs under backends.disk.supervision:");
  expect_problem(r, "backends.disk.supervision.backoff.backoff_max_ms", 20,
                 "unknown key \"backoff_max_ms\"");
  CHECK(
    hint("backends.disk.supervision.backoff.backoff_max_ms")
    == "write it as max_ms here: keys under backoff: have no backoff_ prefix");
  expect_problem(r, "backends.disk.supervision.backoff.probe_after_ms", 21,
                 "unknown key \"probe_after_ms\"");
  CHECK(hint("backends.disk.supervision.backoff.probe_after_ms")
        == "it belongs under backends.disk.circuit:");
  expect_problem(r, "backends.disk.supervision.backoff.resets_after_ms", 22,
                 "unknown key \"resets_after_ms\"");
  CHECK(hint("backends.disk.supervision.backoff.resets_after_ms")
        == "did you mean \"reset_after_ms\"?");

  expect_problem(r, "backends.disk.circuit.max_ms", 24,
                 "unknown key \"max_ms\"");
  CHECK(
    hint("backends.disk.circuit.max_ms")
    == "did you mean \"probe_max_ms\"? the restart delay max_ms belongs under backends.disk.supervision.backoff:");
  expect_problem(r, "backends.disk.circuit.probe_max", 25,
                 "unknown key \"probe_max\"");
  CHECK(hint("backends.disk.circuit.probe_max")
        == "did you mean \"probe_max_ms\"?");
  expect_problem(r, "backends.disk.circuit.period_ms", 26,
                 "unknown key \"period_ms\"");
  CHECK(hint("backends.disk.circuit.period_ms")
        == "it belongs under backends.disk.supervision:");

  CHECK(r.problems.size() == 18);

  // An unknown key with no close match lists the keys allowed there.
  auto far = check(R"(backends:
  mem: {type: memory, circuit: {colour: red}, supervision: {backoff: {colour: red}}}
namespaces: {cache: {backend: mem}}
)");
  CHECK(find(far, "backends.mem.circuit.colour")->hint
        == "allowed keys here: probe_after_ms, probe_max_ms");
  CHECK(
    find(far, "backends.mem.supervision.backoff.colour")->hint
    == "allowed keys here: min_ms, max_ms, multiplier, jitter, reset_after_ms");
}

TEST_CASE("a complete supervision and circuit example is valid",
          "[config][supervision]") {
  auto r = check(R"(server:
  stage_mailbox_limit: 4096
  router_mailbox_limit: 8192
backends:
  mem:
    type: memory
    supervision:
      strategy: one_for_all
      max_restarts: 3
    circuit:
      probe_after_ms: 500
  disk:
    type: sqlite
    path: ./data/prism.db
    supervision:
      strategy: one_for_one       # one_for_one | one_for_all | rest_for_one
      max_restarts: 5             # 0..1000 (0: the first failure gives up)
      period_ms: 10000            # 1..3600000
      backoff:
        min_ms: 100               # 1..3600000
        max_ms: 10000             # 1..3600000, must be >= min_ms
        multiplier: 2.0           # a number in 1.0..10.0
        jitter: 0.2               # a number in 0.0..1.0 (relative spread)
        reset_after_ms: 30000     # 1..86400000
      shutdown_timeout_ms: 5000   # 1..600000
    circuit:
      probe_after_ms: 1000        # 1..3600000
      probe_max_ms: 30000         # 1..86400000, must be >= probe_after_ms
namespaces:
  cache: {backend: mem}
  default: {backend: disk}
)");
  INFO("problems:\n" << fields_of(r));
  REQUIRE(r.ok());
  const auto& cfg = *r.config;
  CHECK(cfg.backends.at("mem").supervision.strategy
        == supervision_strategy::one_for_all);
  CHECK(cfg.backends.at("mem").supervision.max_restarts == 3);
  CHECK(cfg.backends.at("mem").circuit.probe_after_ms == 500);
  const auto& disk = cfg.backends.at("disk");
  CHECK(disk.supervision.backoff_multiplier == 2.0);
  CHECK(disk.supervision.backoff_jitter == 0.2);
  CHECK(disk.circuit.probe_max_ms == 30000);
  CHECK(
    summary(cfg)
    == "config OK: 2 namespaces (cache->mem memory, default->disk sqlite), 2 backends, "
       "listen 127.0.0.1:8980, admin 127.0.0.1:8981");
}

// --- postgres backends ------------------------------------------------------

TEST_CASE("a postgres backend: defaults and every key", "[config][postgres]") {
  auto r = check(R"(backends:
  pg:
    type: postgres
    dsn: "host=127.0.0.1 port=5432 dbname=prism user=prism"
namespaces:
  default: {backend: pg}
)");
  INFO("problems:\n" << fields_of(r));
  REQUIRE(r.ok());
  const auto& pg = r.config->backends.at("pg");
  CHECK(pg.type == backend_type::postgres);
  CHECK(pg.connections == 4);
  CHECK(pg.postgres.dsn == "host=127.0.0.1 port=5432 dbname=prism user=prism");
  CHECK(pg.postgres.password_env.empty());
  CHECK(pg.postgres.password_file.empty());
  CHECK(pg.postgres.connect_timeout_ms == 5000);
  CHECK(pg.postgres.statement_timeout_ms == 30000);
  CHECK(pg.postgres.idle_timeout_ms == 0);
  CHECK(pg.postgres.max_lifetime_ms == 0);
  CHECK(
    summary(*r.config)
    == "config OK: 1 namespace (default->pg postgres), 1 backend, listen 127.0.0.1:8980, admin "
       "127.0.0.1:8981");

  auto all = check(R"(backends:
  pg:
    type: postgres
    dsn: postgresql://prism@db.internal:6432/prism?sslmode=require
    password_env: PRISM_PG_PASSWORD
    connections: 16
    connect_timeout_ms: 2500
    statement_timeout_ms: 0
    idle_timeout_ms: 60000
    max_lifetime_ms: 3600000
    max_pending: 100
    mailbox_limit: 200
    ttl_sweep_interval_ms: 500
    supervision: {max_restarts: 3}
    circuit: {probe_after_ms: 2000}
  other:
    type: postgres
    dsn: "dbname=prism"
    password_file: /run/secrets/prism-pg
namespaces:
  default: {backend: pg}
)");
  INFO("problems:\n" << fields_of(all));
  REQUIRE(all.ok());
  const auto& p = all.config->backends.at("pg");
  CHECK(p.postgres.dsn
        == "postgresql://prism@db.internal:6432/prism?sslmode=require");
  CHECK(p.postgres.password_env == "PRISM_PG_PASSWORD");
  CHECK(p.connections == 16);
  CHECK(p.postgres.connect_timeout_ms == 2500);
  CHECK(p.postgres.statement_timeout_ms == 0);
  CHECK(p.postgres.idle_timeout_ms == 60000);
  CHECK(p.postgres.max_lifetime_ms == 3600000);
  CHECK(p.max_pending == 100);
  CHECK(p.mailbox_limit == 200);
  CHECK(p.ttl_sweep_interval_ms == 500);
  CHECK(p.supervision.max_restarts == 3);
  CHECK(p.circuit.probe_after_ms == 2000);
  CHECK(all.config->backends.at("other").postgres.password_file
        == "/run/secrets/prism-pg");
}

TEST_CASE("a postgres backend without dsn", "[config][postgres]") {
  auto r = check(R"(backends:
  pg:
    type: postgres
    connections: 2
namespaces: {default: {backend: pg}}
)");
  expect_problem(r, "backends.pg.dsn", 3, "missing required key \"dsn\"");
  CHECK_THAT(find(r, "backends.pg.dsn")->hint,
             Catch::Contains("host=127.0.0.1"));
  CHECK(r.problems.size() == 1);

  auto empty = check(R"(backends:
  pg: {type: postgres, dsn: ""}
namespaces: {default: {backend: pg}}
)");
  expect_problem(empty, "backends.pg.dsn", 2, "must not be empty");
}

TEST_CASE("a postgres dsn holding a password is refused without repeating it",
          "[config][postgres]") {
  for (const char* dsn : {"\"host=db password=hunter2x dbname=prism\"",
                          "\"host=db PASSWORD = hunter2x\"",
                          "postgresql://prism:hunter2x@db/prism",
                          "postgres://prism:hunter2x@db:5432",
                          "postgresql://prism@db/prism?password=hunter2x",
                          "\"host=db password='hunter2x\""}) {
    INFO(dsn);
    auto r = check(std::string(R"(backends:
  pg:
    type: postgres
    dsn: )") + dsn + R"(
namespaces: {default: {backend: pg}}
)");
    expect_problem(r, "backends.pg.dsn", 4, "holds a password");
    const problem* p = find(r, "backends.pg.dsn");
    REQUIRE(p != nullptr);
    CHECK_THAT(p->hint,
               Catch::Contains("password_env")
                 && Catch::Contains("password_file"));
    CHECK(format(*p).find("hunter2x") == std::string::npos);
    CHECK(r.problems.size() == 1);
  }
  // A user name alone in a URI is no password.
  CHECK(check(R"(backends:
  pg: {type: postgres, dsn: "postgresql://prism@db/prism"}
namespaces: {default: {backend: pg}}
)")
          .ok());
}

TEST_CASE("a postgres dsn libpq cannot read", "[config][postgres]") {
  auto r = check(R"(backends:
  pg:
    type: postgres
    dsn: "host=db dbname"
  pg2:
    type: postgres
    dsn: "hots=db"
namespaces: {default: {backend: pg}}
)");
  expect_problem(r, "backends.pg.dsn", 4,
                 "is not a valid libpq connection string");
  CHECK_THAT(find(r, "backends.pg.dsn")->hint, Catch::Contains("key=value"));
  expect_problem(r, "backends.pg2.dsn", 7,
                 "invalid connection option \"hots\"");
  CHECK(r.problems.size() == 2);
}

TEST_CASE("password_env and password_file", "[config][postgres]") {
  auto both = check(R"(backends:
  pg:
    type: postgres
    dsn: "dbname=prism"
    password_env: PGPASS
    password_file: /run/secrets/pg
namespaces: {default: {backend: pg}}
)");
  expect_problem(both, "backends.pg.password_file", 6,
                 "password_env and password_file are both set");
  CHECK_THAT(find(both, "backends.pg.password_file")->hint,
             Catch::Contains("keep one"));
  CHECK(both.problems.size() == 1);

  auto bad_name = check(R"(backends:
  pg:
    type: postgres
    dsn: "dbname=prism"
    password_env: "s3cret pass"
namespaces: {default: {backend: pg}}
)");
  expect_problem(bad_name, "backends.pg.password_env", 5,
                 "is not an environment variable name");
  CHECK_THAT(find(bad_name, "backends.pg.password_env")->hint,
             Catch::Contains("not the password"));

  auto empty = check(R"(backends:
  pg:
    type: postgres
    dsn: "dbname=prism"
    password_file:
namespaces: {default: {backend: pg}}
)");
  expect_problem(empty, "backends.pg.password_file", 5, "must not be empty");
}

TEST_CASE("postgres numbers out of range or not numbers",
          "[config][postgres]") {
  auto r = check(R"(backends:
  pg:
    type: postgres
    dsn: "dbname=prism"
    connections: 0
    connect_timeout_ms: 0
    statement_timeout_ms: 86400001
    idle_timeout_ms: -5
    max_lifetime_ms: 1h
  pg2:
    type: postgres
    dsn: "dbname=prism"
    connections: 257
    connect_timeout_ms: "5000"
namespaces: {default: {backend: pg}}
)");
  expect_problem(r, "backends.pg.connections", 5, "0 is out of range 1..256");
  expect_problem(r, "backends.pg.connect_timeout_ms", 6,
                 "0 is out of range 1..600000");
  expect_problem(r, "backends.pg.statement_timeout_ms", 7,
                 "86400001 is out of range 0..86400000");
  expect_problem(r, "backends.pg.idle_timeout_ms", 8, "must not be negative");
  expect_problem(r, "backends.pg.max_lifetime_ms", 9,
                 "expected a whole number, got \"1h\"");
  expect_problem(r, "backends.pg2.connections", 13,
                 "257 is out of range 1..256");
  expect_problem(r, "backends.pg2.connect_timeout_ms", 14, "quoted string");
  CHECK(r.problems.size() == 7);
}

TEST_CASE("postgres keys on other backends and sqlite keys on postgres",
          "[config][postgres]") {
  auto r = check(R"(backends:
  mem:
    type: memory
    dsn: "dbname=prism"
    statement_timeout_ms: 10
  disk:
    type: sqlite
    path: ./data/p.db
    password_env: PGPASS
  pg:
    type: postgres
    dsn: "dbname=prism"
    path: ./data/p.db
    synchronous: full
    busy_timeout_ms: 10
namespaces: {default: {backend: pg}}
)");
  expect_problem(
    r, "backends.mem.dsn", 4,
    "\"dsn\" is only valid on postgres backends, and \"mem\" is a memory backend");
  CHECK(find(r, "backends.mem.dsn")->hint
        == "remove it, or set type: postgres");
  expect_problem(r, "backends.mem.statement_timeout_ms", 5,
                 "only valid on postgres backends");
  expect_problem(
    r, "backends.disk.password_env", 9,
    "\"password_env\" is only valid on postgres backends, and \"disk\" is a sqlite backend");
  expect_problem(
    r, "backends.pg.path", 13,
    "\"path\" is only valid on sqlite backends, and \"pg\" is a postgres backend");
  CHECK_THAT(find(r, "backends.pg.path")->hint, Catch::Contains("dsn:"));
  expect_problem(r, "backends.pg.synchronous", 14,
                 "only valid on sqlite backends");
  CHECK_THAT(find(r, "backends.pg.synchronous")->hint,
             Catch::Contains("synchronous_commit"));
  expect_problem(r, "backends.pg.busy_timeout_ms", 15,
                 "only valid on sqlite backends");
  CHECK_THAT(find(r, "backends.pg.busy_timeout_ms")->hint,
             Catch::Contains("statement_timeout_ms"));
  CHECK(r.problems.size() == 6);

  // A misspelt postgres key gets a guess; an unknown type accepts both
  // kinds of key (the type is what is wrong).
  auto typo = check(R"(backends:
  pg: {type: postgres, dns: "dbname=prism", connect_timeout: 5000}
  odd: {type: postgress, dsn: "dbname=prism", path: x.db}
namespaces: {default: {backend: pg}}
)");
  expect_problem(typo, "backends.pg.dns", 2, "unknown key \"dns\"");
  CHECK_THAT(find(typo, "backends.pg.dns")->hint, Catch::Contains("dsn"));
  expect_problem(typo, "backends.pg.connect_timeout", 2,
                 "unknown key \"connect_timeout\"");
  CHECK(find(typo, "backends.pg.connect_timeout")->hint
        == "did you mean \"connect_timeout_ms\"?");
  expect_problem(typo, "backends.odd.type", 3,
                 "unknown backend type \"postgress\"");
  CHECK(find(typo, "backends.pg.dsn") != nullptr); // and dsn is still missing
  CHECK(typo.problems.size() == 4);
}

TEST_CASE("a pubsub namespace cannot use a postgres backend",
          "[config][postgres]") {
  auto r = check(R"(backends:
  pg: {type: postgres, dsn: "dbname=prism"}
namespaces:
  events:
    backend: pg
    pattern: pubsub
)");
  expect_problem(r, "namespaces.events.pattern", 6,
                 "backend \"pg\" is postgres, which cannot serve pubsub");
}

TEST_CASE("the postgres example config is valid", "[config][postgres]") {
  auto r = load_file(std::string{PRISM_SOURCE_DIR}
                     + "/config/postgres.example.yaml");
  INFO("problems:\n" << fields_of(r));
  REQUIRE(r.ok());
  bool has_postgres = false;
  for (const auto& [name, b] : r.config->backends)
    has_postgres = has_postgres || b.type == backend_type::postgres;
  CHECK(has_postgres);
}

// --- Kafka and NATS pubsub backends -------------------------------------------

TEST_CASE("kafka and nats backends are read with their defaults and settings",
          "[config][pubsub]") {
  auto r = check(R"(backends:
  k:
    type: kafka
    brokers: [127.0.0.1:9092, "kafka-2:9093"]
    topic_prefix: apps.
    partitions: 6
    replication_factor: 3
    unavailable_after_ms: 2500
    properties: {security.protocol: plaintext, linger.ms: "5"}
  n:
    type: nats
    url: nats://127.0.0.1:4222,nats://127.0.0.1:4223
    jetstream: false
    subject_prefix: apps.prism
    stream_prefix: APPS_
    connect_timeout_ms: 500
    token_env: NATS_TOKEN
  plain: {type: kafka, brokers: "a:1, b:2"}
  core: {type: nats, url: "nats://[::1]:4222"}
namespaces:
  orders: {backend: k, pattern: pubsub}
  events: {backend: n, pattern: pubsub, slow_subscriber: disconnect}
  more: {backend: plain, pattern: pubsub}
  jobs: {backend: core, pattern: pubsub}
)");
  INFO("problems:\n" << fields_of(r));
  REQUIRE(r.ok());
  const auto& k = r.config->backends.at("k");
  CHECK(k.type == backend_type::kafka);
  CHECK(k.kafka.brokers == "127.0.0.1:9092,kafka-2:9093");
  CHECK(k.kafka.topic_prefix == "apps.");
  CHECK(k.kafka.partitions == 6);
  CHECK(k.kafka.replication_factor == 3);
  CHECK(k.unavailable_after_ms == 2500);
  CHECK(k.kafka.properties.at("linger.ms") == "5");
  CHECK(k.kafka.properties.size() == 2);
  const auto& plain = r.config->backends.at("plain");
  CHECK(plain.kafka.brokers == "a:1,b:2");
  CHECK(plain.kafka.topic_prefix == "prism.");
  CHECK(plain.kafka.partitions == 1);
  CHECK(plain.kafka.replication_factor == -1);
  CHECK(plain.unavailable_after_ms
        == prism::defaults::pubsub_unavailable_after_ms);
  const auto& n = r.config->backends.at("n");
  CHECK(n.type == backend_type::nats);
  CHECK(n.nats.url == "nats://127.0.0.1:4222,nats://127.0.0.1:4223");
  CHECK_FALSE(n.nats.jetstream);
  CHECK(n.nats.subject_prefix == "apps.prism");
  CHECK(n.nats.stream_prefix == "APPS_");
  CHECK(n.nats.connect_timeout_ms == 500);
  CHECK(n.nats.token_env == "NATS_TOKEN");
  CHECK(r.config->backends.at("core").nats.jetstream);
  CHECK(r.config->namespaces.at("events").disconnect_slow_subscribers);
  CHECK_FALSE(r.config->namespaces.at("orders").disconnect_slow_subscribers);
}

TEST_CASE(
  "bad kafka and nats settings are reported with their place and a hint",
  "[config][pubsub]") {
  auto r = check(R"(backends:
  k:
    type: kafka
    brokers: "127.0.0.1:9092, kafka://x:1"
    topic_prefix: "a b"
    partitions: 0
    replication_factor: -2
    properties: {acks: "1", linger.ms: [1], bogus.prop: x, socket.timeout.ms: abc, security.protocol: carrier-pigeon}
    connections: 4
  nokafka: {type: kafka}
  n:
    type: nats
    url: nats://user:secret@127.0.0.1:4222
    jetstream: "yes"
    subject_prefix: "a.*"
    stream_prefix: "A.B"
    token_env: "1TOKEN"
    dsn: "dbname=x"
  badurl: {type: nats, url: "127.0.0.1:4222"}
namespaces:
  a: {backend: k, pattern: pubsub}
  b: {backend: n, pattern: pubsub}
  c: {backend: badurl}
)");
  expect_problem(r, "backends.k.brokers", 4,
                 "broker address \"kafka://x:1\" is not host:port");
  expect_problem(r, "backends.k.topic_prefix", 5,
                 "invalid topic prefix \"a b\"");
  expect_problem(r, "backends.k.partitions", 6, "0 is out of range 1..10000");
  expect_problem(r, "backends.k.replication_factor", 7,
                 "must not be negative, got -2");
  expect_problem(r, "backends.k.properties.acks", 8,
                 "\"acks\" is set by Prism and cannot be changed");
  CHECK_THAT(find(r, "backends.k.properties.acks")->hint,
             Catch::Contains("acks=all"));
  expect_problem(r, "backends.k.properties.linger.ms", 8, "expected a value");
  // What librdkafka itself refuses when the backend starts, checked here.
  expect_problem(r, "backends.k.properties.bogus.prop", 8,
                 "librdkafka refuses it: No such configuration property");
  expect_problem(r, "backends.k.properties.socket.timeout.ms", 8,
                 "librdkafka refuses it: ");
  expect_problem(r, "backends.k.properties.security.protocol", 8,
                 "librdkafka refuses it: ");
  expect_problem(
    r, "backends.k.connections", 9,
    "\"connections\" is only valid on memory, sqlite or postgres backends, and \"k\" is a kafka backend");
  CHECK_THAT(find(r, "backends.k.connections")->hint,
             Catch::Contains("one client"));
  expect_problem(r, "backends.nokafka.brokers", 10,
                 "missing required key \"brokers\"");
  // The message does not repeat the URL: it holds a secret.
  expect_problem(r, "backends.n.url", 13, "the url holds credentials");
  CHECK(find(r, "backends.n.url")->message.find("secret") == std::string::npos);
  CHECK_THAT(find(r, "backends.n.url")->hint, Catch::Contains("token_env"));
  expect_problem(r, "backends.n.jetstream", 14,
                 "expected true or false, got \"yes\"");
  expect_problem(r, "backends.n.subject_prefix", 15,
                 "invalid subject prefix \"a.*\"");
  expect_problem(r, "backends.n.stream_prefix", 16,
                 "invalid stream prefix \"A.B\"");
  expect_problem(r, "backends.n.token_env", 17,
                 "\"1TOKEN\" is not an environment variable name");
  expect_problem(
    r, "backends.n.dsn", 18,
    "\"dsn\" is only valid on postgres backends, and \"n\" is a nats backend");
  expect_problem(r, "backends.badurl.url", 19,
                 "server URL \"127.0.0.1:4222\" is not nats://host:port");
  // A namespace on a pubsub-only backend must say pattern: pubsub.
  expect_problem(
    r, "namespaces.c.backend", 23,
    "backend \"badurl\" is nats, which serves only pubsub namespaces, and this namespace is "
    "keyvalue (the default pattern)");
  CHECK_THAT(find(r, "namespaces.c.backend")->hint,
             Catch::Contains("pattern: pubsub"));
  CHECK(r.problems.size() == 19);
}

TEST_CASE("pubsub-only keys are refused elsewhere", "[config][pubsub]") {
  auto r = check(R"(backends:
  mem: {type: memory, brokers: "a:1", unavailable_after_ms: 100}
  k: {type: kafka, brokers: "a:1", url: "nats://a:1", topic_retained_messages: 5}
namespaces:
  cache: {backend: mem, slow_subscriber: disconnect}
  events: {backend: k, pattern: pubsub, slow_subscriber: sometimes}
)");
  expect_problem(
    r, "backends.mem.brokers", 2,
    "\"brokers\" is only valid on kafka backends, and \"mem\" is a memory backend");
  CHECK(find(r, "backends.mem.brokers")->hint
        == "remove it, or set type: kafka");
  expect_problem(r, "backends.mem.unavailable_after_ms", 2,
                 "only valid on kafka or nats backends");
  expect_problem(r, "backends.k.url", 3,
                 "\"url\" is only valid on nats backends");
  expect_problem(r, "backends.k.topic_retained_messages", 3,
                 "only valid on memory backends");
  CHECK_THAT(find(r, "backends.k.topic_retained_messages")->hint,
             Catch::Contains("its own servers"));
  expect_problem(r, "namespaces.cache.slow_subscriber", 5,
                 "slow_subscriber applies only to pubsub namespaces");
  expect_problem(r, "namespaces.events.slow_subscriber", 6,
                 "unknown slow subscriber policy \"sometimes\"");
  CHECK(r.problems.size() == 6);
}

TEST_CASE("the kafka and nats example configs are valid", "[config][pubsub]") {
  for (auto [file, type] :
       {std::pair{"kafka.example.yaml", backend_type::kafka},
        std::pair{"nats.example.yaml", backend_type::nats}}) {
    auto r = load_file(std::string{PRISM_SOURCE_DIR} + "/config/" + file);
    INFO(file << " problems:\n" << fields_of(r));
    REQUIRE(r.ok());
    bool has_type = false;
    for (const auto& [name, b] : r.config->backends)
      has_type = has_type || b.type == type;
    CHECK(has_type);
  }
}

TEST_CASE("a namespace on a kafka or nats backend has no '.' in its name",
          "[config][pubsub]") {
  auto r = check(R"(backends:
  k: {type: kafka, brokers: "a:1"}
  n: {type: nats, url: "nats://a:1"}
  mem: {type: memory}
namespaces:
  app.orders: {backend: k, pattern: pubsub}
  app.events: {backend: n, pattern: pubsub}
  app.cache: {backend: mem, pattern: pubsub}
)");
  expect_problem(r, "namespaces.app.orders", 6,
                 "namespace name \"app.orders\" has a '.'");
  CHECK(find(r, "namespaces.app.orders")->hint
        == "rename it without '.', e.g. \"app-orders\"");
  expect_problem(r, "namespaces.app.events", 7,
                 "which a nats backend cannot keep apart");
  CHECK(r.problems.size() == 2);
}

// --- authentication and access --------------------------------------------------

TEST_CASE("auth and access rules are read, with tokens from the file too",
          "[config][auth]") {
  auto dir = std::filesystem::temp_directory_path()
    / ("prism-auth-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = (dir / "tokens").string();
  {
    std::ofstream out(file);
    out
      << "# principal and the SHA-256 of its token\n"
      << "carol 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824  # hello\n\n";
  }
  auto r = check(std::string{R"(auth:
  mode: token
  tokens:
    alice: ba5005a40cf5212e4ac0190104cc127edab013294bb71279a975b27a80982d45
  token_file: )"} + file
                 + R"(
  groups: {ops: [alice, carol]}
  admins: [ops]
backends: {mem: {type: memory}}
namespaces:
  cache: {backend: mem, access: {read: [carol], write: [ops], admin: [alice]}}
)");
  std::filesystem::remove_all(dir);
  INFO("problems:\n" << fields_of(r));
  REQUIRE(r.ok());
  const auto& auth = r.config->auth;
  CHECK(auth.mode == auth_mode::token);
  CHECK(auth.token_hashes.at("carol")
        == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
  CHECK(auth.token_hashes.size() == 2);
  CHECK(auth.groups.at("ops") == std::vector<std::string>{"alice", "carol"});
  CHECK(auth.admins == std::vector<std::string>{"ops"});
  const auto& access = r.config->namespaces.at("cache").access;
  CHECK(access.read == std::vector<std::string>{"carol"});
  CHECK(access.write == std::vector<std::string>{"ops"});
  CHECK(access.admin == std::vector<std::string>{"alice"});
}

TEST_CASE(
  "bad auth settings are reported without repeating what may be a token",
  "[config][auth]") {
  auto r = check(R"(auth:
  mode: tokens
  tokens:
    alice: my-secret-token
    "bad name": ba5005a40cf5212e4ac0190104cc127edab013294bb71279a975b27a80982d45
  token_file: /no/such/file
  groups: {ops: [alice, nobody]}
  admins: [ghost]
backends: {mem: {type: memory}}
namespaces:
  cache: {backend: mem, access: {read: [stranger], writ: [ops]}}
)");
  expect_problem(r, "auth.mode", 2, "unknown auth mode \"tokens\"");
  expect_problem(r, "auth.tokens.alice", 4, "is not the SHA-256 of a token");
  CHECK(find(r, "auth.tokens.alice")->message.find("my-secret-token")
        == std::string::npos);
  CHECK_THAT(find(r, "auth.tokens.alice")->hint, Catch::Contains("sha256sum"));
  expect_problem(r, "auth.tokens.bad name", 5,
                 "invalid principal name \"bad name\"");
  expect_problem(r, "auth.token_file", 6,
                 "cannot read token file \"/no/such/file\"");
  expect_problem(r, "auth.groups.ops", 7, "unknown principal \"nobody\"");
  expect_problem(r, "auth.admins", 8, "unknown principal or group \"ghost\"");
  expect_problem(r, "namespaces.cache.access.writ", 11, "unknown key \"writ\"");
  // The mode is unknown, so access rules are refused as if auth were off.
  expect_problem(r, "namespaces.cache.access", 11,
                 "access rules apply only with auth.mode token or mtls");
  CHECK(r.problems.size() == 8);

  auto unknown = check(R"(auth:
  mode: token
  tokens: {alice: ba5005a40cf5212e4ac0190104cc127edab013294bb71279a975b27a80982d45}
backends: {mem: {type: memory}}
namespaces:
  cache: {backend: mem, access: {read: [stranger]}}
)");
  expect_problem(unknown, "namespaces.cache.access.read", 6,
                 "unknown principal or group \"stranger\"");
  CHECK(unknown.problems.size() == 1);

  auto empty = check(R"(auth: {mode: token}
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
  expect_problem(empty, "auth.mode", 1,
                 "auth mode token, but no principal has a token");
}

TEST_CASE(
  "two principals with one token, a token_file that is a directory, and an audit log on "
  "a SQLite database are refused",
  "[config][auth]") {
  const std::string hash
    = "ba5005a40cf5212e4ac0190104cc127edab013294bb71279a975b27a80982d45";
  auto same = check(R"(auth:
  mode: token
  tokens: {alice: )" + hash
                    + R"(, bob: )" + hash + R"(}
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
  expect_problem(same, "auth", 1,
                 "principals \"alice\" and \"bob\" have the same token");
  CHECK(same.problems.size() == 1);
  // The same in capitals is the same hash.
  std::string upper = hash;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char ch) { return std::toupper(ch); });
  auto cased = check(R"(auth:
  mode: token
  tokens: {alice: )" + hash
                     + R"(, bob: )" + upper + R"(}
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
  CHECK(cased.problems.size() == 1);

  const std::string dir = (std::filesystem::temp_directory_path()
                           / ("prism-config-" + std::to_string(::getpid())))
                            .string();
  std::filesystem::create_directories(dir);
  auto directory = check(R"(auth:
  mode: token
  tokens: {alice: )" + hash
                         + R"(}
  token_file: )" + dir + R"(
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
  expect_problem(directory, "auth.token_file", 4, "it is a directory");
  CHECK(directory.problems.size() == 1);

  auto shared = check(R"(audit: {path: )" + dir + R"(/same.db}
backends:
  disk: {type: sqlite, path: )"
                      + dir + R"(/./same.db}
namespaces: {cache: {backend: disk}}
)");
  expect_problem(shared, "backends.disk.path", 3,
                 "shares the audit log's file");
  CHECK(shared.problems.size() == 1);
  auto wal = check(R"(audit: {path: )" + dir + R"(/same.db-wal}
backends:
  disk: {type: sqlite, path: )"
                   + dir + R"(/same.db}
namespaces: {cache: {backend: disk}}
)");
  expect_problem(wal, "backends.disk.path", 3,
                 "(its wal file) shares the audit log's file");
  CHECK(wal.problems.size() == 1);
  CHECK(check(R"(audit: {path: )" + dir + R"(/same.db-log}
backends:
  disk: {type: sqlite, path: )"
              + dir + R"(/same.db}
namespaces: {cache: {backend: disk}}
)")
          .ok());
  std::filesystem::remove_all(dir);
}

TEST_CASE(
  "auth mode mtls: principals come from certificates, so groups and access rules may name "
  "anyone, it needs server.tls with a client CA",
  "[config][auth][tls]") {
  // No TLS section: the names are accepted, the missing CA is reported.
  auto r = check(R"(auth:
  mode: mtls
  principal_from: san
  groups: {ops: [alice.example.com]}
  admins: [ops]
backends: {mem: {type: memory}}
namespaces:
  cache: {backend: mem, access: {read: [bob], write: [ops]}}
)");
  expect_problem(r, "auth.mode", 2,
                 "auth mode mtls needs TLS on the gRPC listener");
  CHECK(r.problems.size() == 1);

  auto misplaced = check(R"(auth: {mode: token, principal_from: cn,
  tokens: {alice: ba5005a40cf5212e4ac0190104cc127edab013294bb71279a975b27a80982d45}}
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
  expect_problem(misplaced, "auth.principal_from", 1,
                 "applies only with auth.mode: mtls");
  CHECK(misplaced.problems.size() == 1);

  auto bad = check(R"(server:
  tls: {cert: a.pem, key_file: /no/such.key}
auth: {mode: mtls, principal_from: subject}
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
  expect_problem(bad, "server.tls.cert", 2, "unknown key \"cert\"");
  CHECK_THAT(find(bad, "server.tls.cert")->hint, Catch::Contains("cert_file"));
  expect_problem(bad, "server.tls.key_file", 2, "cannot read /no/such.key");
  expect_problem(bad, "server.tls.cert_file", 2,
                 "missing required key \"cert_file\"");
  expect_problem(bad, "auth.principal_from", 3,
                 "unknown certificate field \"subject\"");
  expect_problem(bad, "auth.mode", 3, "auth mode mtls needs TLS");
}

TEST_CASE("rate limits are read with a default burst, and bad ones reported",
          "[config][rate_limit]") {
  auto r = check(R"(backends: {mem: {type: memory}}
namespaces:
  a: {backend: mem, rate_limit: {rate: 2.5}}
  b: {backend: mem, rate_limit: {rate: 100, burst: 20, per_principal: {rate: 5, burst: 1}}}
  c: {backend: mem, rate_limit: {per_principal: {rate: 1}}}
)");
  INFO("problems:\n" << fields_of(r));
  REQUIRE(r.ok());
  const auto& a = r.config->namespaces.at("a");
  CHECK(a.namespace_rate.rate == 2.5);
  CHECK(a.namespace_rate.burst == 3);
  CHECK_FALSE(a.principal_rate.limited());
  const auto& b = r.config->namespaces.at("b");
  CHECK(b.namespace_rate.burst == 20);
  CHECK(b.principal_rate.rate == 5);
  CHECK(b.principal_rate.burst == 1);
  CHECK_FALSE(r.config->namespaces.at("c").namespace_rate.limited());
  CHECK(r.config->namespaces.at("c").principal_rate.limited());

  auto bad = check(R"(backends: {mem: {type: memory}}
namespaces:
  a: {backend: mem, rate_limit: {rate: 0, burst: 0}}
  b: {backend: mem, rate_limit: {burst: 5, per_principal: {rate: "fast"}, limit: 3}}
)");
  expect_problem(bad, "namespaces.a.rate_limit.rate", 3, "0 is out of range");
  expect_problem(bad, "namespaces.b.rate_limit.rate", 4,
                 "missing required key \"rate\"");
  expect_problem(bad, "namespaces.b.rate_limit.per_principal.rate", 4,
                 "expected a number");
  expect_problem(bad, "namespaces.b.rate_limit.limit", 4,
                 "unknown key \"limit\"");
  CHECK(bad.problems.size() == 4);
}

TEST_CASE("redact_keys is true or false", "[config]") {
  auto r = check(R"(backends: {mem: {type: memory}}
namespaces:
  a: {backend: mem, redact_keys: true}
  b: {backend: mem}
  c: {backend: mem, redact_keys: "yes"}
)");
  expect_problem(r, "namespaces.c.redact_keys", 5,
                 "expected true or false, got \"yes\"");
  CHECK(r.problems.size() == 1);
  auto ok = check(R"(backends: {mem: {type: memory}}
namespaces:
  a: {backend: mem, redact_keys: true}
  b: {backend: mem}
)");
  REQUIRE(ok.ok());
  CHECK(ok.config->namespaces.at("a").redact_keys);
  CHECK_FALSE(ok.config->namespaces.at("b").redact_keys);
}

TEST_CASE("audit_required is true or false, and needs the audit stage",
          "[config]") {
  auto r = check(R"(backends: {mem: {type: memory}}
namespaces:
  a: {backend: mem, audit_required: true}
  b: {backend: mem, audit_required: 1}
  c: {backend: mem, middleware: [metrics], audit_required: true}
  d: {backend: mem, middleware: [], audit_required: false}
)");
  expect_problem(r, "namespaces.b.audit_required", 4,
                 "expected true or false, got \"1\"");
  expect_problem(r, "namespaces.c.audit_required", 5, "needs the audit stage");
  CHECK_THAT(find(r, "namespaces.c.audit_required")->hint,
             Catch::Contains("add audit to middleware:"));
  CHECK(r.problems.size() == 2);
  auto ok = check(R"(backends: {mem: {type: memory}}
namespaces:
  a: {backend: mem, audit_required: true}
  b: {backend: mem, middleware: [audit], audit_required: true}
  c: {backend: mem}
)");
  REQUIRE(ok.ok());
  CHECK(ok.config->namespaces.at("a").audit_required);
  CHECK(ok.config->namespaces.at("b").audit_required);
  CHECK_FALSE(ok.config->namespaces.at("c").audit_required);
}

TEST_CASE("aliases of aliases are refused before they are expanded",
          "[config]") {
  // Nine levels of ten aliases each: a billion values once expanded, which
  // the reload's record of a section would walk one by one.
  std::string yaml = "x0: &x0 [a, a, a, a, a, a, a, a, a, a]\n";
  for (int level = 1; level < 9; ++level) {
    yaml += "x" + std::to_string(level) + ": &x" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i)
      yaml += (i ? ", *x" : "*x") + std::to_string(level - 1);
    yaml += "]\n";
  }
  yaml += "server: *x8\n"
          "backends:\n"
          "  mem: {type: memory, supervision: {backoff: *x8}}\n"
          "namespaces: {cache: {backend: mem}}\n";
  auto r = check(yaml);
  INFO("problems:\n" << fields_of(r));
  CHECK_FALSE(r.config.has_value());
  auto expanded = [&](const std::string& field) {
    return std::any_of(r.problems.begin(), r.problems.end(), [&](auto& p) {
      return p.field == field
        && p.message.find("once its aliases are expanded") != std::string::npos
        && !p.hint.empty();
    });
  };
  CHECK(expanded("server"));
  CHECK(expanded("backends.mem"));
}

TEST_CASE("an alias inside its own anchor is refused, not followed without "
          "end",
          "[config]") {
  auto r = check(R"(server: &loop {scheduler: [*loop]}
backends:
  mem: &self [type, *self]
namespaces: {cache: {backend: mem}}
)");
  INFO("problems:\n" << fields_of(r));
  CHECK_FALSE(r.config.has_value());
  for (auto field : {"server", "backends.mem"}) {
    INFO(field);
    CHECK(std::any_of(r.problems.begin(), r.problems.end(), [&](auto& p) {
      return p.field == field
        && p.message.find("levels deep, once its aliases are expanded")
        != std::string::npos;
    }));
  }
}

TEST_CASE("anchors and aliases that share settings are read as written",
          "[config]") {
  auto r = check(R"(backends:
  a: &pool {type: memory, connections: 4}
  b: *pool
namespaces:
  one: {backend: a}
  two: {backend: b}
)");
  INFO(fields_of(r));
  REQUIRE(r.ok());
  CHECK(r.config->backends.at("b").connections == 4);
  CHECK(r.config->backends.at("a").source == r.config->backends.at("b").source);
}

TEST_CASE("a token file or a TLS file that is a device is refused, not read "
          "without end",
          "[config]") {
  auto r = check(R"(auth:
  mode: token
  token_file: /dev/zero
server:
  tls: {cert_file: /dev/zero, key_file: /dev/null}
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
  expect_problem(r, "auth.token_file", 3, "it is not a regular file");
  expect_problem(r, "server.tls.cert_file", 5, "it is not a regular file");
  expect_problem(r, "server.tls.key_file", 5, "it is not a regular file");
}
