// `prism simulate` from the outside: a shipped scenario passes with exit 0
// and leaves its artifacts (report.html among them), `replay` reproduces
// the trace and names the first line that differs, a failing oracle exits 1
// naming it, a bad scenario exits 2 with its file and line, a campaign
// runs seeds in child processes, a planted defect fails its oracle and is
// said to be planted, and `shrink` reduces such a failing run.

#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "gateway_process.hpp"
#include "model/digest.hpp"

using namespace prism::test;

namespace {

std::string shipped(const std::string& name) {
  return std::string(PRISM_SOURCE_DIR) + "/simulations/" + name;
}

std::string describe(const command_result& r) {
  return "status " + r.status.describe() + "\nstdout:\n" + r.out + "\nstderr:\n"
    + r.err;
}

} // namespace

TEST_CASE("a shipped scenario passes, and replay reproduces its trace") {
  temp_dir dir;
  auto out = dir.path() + "/run";
  auto r = run_prism(
    {"simulate", shipped("sqlite-outage.yaml"), "--seed", "3", "--out", out},
    std::chrono::seconds(60));
  INFO(describe(r));
  REQUIRE(r.status.exited);
  CHECK(r.status.code == 0);
  CHECK_THAT(r.out, Catch::Contains("prism simulate: sqlite-outage, seed 3"));
  CHECK_THAT(r.out, Catch::Contains("f1 outage disk at 3000 ms for 2000 ms"));
  CHECK_THAT(r.out, Catch::Contains("every oracle held"));
  for (auto file : {"run.json", "trace.jsonl", "history.jsonl", "scenario.yaml",
                    "report.html"})
    CHECK(std::filesystem::exists(out + "/" + file));
  auto run = nlohmann::json::parse(read_file(out + "/run.json"));
  CHECK(run["seed"] == 3);
  CHECK(run["passed"] == true);
  CHECK(run["scenario"]["sha256"]
        == prism::model::sha256_hex(read_file(shipped("sqlite-outage.yaml"))));
  CHECK(run["fault_counts"]["outage"] == 1);
  CHECK(run["oracles"].size() == 5);
  // The page shows the run: its name and seed, the outage's shaded window
  // in each of the three plots, and the command that replays it.
  auto page = read_file(out + "/report.html");
  CHECK_THAT(page, Catch::Contains("<h1>prism simulate: sqlite-outage</h1>"));
  CHECK_THAT(page, Catch::Contains("<dt>seed</dt><dd>3</dd>"));
  CHECK_THAT(page, Catch::Contains("prism simulate replay " + out));
  size_t windows = 0;
  for (auto at = page.find("class=\"fault-window\" data-fault=\"f1\"");
       at != std::string::npos;
       at = page.find("class=\"fault-window\" data-fault=\"f1\"", at + 1))
    ++windows;
  CHECK(windows == 3);

  auto replay
    = run_prism({"simulate", "replay", out}, std::chrono::seconds(60));
  INFO(describe(replay));
  CHECK(replay.status.code == 0);
  CHECK_THAT(replay.out, Catch::Contains("the trace is identical"));

  // A trace that is not the run's: replay names the first line that differs.
  auto trace = read_file(out + "/trace.jsonl");
  auto second_line = trace.find('\n') + 1;
  trace.replace(trace.find("\"step\":1,", second_line), 9, "\"step\":9,");
  write_file(out + "/trace.jsonl", trace);
  auto differs
    = run_prism({"simulate", "replay", out}, std::chrono::seconds(60));
  INFO(describe(differs));
  CHECK(differs.status.code == 1);
  CHECK_THAT(differs.err, Catch::Contains("at line 2"));
}

TEST_CASE("a failing oracle exits 1 and names it with its counterexample") {
  temp_dir dir;
  auto path = dir.path() + "/stuck.yaml";
  // After the outage the circuit waits a minute before its first probe:
  // calls do not recover within a second.
  write_file(path, R"(name: stuck
description: the circuit stays open long after the backend is back
gateway:
  backends:
    disk:
      type: sqlite
      path: unused.db
      connections: 1
      supervision: {max_restarts: 0}
      circuit: {probe_after_ms: 60000, probe_max_ms: 60000}
  namespaces:
    kv: {backend: disk}
duration_ms: 3000
workload: {clients: 2, namespace: kv, keys: 4}
faults:
  schedule:
    - {at_ms: 500, kind: outage, target: disk, duration_ms: 500}
oracles:
  - answered_once
  - recovery: {within_ms: 1000}
)");
  auto r
    = run_prism({"simulate", path, "--seed", "1"}, std::chrono::seconds(60));
  INFO(describe(r));
  CHECK(r.status.code == 1);
  CHECK_THAT(r.out, Catch::Contains("FAILED: recovery"));
  CHECK_THAT(r.err,
             Catch::Contains("oracle recovery failed: after the faults "
                             "ended at 1000 ms"));
}

