// `prism simulate` from the outside: a shipped scenario passes with exit 0
// and leaves its artifacts (report.html among them), `replay` reproduces
// the trace and names the first line that differs, a failing oracle exits 1
// naming it, a bad scenario exits 2 with its file and line, and a campaign
// runs seeds in child processes.

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
