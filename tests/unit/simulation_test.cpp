// Scenarios, the runner and the oracles of `prism simulate`: scenario
// problems name their file, line and field; a seed replays its run byte for
// byte and different seeds differ; each oracle fails on a history made
// wrong on purpose; each fault kind leaves its mark on a run.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "model/digest.hpp"
#include "simulation/deterministic_gateway.hpp"
#include "simulation/oracles.hpp"
#include "simulation/report.hpp"
#include "simulation/runner.hpp"
#include "simulation/scenario.hpp"

using namespace prism;
using namespace prism::simulation;

namespace {

/// The actors log connections breaking and circuits opening; the trace
/// says it all here.
const bool quiet = (spdlog::set_level(spdlog::level::off), true);

/// A small scenario; `faults` is the text of its faults: section (indented
/// by two spaces), `extra_server` lines go under gateway.server.
std::string scenario_text(const std::string& faults,
                          const std::string& backend_type = "sqlite",
                          const std::string& extra_server = "",
                          const std::string& workload_extra = "") {
  return "name: test\n"
         "description: a test scenario\n"
         "gateway:\n"
         "  server:\n"
         "    session_idle_timeout_ms: 60000\n"
    + extra_server
    + "  backends:\n"
      "    disk:\n"
      "      type: "
    + backend_type + "\n"
    + (backend_type == "sqlite" ? "      path: unused.db\n" : "")
    + "      connections: 2\n"
      "  namespaces:\n"
      "    kv: {backend: disk}\n"
      "duration_ms: 3000\n"
      "workload:\n"
      "  clients: 3\n"
      "  think_ms: 10\n"
      "  namespace: kv\n"
      "  keys: 5\n"
      "  deadline_ms: 200\n"
    + workload_extra + "faults:\n" + faults
    + "oracles:\n"
      "  - answered_once\n"
      "  - no_lost_writes\n"
      "  - linearizable\n"
      "  - mailbox_bounded\n";
}

scenario must_parse(const std::string& text) {
  auto r = parse_scenario(text, "test.yaml");
  INFO(format_problems(r.problems));
  REQUIRE(r.ok());
  return *r.value;
}

/// The problems of a scenario that must not load, as text.
std::string problems_of(const std::string& text) {
  auto r = parse_scenario(text, "bad.yaml");
  CHECK_FALSE(r.ok());
  return format_problems(r.problems);
}

size_t count_lines(const run_report& r, const std::string& text) {
  return static_cast<size_t>(
    std::count_if(r.trace.begin(), r.trace.end(), [&](const std::string& l) {
      return l.find(text) != std::string::npos;
    }));
}

void require_held(const run_report& r) {
  for (auto& v : r.verdicts) {
    INFO(info_of(v.kind).name << ": " << v.summary << " " << v.counterexample);
    CHECK(v.outcome != verdict::failed);
  }
}

uint64_t calls_with(const run_report& r, const std::string& code) {
  auto i = r.calls_by_code.find(code);
  return i == r.calls_by_code.end() ? 0 : i->second;
}

// --- hand-made histories ----------------------------------------------------

struct history_builder {
  std::vector<kv_operation> ops;
  uint64_t index = 1;

  /// `call` hands out references into `ops` that a test keeps while it adds
  /// more operations: room for all of them up front, so none moves.
  static constexpr size_t ops_max = 1024;
  history_builder() { ops.reserve(ops_max); }

  /// Starts an operation; answer it with `ok`, `refused` or `unknown`.
  kv_operation& call(int64_t process, op_function f, std::string key,
                     std::string value = {}) {
    kv_operation op;
    op.request_id = "r" + std::to_string(ops.size());
    op.process = process;
    op.f = f;
    op.key = std::move(key);
    op.value = std::move(value);
    op.invoke_index = index++;
    op.invoke_ms = static_cast<int64_t>(op.invoke_index);
    REQUIRE(ops.size() < ops_max);
    ops.push_back(op);
    return ops.back();
  }
  void finish(kv_operation& op, status_code code) {
    op.code = code;
    op.complete_index = index++;
    op.complete_ms = static_cast<int64_t>(op.complete_index);
  }
  /// A Set answered OK with `version`.
  void set(int64_t p, const std::string& key, const std::string& value,
           uint64_t version) {
    auto& op = call(p, op_function::set, key, value);
    op.version = version;
    finish(op, status_code::ok);
  }
  /// A Get answered OK.
  void get(int64_t p, const std::string& key, const std::string& value,
           uint64_t version, bool final_read = false) {
    auto& op = call(p, op_function::get, key);
    op.found = !value.empty();
    op.read_value = value;
    op.version = version;
    op.final_read = final_read;
    finish(op, status_code::ok);
  }
  std::map<std::string, int> answers() const {
    std::map<std::string, int> counts;
    for (auto& op : ops)
      if (op.answered())
        ++counts[op.request_id];
    return counts;
  }
};

} // namespace

// --- scenario files -----------------------------------------------------------

