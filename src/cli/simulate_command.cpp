// `prism simulate`: runs fault-injection scenarios against the gateway's
// actor tree on one thread in virtual time (docs/SIMULATION.md). One seed,
// a campaign of seeds (in child processes with --jobs), a replay that
// checks a run's trace is reproduced byte for byte, a shrink that reduces a
// failing run to a smaller scenario failing the same oracle, and a list of
// what there is to run (scenarios, fault kinds, oracles, plantable defects).

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/commands.hpp"
#include "model/digest.hpp"
#include "simulation/defects.hpp"
#include "simulation/report.hpp"
#include "simulation/runner.hpp"
#include "simulation/scenario.hpp"
#include "simulation/shrink.hpp"

namespace prism::cli {

namespace {

namespace sim = prism::simulation;

/// Seeds one campaign may run, and child processes it may run at once.
constexpr uint64_t campaign_seeds_max = 1000000;
constexpr uint32_t jobs_max = 256;

/// Exit statuses: every oracle held; an oracle failed (or a trace was not
/// reproduced); the command line or the scenario is wrong.
constexpr int exit_held = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;

struct simulate_flags {
  std::string file;
  std::string seed;
  std::string seeds;
  std::string jobs;
  std::string out;
  bool check_determinism = false;
  std::string replay_dir;
  std::string list_dir = "simulations";
  /// Defects to plant (--plant, repeatable).
  std::vector<std::string> plant;
  std::string shrink_dir;
  std::string shrink_out;
  std::string max_runs;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "prism simulate: " << message << "\n"
            << "Run 'prism simulate --help' for the options.\n";
  throw CLI::RuntimeError(exit_usage);
}

uint64_t to_seed(const std::string& flag, const std::string& text) {
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
    usage_error(flag + ": expected a whole number 0.." + std::to_string(~0ULL)
                + ", got '" + text + "'");
  return n;
}

sim::scenario load_or_exit(const std::string& path) {
  auto loaded = sim::load_scenario(path);
  if (!loaded.ok()) {
    std::cerr << sim::format_problems(loaded.problems) << path << ": "
              << loaded.problems.size()
              << (loaded.problems.size() == 1 ? " problem" : " problems")
              << '\n';
    throw CLI::RuntimeError(exit_usage);
  }
  return std::move(*loaded.value);
}

/// The run options the flags ask for; an unknown defect is a usage error.
sim::run_options options_of(const simulate_flags& f) {
  if (auto error = sim::check_defect_names(f.plant); !error.empty())
    usage_error("--plant: " + error);
  return sim::run_options{f.plant};
}

void write_or_exit(const sim::run_report& r, const sim::scenario& s,
                   const std::string& dir) {
  if (auto error = sim::write_artifacts(r, s, dir)) {
    std::cerr << "prism simulate: " << *error << '\n';
    throw CLI::RuntimeError(exit_usage);
  }
}

/// A second run of the seed, compared event for event with the first: the
/// first line where the traces differ, if any.
std::optional<sim::text_difference> second_run_difference(
  const sim::scenario& s, const sim::run_report& first) {
  auto second = sim::run_scenario(s, first.seed, {first.planted});
  return sim::first_difference(sim::trace_jsonl(first),
                               sim::trace_jsonl(second));
}

std::string not_deterministic(uint64_t seed, const sim::text_difference& d) {
  return "seed " + std::to_string(seed)
    + " is not deterministic: the traces of two runs differ at line "
    + std::to_string(d.line);
}

void run_one(const simulate_flags& f) {
  auto options = options_of(f);
  auto s = load_or_exit(f.file);
  auto seed = to_seed("--seed", f.seed);
  auto r = sim::run_scenario(s, seed, options);
  std::cout << sim::summary_text(r) << std::flush;
  if (!f.out.empty()) {
    write_or_exit(r, s, f.out);
    std::cout << "  artifacts " << f.out << " (run.json, trace.jsonl, "
              << "history.jsonl, scenario.yaml, report.html)\n";
  }
  if (f.check_determinism) {
    if (auto diff = second_run_difference(s, r)) {
      std::cerr << "prism simulate: " << not_deterministic(seed, *diff)
                << "\n  first:  " << diff->expected
                << "\n  second: " << diff->actual << '\n';
      throw CLI::RuntimeError(exit_failed);
    }
    std::cout << "  determinism a second run gave a byte-identical trace\n";
  }
  if (auto* failure = r.first_failure()) {
    std::cerr << "prism simulate: oracle " << sim::info_of(failure->kind).name
              << " failed";
    for (auto& name : r.planted)
      std::cerr << " (planted defect: " << name << ")";
    std::cerr << ": " << failure->counterexample << '\n';
    throw CLI::RuntimeError(exit_failed);
  }
}

struct seed_outcome {
  bool passed = true;
  /// For a failure: what failed and how to replay it.
  std::string text;
};

/// Runs one seed of a campaign; keeps its artifacts only when it fails.
seed_outcome run_campaign_seed(const simulate_flags& f, const sim::scenario& s,
                               uint64_t seed) {
  auto r = sim::run_scenario(s, seed, {f.plant});
  seed_outcome outcome;
  if (!r.passed()) {
    outcome.passed = false;
    outcome.text = sim::failure_line(r);
  } else if (f.check_determinism) {
    if (auto diff = second_run_difference(s, r)) {
      outcome.passed = false;
      outcome.text = not_deterministic(seed, *diff)
        + "; rerun: " + sim::rerun_command(r) + " --check-determinism";
    }
  }
  if (!outcome.passed && !f.out.empty()) {
    auto dir = (std::filesystem::path(f.out) / ("seed-" + std::to_string(seed)))
                 .string();
    if (auto error = sim::write_artifacts(r, s, dir))
      outcome.text += " (artifacts not written: " + *error + ")";
    else
      outcome.text += " (artifacts: " + dir + ")";
  }
  return outcome;
}

void report_progress(uint64_t done, uint64_t total, uint64_t seed,
                     const seed_outcome& o) {
  std::cerr << "[" << done << "/" << total << "] seed " << seed
            << (o.passed ? " ok" : " FAILED") << '\n';
}

struct child_run {
  pid_t pid;
  uint64_t seed;
  int fd;
};

/// Runs the seeds in up to `jobs` child processes (forked before any actor
/// system exists in this process, so each child starts clean).
std::map<uint64_t, seed_outcome> run_forked(const simulate_flags& f,
                                            const sim::scenario& s,
                                            uint64_t first, uint64_t last,
                                            uint32_t jobs) {
  std::map<uint64_t, seed_outcome> results;
  std::vector<child_run> running;
  uint64_t next = first;
  uint64_t total = last - first + 1;
  bool more = true;
  while (more || !running.empty()) {
    while (more && running.size() < jobs) {
      int fds[2];
      if (::pipe(fds) != 0)
        usage_error(std::string("cannot make a pipe: ") + std::strerror(errno));
      std::cout.flush();
      std::cerr.flush();
      pid_t pid = ::fork();
      if (pid < 0)
        usage_error(std::string("cannot fork: ") + std::strerror(errno));
      if (pid == 0) {
        ::close(fds[0]);
        auto o = run_campaign_seed(f, s, next);
        std::string text = (o.passed ? "1" : "0") + o.text;
        auto* p = text.data();
        auto left = text.size();
        while (left > 0) {
          auto n = ::write(fds[1], p, left);
          if (n <= 0)
            break;
          p += n;
          left -= static_cast<size_t>(n);
        }
        ::_exit(0);
      }
      ::close(fds[1]);
      running.push_back({pid, next, fds[0]});
      more = next++ != last;
    }
    // Read the first child to completion, then reap it.
    auto child = running.front();
    running.erase(running.begin());
    std::string text;
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::read(child.fd, buffer, sizeof buffer)) > 0)
      text.append(buffer, static_cast<size_t>(n));
    ::close(child.fd);
    int status = 0;
    ::waitpid(child.pid, &status, 0);
    seed_outcome o;
    if (text.empty() || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      o.passed = false;
      o.text = "seed " + std::to_string(child.seed)
        + ": the run's process ended abnormally (status "
        + std::to_string(status) + ")";
    } else {
      o.passed = text[0] == '1';
      o.text = text.substr(1);
    }
    results[child.seed] = o;
    report_progress(results.size(), total, child.seed, o);
  }
  return results;
}

