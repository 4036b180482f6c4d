// The console's recorded-run source: a run directory written by the simulate
// code, opened, walked with step, back and goto, and read as of each step.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "console/recorded_source.hpp"
#include "simulation/deterministic_gateway.hpp"
#include "simulation/report.hpp"
#include "simulation/runner.hpp"
#include "simulation/scenario.hpp"

namespace fs = std::filesystem;
namespace sim = prism::simulation;
using nlohmann::json;
using prism::console::open_recorded_run;
using prism::console::reply;
using prism::console::source;

namespace {

/// A fresh directory under the system's temporary directory, removed at
/// the end of the test.
struct temp_dir {
  fs::path path;
  temp_dir() {
    static int made = 0;
    path = fs::temp_directory_path()
      / ("recorded_source_test-" + std::to_string(::getpid()) + "-"
         + std::to_string(made++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

sim::scenario shipped(const std::string& name) {
  auto loaded = sim::load_scenario(std::string(PRISM_SOURCE_DIR)
                                   + "/simulations/" + name + ".yaml");
  REQUIRE(loaded.ok());
  return *loaded.value;
}

/// pool-restart with seed 1, written as `prism simulate --out` writes it:
/// the pool is killed at 1500 ms and 2500 ms while calls wait in its queue.
fs::path write_pool_restart(const temp_dir& dir) {
  auto s = shipped("pool-restart");
  auto r = sim::run_scenario(s, 1);
  auto out = dir.path / "run";
  REQUIRE_FALSE(sim::write_artifacts(r, s, out.string()));
  return out;
}

std::vector<std::string> lines_of(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line))
    lines.push_back(line);
  return lines;
}

std::vector<json> trace_of(const fs::path& run) {
  std::ifstream in(run / "trace.jsonl");
  std::vector<json> events;
  std::string line;
  while (std::getline(in, line))
    events.push_back(json::parse(line));
  return events;
}

/// The step of the first event with this event kind and message.
size_t step_of(const std::vector<json>& events, const std::string& event,
               const std::string& message) {
  for (auto& e : events)
    if (e["event"] == event && e["message"] == message)
      return e["step"].get<size_t>();
  FAIL("no event " << event << " " << message);
  return 0;
}

std::unique_ptr<source> open_ok(const fs::path& run) {
  std::string error;
  auto src = open_recorded_run(run.string(), error);
  INFO(error);
  REQUIRE(src);
  REQUIRE(error.empty());
  return src;
}

json post_ok(source& src, const std::string& path) {
  auto r = src.post(path);
  INFO(path << ": " << r.error << " " << r.body.dump());
  REQUIRE(r.ok());
  return r.body;
}

json get_ok(source& src, const std::string& path) {
  auto r = src.get(path);
  INFO(path << ": " << r.error << " " << r.body.dump());
  REQUIRE(r.ok());
  return r.body;
}

/// The live actors of kind `kind` (and name, if given) at the current step.
std::vector<json> actors_named(source& src, const std::string& kind,
                               const std::string& name = "") {
  std::vector<json> found;
  auto list = get_ok(src, "/debug/actors");
  for (auto& a : list["actors"])
    if (a["kind"] == kind && (name.empty() || a["name"] == name))
      found.push_back(a);
  return found;
}

std::string error_of(const fs::path& run) {
  std::string error;
  auto src = open_recorded_run(run.string(), error);
  CHECK_FALSE(src);
  return error;
}

} // namespace

TEST_CASE("a recorded run opens on its first step and moves by step, back "
          "and goto") {
  temp_dir dir;
  auto run = write_pool_restart(dir);
  auto events = trace_of(run);
  auto src = open_ok(run);
  CHECK(src->recorded());

  auto start = get_ok(*src, "/run/position");
  auto first = start["step"].get<size_t>();
  CHECK(start["steps"] == events.size());
  CHECK(start["at_end"] == false);
  CHECK(start["event"] == events[first]);
  CHECK(start["gateway"] == "running");
  // The gateway's start is one step: its actors are there.
  CHECK(actors_named(*src, "router").size() == 1);

  auto next = post_ok(*src, "/run/step/1");
  CHECK(next["step"].get<size_t>() > first);
  auto later = post_ok(*src, "/run/step/500");
  CHECK(later["step"].get<size_t>() >= next["step"].get<size_t>() + 500);
  CHECK(later["event"] == events[later["step"].get<size_t>()]);
  CHECK(later["t_ms"] == events[later["step"].get<size_t>()]["t_ms"]);

  auto back = post_ok(*src, "/run/back/500");
  CHECK(back["step"].get<size_t>() <= later["step"].get<size_t>() - 500);
  CHECK(back["step"].get<size_t>() >= next["step"].get<size_t>());
  CHECK(post_ok(*src, "/run/back/100000")["step"] == first);

  // goto a step lands on it, or on the first point after it where the run
  // can stop, and says so.
  auto kill_step = step_of(events, "fault", "f2 killed pool:disk");
  auto at_kill = post_ok(*src, "/run/goto/" + std::to_string(kill_step));
  CHECK(at_kill["step"] == kill_step);
  CHECK(src->describe()
        == run.string() + " step " + std::to_string(kill_step) + " of "
          + std::to_string(events.size()) + " at 1500 ms");

  // goto a time: the first step at or after it.
  auto at_time = post_ok(*src, "/run/goto/1600ms");
  auto landed = at_time["step"].get<size_t>();
  CHECK(at_time["t_ms"].get<int64_t>() >= 1600);
  size_t asked = 0;
  while (events[asked]["t_ms"].get<int64_t>() < 1600)
    ++asked;
  CHECK(landed >= asked);
  CHECK(at_time["note"].get<std::string>().find(
          "step " + std::to_string(asked) + " is the first at or after 1600 ms")
        != std::string::npos);

  // Past the end: it stops at the end and says so.
  auto end = post_ok(*src, "/run/step/100000000");
  CHECK(end["step"] == events.size() - 1);
  CHECK(end["at_end"] == true);
  CHECK(end["note"].get<std::string>().find("end of the run")
        != std::string::npos);
  auto after_end = post_ok(*src, "/run/goto/999999s");
  CHECK(after_end["step"] == events.size() - 1);
  CHECK(after_end["note"].get<std::string>().find("the run ends at")
        != std::string::npos);
}

TEST_CASE("the tree at a step is the gateway's at that step: a killed pool "
          "before its kill, its successor only after") {
  temp_dir dir;
  auto run = write_pool_restart(dir);
  auto events = trace_of(run);
  auto src = open_ok(run);
  auto kill_step = step_of(events, "fault", "f2 killed pool:disk");
  auto exit_step = step_of(events, "exit", "exit_reason(kill)");
  size_t successor_step = 0;
  for (auto& e : events)
    if (e["actor"] == "pool:disk#2") {
      successor_step = e["step"].get<size_t>();
      break;
    }
  REQUIRE(successor_step > exit_step);

  post_ok(*src, "/run/goto/" + std::to_string(kill_step - 2));
  auto before = actors_named(*src, "pool", "disk");
  REQUIRE(before.size() == 1);
  auto killed_id = before[0]["id"].get<uint64_t>();
  CHECK(before[0]["restarts"] == 0);
  auto tree = get_ok(*src, "/debug/tree");
  CHECK(tree["generated_at_ms"] == events[tree["step"].get<size_t>()]["t_ms"]);

  // Killed: the exit waits in its mailbox, ahead of its calls.
  post_ok(*src, "/run/goto/" + std::to_string(kill_step));
  auto box = get_ok(*src, "/run/mailbox/" + std::to_string(killed_id));
  CHECK(box["label"] == "pool:disk");
  CHECK(box["actor"] == killed_id);
  REQUIRE_FALSE(box["messages"].empty());
  CHECK(box["messages"][0]["message"] == "@exit");

  // Gone after its exit; no successor yet.
  post_ok(*src, "/run/goto/" + std::to_string(exit_step));
  CHECK(actors_named(*src, "pool", "disk").empty());
  CHECK(src->get("/debug/actors/" + std::to_string(killed_id)).status == 404);

  // The successor: another actor, with the kill as its last failure.
  post_ok(*src, "/run/goto/" + std::to_string(successor_step));
  auto after = actors_named(*src, "pool", "disk");
  REQUIRE(after.size() == 1);
  CHECK(after[0]["id"] != killed_id);
  CHECK(after[0]["last_failure"].is_object());
  auto one = get_ok(*src, "/debug/actors/" + after[0]["id"].dump());
  CHECK(one["actor"]["id"] == after[0]["id"]);

  // Back before the kill: the first pool again, the same as it was.
  post_ok(*src, "/run/goto/" + std::to_string(kill_step - 2));
  auto again = actors_named(*src, "pool", "disk");
  REQUIRE(again.size() == 1);
  CHECK(again[0] == before[0]);
}

TEST_CASE("a mailbox at a step lists the messages waiting in it, and follow "
          "gives a request's events") {
  temp_dir dir;
  auto run = write_pool_restart(dir);
  auto events = trace_of(run);
  auto src = open_ok(run);
  // A call just submitted waits in its session's mailbox.
  size_t submitted = 0;
  for (auto& e : events)
    if (e["event"] == "submit"
        && e["message"].get<std::string>().rfind("c1-5 ", 0) == 0)
      submitted = e["step"].get<size_t>();
  REQUIRE(submitted > 0);
  auto at = post_ok(*src, "/run/goto/" + std::to_string(submitted));
  REQUIRE(at["step"] == submitted);
  auto sessions = actors_named(*src, "session", "client-1");
  REQUIRE(sessions.size() == 1);
  auto box = get_ok(*src, "/run/mailbox/" + sessions[0]["id"].dump());
  bool waiting = false;
  for (auto& m : box["messages"])
    waiting |= m["message"] == "request c1-5";
  CHECK(waiting);
  CHECK(box["depth"] == box["messages"].size());

  auto f = get_ok(*src, "/debug/follow/c1-5");
  CHECK(f["request_id"] == "c1-5");
  CHECK(f["state"] == "in_flight");
  REQUIRE(f["events"].size() >= 3);
  CHECK(f["events"][0]["step"] == submitted);
  CHECK(f["events"][0]["event"] == "submit");
  json last;
  for (auto& e : f["events"])
    if (e["event"] == "answer")
      last = e;
  REQUIRE(last.is_object());
  CHECK(last["what"] == "answer c1-5 " + f["call"]["code"].get<std::string>());
  CHECK(f["call"]["peer"] == "client-1");
  CHECK(f["call"]["namespace"] == "kv");
  bool ran_in_router = false;
  for (auto& e : f["events"])
    ran_in_router |= e["label"] == "router" && e["what"] == "request c1-5";
  CHECK(ran_in_router);
  // Another request id that is a prefix of others is not confused with them.
  auto c15 = get_ok(*src, "/debug/follow/c1-1");
  for (auto& e : c15["events"])
    CHECK(e["what"].get<std::string>().find("c1-1") != std::string::npos);
  CHECK(src->get("/debug/follow/c99-1").status == 404);

  post_ok(*src, "/run/goto/" + last["step"].dump());
  CHECK(get_ok(*src, "/debug/follow/c1-5")["state"] == "done");
}

TEST_CASE("a recorded run refuses bad moves and what only a live gateway "
          "does, naming them") {
  temp_dir dir;
  auto run = write_pool_restart(dir);
  auto src = open_ok(run);
  for (auto path : {"/run/step/0", "/run/step/abc", "/run/back/-3",
                    "/run/goto/soon", "/run/goto/12min", "/run/goto/"}) {
    auto r = src->post(path);
    INFO(path << " " << r.body.dump());
    CHECK(r.status == 400);
    CHECK(r.body["error"] == "bad_request");
  }
  auto bad = src->post("/run/step/abc");
  CHECK(bad.body["message"].get<std::string>().find("\"abc\"")
        != std::string::npos);
  CHECK(src->get("/debug/actors/pool").status == 400);
  CHECK(src->get("/run/mailbox/123456").status == 404);

  auto pools = src->get("/debug/pools");
  CHECK(pools.status == 404);
  CHECK_FALSE(pools.ok());
  CHECK(
    pools.error.rfind("not available in a recorded run: GET /debug/pools", 0)
    == 0);
  auto kill = src->post("/debug/actors/7/kill");
  CHECK(kill.status == 405);
  CHECK(kill.error.find("would change a live gateway") != std::string::npos);
  // Nothing moved.
  CHECK(get_ok(*src, "/run/position")["step"]
        == get_ok(*src, "/debug/tree")["step"]);
}

TEST_CASE("a run directory that is missing a file, was edited, or does not "
          "replay is refused with the problem named") {
  temp_dir dir;
  auto run = write_pool_restart(dir);

  CHECK(error_of(dir.path / "nowhere").find("is not a directory")
        != std::string::npos);

  auto copy = [&](const std::string& name) {
    auto to = dir.path / name;
    fs::copy(run, to);
    return to;
  };
  auto no_trace = copy("no-trace");
  fs::remove(no_trace / "trace.jsonl");
  CHECK(error_of(no_trace).find("has no trace.jsonl") != std::string::npos);

  auto no_run = copy("no-run");
  fs::remove(no_run / "run.json");
  CHECK(error_of(no_run).find("has no run.json") != std::string::npos);

  auto edited = copy("edited-scenario");
  {
    std::ofstream out(edited / "scenario.yaml", std::ios::app);
    out << "# an edit\n";
  }
  auto error = error_of(edited);
  CHECK(error.find("is not the scenario of this run") != std::string::npos);

  // A trace line changed: the rerun differs there, and says at which step.
  auto diverged = copy("diverged");
  auto events = trace_of(diverged);
  auto kill_step = step_of(events, "fault", "f2 killed pool:disk");
  auto lines = lines_of(diverged / "trace.jsonl");
  auto& changed = lines[kill_step + 1];
  changed.replace(changed.find("\"message\":\""), 11, "\"message\":\"X");
  {
    std::ofstream out(diverged / "trace.jsonl", std::ios::trunc);
    for (auto& line : lines)
      out << line << "\n";
  }
  error = error_of(diverged);
  CHECK(error.find("differs at step " + std::to_string(kill_step + 1))
        != std::string::npos);

  // A trace cut short: the rerun goes on past its end.
  auto cut = copy("cut");
  lines = lines_of(cut / "trace.jsonl");
  {
    std::ofstream out(cut / "trace.jsonl", std::ios::trunc);
    for (size_t i = 0; i + 10 < lines.size(); ++i)
      out << lines[i] << "\n";
  }
  CHECK(
    error_of(cut).find("differs at step " + std::to_string(lines.size() - 10))
    != std::string::npos);
}

TEST_CASE("between a gateway crash and its restart a recorded run shows no "
          "gateway") {
  temp_dir dir;
  auto s = shipped("gateway-crash");
  auto r = sim::run_scenario(s, 1);
  auto run = dir.path / "run";
  REQUIRE_FALSE(sim::write_artifacts(r, s, run.string()));
  auto events = trace_of(run);
  auto src = open_ok(run);
  auto ended = step_of(events, "fault", "f2 end gateway_crash");
  auto down = post_ok(*src, "/run/goto/" + std::to_string(ended));
  CHECK(down["step"] == ended);
  CHECK(down["gateway"] == "down");
  CHECK(get_ok(*src, "/debug/actors")["count"] == 0);
  CHECK(get_ok(*src, "/debug/tree")["actors"].empty());

  // After the restart, a new gateway: its actors have started again.
  auto restarted = step_of(events, "restart", "gateway");
  auto up = post_ok(*src, "/run/goto/" + std::to_string(restarted + 20));
  CHECK(up["gateway"] == "running");
  auto routers = actors_named(*src, "router");
  REQUIRE(routers.size() == 1);
  CHECK(routers[0]["uptime_ms"] == 0);
  CHECK(routers[0]["started_at_ms"] == 2400);
}

TEST_CASE("watching a run between events, reading every actor and mailbox, "
          "leaves its trace as it was") {
  auto s = shipped("gateway-crash");
  auto plain = sim::run_scenario(s, 2);
  size_t looks = 0;
  bool saw_down = false;
  auto watch = [&](sim::deterministic_gateway& g, bool) {
    ++looks;
    if (g.down()) {
      saw_down = true;
      return;
    }
    for (auto& a : g.actors().snapshot(g.system().clock().now()))
      (void)g.mailbox_of(a.id);
  };
  auto watched = sim::run_scenario(s, 2, sim::run_options{}, watch);
  CHECK(watched.trace == plain.trace);
  CHECK(looks > 1000);
  CHECK(saw_down);
}