TEST_CASE("a bad scenario exits 2 with its file, line and field") {
  temp_dir dir;
  auto path = dir.path() + "/bad.yaml";
  write_file(path, R"(name: bad
description: clients out of range
gateway:
  backends:
    mem: {type: memory}
  namespaces:
    kv: {backend: mem}
duration_ms: 1000
workload:
  namespace: kv
  clients: 0
)");
  auto r = run_prism({"simulate", path, "--seed", "1"});
  INFO(describe(r));
  CHECK(r.status.code == 2);
  CHECK_THAT(r.err,
             Catch::Contains(path
                             + ":11:12: workload.clients: must be "
                               "1..10000"));
  auto usage = run_prism({"simulate", path});
  CHECK(usage.status.code == 2);
  CHECK_THAT(usage.err, Catch::Contains("give --seed N"));
  auto seeds = run_prism({"simulate", path, "--seeds", "5..2"});
  CHECK(seeds.status.code == 2);
  CHECK_THAT(seeds.err, Catch::Contains("--seeds: 5..2 is empty"));
}

TEST_CASE("a campaign runs its seeds in child processes and checks "
          "determinism") {
  auto r = run_prism({"simulate", shipped("connection-crash.yaml"), "--seeds",
                      "1..4", "--jobs", "2", "--check-determinism"},
                     std::chrono::seconds(120));
  INFO(describe(r));
  CHECK(r.status.code == 0);
  CHECK_THAT(r.err,
             Catch::Contains("connection-crash: 4 seeds, 4 held, 0 "
                             "failed"));
  for (auto seed : {"1", "2", "3", "4"})
    CHECK_THAT(r.err, Catch::Contains("seed " + std::string(seed) + " ok"));
}

TEST_CASE("list shows the shipped scenarios and the fault kinds") {
  auto r = run_prism({"simulate", "list", "--dir",
                      std::string(PRISM_SOURCE_DIR) + "/simulations"});
  INFO(describe(r));
  CHECK(r.status.code == 0);
  for (auto name :
       {"sqlite-outage.yaml", "pg-latency.yaml", "connection-crash.yaml",
        "overload.yaml", "random-faults.yaml"})
    CHECK_THAT(r.out, Catch::Contains(name));
  CHECK_THAT(r.out, !Catch::Contains("INVALID"));
  for (auto kind : {"backend_error", "latency", "hang", "outage",
                    "connection_crash", "kill", "deadline_storm", "overload"})
    CHECK_THAT(r.out, Catch::Contains(kind));
}

namespace {

/// Writes on SQLite while connections break, among other faults.
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
    - {at_ms: 2100, kind: connection_crash, target: disk, params: {mode: throw}}
oracles:
  - answered_once
  - no_lost_writes
  - linearizable
  - mailbox_bounded
)";

} // namespace