void run_campaign(const simulate_flags& f) {
  auto dots = f.seeds.find("..");
  if (dots == std::string::npos)
    usage_error("--seeds: expected A..B (e.g. 1..100), got '" + f.seeds + "'");
  auto first = to_seed("--seeds", f.seeds.substr(0, dots));
  auto last = to_seed("--seeds", f.seeds.substr(dots + 2));
  if (last < first)
    usage_error("--seeds: " + f.seeds + " is empty (B is below A)");
  if (last - first >= campaign_seeds_max)
    usage_error("--seeds: at most " + std::to_string(campaign_seeds_max)
                + " seeds in one campaign");
  uint32_t jobs = 1;
  if (!f.jobs.empty()) {
    auto n = to_seed("--jobs", f.jobs);
    if (n < 1 || n > jobs_max)
      usage_error("--jobs: must be 1.." + std::to_string(jobs_max));
    jobs = static_cast<uint32_t>(n);
  }
  options_of(f);
  auto s = load_or_exit(f.file);
  std::map<uint64_t, seed_outcome> results;
  if (jobs == 1) {
    for (uint64_t seed = first;; ++seed) {
      results[seed] = run_campaign_seed(f, s, seed);
      report_progress(results.size(), last - first + 1, seed, results[seed]);
      if (seed == last)
        break;
    }
  } else {
    results = run_forked(f, s, first, last, jobs);
  }
  size_t failed = 0;
  for (auto& [seed, o] : results)
    if (!o.passed) {
      ++failed;
      std::cout << o.text << '\n';
    }
  std::cerr << s.name << ": " << results.size() << " seeds, "
            << results.size() - failed << " held, " << failed << " failed";
  for (auto& name : f.plant)
    std::cerr << " (planted defect: " << name << ")";
  std::cerr << '\n';
  if (failed > 0)
    throw CLI::RuntimeError(exit_failed);
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    usage_error("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// What a run directory (from --out) holds: its run.json, its scenario (the
/// one run.json names by hash), and the defects it planted.
struct run_directory {
  nlohmann::json run;
  sim::scenario scenario;
  uint64_t seed = 0;
  sim::run_options options;
};

run_directory read_run_directory(const std::filesystem::path& dir) {
  run_directory d;
  try {
    d.run = nlohmann::json::parse(read_text(dir / "run.json"));
  } catch (const nlohmann::json::exception& e) {
    usage_error((dir / "run.json").string()
                + " is not a run.json: " + e.what());
  }
  auto& run = d.run;
  if (!run.contains("seed") || !run["seed"].is_number_unsigned()
      || !run.contains("scenario") || !run["scenario"].contains("sha256"))
    usage_error((dir / "run.json").string()
                + " lacks the seed or the scenario's sha256");
  if (run.contains("planted")) {
    if (!run["planted"].is_array())
      usage_error((dir / "run.json").string()
                  + ": planted must be a list of defect names");
    for (auto& name : run["planted"]) {
      if (!name.is_string())
        usage_error((dir / "run.json").string()
                    + ": planted must be a list of defect names");
      d.options.planted.push_back(name.get<std::string>());
    }
    if (auto error = sim::check_defect_names(d.options.planted); !error.empty())
      usage_error((dir / "run.json").string() + ": " + error);
  }
  auto scenario_path = (dir / "scenario.yaml").string();
  d.scenario = load_or_exit(scenario_path);
  auto want = run["scenario"]["sha256"].get<std::string>();
  if (d.scenario.sha256 != want)
    usage_error(scenario_path + " is not the scenario of this run (sha256 "
                + d.scenario.sha256 + ", run.json says " + want + ")");
  d.seed = run["seed"].get<uint64_t>();
  return d;
}

void run_replay(const simulate_flags& f) {
  std::filesystem::path dir(f.replay_dir);
  auto d = read_run_directory(dir);
  auto r = sim::run_scenario(d.scenario, d.seed, d.options);
  auto expected = read_text(dir / "trace.jsonl");
  auto actual = sim::trace_jsonl(r);
  if (auto diff = sim::first_difference(expected, actual)) {
    std::cerr << "prism simulate replay: the trace differs from "
              << (dir / "trace.jsonl").string() << " at line " << diff->line
              << "\n  recorded: " << diff->expected
              << "\n  replayed: " << diff->actual << '\n';
    throw CLI::RuntimeError(exit_failed);
  }
  std::cout << sim::summary_text(r) << "  replay    the trace is identical to "
            << (dir / "trace.jsonl").string() << " (" << r.trace.size()
            << " events)\n";
}

/// The oracle a run.json says failed first, or a usage error saying the
/// run did not fail.
sim::oracle_kind failed_oracle(const std::filesystem::path& dir,
                               const nlohmann::json& run) {
  if (run.contains("oracles") && run["oracles"].is_array())
    for (auto& v : run["oracles"])
      if (v.value("verdict", "") == "FAILED")
        if (auto kind = sim::oracle_named(v.value("oracle", "")))
          return *kind;
  usage_error(dir.string()
              + " is not a failing run: no oracle failed in its run.json "
                "(shrink starts from the --out directory of a run that "
                "failed)");
}

void run_shrink(const simulate_flags& f) {
  std::filesystem::path dir(f.shrink_dir);
  auto d = read_run_directory(dir);
  auto oracle = failed_oracle(dir, d.run);
  auto out = f.shrink_out.empty() ? (dir / "shrunk").string() : f.shrink_out;
  sim::shrink_input in;
  in.text = d.scenario.text;
  in.file = d.scenario.file;
  in.seed = d.seed;
  in.options = d.options;
  in.oracle = oracle;
  sim::shrink_options options;
  if (!f.max_runs.empty()) {
    options.max_runs = to_seed("--max-runs", f.max_runs);
    if (options.max_runs < 1)
      usage_error("--max-runs: must be at least 1");
  }
  options.progress = [](const std::string& line) {
    std::cout << "  " << line << '\n' << std::flush;
  };
  std::string oracle_name{sim::info_of(oracle).name};
  std::cout << "prism simulate shrink: " << d.scenario.name << " from "
            << dir.string() << ", seed " << d.seed << ", fails " << oracle_name;
  for (auto& name : d.options.planted)
    std::cout << " (planted defect: " << name << ")";
  std::cout << '\n' << std::flush;
  auto result = sim::shrink_scenario(in, options);
  if (!result.reproduced) {
    std::cerr << "prism simulate shrink: " << result.problem
              << " (with this binary); nothing to shrink\n";
    throw CLI::RuntimeError(exit_usage);
  }
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  auto path = (std::filesystem::path(out) / "scenario.yaml").string();
  {
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file << result.text;
    if (!file.flush())
      usage_error("cannot write " + path);
  }
  auto s = load_or_exit(path);
  auto r = sim::run_scenario(s, result.seed, d.options);
  write_or_exit(r, s, out);
  std::cout << "shrunk in " << result.runs
            << " runs: " << sim::describe_change(result.before, result.after)
            << '\n'
            << "  scenario  " << path << '\n'
            << "  rerun     " << sim::rerun_command(r) << '\n';
  const sim::oracle_result* verdict = nullptr;
  for (auto& v : r.verdicts)
    if (v.kind == oracle && v.outcome == sim::verdict::failed)
      verdict = &v;
  if (!verdict) {
    std::cerr << "prism simulate shrink: the shrunk scenario did not fail "
              << oracle_name << " when run again; see " << out << '\n';
    throw CLI::RuntimeError(exit_usage);
  }
  std::cout << "  oracle    " << oracle_name
            << " FAILED: " << verdict->counterexample << '\n'
            << "  artifacts " << out
            << " (run.json, trace.jsonl, history.jsonl, scenario.yaml, "
               "report.html)\n";
  throw CLI::RuntimeError(exit_failed);
}

void run_list(const simulate_flags& f) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (auto& e : std::filesystem::directory_iterator(f.list_dir, ec))
    if (e.path().extension() == ".yaml" || e.path().extension() == ".yml")
      files.push_back(e.path());
  if (ec)
    usage_error("cannot list " + f.list_dir + ": " + ec.message()
                + " (run it from the repository, or give --dir)");
  std::sort(files.begin(), files.end());
  std::cout << "Scenarios in " << f.list_dir << ":\n";
  if (files.empty())
    std::cout << "  (none)\n";
  for (auto& path : files) {
    auto loaded = sim::load_scenario(path.string());
    std::cout << "  " << path.filename().string() << "\n      ";
    if (loaded.ok())
      std::cout << loaded.value->description << '\n';
    else
      std::cout << "INVALID: " << config::format(loaded.problems.front())
                << '\n';
  }
  std::cout << "\nFault kinds (faults.schedule[].kind, faults.random):\n";
  for (auto& k : sim::fault_kinds()) {
    std::cout << "  " << k.name << " ("
              << (k.target == sim::fault_target::backend   ? "target: a backend"
                    : k.target == sim::fault_target::actor ? "target: an actor"
                                                           : "no target")
              << (k.lasts ? ", lasts duration_ms" : ", at once") << ")\n      "
              << k.summary;
    if (!k.params.empty()) {
      std::cout << "\n      params:";
      for (auto& p : k.params)
        std::cout << " " << p.name;
    }
    std::cout << '\n';
  }
  std::cout << "\nOracles (oracles:):\n";
  for (auto& o : sim::oracles()) {
    std::cout << "  " << o.name << "\n      " << o.summary;
    if (!o.thresholds.empty()) {
      std::cout << "\n      thresholds:";
      for (auto& t : o.thresholds)
        std::cout << " " << t.name << " (default " << t.default_value << ")";
    }
    std::cout << '\n';
  }
  std::cout << "\nDefects a run can plant on purpose (--plant NAME):\n";
  for (auto& d : sim::defects())
    std::cout << "  " << d.name << " (found by " << d.found_by << ")\n      "
              << d.summary << '\n';
}

} // namespace