TEST_CASE("a scenario's problems name the file, line and field") {
  auto text = scenario_text("  schedule: []\n");
  auto clients = text.find("  clients: 3");
  REQUIRE(clients != std::string::npos);
  auto bad = text;
  bad.replace(clients, 12, "  clients: 0");
  auto line = 1 + std::count(text.begin(), text.begin() + clients, '\n');
  CHECK_THAT(problems_of(bad),
             Catch::Contains("bad.yaml:" + std::to_string(line)
                             + ":12: workload.clients: must be 1..10000"));

  // An unknown key, at its line.
  auto unknown = text;
  unknown.replace(clients, 0, "  clinets: 2\n");
  CHECK_THAT(problems_of(unknown),
             Catch::Contains("bad.yaml:" + std::to_string(line)
                             + ":3: workload.clinets: unknown key"));
  CHECK_THAT(problems_of("name: x\nfoo: 1\n"),
             Catch::Contains("bad.yaml:2:1: foo: unknown key \"foo\""));
  CHECK_THAT(problems_of("name: x\n"), Catch::Contains("duration_ms: missing"));
}

TEST_CASE("gateway: FILE reads the config from a file next to the "
          "scenario, and the scenario as run inlines it") {
  auto dir = std::filesystem::temp_directory_path()
    / ("prism-scenario-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
  };
  write("gw.yaml",
        "# the config\n"
        "backends:\n"
        "  disk: {type: sqlite, path: unused.db}\n"
        "namespaces:\n"
        "  kv: {backend: disk}\n");
  auto text = scenario_text("  schedule: []\n");
  auto at = text.find("gateway:\n");
  auto end = text.find("duration_ms:");
  REQUIRE(at != std::string::npos);
  auto by_path = text.substr(0, at) + "gateway: gw.yaml   # next to me\n"
    + text.substr(end);
  write("s.yaml", by_path);
  auto r = load_scenario((dir / "s.yaml").string());
  INFO(format_problems(r.problems));
  REQUIRE(r.ok());
  auto& s = *r.value;
  CHECK(s.gateway_file == (dir / "gw.yaml").string());
  CHECK(s.gateway.backends.at("disk").type == config::backend_type::sqlite);
  CHECK_THAT(s.text, Catch::Contains("# gateway: inlined from "));
  CHECK_THAT(s.text, Catch::Contains("  namespaces:\n    kv: {backend: disk}"));
  CHECK(s.sha256 != model::sha256_hex(by_path));
  // The scenario as run stands alone: it loads from anywhere, and runs the
  // same.
  auto again = must_parse(s.text);
  CHECK(again.gateway_file.empty());
  CHECK(again.gateway.namespaces.count("kv") == 1);
  CHECK(run_scenario(s, 2).trace == run_scenario(again, 2).trace);

  write("bad.yaml", "backends:\n  disk: {type: oracle}\nnamespaces: {}\n");
  write("s2.yaml",
        text.substr(0, at) + "gateway: bad.yaml\n" + text.substr(end));
  auto bad = load_scenario((dir / "s2.yaml").string());
  CHECK_FALSE(bad.ok());
  auto problems = format_problems(bad.problems);
  CHECK_THAT(problems, Catch::Contains("s2.yaml:"));
  CHECK_THAT(problems, Catch::Contains("bad.yaml:2:"));
  write("s3.yaml",
        text.substr(0, at) + "gateway: missing.yaml\n" + text.substr(end));
  CHECK_THAT(
    format_problems(load_scenario((dir / "s3.yaml").string()).problems),
    Catch::Contains("missing.yaml"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("problems inside the gateway section carry the scenario's lines") {
  auto text = scenario_text("  schedule: []\n");
  auto type = text.find("type: sqlite");
  auto line = 1 + std::count(text.begin(), text.begin() + type, '\n');
  auto bad = text;
  bad.replace(type, 12, "type: sqlight");
  CHECK_THAT(problems_of(bad),
             Catch::Contains("bad.yaml:" + std::to_string(line)
                             + ":13: gateway.backends.disk.type:"));
  // The workload's namespace must be a keyvalue namespace of the gateway.
  auto ns = text;
  ns.replace(ns.find("namespace: kv"), 13, "namespace: nope");
  CHECK_THAT(problems_of(ns),
             Catch::Contains("workload.namespace: no namespace \"nope\""));
}

TEST_CASE("faults are validated: kind, target, timing and typed params") {
  auto meltdown = scenario_text(
    "  schedule:\n    - {at_ms: 10, kind: meltdown, target: disk}\n");
  auto at = meltdown.find("meltdown");
  auto line = 1 + std::count(meltdown.begin(), meltdown.begin() + at, '\n');
  auto column = at - meltdown.rfind('\n', at);
  CHECK_THAT(problems_of(meltdown),
             Catch::Contains("bad.yaml:" + std::to_string(line) + ":"
                             + std::to_string(column)
                             + ": faults.schedule[0].kind: \"meltdown\" is "
                               "not one of backend_error"));
  CHECK_THAT(problems_of(scenario_text("  schedule:\n    - {at_ms: 10, kind: "
                                       "outage, target: nosuch, duration_ms: "
                                       "10}\n")),
             Catch::Contains("faults.schedule[0].target: no keyvalue backend "
                             "\"nosuch\""));
  CHECK_THAT(problems_of(scenario_text(
               "  schedule:\n    - {at_ms: 2900, kind: outage, target: disk, "
               "duration_ms: 500}\n")),
             Catch::Contains("faults.schedule[0].duration_ms: the fault ends "
                             "at 3400 ms, after the run's duration_ms 3000"));
  CHECK_THAT(problems_of(scenario_text(
               "  schedule:\n    - {at_ms: 10, kind: latency, target: disk, "
               "duration_ms: 10}\n")),
             Catch::Contains("faults.schedule[0].params.latency_ms: missing"));
  CHECK_THAT(problems_of(scenario_text(
               "  schedule:\n    - {at_ms: 10, kind: backend_error, target: "
               "disk, duration_ms: 10, params: {code: BROKEN}}\n")),
             Catch::Contains("faults.schedule[0].params.code: \"BROKEN\" is "
                             "not one of CANCELLED"));
  CHECK_THAT(problems_of(scenario_text(
               "  schedule:\n    - {at_ms: 10, kind: kill, target: "
               "\"connection:disk#7\"}\n")),
             Catch::Contains("backend \"disk\" has connections #0..#1"));
  CHECK_THAT(problems_of(scenario_text("  schedule:\n    - {at_ms: 10, kind: "
                                       "connection_crash, target: disk, "
                                       "duration_ms: 5}\n")),
             Catch::Contains("happens at once; duration_ms does not apply"));
  CHECK_THAT(problems_of(scenario_text("  random: {lightning: 1}\n")),
             Catch::Contains("faults.random.lightning: unknown key"));
}

TEST_CASE("the recovery oracle needs room after the last fault") {
  auto text = scenario_text(
    "  schedule:\n    - {at_ms: 1000, kind: outage, target: disk, "
    "duration_ms: 1500}\n");
  text += "  - recovery: {within_ms: 1000}\n";
  CHECK_THAT(problems_of(text),
             Catch::Contains("oracles.recovery.within_ms: the last fault ends "
                             "at 2500 ms, so recovery within 1000 ms needs "
                             "duration_ms >= 3500"));
}

// --- determinism --------------------------------------------------------------

TEST_CASE("the same seed gives a byte-identical trace, other seeds differ") {
  auto s = must_parse(scenario_text(
    "  schedule:\n"
    "    - {at_ms: 500, kind: outage, target: disk, duration_ms: 300}\n"
    "  random: {latency: 2, connection_crash: 2, kill: 2, until_ms: 1500}\n"));
  auto first = run_scenario(s, 7);
  auto again = run_scenario(s, 7);
  CHECK(trace_jsonl(first) == trace_jsonl(again));
  CHECK(history_jsonl(first.ops) == history_jsonl(again.ops));
  CHECK(first.random_kinds_on == again.random_kinds_on);
  require_held(first);
  std::set<std::string> traces{trace_jsonl(first)};
  for (uint64_t seed : {1, 2, 3})
    traces.insert(trace_jsonl(run_scenario(s, seed)));
  CHECK(traces.size() == 4);
}

TEST_CASE("trace.jsonl carries the step, time, actor and the fault's id") {
  auto s = must_parse(scenario_text(
    "  schedule:\n"
    "    - {at_ms: 500, kind: outage, target: disk, duration_ms: 300}\n"));
  auto r = run_scenario(s, 1);
  auto jsonl = trace_jsonl(r);
  CHECK_THAT(jsonl,
             Catch::Contains("\"actor\":\"fault\",\"event\":\"fault\","
                             "\"message\":\"f1 begin outage disk\","
                             "\"fault\":\"f1\""));
  CHECK_THAT(jsonl,
             Catch::Contains("\"t_ms\":500,\"actor\":\"sim:disk\","
                             "\"event\":\"sim\",\"message\":\"down\","
                             "\"fault\":\"f1\""));
  CHECK_THAT(jsonl,
             Catch::Contains("\"actor\":\"pool:disk\",\"event\":\"run\""));
  auto history = history_jsonl(r.ops);
  CHECK_THAT(history, Catch::Contains("\"type\":\"invoke\""));
  CHECK_THAT(history, Catch::Contains("\"type\":\"info\""));
  CHECK_THAT(history, Catch::Contains("\"final\":true"));
  auto json = run_json(r, "out");
  CHECK_THAT(json, Catch::Contains("\"sha256\": \"" + s.sha256 + "\""));
  CHECK_THAT(json,
             Catch::Contains("\"rerun\": \"prism simulate test.yaml "
                             "--seed 1\""));
}

// --- oracles on planted defects ----------------------------------------------

TEST_CASE("answered_once fails on a missing, doubled or unexpected answer") {
  history_builder h;
  h.set(0, "a", "x", 1);
  auto& pending = h.call(1, op_function::get, "a");
  (void)pending;
  auto r = check_answered_once(h.ops, h.answers(), {});
  CHECK(r.outcome == verdict::failed);
  CHECK_THAT(r.counterexample, Catch::Contains("never answered: r1"));

  history_builder twice;
  twice.set(0, "a", "x", 1);
  auto answers = twice.answers();
  answers["r0"] = 2;
  CHECK(check_answered_once(twice.ops, answers, {}).outcome == verdict::failed);

  history_builder internal;
  auto& op = internal.call(0, op_function::set, "a", "x");
  internal.finish(op, status_code::internal);
  CHECK(check_answered_once(internal.ops, internal.answers(), {}).outcome
        == verdict::failed);
  CHECK(check_answered_once(internal.ops, internal.answers(),
                            {status_code::internal})
          .outcome
        == verdict::held);
  // A plain Set is never refused for its version.
  history_builder refused;
  auto& set = refused.call(0, op_function::set, "a", "x");
  refused.finish(set, status_code::failed_precondition);
  CHECK(check_answered_once(refused.ops, refused.answers(), {}).outcome
        == verdict::failed);
  history_builder fine;
  fine.set(0, "a", "x", 1);
  auto& cas = fine.call(1, op_function::cas, "a", "y");
  fine.finish(cas, status_code::failed_precondition);
  CHECK(check_answered_once(fine.ops, fine.answers(), {}).outcome
        == verdict::held);
}

TEST_CASE("no_lost_writes fails when an acknowledged write is gone") {
  history_builder ok;
  ok.set(0, "a", "x", 1);
  ok.set(1, "a", "y", 2);
  ok.get(2, "a", "y", 2, true);
  CHECK(check_no_lost_writes(ok.ops, true).outcome == verdict::held);
  CHECK(check_no_lost_writes(ok.ops, false).outcome == verdict::skipped);

  history_builder lost;
  lost.set(0, "a", "x", 1);
  lost.set(1, "a", "y", 2);
  lost.get(2, "a", "x", 1, true);
  auto r = check_no_lost_writes(lost.ops, true);
  CHECK(r.outcome == verdict::failed);
  CHECK_THAT(r.counterexample,
             Catch::Contains("key a holds x version 1, "
                             "older than the acknowledged"));

  history_builder missing;
  missing.set(0, "a", "x", 1);
  missing.get(2, "a", "", 0, true);
  CHECK(check_no_lost_writes(missing.ops, true).outcome == verdict::failed);

  // A write whose outcome is unknown may have been applied after it.
  history_builder later;
  later.set(0, "a", "x", 1);
  auto& maybe = later.call(1, op_function::set, "a", "z");
  later.finish(maybe, status_code::unavailable);
  later.get(2, "a", "z", 5, true);
  CHECK(check_no_lost_writes(later.ops, true).outcome == verdict::held);
  // ...but a refused one may not.
  history_builder refused;
  refused.set(0, "a", "x", 1);
  auto& no = refused.call(1, op_function::set, "a", "z");
  refused.finish(no, status_code::resource_exhausted);
  refused.get(2, "a", "z", 5, true);
  CHECK(check_no_lost_writes(refused.ops, true).outcome == verdict::failed);
}

TEST_CASE("linearizable fails on a stale read, a phantom value and a CAS "
          "that should not have matched") {
  history_builder legal;
  legal.set(0, "a", "x", 1);
  legal.get(1, "a", "x", 1);
  legal.set(0, "a", "y", 2);
  legal.get(1, "a", "y", 2);
  CHECK(check_linearizable(legal.ops, 1000).outcome == verdict::held);

  history_builder stale;
  stale.set(0, "a", "x", 1);
  stale.set(0, "a", "y", 2);
  stale.get(1, "a", "x", 1);
  auto r = check_linearizable(stale.ops, 1000);
  CHECK(r.outcome == verdict::failed);
  CHECK_THAT(r.counterexample, Catch::Contains("key a: no order"));
  CHECK_THAT(r.counterexample, Catch::Contains("Get a -> OK x version 1"));

  history_builder phantom;
  phantom.set(0, "a", "x", 1);
  phantom.get(1, "a", "q", 9);
  CHECK_THAT(check_linearizable(phantom.ops, 1000).counterexample,
             Catch::Contains("read q, which no write"));

  history_builder cas;
  cas.set(0, "a", "x", 1);
  cas.set(0, "a", "y", 2);
  auto& c = cas.call(1, op_function::cas, "a", "z");
  c.if_version = 1;
  c.version = 3;
  cas.finish(c, status_code::ok);
  CHECK(check_linearizable(cas.ops, 1000).outcome == verdict::failed);

  // Concurrent operations may be ordered either way.
  history_builder overlap;
  auto& w = overlap.call(0, op_function::set, "a", "x");
  overlap.get(1, "a", "x", 4);
  w.version = 4;
  overlap.finish(w, status_code::ok);
  CHECK(check_linearizable(overlap.ops, 1000).outcome == verdict::held);
}

TEST_CASE("linearizable lets an unknown outcome apply or not, and says "
          "unknown when its bound is hit") {
  history_builder h;
  h.set(0, "a", "x", 1);
  auto& maybe = h.call(1, op_function::set, "a", "y");
  h.finish(maybe, status_code::deadline_exceeded);
  h.get(2, "a", "y", 2);
  h.get(2, "a", "y", 2);
  CHECK(check_linearizable(h.ops, 1000).outcome == verdict::held);
  history_builder not_applied;
  not_applied.set(0, "a", "x", 1);
  auto& lost = not_applied.call(1, op_function::set, "a", "y");
  not_applied.finish(lost, status_code::unavailable);
  not_applied.get(2, "a", "x", 1);
  CHECK(check_linearizable(not_applied.ops, 1000).outcome == verdict::held);
  CHECK(check_linearizable(not_applied.ops, 1).outcome == verdict::unknown);
}

TEST_CASE("mailbox_bounded fails past a limit, recovery without recovery") {
  std::map<std::string, mailbox_figures> boxes;
  boxes["pool:disk"] = {8, 8, 12, 0, 4};
  CHECK(check_mailbox_bounded(boxes, 0).outcome == verdict::held);
  boxes["router"] = {16, 17, 10, 0, 0};
  auto r = check_mailbox_bounded(boxes, 0);
  CHECK(r.outcome == verdict::failed);
  CHECK_THAT(r.counterexample, Catch::Contains("router admitted 17"));
  boxes["router"] = {16, 16, 30, 0, 8};
  CHECK(check_mailbox_bounded(boxes, 5).outcome == verdict::failed);
  CHECK(check_mailbox_bounded(boxes, 6).outcome == verdict::held);

  history_builder h;
  for (int i = 0; i < 40; ++i) {
    auto& op = h.call(0, op_function::get, "a");
    op.invoke_ms = 1000 + i * 25;
    h.finish(op, i < 30 ? status_code::unavailable : status_code::ok);
  }
  recovery_settings settings{500, 0.9, 200, 5};
  auto slow = check_recovery(h.ops, 1000, settings);
  CHECK(slow.outcome == verdict::failed);
  CHECK_THAT(slow.counterexample, Catch::Contains("no 200 ms window"));
  settings.within_ms = 1000;
  CHECK(check_recovery(h.ops, 1000, settings).outcome == verdict::held);
}

// --- each fault kind leaves its mark -----------------------------------------

TEST_CASE("backend_error: the backend answers the code for the window") {
  auto r = run_scenario(
    must_parse(scenario_text("  schedule:\n    - {at_ms: 500, kind: "
                             "backend_error, target: disk, duration_ms: 200, "
                             "params: {code: ABORTED}}\n")),
    1);
  CHECK(calls_with(r, "ABORTED") > 5);
  CHECK(count_lines(r, "sim disk failing ABORTED") == 1);
  CHECK(count_lines(r, "sim disk failing off") == 1);
  require_held(r);
}

TEST_CASE("latency: calls take the added time, those past their deadline "
          "time out") {
  auto r = run_scenario(
    must_parse(scenario_text("  schedule:\n    - {at_ms: 500, kind: latency, "
                             "target: disk, duration_ms: 1000, params: "
                             "{latency_ms: 150, jitter_ms: 100}}\n")),
    1);
  int64_t slowest = 0;
  for (auto& op : r.ops)
    if (op.code == status_code::ok && op.invoke_ms >= 500
        && op.invoke_ms < 1400)
      slowest = std::max(slowest, op.complete_ms - op.invoke_ms);
  CHECK(slowest >= 150);
  CHECK(calls_with(r, "DEADLINE_EXCEEDED") > 0);
  CHECK(count_lines(r, "timed out") > 0);
  require_held(r);
}

TEST_CASE("hang: operations wait for the fault's end or their deadline") {
  auto r = run_scenario(
    must_parse(scenario_text("  schedule:\n    - {at_ms: 500, kind: hang, "
                             "target: disk, duration_ms: 100}\n"
                             "    - {at_ms: 1000, kind: hang, target: disk, "
                             "duration_ms: 500}\n")),
    1);
  CHECK(count_lines(r, "sim disk held ") > 0);
  CHECK(count_lines(r, "sim disk released ") == 2);
  // The short hang ends before the 200 ms deadlines, the long one after.
  bool waited = false;
  for (auto& op : r.ops)
    if (op.code == status_code::ok && op.invoke_ms >= 500 && op.invoke_ms < 600
        && op.complete_ms == 600)
      waited = true;
  CHECK(waited);
  CHECK(calls_with(r, "DEADLINE_EXCEEDED") > 0);
  require_held(r);
}

TEST_CASE("outage: connections break, cannot reconnect, and come back") {
  auto r = run_scenario(
    must_parse(scenario_text("  schedule:\n    - {at_ms: 500, kind: outage, "
                             "target: disk, duration_ms: 500}\n")),
    1);
  CHECK(count_lines(r, "sim disk down") == 1);
  CHECK(count_lines(r, "refused") > 0);
  CHECK(count_lines(r, "sim disk up") == 1);
  CHECK(calls_with(r, "UNAVAILABLE") > 0);
  bool ok_after = std::any_of(r.ops.begin(), r.ops.end(), [](auto& op) {
    return !op.final_read && op.invoke_ms > 2000 && op.code == status_code::ok;
  });
  CHECK(ok_after);
  require_held(r);
}

TEST_CASE("connection_crash: the connection actor dies and is restarted") {
  auto r = run_scenario(
    must_parse(scenario_text(
      "  schedule:\n"
      "    - {at_ms: 500, kind: connection_crash, target: disk}\n"
      "    - {at_ms: 800, kind: connection_crash, target: disk, params: "
      "{mode: throw}}\n")),
    1);
  CHECK(count_lines(r, "sim disk dropped ") == 1);
  CHECK(count_lines(r, "sim disk threw ") == 1);
  CHECK(count_lines(r, "exit connection:disk#") == 2);
  require_held(r);
}

TEST_CASE("commit_unknown: writes applied, their answer lost, judged as "
          "unknown") {
  auto r = run_scenario(
    must_parse(scenario_text(
      "  schedule:\n"
      "    - {at_ms: 500, kind: commit_unknown, target: disk, params: "
      "{count: 3}}\n")),
    1);
  CHECK(count_lines(r, "sim disk applied then dropped ") == 3);
  CHECK(count_lines(r, "exit connection:disk#") == 3);
  // Each of the three writes was applied, yet its client heard UNAVAILABLE.
  uint64_t in_doubt = 0;
  for (auto& op : r.ops)
    if (op.code == status_code::unavailable
        && op.message.find("may or may not") != std::string::npos)
      ++in_doubt;
  CHECK(in_doubt >= 3);
  require_held(r);
}

TEST_CASE("clock_jump: keys written with a TTL expire when the backends' "
          "clock jumps") {
  // A TTL far longer than the run: only the jump can make keys expire.
  auto text = [](const std::string& faults) {
    auto t = scenario_text(faults, "sqlite", "",
                           "  ttl_ms: 600000\n"
                           "  mix: {get: 50, set: 50}\n");
    auto cut = t.find("  - no_lost_writes\n  - linearizable\n");
    return t.erase(
      cut, std::string("  - no_lost_writes\n  - linearizable\n").size());
  };
  auto found_at_end = [](const run_report& r) {
    std::set<std::string> keys;
    for (auto& op : r.ops)
      if (op.final_read && op.code == status_code::ok && op.found)
        keys.insert(op.key);
    return keys.size();
  };
  auto steady = run_scenario(must_parse(text("  schedule: []\n")), 1);
  auto jumped = run_scenario(
    must_parse(text("  schedule:\n"
                    "    - {at_ms: 3000, kind: clock_jump, params: {ms: "
                    "700000}}\n")),
    1);
  CHECK(count_lines(jumped, "clock jump 700000ms") == 1);
  CHECK(found_at_end(steady) == 5);
  CHECK(found_at_end(jumped) < found_at_end(steady));
  require_held(jumped);
  // The oracles that model a register without expiry refuse a TTL.
  auto refused = problems_of(
    scenario_text("  schedule: []\n", "sqlite", "", "  ttl_ms: 1000\n"));
  CHECK(refused.find("workload.ttl_ms: the no_lost_writes oracle does not "
                     "model TTL expiry")
        != std::string::npos);
  CHECK(refused.find("workload.ttl_ms: the linearizable oracle")
        != std::string::npos);
}

TEST_CASE("reload: the config changes mid-run, one needing a restart is "
          "refused at validation") {
  // A namespace is added and a rate limit takes effect on the workload's.
  auto r = run_scenario(
    must_parse(scenario_text(
      "  schedule:\n"
      "    - at_ms: 1000\n"
      "      kind: reload\n"
      "      params:\n"
      "        config:\n"
      "          server: {session_idle_timeout_ms: 60000}\n"
      "          backends:\n"
      "            disk: {type: sqlite, path: unused.db, connections: 2}\n"
      "          namespaces:\n"
      "            kv:\n"
      "              backend: disk\n"
      "              rate_limit: {rate: 20, burst: 5}\n"
      "            extra: {backend: disk}\n")),
    1);
  CHECK(count_lines(r, "reload applied") == 1);
  REQUIRE(r.faults.size() == 1);
  CHECK(r.faults[0].outcome == "applied");
  // The limit now refuses calls that came too fast.
  uint64_t limited_after = 0;
  for (auto& op : r.ops)
    if (op.invoke_ms > 1000 && op.code == status_code::resource_exhausted)
      ++limited_after;
  CHECK(limited_after > 0);
  require_held(r);
  // A reload that changes the backends needs a restart: refused up front.
  auto refused = problems_of(scenario_text(
    "  schedule:\n"
    "    - at_ms: 1000\n"
    "      kind: reload\n"
    "      params:\n"
    "        config:\n"
    "          backends:\n"
    "            disk: {type: sqlite, path: other.db, connections: 5}\n"
    "          namespaces:\n"
    "            kv: {backend: disk}\n"));
  CHECK(refused.find("params.config: the gateway would refuse it")
        != std::string::npos);
  // One that drops the workload's namespace too.
  auto dropped = problems_of(scenario_text(
    "  schedule:\n"
    "    - at_ms: 1000\n"
    "      kind: reload\n"
    "      params:\n"
    "        config:\n"
    "          server: {session_idle_timeout_ms: 60000}\n"
    "          backends:\n"
    "            disk: {type: sqlite, path: unused.db, connections: 2}\n"
    "          namespaces:\n"
    "            other: {backend: disk}\n"));
  CHECK(dropped.find("keeps no keyvalue namespace \"kv\"")
        != std::string::npos);
}

TEST_CASE("restart_storm: connections restart past the intensity, the "
          "supervisor gives up, the tree comes back") {
  auto text = scenario_text("  schedule:\n"
                            "    - {at_ms: 500, kind: restart_storm, target: "
                            "disk, duration_ms: 1000}\n");
  text += "  - supervision\n";
  auto r = run_scenario(must_parse(text), 1);
  CHECK(count_lines(r, "sim disk crashing on") == 1);
  CHECK(count_lines(r, "sim disk crashing off") == 1);
  CHECK(count_lines(r, "exit supervisor:pool:disk ") == 1);
  CHECK(count_lines(r, "would exceed the restart intensity") >= 1);
  CHECK(calls_with(r, "UNAVAILABLE") > 0);
  auto supervision
    = std::find_if(r.verdicts.begin(), r.verdicts.end(),
                   [](auto& v) { return v.kind == oracle_kind::supervision; });
  REQUIRE(supervision != r.verdicts.end());
  CHECK(supervision->outcome == verdict::held);
  require_held(r);
}

TEST_CASE("supervision fails past the intensity without giving up, and on a "
          "tree that did not come back") {
  supervisor_figures sup;
  sup.label = "supervisor:pool:disk";
  sup.max_restarts = 2;
  sup.period_ms = 1000;
  sup.restart_ms = {100, 600, 1200, 1700};
  std::map<std::string, uint64_t> steady{{"connection", 2}, {"pool", 1}};
  // Four restarts, but no more than two within any 1000 ms.
  CHECK(check_supervision({sup}, steady, steady).outcome == verdict::held);
  sup.restart_ms = {100, 600, 1050};
  auto r = check_supervision({sup}, steady, steady);
  CHECK(r.outcome == verdict::failed);
  CHECK(r.counterexample.find("supervisor:pool:disk restarted 3 times")
        != std::string::npos);
  // The same restarts are fine when the supervisor then gave up.
  sup.ended = true;
  CHECK(check_supervision({sup}, steady, steady).outcome == verdict::held);
  // A connection short at the end.
  auto shrunk = steady;
  shrunk["connection"] = 1;
  auto t = check_supervision({}, steady, shrunk);
  CHECK(t.outcome == verdict::failed);
  CHECK(t.counterexample.find("connection 2 -> 1") != std::string::npos);
}

TEST_CASE("a crashed gateway loses its calls in flight and its memory "
          "backends, a restarted one finds the durable data") {
  deterministic_gateway g(parse_config("backends:\n"
                                       "  disk: {type: sqlite, path: x.db}\n"
                                       "  mem: {type: memory}\n"
                                       "namespaces:\n"
                                       "  kv: {backend: disk}\n"
                                       "  cache: {backend: mem}\n"));
  REQUIRE(g.call("kv", model::set_op{"k", "durable", 0, {}}).status.ok());
  REQUIRE(g.call("cache", model::set_op{"k", "volatile", 0, {}}).status.ok());
  // A write waits in the backend when the process dies.
  g.backend("disk").set_holding(true);
  g.submit("held", "kv", model::set_op{"x", "never", 0, {}});
  g.run();
  REQUIRE(g.backend("disk").held() == 1);
  g.crash();
  CHECK(g.down());
  CHECK_THROWS_AS(g.submit("late", "kv", model::get_op{"k"}), std::logic_error);
  g.advance_ms(100);
  g.backend("disk").set_holding(false);
  g.restart(parse_config("backends:\n"
                         "  disk: {type: sqlite, path: x.db}\n"
                         "  mem: {type: memory}\n"
                         "namespaces:\n"
                         "  kv: {backend: disk}\n"
                         "  cache: {backend: mem}\n"));
  CHECK_FALSE(g.down());
  CHECK(g.crashes() == 1);
  CHECK(g.answer_of("held") == nullptr);
  CHECK(g.backend("disk").held() == 0);
  auto durable = g.call("kv", model::get_op{"k"});
  REQUIRE(durable.status.ok());
  CHECK(std::get<model::get_result>(durable.value).value == "durable");
  auto discarded = g.call("kv", model::get_op{"x"});
  REQUIRE(discarded.status.ok());
  CHECK_FALSE(std::get<model::get_result>(discarded.value).found);
  auto lost = g.call("cache", model::get_op{"k"});
  REQUIRE(lost.status.ok());
  CHECK_FALSE(std::get<model::get_result>(lost.value).found);
  auto trace = g.trace_text();
  CHECK_THAT(trace, Catch::Contains("crash gateway"));
  CHECK_THAT(trace, Catch::Contains("sim disk discarded 1 in flight"));
  CHECK_THAT(trace, Catch::Contains("restart gateway"));
}

TEST_CASE("gateway_crash: calls in flight are lost to their clients, "
          "acknowledged writes survive, clients call again") {
  auto r = run_scenario(
    must_parse(scenario_text(
      "  schedule:\n"
      "    - {at_ms: 400, kind: latency, target: disk, duration_ms: 1200, "
      "params: {latency_ms: 20}}\n"
      "    - {at_ms: 700, kind: gateway_crash, duration_ms: 300}\n"
      "    - {at_ms: 1300, kind: gateway_crash, duration_ms: 50}\n")),
    3);
  CHECK(count_lines(r, "crash gateway") == 2);
  CHECK(count_lines(r, "restart gateway") == 2);
  uint64_t lost = 0;
  for (auto& op : r.ops) {
    if (!op.connection_lost)
      continue;
    ++lost;
    CHECK(op.code == status_code::unavailable);
    CHECK((op.complete_ms == 700 || op.complete_ms == 1300));
  }
  CHECK(lost > 0);
  // Nobody calls while the gateway is down; calls succeed after it is back.
  for (auto& op : r.ops) {
    CHECK_FALSE((op.invoke_ms > 700 && op.invoke_ms < 1000));
  }
  bool ok_after = std::any_of(r.ops.begin(), r.ops.end(), [](auto& op) {
    return !op.final_read && op.invoke_ms >= 1000 && op.invoke_ms < 1300
      && op.code == status_code::ok;
  });
  CHECK(ok_after);
  require_held(r);
  CHECK_THAT(problems_of(scenario_text("  schedule:\n"
                                       "    - {at_ms: 700, kind: "
                                       "gateway_crash, duration_ms: 300}\n",
                                       "memory")),
             Catch::Contains("gateway_crash needs a durable workload "
                             "namespace"));
}

TEST_CASE("client_cancel: the next calls are dropped by their clients, "
          "recorded as info, and answered once by the gateway") {
  auto r = run_scenario(
    must_parse(scenario_text(
      "  schedule:\n"
      "    - {at_ms: 500, kind: client_cancel, params: {count: 7}}\n")),
    1);
  CHECK(count_lines(r, "client cancels ") == 7);
  CHECK(count_lines(r, "end client_cancel") == 1);
  size_t cancelled = 0;
  for (auto& op : r.ops) {
    if (!op.cancelled)
      continue;
    ++cancelled;
    CHECK(op.invoke_ms >= 500);
    CHECK(classify(op) == completion_type::info);
    CHECK(op.message.find("cancelled by its client") != std::string::npos);
  }
  CHECK(cancelled == 7);
  CHECK(history_jsonl(r.ops).find("\"type\":\"info\"") != std::string::npos);
  CHECK(history_jsonl(r.ops).find("\"cancelled\":true") != std::string::npos);
  // answered_once counts the gateway's answers, cancelled calls included.
  require_held(r);
}

TEST_CASE("kill: the inspector kills the actor the target names") {
  auto r = run_scenario(
    must_parse(scenario_text("  schedule:\n"
                             "    - {at_ms: 500, kind: kill, target: pool}\n"
                             "    - {at_ms: 1000, kind: kill, target: router}\n"
                             "    - {at_ms: 1500, kind: kill, target: "
                             "\"session:client-2\"}\n")),
    1);
  REQUIRE(r.faults.size() == 3);
  CHECK(r.faults[0].outcome == "killed pool:disk");
  CHECK(r.faults[1].outcome == "killed router");
  CHECK(r.faults[2].outcome == "killed session:client-2");
  CHECK(count_lines(r, "exit pool:disk ") == 1);
  CHECK(count_lines(r, "exit router ") == 1);
  CHECK(count_lines(r, "exit session:client-2 ") == 1);
  CHECK(count_lines(r, "run pool:disk#2 ") > 0);
  require_held(r);
}

TEST_CASE("deadline_storm: the next calls carry a tiny deadline") {
  auto r = run_scenario(
    must_parse(scenario_text("  schedule:\n    - {at_ms: 500, kind: "
                             "deadline_storm, params: {count: 12, "
                             "deadline_ms: 0}}\n")),
    1);
  CHECK(calls_with(r, "DEADLINE_EXCEEDED") == 12);
  CHECK(count_lines(r, "fault f1 end deadline_storm") == 1);
  require_held(r);
}

TEST_CASE("overload: more calls in the window, refused past the limits") {
  auto text = scenario_text(
    "  schedule:\n    - {at_ms: 1000, kind: overload, duration_ms: 1000, "
    "params: {factor: 8}}\n    - {at_ms: 500, kind: latency, target: disk, "
    "duration_ms: 2000, params: {latency_ms: 20}}\n",
    "sqlite", "    session_mailbox_limit: 2\n    session_max_in_flight: 4\n");
  auto r = run_scenario(must_parse(text), 1);
  size_t before = 0;
  size_t during = 0;
  for (auto& op : r.ops) {
    if (op.invoke_ms >= 500 && op.invoke_ms < 1000)
      ++before;
    if (op.invoke_ms >= 1000 && op.invoke_ms < 1500)
      ++during;
  }
  CHECK(during > 4 * before);
  CHECK(calls_with(r, "RESOURCE_EXHAUSTED") > 0);
  require_held(r);
}

TEST_CASE("swarm: the seed picks the random fault kinds and says which") {
  auto s = must_parse(scenario_text(
    "  random: {backend_error: 3, latency: 3, hang: 3, kill: 3, until_ms: "
    "1500}\n"));
  std::set<std::vector<std::string>> choices;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    auto r = run_scenario(s, seed);
    CHECK(r.random_kinds_on.size() + r.random_kinds_off.size() == 4);
    CHECK_FALSE(r.random_kinds_on.empty());
    choices.insert(r.random_kinds_on);
    for (auto& f : r.faults) {
      CHECK(f.random);
      CHECK(std::find(r.random_kinds_on.begin(), r.random_kinds_on.end(),
                      std::string(info_of(f.spec.kind).name))
            != r.random_kinds_on.end());
    }
    require_held(r);
  }
  CHECK(choices.size() > 1);
}

// A call that an actor held when it died is answered by the call itself;
// its session must still take it out of its in-flight count, or a client
// connection that lost its whole window that way would be refused
// RESOURCE_EXHAUSTED ("already has 16 requests in flight") while it has
// none.
TEST_CASE("a client connection's window comes back after the actors that "
          "held its calls die",
          "[window]") {
  auto text = scenario_text("  schedule:\n"
                            "    - {at_ms: 500, kind: kill, target: router}\n"
                            "    - {at_ms: 1000, kind: kill, target: router}\n",
                            "memory", "    session_max_in_flight: 16\n");
  text += "  - recovery: {within_ms: 1500, success_rate: 0.9}\n";
  auto r = run_scenario(must_parse(text), 1);
  require_held(r);
}
