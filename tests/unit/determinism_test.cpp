// The seeded, traced harness: the same seed replays the same run event for
// event; different seeds interleave the ready actors differently while every
// call is still answered exactly once.

#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <caf/send.hpp>

#include <catch2/catch.hpp>

#include "session/session_directory.hpp"
#include "simulation/deterministic_gateway.hpp"

using namespace prism;
using prism::simulation::deterministic_gateway;
using prism::simulation::parse_config;

namespace {

const char* gateway_yaml = R"(
server:
  session_idle_timeout_ms: 1000
backends:
  mem: {type: memory}
  disk: {type: sqlite, path: unused.db, connections: 2, max_pending: 16}
namespaces:
  cache: {backend: mem}
  durable: {backend: disk}
)";

model::set_op set(std::string key, std::string value) {
  return model::set_op{std::move(key), std::move(value), 0, {}};
}

struct run_result {
  std::vector<std::string> trace;
  std::string trace_text;
  /// Request id -> how many answers it got.
  std::map<std::string, int> answer_counts;
  /// Request id -> status code.
  std::map<std::string, std::string> codes;
  /// Key -> value read back through the pipeline after the run.
  std::map<std::string, std::string> values;
};

run_result finish(
  deterministic_gateway& g,
  const std::vector<std::pair<std::string, std::string>>& keys_to_read) {
  run_result r;
  for (auto& a : g.answers()) {
    ++r.answer_counts[a.request_id];
    r.codes[a.request_id] = std::string(to_string(a.outcome.status.code));
  }
  for (auto& [ns, key] : keys_to_read) {
    auto got = g.call(ns, model::get_op{key});
    REQUIRE(got.status.ok());
    auto& result = std::get<model::get_result>(got.value);
    r.values[ns + "/" + key] = result.found ? result.value : "<missing>";
  }
  r.trace = g.trace();
  r.trace_text = g.trace_text();
  return r;
}

/// Three clients write distinct keys to two backends, concurrently: the data
/// written does not depend on the order, the interleaving does.
run_result concurrent_writes(std::optional<uint64_t> seed) {
  deterministic_gateway g{parse_config(gateway_yaml), seed};
  std::vector<std::pair<std::string, std::string>> keys;
  for (int i = 0; i < 12; ++i) {
    auto client = "client-" + std::to_string(i % 3);
    std::string ns = i % 2 ? "cache" : "durable";
    auto key = "k" + std::to_string(i);
    g.submit("w" + std::to_string(i), ns, set(key, "v" + std::to_string(i)), {},
             client);
    keys.emplace_back(ns, key);
  }
  g.run();
  g.note("-- read back");
  return finish(g, keys);
}

/// Injected faults: the memory backend fails its next two operations, the
/// disk backend holds its operations until virtual time has moved on.
run_result faulty_run(std::optional<uint64_t> seed) {
  deterministic_gateway g{parse_config(gateway_yaml), seed};
  g.backend("mem").fail_next(2, status_code::unavailable);
  g.backend("disk").set_holding(true);
  std::vector<std::pair<std::string, std::string>> keys;
  for (int i = 0; i < 8; ++i) {
    auto client = "client-" + std::to_string(i % 2);
    std::string ns = i % 2 ? "cache" : "durable";
    auto key = "f" + std::to_string(i);
    g.submit("f" + std::to_string(i), ns, set(key, "x"), {}, client);
    keys.emplace_back(ns, key);
  }
  g.run();
  g.advance_ms(100);
  g.backend("disk").set_holding(false);
  g.backend("disk").release_held();
  g.run();
  g.note("-- read back");
  // Only the durable keys: which cache writes failed depends on the order.
  keys.erase(std::remove_if(keys.begin(), keys.end(),
                            [](auto& k) { return k.first == "cache"; }),
             keys.end());
  return finish(g, keys);
}

size_t count_prefix(const std::vector<std::string>& trace,
                    const std::string& prefix) {
  return static_cast<size_t>(
    std::count_if(trace.begin(), trace.end(), [&](const std::string& line) {
      return line.compare(0, prefix.size(), prefix) == 0;
    }));
}

bool contains_line(const std::vector<std::string>& trace,
                   const std::string& line) {
  return std::find(trace.begin(), trace.end(), line) != trace.end();
}

} // namespace

TEST_CASE("the same seed gives a byte-identical trace") {
  auto first = concurrent_writes(42);
  auto second = concurrent_writes(42);
  CHECK(first.trace == second.trace);
  CHECK(first.trace_text == second.trace_text);
  // The trace records the seed, the submissions, each message an actor
  // handled (with a stable label), and each answer.
  REQUIRE_FALSE(first.trace.empty());
  CHECK(first.trace.front() == "seed 42");
  CHECK(contains_line(first.trace, "submit w0 client-0 durable Set k0"));
  CHECK(contains_line(first.trace, "run session:client-0 request w0"));
  CHECK(contains_line(first.trace, "answer w0 OK"));
  CHECK(count_prefix(first.trace, "answer w") == 12);
  CHECK(count_prefix(first.trace, "run pool:disk ") > 0);
  CHECK(count_prefix(first.trace, "run pool:mem ") > 0);
  CHECK(count_prefix(first.trace, "run connection:disk#1 ") > 0);
  CHECK(count_prefix(first.trace, "run router ") > 0);
  CHECK(count_prefix(first.trace, "run stage:metrics ") > 0);
  CHECK(count_prefix(first.trace, "run stage:audit ") > 0);
  // Nothing that differs between processes: no addresses, no node ids.
  for (auto& line : first.trace) {
    INFO(line);
    CHECK(line.find("0x") == std::string::npos);
    CHECK(line.find('@') == std::string::npos);
  }
}