void add_simulate_command(CLI::App& app) {
  auto f = std::make_shared<simulate_flags>();
  auto* cmd = app.add_subcommand(
    "simulate",
    "Run a fault-injection scenario against the gateway's actor tree on one "
    "thread in virtual time, with simulated backends; every random choice "
    "comes from the seed, so a seed replays its run exactly. Exit 0: every "
    "oracle held; 1: an oracle failed (or a trace was not reproduced); 2: "
    "usage or scenario error. See docs/SIMULATION.md");
  cmd
    ->add_option("file", f->file, "The scenario YAML file (simulations/*.yaml)")
    ->type_name("FILE");
  cmd->add_option("--seed", f->seed, "Run this one seed (a whole number)")
    ->type_name("N");
  cmd
    ->add_option("--seeds", f->seeds,
                 "Run a campaign over the seeds A..B (both included); "
                 "progress on stderr, one line per failing seed on stdout")
    ->type_name("A..B");
  cmd
    ->add_option("--jobs", f->jobs,
                 "With --seeds: run up to K seeds at once in child processes "
                 "(default 1: one after the other in this process)")
    ->type_name("K");
  cmd
    ->add_option("--out", f->out,
                 "Write run.json, trace.jsonl, history.jsonl and "
                 "scenario.yaml to DIR (a campaign writes DIR/seed-N for "
                 "failing seeds only)")
    ->type_name("DIR");
  cmd->add_flag("--check-determinism", f->check_determinism,
                "Run each seed twice and fail when the traces differ");
  cmd
    ->add_option("--plant", f->plant,
                 "Plant a defect on purpose (repeatable; `prism simulate "
                 "list` names them), to see an oracle catch it; recorded in "
                 "run.json, so replay and shrink plant it too")
    ->type_name("NAME")
    ->allow_extra_args(false);
  auto* replay = cmd->add_subcommand(
    "replay",
    "Rerun the seed and scenario of a run directory (from --out) "
    "and check that its trace.jsonl is reproduced byte for byte "
    "(exit 1 naming the first differing line)");
  replay->add_option("dir", f->replay_dir, "A directory written by --out")
    ->type_name("DIR")
    ->required();
  auto* shrink = cmd->add_subcommand(
    "shrink",
    "From a failing run directory (from --out), search for a smaller "
    "scenario that still fails the same oracle with its seed (and planted "
    "defects), print each reduction kept, and write the shrunk scenario and "
    "a full run of it. Exit 1: the shrunk scenario fails (as it should); 2: "
    "DIR is not a failing run, or a usage error");
  shrink->add_option("dir", f->shrink_dir, "A directory written by --out")
    ->type_name("DIR")
    ->required();
  shrink
    ->add_option("--out", f->shrink_out,
                 "Where to write the shrunk scenario.yaml and its run "
                 "(default DIR/shrunk)")
    ->type_name("DIR2");
  shrink
    ->add_option("--max-runs", f->max_runs,
                 "Runs the search may make, the first included (default "
                   + std::to_string(sim::shrink_runs_max_default) + ")")
    ->type_name("N");
  auto* list = cmd->add_subcommand(
    "list",
    "List the scenarios of a directory with their descriptions, the "
    "fault kinds and the oracles");
  list
    ->add_option("--dir", f->list_dir,
                 "Where the scenarios are (default: simulations)")
    ->type_name("DIR");
  replay->callback([f] {
    spdlog::set_level(spdlog::level::off);
    run_replay(*f);
  });
  list->callback([f] { run_list(*f); });
  shrink->callback([f] {
    spdlog::set_level(spdlog::level::off);
    run_shrink(*f);
  });
  cmd->callback([f, cmd, replay, list, shrink] {
    if (replay->parsed() || list->parsed() || shrink->parsed())
      return;
    if (f->file.empty())
      usage_error(
        "give a scenario FILE with --seed N or --seeds A..B, or "
        "use `prism simulate replay DIR`, `prism simulate shrink DIR` or "
        "`prism simulate list`");
    if (f->seed.empty() == f->seeds.empty())
      usage_error(f->seed.empty() ? "give --seed N (one run) or --seeds A..B "
                                    "(a campaign)"
                                  : "give either --seed or --seeds, not both");
    if (!f->jobs.empty() && f->seeds.empty())
      usage_error("--jobs applies to a campaign (--seeds A..B)");
    // The actors log what they see (connections breaking, circuits
    // opening); in a simulation that is the trace's job.
    spdlog::set_level(spdlog::level::off);
    if (!f->seeds.empty())
      run_campaign(*f);
    else
      run_one(*f);
  });
}

} // namespace prism::cli
