#include "simulation/report.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "simulation/report_html.hpp"

namespace prism::simulation {

namespace {

std::string first_word(const std::string& line, size_t& rest) {
  auto space = line.find(' ');
  rest = space == std::string::npos ? line.size() : space + 1;
  return line.substr(0, space);
}

std::string quote_for_shell(const std::string& text) {
  bool plain = !text.empty();
  for (char c : text)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '.'
          || c == '-' || c == '_'))
      plain = false;
  if (plain)
    return text;
  std::string out = "'";
  for (char c : text)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool write_file(const std::filesystem::path& path, const std::string& text,
                std::string& error) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) {
    error = "cannot write " + path.string() + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

} // namespace

std::string trace_jsonl_writer::next(const std::string& line) {
  size_t rest = 0;
  auto event = first_word(line, rest);
  std::string actor;
  std::string message = line.substr(rest);
  std::string fault;
  if (event == "run" || event == "exit" || event == "sim") {
    size_t after = 0;
    actor = first_word(message, after);
    message = message.substr(after);
    if (event == "sim") {
      auto i = fault_on_.find(actor);
      if (i != fault_on_.end())
        fault = i->second;
      actor = "sim:" + actor;
    }
  } else if (event == "submit" || event == "subscribe") {
    std::istringstream words(message);
    std::string id;
    words >> id >> actor;
    client_of_[id] = actor;
  } else if (event == "answer") {
    auto id = message.substr(0, message.find(' '));
    auto i = client_of_.find(id);
    actor = i == client_of_.end() ? "" : i->second;
  } else if (event == "advance") {
    actor = "clock";
    auto at = line.find(" now=");
    if (at != std::string::npos)
      t_ms_ = std::stoll(line.substr(at + 5));
  } else if (event == "fault") {
    actor = "fault";
    std::istringstream words(message);
    std::string id;
    std::string what;
    words >> id >> what;
    fault = id;
    auto target = line.substr(line.rfind(' ') + 1);
    if (what == "begin" || what == "at")
      fault_on_[target] = id;
    else if (what == "end" && fault_on_[target] == id)
      fault_on_.erase(target);
  } else {
    actor = "harness";
  }
  auto out = "{\"step\":" + std::to_string(step_++) + ",\"t_ms\":"
    + std::to_string(t_ms_) + ",\"actor\":" + json_string(actor) + ",\"event\":"
    + json_string(event) + ",\"message\":" + json_string(message);
  if (!fault.empty())
    out += ",\"fault\":" + json_string(fault);
  out += "}";
  return out;
}

std::string trace_jsonl(const run_report& r) {
  std::string out;
  trace_jsonl_writer writer;
  for (auto& line : r.trace)
    out.append(writer.next(line)).append("\n");
  return out;
}

std::string rerun_command(const run_report& r) {
  auto command = "prism simulate " + quote_for_shell(r.scenario_file)
    + " --seed " + std::to_string(r.seed);
  for (auto& name : r.planted)
    command += " --plant " + quote_for_shell(name);
  return command;
}

std::string verify_command(const std::string& out_dir) {
  return "prism simulate replay " + quote_for_shell(out_dir);
}

std::string run_json(const run_report& r, const std::string& out_dir) {
  using nlohmann::ordered_json;
  ordered_json j;
  j["seed"] = r.seed;
  j["planted"] = r.planted;
  j["scenario"] = {{"name", r.scenario_name},
                   {"file", r.scenario_file},
                   {"sha256", r.scenario_sha256}};
  ordered_json faults = ordered_json::array();
  for (auto& f : r.faults) {
    ordered_json params = ordered_json::object();
    for (auto& [name, value] : f.spec.params)
      if (value.text.empty())
        params[name] = value.number;
      else
        params[name] = value.text;
    ordered_json row = {{"id", f.id},
                        {"kind", std::string(info_of(f.spec.kind).name)},
                        {"at_ms", f.spec.at_ms},
                        {"duration_ms", f.spec.duration_ms},
                        {"target", f.spec.target},
                        {"params", params},
                        {"random", f.random},
                        {"ended_ms", f.ended_ms}};
    if (!f.outcome.empty())
      row["outcome"] = f.outcome;
    faults.push_back(row);
  }
  j["derived"] = {{"child_seeds", r.child_seeds},
                  {"random_fault_kinds_on", r.random_kinds_on},
                  {"random_fault_kinds_off", r.random_kinds_off},
                  {"faults", faults}};
  j["passed"] = r.passed();
  ordered_json verdicts = ordered_json::array();
  for (auto& v : r.verdicts) {
    ordered_json row = {{"oracle", std::string(info_of(v.kind).name)},
                        {"verdict", std::string(to_string(v.outcome))},
                        {"summary", v.summary}};
    if (!v.counterexample.empty())
      row["counterexample"] = v.counterexample;
    verdicts.push_back(row);
  }
  j["oracles"] = verdicts;
  j["fault_counts"] = r.faults_by_kind;
  j["calls_by_code"] = r.calls_by_code;
  j["calls_unanswered"] = r.calls_unanswered;
  if (!r.streams.empty())
    j["pubsub"]
      = {{"streams", r.streams.size()}, {"deliveries", r.deliveries.size()}};
  j["faults_end_ms"] = r.faults_end_ms;
  j["virtual_ms"] = r.virtual_ms;
  j["wall_ms"] = r.wall_ms;
  j["wall_simulate_ms"] = r.wall_simulate_ms;
  j["wall_judge_ms"] = r.wall_judge_ms;
  j["actor_messages"] = r.actor_messages;
  j["trace_events"] = r.trace.size();
  j["replay"]
    = {{"verify", verify_command(out_dir)}, {"rerun", rerun_command(r)}};
  return j.dump(2) + "\n";
}