TEST_CASE("different seeds interleave differently, every call is still "
          "answered once and the data is the same") {
  auto fifo = concurrent_writes(std::nullopt);
  std::set<std::string> traces;
  std::set<std::string> answer_orders;
  for (uint64_t seed : {1, 2, 3, 4, 5, 6}) {
    INFO("seed " << seed);
    auto r = concurrent_writes(seed);
    traces.insert(r.trace_text);
    std::string order;
    for (auto& line : r.trace)
      if (line.compare(0, 7, "answer ") == 0)
        order += line + ";";
    answer_orders.insert(order);
    REQUIRE(r.answer_counts.size() == 12);
    for (auto& [id, n] : r.answer_counts) {
      INFO(id);
      CHECK(n == 1);
      CHECK(r.codes[id] == "OK");
    }
    CHECK(r.values == fifo.values);
  }
  CHECK(traces.size() >= 2);
  // Not only the order of events inside actors: clients are answered in a
  // different order too.
  CHECK(answer_orders.size() >= 2);
  CHECK(fifo.values.at("durable/k0") == "v0");
  CHECK(fifo.values.at("cache/k11") == "v11");
}

TEST_CASE("without a seed the harness keeps FIFO order, also traced and "
          "repeatable") {
  auto first = concurrent_writes(std::nullopt);
  auto second = concurrent_writes(std::nullopt);
  CHECK(first.trace.front() == "seed none (fifo)");
  CHECK(first.trace == second.trace);
  for (auto& [id, n] : first.answer_counts)
    CHECK(n == 1);
}

TEST_CASE("injected faults are traced and replay with the seed") {
  for (uint64_t seed : {7, 8, 9}) {
    INFO("seed " << seed);
    auto first = faulty_run(seed);
    auto second = faulty_run(seed);
    CHECK(first.trace == second.trace);
    auto& t = first.trace;
    CHECK(contains_line(t, "sim mem fail_next 2 UNAVAILABLE"));
    CHECK(contains_line(t, "sim disk holding on"));
    CHECK(count_prefix(t, "sim mem failed Set ") == 2);
    CHECK(count_prefix(t, "sim disk held Set ") == 2); // one per connection
    CHECK(count_prefix(t, "advance 100ms now=100ms timeouts=") == 1);
    CHECK(contains_line(t, "sim disk holding off"));
    CHECK(contains_line(t, "sim disk released 2"));
    // Every call answered once; exactly two injected failures reached clients.
    REQUIRE(first.answer_counts.size() == 8);
    size_t unavailable = 0;
    for (auto& [id, n] : first.answer_counts) {
      CHECK(n == 1);
      if (first.codes[id] == "UNAVAILABLE")
        ++unavailable;
      else
        CHECK(first.codes[id] == "OK");
    }
    CHECK(unavailable == 2);
    CHECK(count_prefix(t, "answer f") == 8);
    for (auto& [key, value] : first.values)
      CHECK(value == "x");
  }
  CHECK(faulty_run(7).trace != faulty_run(8).trace);
}

namespace {

std::vector<std::string> killed_session_run(uint64_t seed) {
  deterministic_gateway g{parse_config(gateway_yaml), seed};
  g.call("cache", set("k", "v"));
  auto first = g.gw().sessions().find("client-1");
  REQUIRE(first);
  g.note("-- kill the session");
  caf::anon_send_exit(first, caf::exit_reason::kill);
  g.run();
  auto got = g.call("cache", model::get_op{"k"});
  CHECK(got.status.ok());
  return g.trace();
}

} // namespace

TEST_CASE("an actor that ends is traced, and its successor gets a new label") {
  auto t = killed_session_run(5);
  CHECK(t == killed_session_run(5));
  CHECK(count_prefix(t, "exit session:client-1 ") == 1);
  CHECK(count_prefix(t, "run session:client-1#2 ") > 0);
  CHECK(contains_line(t, "answer auto-1 OK"));
}

TEST_CASE("many seeds: idle sessions closing, faults and a full pool never "
          "lose or double an answer") {
  for (uint64_t seed = 100; seed < 300; ++seed) {
    INFO("seed " << seed);
    deterministic_gateway g{parse_config(gateway_yaml), seed};
    g.backend("mem").fail_next(1, status_code::unavailable);
    g.backend("disk").set_holding(true);
    int n = 0;
    auto burst = [&](int count) {
      for (int i = 0; i < count; ++i, ++n) {
        auto client = "client-" + std::to_string(n % 3);
        std::string ns = n % 2 ? "cache" : "durable";
        g.submit("m" + std::to_string(n), ns,
                 set("k" + std::to_string(n % 7), "v"), {}, client);
      }
    };
    burst(30);
    g.run();
    // One idle tick sees activity; a session with calls held stays open.
    g.advance_ms(1000);
    burst(6);
    g.advance_ms(1000);
    g.backend("disk").set_holding(false);
    g.backend("disk").release_held();
    g.run();
    // Idle now: sessions close, and the clients' next calls open new ones.
    g.advance_ms(1000);
    g.advance_ms(1000);
    CHECK(g.gw().sessions().size() == 0);
    burst(6);
    g.run();
    std::map<std::string, int> counts;
    for (auto& a : g.answers())
      ++counts[a.request_id];
    CHECK(counts.size() == static_cast<size_t>(n));
    for (auto& [id, c] : counts) {
      INFO(id);
      CHECK(c == 1);
    }
  }
}

// Not run by default: `determinism_test "[trace]"` prints a traced run, for
// reading one while debugging.
TEST_CASE("print traced runs", "[.][trace]") {
  for (auto& line : faulty_run(7).trace)
    std::cout << line << '\n';
  std::cout << "----\n";
  for (auto& line : killed_session_run(5))
    std::cout << line << '\n';
}
