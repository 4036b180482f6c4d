// What a config reload may change while the gateway runs, and what it
// refuses (config::restart_needed), on configs parsed from YAML.

#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "config/reload.hpp"
#include "simulation/deterministic_gateway.hpp"

using prism::config::restart_needed;
using prism::simulation::parse_config;
using namespace prism;
using prism::simulation::deterministic_gateway;

namespace {

const std::string base = R"(
server: {session_max_in_flight: 64}
audit: {path: /tmp/a.log}
backends:
  mem: {type: memory}
  disk: {type: sqlite, path: /tmp/x.db}
namespaces:
  cache: {backend: mem}
  events: {backend: mem, pattern: pubsub}
)";

const std::set<std::string> pools{"mem"};
const std::set<std::string> brokers{"mem"};

std::string replaced(std::string text, const std::string& from,
                     const std::string& to) {
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

} // namespace

TEST_CASE("reload: namespaces, their middleware, limits and access may "
          "change, an unchanged file changes nothing") {
  auto running = parse_config(base);
  CHECK(restart_needed(running, parse_config(base), pools, brokers).empty());
  auto next = parse_config(base + R"(
  more: {backend: mem, middleware: [audit], rate_limit: {rate: 5}, redact_keys: true}
  more_events: {backend: mem, pattern: pubsub}
)");
  CHECK(restart_needed(running, next, pools, brokers).empty());
  // Removing a namespace, even the last one on a backend, is fine.
  auto fewer = parse_config(
    replaced(base, "  events: {backend: mem, pattern: pubsub}\n", ""));
  CHECK(restart_needed(running, fewer, pools, brokers).empty());
}

TEST_CASE("reload: the same settings written in another YAML style change "
          "nothing") {
  auto running = parse_config(base);
  auto block = parse_config(R"(
server:
  session_max_in_flight: 64
audit:
  path: /tmp/a.log
backends:
  mem:
    type: memory
  disk:
    type: sqlite
    path: /tmp/x.db
namespaces:
  cache: {backend: mem}
  events: {backend: mem, pattern: pubsub}
)");
  CHECK(restart_needed(running, block, pools, brokers).empty());
}

TEST_CASE("reload: what the running gateway is built from needs a restart, "
          "and each is named") {
  auto running = parse_config(base);
  auto problems = [&](const std::string& yaml) {
    return restart_needed(running, parse_config(yaml), pools, brokers);
  };
  auto one = [&](const std::string& yaml, const std::string& expected) {
    auto p = problems(yaml);
    INFO(yaml);
    REQUIRE(p.size() == 1);
    CHECK_THAT(p[0],
               Catch::Contains(expected)
                 && Catch::Contains("restart the gateway"));
  };
  one(replaced(base, "session_max_in_flight: 64", "session_max_in_flight: 65"),
      "server (its limits");
  one(replaced(base, "server: {", "server: {listen: 127.0.0.1:9999, "),
      "server.listen changed");
  one(replaced(base, "/tmp/a.log", "/tmp/b.log"), "audit changed");
  one(replaced(base, "/tmp/x.db", "/tmp/y.db"), "backends.disk changed");
  one(replaced(base, "mem: {type: memory}",
               "mem: {type: memory, max_pending: 3}"),
      "backends.mem changed");
  // A keyvalue namespace on a backend without a running pool.
  one(base + "  stored: {backend: disk}\n",
      "namespace \"stored\" needs backend \"disk\" to serve keyvalue");
  // A pubsub namespace on a backend without a running broker.
  one(replaced(base, "backends:\n", "backends:\n  spare: {type: memory}\n")
        + "  spare_events: {backend: spare, pattern: pubsub}\n",
      "namespace \"spare_events\" needs backend \"spare\" to serve pubsub");
  auto auth = [](const std::string& mode) {
    return base + "auth: {mode: " + mode
      + ", tokens: {a: ba5005a40cf5212e4ac0190104cc127edab013294bb71279a975b27a80982d45}}\n";
  };
  CHECK_THAT(restart_needed(parse_config(auth("none")),
                            parse_config(auth("token")), pools, brokers)
               .at(0),
             Catch::Contains("auth.mode changed"));
  // New backends may be defined; only using one needs the restart.
  CHECK(problems(base + "  # unused\n").empty());
  CHECK(problems(
          replaced(base, "backends:\n", "backends:\n  spare: {type: memory}\n"))
          .empty());
}

TEST_CASE("reload: a max_value_bytes larger than the listener was started "
          "for needs a restart, a smaller one and a return to it do not") {
  const auto sized = [](uint64_t bytes) {
    return replaced(
      base, "cache: {backend: mem}",
      "cache: {backend: mem, max_value_bytes: " + std::to_string(bytes) + "}");
  };
  const uint64_t started = 8u << 20;
  auto running = parse_config(sized(started));
  const uint64_t limit = running.max_request_bytes();
  auto p = restart_needed(running, parse_config(sized(started + 1)), pools,
                          brokers, limit);
  REQUIRE(p.size() == 1);
  CHECK(p[0]
        == "namespaces.cache.max_value_bytes 8388609 is more than the gRPC "
           "listener was started to take (8388608 bytes of value per "
           "request); restart the gateway to apply it");
  CHECK(
    restart_needed(running, parse_config(sized(1024)), pools, brokers, limit)
      .empty());
  // After a reload that lowered it, going back up to what the listener
  // takes is fine: the limit is the one it started with.
  auto lowered = parse_config(sized(1024));
  CHECK(
    restart_needed(lowered, parse_config(sized(started)), pools, brokers, limit)
      .empty());
  // Without the started limit, the running config's counts.
  CHECK(
    restart_needed(lowered, parse_config(sized(started)), pools, brokers).size()
    == 1);
}