TEST_CASE("a planted defect fails its oracle, is said to be planted, and "
          "shrink reduces the run") {
  temp_dir dir;
  auto path = dir.path() + "/breaking.yaml";
  write_file(path, breaking_connections);
  auto out = dir.path() + "/run";

  auto clean
    = run_prism({"simulate", path, "--seed", "2"}, std::chrono::seconds(60));
  INFO(describe(clean));
  CHECK(clean.status.code == 0);

  auto r = run_prism({"simulate", path, "--seed", "2", "--plant",
                      "ack_before_write", "--out", out},
                     std::chrono::seconds(60));
  INFO(describe(r));
  REQUIRE(r.status.exited);
  CHECK(r.status.code == 1);
  CHECK_THAT(r.out, Catch::Contains("planted defect: ack_before_write"));
  CHECK_THAT(r.out, Catch::Contains("(planted defect: ack_before_write)"));
  CHECK_THAT(r.err, Catch::Contains("(planted defect: ack_before_write)"));
  auto run = nlohmann::json::parse(read_file(out + "/run.json"));
  CHECK(run["planted"] == nlohmann::json::array({"ack_before_write"}));
  CHECK(run["passed"] == false);
  std::string failed;
  for (auto& v : run["oracles"])
    if (v["verdict"] == "FAILED" && failed.empty())
      failed = v["oracle"].get<std::string>();
  CHECK((failed == "linearizable" || failed == "no_lost_writes"));
  CHECK_THAT(run["replay"]["rerun"].get<std::string>(),
             Catch::EndsWith("--seed 2 --plant ack_before_write"));
  CHECK_THAT(read_file(out + "/report.html"),
             Catch::Contains("planted defect: ack_before_write"));

  // Replay plants it again, from run.json.
  auto replay
    = run_prism({"simulate", "replay", out}, std::chrono::seconds(60));
  INFO(describe(replay));
  CHECK(replay.status.code == 0);
  CHECK_THAT(replay.out, Catch::Contains("the trace is identical"));

  auto shrunk_dir = dir.path() + "/small";
  auto shrink = run_prism(
    {"simulate", "shrink", out, "--out", shrunk_dir, "--max-runs", "80"},
    std::chrono::seconds(120));
  INFO(describe(shrink));
  CHECK(shrink.status.code == 1);
  CHECK_THAT(shrink.out,
             Catch::Contains("fails " + failed
                             + " (planted defect: "
                               "ack_before_write)"));
  CHECK_THAT(shrink.out,
             Catch::Contains("[run 2] kept only the oracle " + failed));
  CHECK_THAT(shrink.out, Catch::Contains("shrunk in "));
  CHECK_THAT(shrink.out,
             Catch::Contains("scenario  " + shrunk_dir + "/scenario.yaml"));
  CHECK_THAT(shrink.out,
             Catch::Contains("rerun     prism simulate " + shrunk_dir
                             + "/scenario.yaml --seed "));
  CHECK_THAT(shrink.out, Catch::Contains(failed + " FAILED: "));
  for (auto file : {"run.json", "trace.jsonl", "history.jsonl", "scenario.yaml",
                    "report.html"})
    CHECK(std::filesystem::exists(shrunk_dir + "/" + file));
  auto yaml = read_file(shrunk_dir + "/scenario.yaml");
  // The original's comment, then where it comes from (wrapped).
  auto header = yaml.substr(0, yaml.find("\nname:"));
  for (auto at = header.find("\n# "); at != std::string::npos;
       at = header.find("\n# "))
    header.replace(at, 3, " ");
  CHECK_THAT(header,
             Catch::StartsWith("# Writes while connections break. "
                               "Shrunk by `prism simulate shrink` "
                               "from "
                               + out
                               + "/scenario.yaml (seed 2, planted "
                                 "defect ack_before_write) in "));
  CHECK_THAT(header, Catch::Contains("still fails the oracle " + failed));
  auto small = nlohmann::json::parse(read_file(shrunk_dir + "/run.json"));
  CHECK(small["planted"] == nlohmann::json::array({"ack_before_write"}));
  CHECK(small["oracles"].size() == 1);
  CHECK(small["oracles"][0]["oracle"] == failed);
  CHECK(small["oracles"][0]["verdict"] == "FAILED");
  CHECK(small["derived"]["faults"].size() < run["derived"]["faults"].size());

  // The shrunk run replays like any other.
  auto again
    = run_prism({"simulate", "replay", shrunk_dir}, std::chrono::seconds(60));
  INFO(describe(again));
  CHECK(again.status.code == 0);

  // A run that held is nothing to shrink.
  auto held = dir.path() + "/held";
  CHECK(run_prism({"simulate", path, "--seed", "2", "--out", held},
                  std::chrono::seconds(60))
          .status.code
        == 0);
  auto nothing
    = run_prism({"simulate", "shrink", held}, std::chrono::seconds(60));
  INFO(describe(nothing));
  CHECK(nothing.status.code == 2);
  CHECK_THAT(nothing.err, Catch::Contains(held + " is not a failing run"));
}

TEST_CASE("an unknown defect to plant is refused, a campaign says which it "
          "planted, and list names them") {
  temp_dir dir;
  auto path = dir.path() + "/breaking.yaml";
  write_file(path, breaking_connections);
  auto bad = run_prism({"simulate", path, "--seed", "1", "--plant", "typo"});
  INFO(describe(bad));
  CHECK(bad.status.code == 2);
  CHECK_THAT(bad.err,
             Catch::Contains("unknown planted defect \"typo\"; "
                             "known defects: ack_before_write, "
                             "stage_ok_without_forward, "
                             "pool_forgets_queued_call"));

  auto campaign = run_prism({"simulate", path, "--seeds", "1..2", "--jobs", "2",
                             "--plant", "ack_before_write"},
                            std::chrono::seconds(120));
  INFO(describe(campaign));
  CHECK(campaign.status.code == 1);
  CHECK_THAT(campaign.out,
             Catch::Contains("FAILED (planted defect: ack_before_write); "
                             "rerun: prism simulate "
                             + path + " --seed 1 --plant ack_before_write"));
  CHECK_THAT(campaign.err,
             Catch::Contains("2 failed (planted defect: ack_before_write)"));

  auto list = run_prism({"simulate", "list", "--dir",
                         std::string(PRISM_SOURCE_DIR) + "/simulations"});
  CHECK(list.status.code == 0);
  for (auto name : {"ack_before_write", "stage_ok_without_forward",
                    "pool_forgets_queued_call"})
    CHECK_THAT(list.out, Catch::Contains(name));
}
