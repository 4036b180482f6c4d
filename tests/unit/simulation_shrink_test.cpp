// Planted defects and `prism simulate shrink`: each defect makes the oracle
// meant for its bug class fail within a short campaign that passes without
// it, and shrinking the failing run leaves a smaller scenario (a few faults
// at most, fewer clients or ms) that the checker accepts and that still
// fails that oracle with the seed it reports. The harness's interceptor
// drops a message when told to.

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/mailbox_element.hpp>
#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>

#include "simulation/defects.hpp"
#include "simulation/deterministic_gateway.hpp"
#include "simulation/runner.hpp"
#include "simulation/scenario.hpp"
#include "simulation/shrink.hpp"

using namespace prism;
using namespace prism::simulation;

namespace {

const bool quiet = (spdlog::set_level(spdlog::level::off), true);

/// Seeds a campaign of these tests runs at most.
constexpr uint64_t campaign_seeds = 8;
/// Runs one shrink of these tests may make.
constexpr uint64_t shrink_runs_max = 120;

/// Writes to a SQLite backend whose connections break now and then, among
/// other faults, some of them drawn by the seed.
const char* const breaking_connections = R"(# Writes while connections break.
name: breaking-connections
description: connections break under writes, among other faults
gateway:
  backends:
    disk:
      type: sqlite
      path: unused.db
      connections: 2
      supervision: {max_restarts: 20, period_ms: 5000}
  namespaces:
    kv: {backend: disk}
duration_ms: 3000
workload:
  clients: 4
  think_ms: 10
  namespace: kv
  keys: 6
  deadline_ms: 500
faults:
  schedule:
    - {at_ms: 400, kind: backend_error, target: disk, duration_ms: 200}
    - {at_ms: 800, kind: latency, target: disk, duration_ms: 300, params: {latency_ms: 20}}
    - {at_ms: 1300, kind: kill, target: "stage:metrics"}
    - {at_ms: 1700, kind: connection_crash, target: disk}
    - {at_ms: 2100, kind: client_cancel, params: {count: 3}}
  random:
    from_ms: 300
    until_ms: 2500
    duration_ms: 200
    connection_crash: 1
    hang: 0.5
oracles:
  - answered_once
  - no_lost_writes
  - linearizable
  - mailbox_bounded
)";

/// Calls pass a rate-limit stage (with room for all) on their way in.
const char* const through_a_stage = R"(# Calls through a rate-limit stage.
name: through-a-stage
description: a stage on the way in, with faults around it
gateway:
  backends:
    disk:
      type: sqlite
      path: unused.db
      connections: 2
  namespaces:
    kv: {backend: disk, rate_limit: {rate: 100000, burst: 100000}}
duration_ms: 3000
workload:
  clients: 4
  think_ms: 10
  namespace: kv
  keys: 6
  deadline_ms: 500
faults:
  schedule:
    - {at_ms: 300, kind: backend_error, target: disk, duration_ms: 200}
    - {at_ms: 700, kind: latency, target: disk, duration_ms: 300, params: {latency_ms: 20}}
    - {at_ms: 1200, kind: kill, target: "stage:rate_limit"}
    - {at_ms: 1600, kind: connection_crash, target: disk}
    - {at_ms: 2000, kind: deadline_storm, params: {count: 5}}
oracles:
  - answered_once
  - linearizable
  - no_lost_writes
  - mailbox_bounded
)";

/// One connection and a slow backend, so calls wait in the pool's queue,
/// and the pool killed (and restarted) among other faults. No deadline: a
/// call nobody answers stays unanswered.
const char* const queued_in_the_pool
  = R"(# Calls queue in a pool that is killed.
name: queued-in-the-pool
description: calls wait in the pool while it is killed
gateway:
  backends:
    disk:
      type: sqlite
      path: unused.db
      connections: 1
      max_pending: 32
  namespaces:
    kv: {backend: disk}
duration_ms: 3000
workload:
  clients: 6
  think_ms: 10
  namespace: kv
  keys: 6
  deadline_ms: 0
faults:
  schedule:
    - {at_ms: 300, kind: backend_error, target: disk, duration_ms: 200}
    - {at_ms: 700, kind: latency, target: disk, duration_ms: 600, params: {latency_ms: 15}}
    - {at_ms: 1000, kind: kill, target: pool}
    - {at_ms: 1600, kind: connection_crash, target: disk}
    - {at_ms: 2000, kind: kill, target: router}