TEST_CASE("reload: a namespace it adds is counted under its own name, and "
          "the counts of those that stay go on") {
  deterministic_gateway g{parse_config(base)};
  REQUIRE(g.call("cache", model::get_op{"k"}).status.ok());
  REQUIRE(g.gw()
            .reload(parse_config(base + R"(
  limited: {backend: mem, rate_limit: {rate: 0.001, burst: 1}, audit_required: true}
)"))
            .empty());
  g.run();
  REQUIRE(g.call("cache", model::get_op{"k"}).status.ok());
  REQUIRE(g.call("limited", model::get_op{"k"}).status.ok());
  auto refused = g.call("limited", model::get_op{"k"});
  CHECK(refused.status.code == status_code::resource_exhausted);
  auto text = g.metrics_text();
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_requests_total{code="OK",namespace="cache",operation="Get"} 2)"));
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_requests_total{code="OK",namespace="limited",operation="Get"} 1)"));
  CHECK_THAT(
    text,
    Catch::Contains(
      R"(prism_rejections_total{namespace="limited",reason="rate_limit"} 1)"));
  CHECK_THAT(
    text,
    Catch::Contains(R"(prism_rate_limited_total{namespace="limited"} 1)"));
  CHECK_THAT(
    text,
    Catch::Contains(R"(prism_audit_refused_total{namespace="limited"} 0)"));
  CHECK_THAT(text, !Catch::Contains(R"(namespace="_unknown",operation=)"));
}

TEST_CASE("reload: streams of a namespace it removes end NOT_FOUND, streams "
          "of the namespaces that stay go on") {
  const std::string two_topics = base + R"(
  alerts: {backend: mem, pattern: pubsub}
)";
  deterministic_gateway g{parse_config(two_topics)};
  auto gone = g.subscribe("s1", "alerts", model::subscribe_op{"t", "", {}});
  auto stays = g.subscribe("s2", "events", model::subscribe_op{"t", "", {}});
  g.run();
  REQUIRE(g.answer_of("s1"));
  REQUIRE(g.answer_of("s1")->status.ok());
  REQUIRE(g.answer_of("s2"));
  REQUIRE(g.answer_of("s2")->status.ok());

  REQUIRE(g.gw().reload(parse_config(base)).empty());
  g.run();
  REQUIRE(gone->finished);
  CHECK(gone->finished->code == status_code::not_found);
  CHECK_THAT(gone->finished->message, Catch::Contains("\"alerts\""));
  CHECK_THAT(gone->finished->message, Catch::Contains("reload"));
  CHECK_FALSE(stays->finished);

  auto published = g.call("events", model::publish_op{"t", "after", {}});
  REQUIRE(published.status.ok());
  g.run();
  REQUIRE(stays->received.size() == 1);
  CHECK(stays->received[0].payload == "after");
  // The removed namespace is gone for new calls too.
  CHECK(g.call("alerts", model::publish_op{"t", "x", {}}).status.code
        == status_code::not_found);
}

TEST_CASE("reload: a Subscribe stream whose principal loses read access ends "
          "PERMISSION_DENIED, a reader's stream goes on") {
  const std::string with_auth = R"(
auth:
  mode: token
  tokens:
    alice: ba5005a40cf5212e4ac0190104cc127edab013294bb71279a975b27a80982d45
    bob: ba5005a40cf5212e4ac0190104cc127edab013294bb71279a975b27a80982d46
backends:
  mem: {type: memory}
namespaces:
  events: {backend: mem, pattern: pubsub, access: {read: [alice, bob], write: [alice]}}
)";
  deterministic_gateway g{parse_config(with_auth)};
  auto alice = g.subscribe("s1", "events", model::subscribe_op{"t", "", {}},
                           "client-a", "alice");
  auto bob = g.subscribe("s2", "events", model::subscribe_op{"t", "", {}},
                         "client-b", "bob");
  g.run();
  REQUIRE(g.answer_of("s1"));
  REQUIRE(g.answer_of("s1")->status.ok());
  REQUIRE(g.answer_of("s2"));
  REQUIRE(g.answer_of("s2")->status.ok());

  REQUIRE(g.gw()
            .reload(parse_config(
              replaced(with_auth, "read: [alice, bob]", "read: [alice]")))
            .empty());
  g.run();
  REQUIRE(bob->finished);
  CHECK(bob->finished->code == status_code::permission_denied);
  CHECK_THAT(bob->finished->message, Catch::Contains("\"bob\""));
  CHECK_THAT(bob->finished->message, Catch::Contains("reload"));
  CHECK_FALSE(alice->finished);

  g.submit("p1", "events", model::publish_op{"t", "after", {}}, {}, "client-a",
           "alice");
  g.run();
  REQUIRE(g.answer_of("p1"));
  REQUIRE(g.answer_of("p1")->status.ok());
  REQUIRE(alice->received.size() == 1);
  CHECK(alice->received[0].payload == "after");
  CHECK(bob->received.empty());
}