std::string summary_text(const run_report& r) {
  std::ostringstream out;
  auto row = [&](const std::string& label) -> std::ostringstream& {
    out << "  " << label
        << std::string(label.size() < 10 ? 10 - label.size() : 1, ' ');
    return out;
  };
  out << "prism simulate: " << r.scenario_name << ", seed " << r.seed << "\n";
  row("scenario") << r.scenario_file << " (sha256 "
                  << r.scenario_sha256.substr(0, 12) << ")\n";
  for (auto& name : r.planted)
    row("defect") << "planted defect: " << name
                  << " (a bug put into this run on purpose)\n";
  row("run") << r.virtual_ms << " virtual ms in " << r.wall_ms
             << " wall ms (actors " << r.wall_simulate_ms << ", oracles "
             << r.wall_judge_ms << "), " << r.actor_messages
             << " actor messages, " << r.trace.size() << " trace events\n";
  if (!r.random_kinds_on.empty() || !r.random_kinds_off.empty()) {
    std::string on;
    std::string off;
    for (auto& k : r.random_kinds_on)
      on += (on.empty() ? "" : ", ") + k;
    for (auto& k : r.random_kinds_off)
      off += (off.empty() ? "" : ", ") + k;
    row("random") << "on: " << (on.empty() ? "none" : on)
                  << "; off: " << (off.empty() ? "none" : off) << "\n";
  }
  if (r.faults.empty())
    row("faults") << "none\n";
  for (size_t i = 0; i < r.faults.size(); ++i) {
    auto& f = r.faults[i];
    row(i == 0 ? "faults" : "") << f.id << " " << info_of(f.spec.kind).name;
    if (!f.spec.target.empty())
      out << " " << f.spec.target;
    out << " at " << f.spec.at_ms << " ms";
    if (f.spec.duration_ms > 0)
      out << " for " << f.spec.duration_ms << " ms";
    if (f.random)
      out << " (random)";
    if (!f.outcome.empty())
      out << ": " << f.outcome;
    out << "\n";
  }
  uint64_t total = r.calls_unanswered;
  for (auto& [code, n] : r.calls_by_code)
    total += n;
  row("calls") << total;
  std::string sep = ": ";
  for (auto& [code, n] : r.calls_by_code) {
    out << sep << code << " " << n;
    sep = ", ";
  }
  if (r.calls_unanswered > 0)
    out << sep << "unanswered " << r.calls_unanswered;
  out << "\n";
  if (!r.streams.empty())
    row("pubsub") << r.streams.size() << " subscriber streams, "
                  << r.deliveries.size() << " messages delivered\n";
  size_t width = 0;
  for (auto& v : r.verdicts)
    width = std::max(width, info_of(v.kind).name.size());
  for (size_t i = 0; i < r.verdicts.size(); ++i) {
    auto& v = r.verdicts[i];
    std::string name{info_of(v.kind).name};
    row(i == 0 ? "oracles" : "")
      << name << std::string(width + 2 - name.size(), ' ')
      << to_string(v.outcome)
      << std::string(9 - to_string(v.outcome).size(), ' ') << v.summary << "\n";
    if (!v.counterexample.empty())
      row("") << std::string(width + 2, ' ')
              << "first counterexample: " << v.counterexample << "\n";
  }
  std::string planted;
  for (auto& name : r.planted)
    planted += (planted.empty() ? " (planted defect: " : ", ") + name;
  if (!planted.empty())
    planted += ")";
  if (auto* failure = r.first_failure())
    row("verdict") << "FAILED: " << info_of(failure->kind).name << planted
                   << "\n";
  else
    row("verdict") << "every oracle held\n";
  row("replay") << rerun_command(r) << "\n";
  return out.str();
}

std::string failure_line(const run_report& r) {
  auto* failure = r.first_failure();
  if (!failure)
    return "seed " + std::to_string(r.seed) + ": every oracle held";
  std::string planted;
  for (auto& name : r.planted)
    planted += " (planted defect: " + name + ")";
  return "seed " + std::to_string(r.seed) + ": "
    + std::string(info_of(failure->kind).name) + " FAILED" + planted
    + "; rerun: " + rerun_command(r) + "; " + failure->counterexample;
}

std::optional<std::string> write_artifacts(const run_report& r,
                                           const scenario& s,
                                           const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return "cannot create " + dir + ": " + ec.message();
  std::filesystem::path root(dir);
  std::string error;
  if (!write_file(root / "scenario.yaml", s.text, error)
      || !write_file(root / "trace.jsonl", trace_jsonl(r), error)
      || !write_file(root / "history.jsonl", history_jsonl(r.ops, r.deliveries),
                     error)
      || !write_file(root / "run.json", run_json(r, dir), error)
      || !write_file(root / "report.html", report_html(r, s.description, dir),
                     error))
    return error;
  return std::nullopt;
}

std::optional<text_difference> first_difference(const std::string& expected,
                                                const std::string& actual) {
  if (expected == actual)
    return std::nullopt;
  std::istringstream a(expected);
  std::istringstream b(actual);
  std::string la;
  std::string lb;
  for (size_t line = 1;; ++line) {
    bool more_a = static_cast<bool>(std::getline(a, la));
    bool more_b = static_cast<bool>(std::getline(b, lb));
    if (!more_a && !more_b)
      return text_difference{line, "", ""};
    if (!more_a)
      la = "(end of trace)";
    if (!more_b)
      lb = "(end of trace)";
    if (!more_a || !more_b || la != lb)
      return text_difference{line, la, lb};
  }
}

} // namespace prism::simulation