oracles:
  - answered_once
  - no_lost_writes
  - linearizable
  - mailbox_bounded
)";

scenario must_parse(const std::string& text) {
  auto r = parse_scenario(text, "test.yaml");
  INFO(format_problems(r.problems));
  REQUIRE(r.ok());
  return *r.value;
}

std::set<oracle_kind> oracles_of(const defect_info& d) {
  std::set<oracle_kind> kinds;
  for (auto& o : oracles())
    if (std::string(d.found_by).find(o.name) != std::string::npos)
      kinds.insert(o.kind);
  return kinds;
}

struct campaign {
  std::vector<uint64_t> failing;
  run_report first_failure;
};

campaign run_campaign(const scenario& s, const run_options& options) {
  campaign c;
  for (uint64_t seed = 1; seed <= campaign_seeds; ++seed) {
    auto r = run_scenario(s, seed, options);
    if (r.passed())
      continue;
    if (c.failing.empty())
      c.first_failure = r;
    c.failing.push_back(seed);
  }
  return c;
}

void check_defect(const std::string& name, const char* text) {
  auto* defect = defect_named(name);
  REQUIRE(defect != nullptr);
  auto s = must_parse(text);
  auto expected = oracles_of(*defect);
  REQUIRE_FALSE(expected.empty());

  auto without = run_campaign(s, {});
  INFO("without the defect, failing seeds: " << without.failing.size());
  CHECK(without.failing.empty());

  auto with = run_campaign(s, run_options{{name}});
  REQUIRE_FALSE(with.failing.empty());
  auto& r = with.first_failure;
  CHECK(r.planted == std::vector<std::string>{name});
  auto* failure = r.first_failure();
  REQUIRE(failure != nullptr);
  INFO("seed " << r.seed << ": " << info_of(failure->kind).name << ": "
               << failure->counterexample);
  CHECK(expected.count(failure->kind) == 1);
  // Only the oracles meant for the bug class fail.
  for (auto& v : r.verdicts)
    if (v.outcome == verdict::failed)
      CHECK(expected.count(v.kind) == 1);

  shrink_input in;
  in.text = text;
  in.file = "test.yaml";
  in.seed = r.seed;
  in.options = run_options{{name}};
  in.oracle = failure->kind;
  shrink_options options;
  options.max_runs = shrink_runs_max;
  std::vector<std::string> progress;
  options.progress = [&](const std::string& line) {
    progress.push_back(line);
  };
  auto shrunk = shrink_scenario(in, options);
  INFO(shrunk.problem);
  REQUIRE(shrunk.reproduced);
  INFO(shrunk.text);
  CHECK(shrunk.runs <= shrink_runs_max);
  CHECK(progress == shrunk.steps);
  CHECK_FALSE(shrunk.steps.empty());
  // Smaller: at most a few faults, none drawn at random, and fewer faults,
  // clients or virtual ms than it started with.
  CHECK(shrunk.after.faults <= 3);
  CHECK_FALSE(shrunk.after.random_faults);
  CHECK(shrunk.after.faults + (shrunk.after.random_faults ? 1 : 0)
        < shrunk.before.faults + (shrunk.before.random_faults ? 1 : 0));
  CHECK(shrunk.after.clients <= shrunk.before.clients);
  CHECK(shrunk.after.duration_ms <= shrunk.before.duration_ms);
  CHECK((shrunk.after.clients < shrunk.before.clients
         || shrunk.after.duration_ms < shrunk.before.duration_ms));
  // Readable YAML the checker accepts, saying where it comes from, that
  // still fails the oracle with the seed it reports.
  CHECK(shrunk.text.rfind("# ", 0) == 0);
  CHECK(shrunk.text.find("Shrunk by `prism simulate shrink` from test.yaml")
        != std::string::npos);
  auto small = must_parse(shrunk.text);
  CHECK(size_of(small).faults == shrunk.after.faults);
  auto again = run_scenario(small, shrunk.seed, run_options{{name}});
  bool fails_again = false;
  for (auto& v : again.verdicts)
    if (v.kind == failure->kind && v.outcome == verdict::failed)
      fails_again = true;
  CHECK(fails_again);
  // Without the defect, the shrunk scenario holds: the defect is the bug.
  auto clean = run_scenario(small, shrunk.seed);
  CHECK(clean.passed());
}

} // namespace

