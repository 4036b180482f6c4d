#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>

#include "config/config.hpp"

using namespace prism::config;

namespace {

load_result check(const std::string& yaml) { return parse(yaml, "test.yaml"); }

/// Every field that has a problem, for failure messages.
std::string fields_of(const load_result& r) {
  std::string out;
  for (const auto& p : r.problems)
    out += format(p) + "\n";
  return out;
}

/// The first problem on `field`, or nullptr.
const problem* find(const load_result& r, const std::string& field) {
  auto it = std::find_if(r.problems.begin(), r.problems.end(), [&](const problem& p) { return p.field == field; });
  return it == r.problems.end() ? nullptr : &*it;
}

/// Checks that `r` has a problem on `field` at `line` whose message contains `text`.
void expect_problem(const load_result& r, const std::string& field, int line, const std::string& text) {
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
  REQUIRE(cfg.namespaces.size() == 2);
  REQUIRE(cfg.namespaces.count("cache") == 1);
  REQUIRE(cfg.namespaces.count("default") == 1);

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

  CHECK(summary(cfg)
        == "config OK: 2 namespaces (cache->mem memory, default->local sqlite), 2 backends, "
           "listen 127.0.0.1:8980, admin 127.0.0.1:8981");
}

TEST_CASE("the example configs are valid", "[config]") {
  int seen = 0;
  for (const auto& file : std::filesystem::directory_iterator(std::string{PRISM_SOURCE_DIR} + "/config/examples")) {
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
  CHECK(cfg.max_request_bytes() == 4 * 1024 * 1024 + prism::defaults::message_overhead_bytes);
}

TEST_CASE("explicit values are read", "[config]") {
  auto r = check(R"(server:
  listen: "[::1]:0"
  admin: localhost:0
  session_idle_timeout_ms: 1000
  scheduler: {max_throughput: 100000, threads: 64}
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
  REQUIRE(r.ok()); // an unused backend ("spare") is fine, and port 0 twice is fine
  const auto& cfg = *r.config;
  CHECK(cfg.server.listen == "[::1]:0");
  CHECK(cfg.server.session_idle_timeout_ms == 1000);
  CHECK(cfg.server.scheduler_max_throughput == 100000);
  CHECK(cfg.server.scheduler_threads == 64);
  CHECK(cfg.audit.path == "/var/log/prism/audit.log");
  CHECK(cfg.backends.at("mem").connections == 256);
  CHECK(cfg.backends.at("mem").max_pending == 0);
  CHECK(cfg.backends.at("mem").ttl_sweep_interval_ms == 10);
  CHECK(cfg.backends.at("disk").connections == 2);
  CHECK(cfg.backends.at("disk").sqlite.synchronous == sqlite_synchronous::normal);
  CHECK(cfg.backends.at("disk").sqlite.busy_timeout_ms == 0);
  CHECK(cfg.namespaces.at("events").pattern == pattern::pubsub);
  CHECK(cfg.namespaces.at("events").middleware.empty());
  CHECK(cfg.namespaces.at("store").middleware == std::vector<std::string>{"audit", "metrics"});
  CHECK(cfg.max_request_bytes() == 67108864 + prism::defaults::message_overhead_bytes);
  CHECK(summary(cfg)
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
  CHECK_THAT(list.problems[0].message, Catch::Contains("must be a map") && Catch::Contains("a list"));

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
  CHECK_THAT(r.problems[0].message, Catch::Contains("more than one YAML document"));

  // A leading "---" or a trailing empty document is fine.
  CHECK(check(std::string{"---\n"} + valid + "---\n").ok());

  // A syntax error in a later document is still found.
  auto later = check(std::string{valid} + "---\nbackends: [\n");
  REQUIRE(later.problems.size() == 1);
  CHECK_THAT(later.problems[0].message, Catch::StartsWith("YAML syntax error"));
}

TEST_CASE("unknown keys get a did-you-mean hint or the allowed keys", "[config]") {
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
  CHECK(find(r, "backends.mem.conections")->hint == "did you mean \"connections\"?");
  expect_problem(r, "namespaces.cache.colour", 10, "unknown key \"colour\"");
  CHECK(find(r, "namespaces.cache.colour")->hint
        == "allowed keys here: pattern, backend, max_value_bytes, middleware");
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
  expect_problem(r, "backends.mem.connections", 5, "duplicate key \"connections\"");
  CHECK_THAT(find(r, "backends.mem.connections")->hint, Catch::Contains("line 4"));
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
    expect_problem(r, "backends.mem.connections", 4, "expected a whole number, got \"12abc\"");
    CHECK(find(r, "backends.mem.connections")->where.column == 18);
  }
  SECTION("a string where a number is needed") {
    auto s = check(R"(server:
  session_idle_timeout_ms: soon
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
    expect_problem(s, "server.session_idle_timeout_ms", 2, "expected a whole number, got \"soon\"");
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
    expect_problem(r, "server.scheduler.max_throughput", 3, "must not be negative, got -5");
  }
  SECTION("a map where a list is needed") {
    auto r = check(R"(backends: {mem: {type: memory}}
namespaces:
  cache:
    backend: mem
    middleware: {metrics: true}
)");
    expect_problem(r, "namespaces.cache.middleware", 5, "expected a list of stages, got a map");
  }
  SECTION("a list where a map is needed") {
    auto r = check(R"(backends:
  - mem
namespaces: {cache: {backend: mem}}
)");
    expect_problem(r, "backends", 2, "expected a map");
    CHECK(find(r, "namespaces.cache.backend") == nullptr); // no knock-on complaint
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
  scheduler: {max_throughput: 0, threads: 65}
backends:
  mem: {type: memory, connections: 0, max_pending: 1000001, ttl_sweep_interval_ms: 9}
  disk: {type: sqlite, path: x.db, busy_timeout_ms: 600001, connections: 257}
namespaces:
  cache: {backend: mem, max_value_bytes: 67108865}
  zero: {backend: disk, max_value_bytes: 0}
  huge: {backend: disk, max_value_bytes: 99999999999999999999999}
)");
  expect_problem(r, "server.session_idle_timeout_ms", 2, "999 is out of range 1000..86400000");
  expect_problem(r, "server.scheduler.max_throughput", 3, "0 is out of range 1..100000");
  expect_problem(r, "server.scheduler.threads", 3, "65 is out of range 0..64");
  expect_problem(r, "backends.mem.connections", 5, "0 is out of range 1..256");
  expect_problem(r, "backends.mem.max_pending", 5, "1000001 is out of range 0..1000000");
  expect_problem(r, "backends.mem.ttl_sweep_interval_ms", 5, "9 is out of range 10..3600000");
  expect_problem(r, "backends.disk.busy_timeout_ms", 6, "600001 is out of range 0..600000");
  expect_problem(r, "backends.disk.connections", 6, "257 is out of range 1..256");
  expect_problem(r, "namespaces.cache.max_value_bytes", 8, "67108865 is out of range 1..67108864");
  expect_problem(r, "namespaces.zero.max_value_bytes", 9, "0 is out of range");
  expect_problem(r, "namespaces.huge.max_value_bytes", 10, "out of range");
  CHECK(r.problems.size() == 11);
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
  expect_problem(r, "namespaces.cache.backend", 8, "missing required key \"backend\"");

  auto sections = check("server: {listen: 127.0.0.1:9000}\n");
  expect_problem(sections, "backends", 1, "missing required key \"backends\"");
  expect_problem(sections, "namespaces", 1, "missing required key \"namespaces\"");
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
  CHECK(find(r, "backends.mem.type")->hint == "did you mean \"memory\"? use one of: memory, sqlite");
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
  CHECK(find(r, "namespaces.cache.backend")->hint == "define it under backends: or use one of: local, mem");
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
  expect_problem(r, "namespaces.-cache", 5, "invalid namespace name \"-cache\"");
  CHECK(find(r, "namespaces.ok.name-1_2") == nullptr);

  std::string long_name(65, 'b');
  auto too_long = check("backends:\n  " + long_name + ": {type: memory}\nnamespaces: {a: {backend: " + long_name + "}}\n");
  expect_problem(too_long, "backends." + long_name, 2, "invalid backend name");
  std::string ok_name(64, 'b');
  CHECK(check("backends:\n  " + ok_name + ": {type: memory}\nnamespaces: {a: {backend: " + ok_name + "}}\n").ok());
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

  auto empty_host = check("server: {listen: \":80\"}\nbackends: {mem: {type: memory}}\nnamespaces: {c: {backend: mem}}\n");
  expect_problem(empty_host, "server.listen", 1, "empty host");
}

TEST_CASE("listen and admin on the same address", "[config]") {
  auto r = check(R"(server:
  listen: 127.0.0.1:9000
  admin: 127.0.0.1:9000
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
  expect_problem(r, "server.admin", 3, "collides with the gRPC listener 127.0.0.1:9000");
  CHECK(r.problems.size() == 1);

  auto wildcard = check(R"(server:
  listen: 0.0.0.0:9000
  admin: 127.0.0.1:9000
backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
  expect_problem(wildcard, "server.admin", 3, "collides");

  auto default_admin = check("server: {listen: 127.0.0.1:8981}\nbackends: {mem: {type: memory}}\nnamespaces: {c: {backend: mem}}\n");
  expect_problem(default_admin, "server.listen", 1, "collides");

  CHECK(check("server: {listen: 127.0.0.1:0, admin: 127.0.0.1:0}\nbackends: {mem: {type: memory}}\n"
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
  expect_problem(r, "namespaces.a.middleware[0]", 5, "unknown middleware stage \"metrcs\"");
  CHECK(find(r, "namespaces.a.middleware[0]")->hint == "did you mean \"metrics\"? known stages: metrics, audit");
  expect_problem(r, "namespaces.b.middleware[2]", 11, "middleware stage \"audit\" is listed twice");
  expect_problem(r, "namespaces.c.middleware", 14, "expected a list of stages, got the value \"metrics\"");
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
  CHECK_THAT(find(r, "namespaces.a.pattern")->hint, Catch::Contains("keyvalue, pubsub"));
  expect_problem(r, "namespaces.b.pattern", 8, "backend \"disk\" is sqlite, which cannot serve pubsub");
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
  expect_problem(r, "backends.mem.synchronous", 5, "only valid on sqlite backends");
  expect_problem(r, "backends.mem.busy_timeout_ms", 6, "only valid on sqlite backends");
  CHECK(r.problems.size() == 3);

  auto sync = check(R"(backends:
  disk: {type: sqlite, path: a.db, synchronous: off}
namespaces: {cache: {backend: disk}}
)");
  expect_problem(sync, "backends.disk.synchronous", 2, "unknown synchronous mode \"off\"");

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

TEST_CASE("an unreadable file is one problem naming the path and the error", "[config]") {
  std::string path = std::string{PRISM_SOURCE_DIR} + "/config/does-not-exist.yaml";
  auto r = load_file(path);
  REQUIRE(r.problems.size() == 1);
  CHECK_FALSE(r.ok());
  CHECK(r.problems[0].where.file == path);
  CHECK_THAT(r.problems[0].message, Catch::Contains(path) && Catch::Contains("No such file or directory"));
  CHECK_THAT(format(r.problems[0]), Catch::StartsWith(path + ": cannot read config file"));

  auto dir = load_file(PRISM_SOURCE_DIR);
  REQUIRE(dir.problems.size() == 1);
  CHECK_THAT(dir.problems[0].message, Catch::Contains("Is a directory"));
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
  for (const char* bad : {"", ":80", "host", "host:", "host:99999", "host:12x", "host:65536", "::1:80", "[::1]",
                          "[::1]80", "[]:80", "ho st:80", "host:-1"}) {
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
  CHECK(to_string(pattern::pubsub) == "pubsub");
  CHECK(to_string(sqlite_synchronous::normal) == "normal");
}

TEST_CASE("overload and shutdown limits: defaults, values and ranges", "[config]") {
  SECTION("defaults") {
    auto r = check(R"(backends: {mem: {type: memory}}
namespaces: {cache: {backend: mem}}
)");
    REQUIRE(r.ok());
    CHECK(r.config->server.session_max_in_flight == prism::defaults::session_max_in_flight);
    CHECK(r.config->server.session_mailbox_limit == prism::defaults::session_mailbox_limit);
    CHECK(r.config->server.drain_timeout_ms == prism::defaults::drain_timeout_ms);
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
    expect_problem(r, "server.session_max_in_flight", 2, "0 is out of range 1..1000000");
    expect_problem(r, "server.session_mailbox_limit", 3, "1000001 is out of range 1..1000000");
    expect_problem(r, "server.drain_timeout_ms", 4, "3600001 is out of range 0..3600000");
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
    expect_problem(bad, "backends.mem.mailbox_limit", 1, "0 is out of range 1..1000000");
  }
}