TEST_CASE("ack_before_write is found by no_lost_writes or linearizable, and "
          "shrinks") {
  check_defect("ack_before_write", breaking_connections);
}

TEST_CASE("stage_ok_without_forward is found by linearizable or "
          "no_lost_writes, and shrinks") {
  check_defect("stage_ok_without_forward", through_a_stage);
}

TEST_CASE("pool_forgets_queued_call is found by answered_once, and shrinks") {
  check_defect("pool_forgets_queued_call", queued_in_the_pool);
}

TEST_CASE("a defect the table does not have is refused, naming the known "
          "ones") {
  auto s = must_parse(through_a_stage);
  try {
    run_scenario(s, 1, run_options{{"ack_before_write", "lose_everything"}});
    FAIL("an unknown defect was planted");
  } catch (const std::invalid_argument& e) {
    std::string what = e.what();
    CHECK_THAT(what,
               Catch::Contains("unknown planted defect "
                               "\"lose_everything\""));
    for (auto& d : defects())
      CHECK_THAT(what, Catch::Contains(std::string(d.name)));
  }
  CHECK(check_defect_names({"pool_forgets_queued_call"}).empty());
  CHECK(check_defect_names({"ack_before_write", "ack_before_write"})
        == "defect \"ack_before_write\" is planted twice; plant it once");
}

TEST_CASE("shrinking a run that does not fail says so and keeps nothing") {
  shrink_input in;
  in.text = through_a_stage;
  in.file = "test.yaml";
  in.seed = 1;
  in.oracle = oracle_kind::linearizable;
  auto shrunk = shrink_scenario(in, {});
  CHECK_FALSE(shrunk.reproduced);
  CHECK(shrunk.runs == 1);
  CHECK_THAT(shrunk.problem,
             Catch::Contains("does not fail the oracle linearizable with "
                             "seed 1"));
}

TEST_CASE("shrinking is deterministic") {
  shrink_input in;
  in.text = queued_in_the_pool;
  in.file = "test.yaml";
  in.seed = 1;
  in.options = run_options{{"pool_forgets_queued_call"}};
  in.oracle = oracle_kind::answered_once;
  shrink_options options;
  options.max_runs = 12;
  auto first = shrink_scenario(in, options);
  auto second = shrink_scenario(in, options);
  REQUIRE(first.reproduced);
  CHECK(first.runs == 12);
  CHECK(first.text == second.text);
  CHECK(first.steps == second.steps);
  CHECK(first.seed == second.seed);
}

namespace {

/// Drops the first request a stage would take.
class drop_first_request final : public interceptor {
public:
  interception before(const std::string& label,
                      caf::mailbox_element& next) override {
    auto& content = next.content();
    if (dropped_ || label.rfind("stage:", 0) != 0 || content.size() != 2
        || !content.match_element<caf::atom_value>(0)
        || content.get_as<caf::atom_value>(0) != caf::atom("request"))
      return {};
    dropped_ = true;
    interception drop;
    drop.what = interception::action::drop;
    drop.note = "test";
    return drop;
  }

private:
  bool dropped_ = false;
};

} // namespace

TEST_CASE("an interceptor drops a message: its call answers UNAVAILABLE by "
          "itself, and the next goes through") {
  auto cfg = parse_config(R"(backends:
  mem: {type: memory}
namespaces:
  kv: {backend: mem, rate_limit: {rate: 1000, burst: 1000}}
)");
  deterministic_gateway g(cfg, 7);
  g.add_interceptor(std::make_shared<drop_first_request>());
  auto first = g.call("kv", model::set_op{"k", "v", 0, {}});
  CHECK(first.status.code == status_code::unavailable);
  auto second = g.call("kv", model::get_op{"k"});
  CHECK(second.status.code == status_code::ok);
  size_t dropped = 0;
  for (auto& line : g.trace())
    if (line.rfind("intercept stage:rate_limit dropped request", 0) == 0)
      ++dropped;
  CHECK(dropped == 1);
}
