#include "simulation/shrink.hpp"

#include <algorithm>
#include <exception>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "simulation/scenario.hpp"

namespace prism::simulation {

namespace {

/// Tries per numeric setting in one pass (a bounded binary search down).
constexpr int lower_steps_max = 6;
/// Width of the comment lines the shrunk scenario starts with.
constexpr size_t header_width_max = 78;

const char* const mix_kinds[]
  = {"scan", "batch_set", "delete", "cas", "get", "set"};

/// The weights a workload without `mix:` has (scenario.hpp's op_mix).
uint32_t default_weight(const std::string& kind) {
  op_mix mix;
  if (kind == "get")
    return mix.get;
  if (kind == "set")
    return mix.set;
  if (kind == "cas")
    return mix.cas;
  if (kind == "delete")
    return mix.del;
  if (kind == "batch_set")
    return mix.batch_set;
  return mix.scan;
}

std::string fault_words(const YAML::Node& item) {
  std::string text = item["kind"] ? item["kind"].as<std::string>() : "fault";
  if (item["target"])
    text += " " + item["target"].as<std::string>();
  if (item["at_ms"])
    text += " at " + item["at_ms"].as<std::string>() + " ms";
  return text;
}

std::vector<YAML::Node> schedule_of(const YAML::Node& doc) {
  std::vector<YAML::Node> items;
  const YAML::Node faults = doc["faults"];
  if (!faults || !faults.IsMap())
    return items;
  const YAML::Node schedule = faults["schedule"];
  if (!schedule || !schedule.IsSequence())
    return items;
  for (auto item : schedule)
    items.push_back(item);
  return items;
}

/// `doc` with `items` as its schedule (none: no schedule, and no faults at
/// all when nothing random is left either).
YAML::Node with_schedule(const YAML::Node& doc,
                         const std::vector<YAML::Node>& items) {
  auto copy = YAML::Clone(doc);
  if (items.empty()) {
    if (copy["faults"]) {
      copy["faults"].remove("schedule");
      if (copy["faults"].size() == 0)
        copy.remove("faults");
    }
    return copy;
  }
  YAML::Node schedule(YAML::NodeType::Sequence);
  for (auto& item : items)
    schedule.push_back(YAML::Clone(item));
  copy["faults"]["schedule"] = schedule;
  return copy;
}

int64_t number_at(const YAML::Node& map, const std::string& key,
                  int64_t otherwise) {
  const YAML::Node v = map[key];
  return v ? v.as<int64_t>() : otherwise;
}

/// One scheduled fault written out for a fault the seed drew: the
/// parameters that are not their defaults.
YAML::Node schedule_item(const planned_fault& f) {
  auto& info = info_of(f.spec.kind);
  YAML::Node item(YAML::NodeType::Map);
  item.SetStyle(YAML::EmitterStyle::Flow);
  item["at_ms"] = f.spec.at_ms;
  item["kind"] = std::string(info.name);
  if (!f.spec.target.empty())
    item["target"] = f.spec.target;
  if (info.lasts)
    item["duration_ms"] = f.spec.duration_ms;
  YAML::Node params(YAML::NodeType::Map);
  params.SetStyle(YAML::EmitterStyle::Flow);
  for (auto& p : info.params) {
    std::string name{p.name};
    auto i = f.spec.params.find(name);
    if (i == f.spec.params.end())
      continue;
    switch (p.type) {
      case param_type::number:
        if (!p.default_number || *p.default_number != i->second.number)
          params[name] = i->second.number;
        break;
      case param_type::status_code:
      case param_type::choice:
        if (i->second.text != p.default_text)
          params[name] = i->second.text;
        break;
      case param_type::gateway_config: break; // never drawn at random
    }
  }
  if (params.size() > 0)
    item["params"] = params;
  return item;
}

std::string wrap_comment(const std::string& text) {
  std::istringstream words(text);
  std::string word;
  std::string out;
  std::string line = "#";
  while (words >> word) {
    if (line.size() + 1 + word.size() > header_width_max && line != "#") {
      out += line + "\n";
      line = "#";
    }
    line += " " + word;
  }
  return out + line + "\n";
}

/// The comment lines a scenario starts with.
std::string leading_comments(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  std::string out;
  while (std::getline(in, line) && !line.empty() && line[0] == '#')
    out += line + "\n";
  return out;
}

class shrinker {
public:
  shrinker(const shrink_input& in, const shrink_options& options)
    : in_(in), options_(options), seed_(in.seed),
      oracle_name_(info_of(in.oracle).name) {}

  shrink_result run();

private:
  /// Runs `text` with `seed`: whether the oracle fails. Text the checker
  /// refuses is no run and does not fail.
  bool fails(const std::string& text, uint64_t seed, run_report* report);
  /// Keeps `candidate` if it still fails, with the current seed or (when
  /// `other_seeds`) one of the next few; `what` says what it took away.
  bool attempt(const YAML::Node& candidate, const std::string& what,
               bool other_seeds);
  std::string body(const YAML::Node& doc) const;

  void keep_only_oracle();
  void schedule_random_faults();
  void drop_faults();
  void shorten_faults();
  void lower(const std::string& section, const std::string& key, int64_t floor,
             int64_t otherwise, const std::string& label);
  void lower_duration();
  void drop_operation_kinds();
  void drop_deadline();

  const shrink_input& in_;
  const shrink_options& options_;
  shrink_result out_;
  YAML::Node doc_;
  uint64_t seed_;
  std::string oracle_name_;
  std::vector<planned_fault> first_faults_;
  bool exhausted_ = false;
};

std::string shrinker::body(const YAML::Node& doc) const {
  YAML::Emitter e;
  e.SetIndent(2);
  e << doc;
  return std::string(e.c_str()) + "\n";
}

bool shrinker::fails(const std::string& text, uint64_t seed,
                     run_report* report) {
  auto parsed = parse_scenario(text, in_.file);
  if (!parsed.ok())
    return false;
  if (out_.runs >= options_.max_runs) {
    exhausted_ = true;
    return false;
  }
  ++out_.runs;
  run_report r;
  try {
    r = run_scenario(*parsed.value, seed, in_.options);
  } catch (const std::exception&) {
    return false;
  }
  bool failed = std::any_of(r.verdicts.begin(), r.verdicts.end(), [&](auto& v) {
    return v.kind == in_.oracle && v.outcome == verdict::failed;
  });
  if (report)
    *report = std::move(r);
  return failed;
}

bool shrinker::attempt(const YAML::Node& candidate, const std::string& what,
                       bool other_seeds) {
  if (exhausted_)
    return false;
  auto text = body(candidate);
  uint64_t tries = other_seeds ? 1 + options_.neighbour_seeds : 1;
  for (uint64_t k = 0; k < tries && !exhausted_; ++k) {
    auto seed = seed_ + k;
    if (!fails(text, seed, nullptr))
      continue;
    // reset() rebinds; operator= would write into the node bound before.
    doc_.reset(YAML::Clone(candidate));
    auto line = "[run " + std::to_string(out_.runs) + "] " + what
      + ": still fails " + oracle_name_ + " (seed " + std::to_string(seed)
      + (seed != seed_ ? ", the seed before did not" : "") + ")";
    seed_ = seed;
    out_.steps.push_back(line);
    if (options_.progress)
      options_.progress(line);
    return true;
  }
  return false;
}

void shrinker::keep_only_oracle() {
  const YAML::Node listed = doc_["oracles"];
  YAML::Node only(YAML::NodeType::Sequence);
  if (listed && listed.IsSequence()) {
    if (listed.size() <= 1)
      return;
    for (auto item : listed) {
      auto name = item.IsMap() ? item.begin()->first.as<std::string>()
                               : item.as<std::string>();
      if (name == oracle_name_)
        only.push_back(YAML::Clone(item));
    }
  } else {
    only.push_back(oracle_name_);
  }
  auto copy = YAML::Clone(doc_);
  copy["oracles"] = only;
  attempt(copy, "kept only the oracle " + oracle_name_, false);
}

void shrinker::schedule_random_faults() {
  const YAML::Node faults = doc_["faults"];
  if (!faults || !faults.IsMap() || !faults["random"])
    return;
  auto items = schedule_of(doc_);
  size_t drawn = 0;
  for (auto& f : first_faults_)
    if (f.random && f.ended_ms >= 0) {
      items.push_back(schedule_item(f));
      ++drawn;
    }
  auto copy = YAML::Clone(doc_);
  copy["faults"].remove("random");
  attempt(with_schedule(copy, items),
          "scheduled the " + std::to_string(drawn)
            + " random faults that fired instead of faults.random",
          true);
}

void shrinker::drop_faults() {
  size_t n = 2;
  while (!exhausted_) {
    auto items = schedule_of(doc_);
    if (items.empty())
      return;
    n = std::min(n, items.size());
    bool kept = false;
    for (size_t c = 0; c < n && !kept && !exhausted_; ++c) {
      auto lo = items.size() * c / n;
      auto hi = items.size() * (c + 1) / n;
      std::vector<YAML::Node> rest;
      std::string dropped;
      for (size_t i = 0; i < items.size(); ++i) {
        if (i >= lo && i < hi)
          dropped += (dropped.empty() ? "" : ", ") + fault_words(items[i]);
        else
          rest.push_back(items[i]);
      }
      auto what = "dropped " + std::to_string(hi - lo) + " of "
        + std::to_string(items.size()) + " faults (" + dropped + ")";
      kept = attempt(with_schedule(doc_, rest), what, true);
    }
    if (kept) {
      n = std::max<size_t>(n - 1, 2);
      continue;
    }
    if (n >= items.size())
      return;
    n = std::min(n * 2, items.size());
  }
}

void shrinker::shorten_faults() {
  for (size_t i = 0; !exhausted_; ++i) {
    auto items = schedule_of(doc_);
    if (i >= items.size())
      return;
    for (const char* key : {"duration_ms", "count"}) {
      while (!exhausted_) {
        auto item = schedule_of(doc_)[i];
        bool in_params = std::string(key) == "count";
        const YAML::Node holder = in_params ? item["params"] : item;
        if (!holder || !holder.IsMap() || !holder[key])
          break;
        auto value = holder[key].as<int64_t>();
        if (value <= 1)
          break;
        auto copy = YAML::Clone(doc_);
        auto target = copy["faults"]["schedule"][i];
        (in_params ? target["params"] : target)[key] = value / 2;
        auto what = std::string(in_params ? "halved the count of "
                                          : "halved the duration of ")
          + fault_words(item) + " to " + std::to_string(value / 2)
          + (in_params ? "" : " ms");
        if (!attempt(copy, what, false))
          break;
      }
    }
  }
}

void shrinker::lower(const std::string& section, const std::string& key,
                     int64_t floor, int64_t otherwise,
                     const std::string& label) {
  auto read = [&] {
    const YAML::Node holder = section.empty() ? doc_ : doc_[section];
    return holder && holder.IsMap() ? number_at(holder, key, otherwise)
                                    : otherwise;
  };
  auto value = read();
  for (int step = 0; step < lower_steps_max && value > floor && !exhausted_;
       ++step) {
    auto candidate = step == 0 ? floor : floor + (value - floor) / 2;
    if (candidate >= value)
      break;
    auto copy = YAML::Clone(doc_);
    (section.empty() ? copy : copy[section])[key] = candidate;
    auto what = label + " " + std::to_string(value) + " -> "
      + std::to_string(candidate);
    if (attempt(copy, what, false))
      value = candidate;
    else if (step > 0)
      floor = candidate + 1;
  }
}

void shrinker::lower_duration() {
  // The run must still hold every scheduled fault.
  int64_t floor = 1;
  for (auto& item : schedule_of(doc_))
    floor = std::max(
      floor, number_at(item, "at_ms", 0) + number_at(item, "duration_ms", 0));
  lower("", "duration_ms", floor, 1, "duration_ms");
}

void shrinker::drop_operation_kinds() {
  for (const char* kind : mix_kinds) {
    if (exhausted_)
      return;
    YAML::Node mix(YAML::NodeType::Map);
    mix.SetStyle(YAML::EmitterStyle::Flow);
    const YAML::Node workload = doc_["workload"];
    const YAML::Node listed = workload ? workload["mix"] : YAML::Node();
    uint64_t rest = 0;
    bool has = false;
    for (const char* k : {"get", "set", "cas", "delete", "batch_set", "scan"}) {
      uint32_t weight = listed ? static_cast<uint32_t>(number_at(listed, k, 0))
                               : default_weight(k);
      if (std::string(k) == kind) {
        has = weight > 0;
        continue;
      }
      if (weight == 0)
        continue;
      mix[k] = weight;
      rest += weight;
    }
    if (!has || rest == 0)
      continue;
    auto copy = YAML::Clone(doc_);
    copy["workload"]["mix"] = mix;
    attempt(copy, std::string("dropped ") + kind + " from the mix", false);
  }
}

void shrinker::drop_deadline() {
  const YAML::Node workload = doc_["workload"];
  if (!workload
      || number_at(workload, "deadline_ms", workload_spec{}.deadline_ms) == 0)
    return;
  auto copy = YAML::Clone(doc_);
  copy["workload"]["deadline_ms"] = 0;
  attempt(copy, "took the deadline off the calls (deadline_ms 0)", false);
}

shrink_result shrinker::run() {
  auto parsed = parse_scenario(in_.text, in_.file);
  if (!parsed.ok()) {
    out_.problem
      = in_.file + " has problems:\n" + format_problems(parsed.problems);
    return std::move(out_);
  }
  out_.before = size_of(*parsed.value);
  run_report first;
  if (!fails(in_.text, seed_, &first)) {
    out_.problem = in_.file + " does not fail the oracle " + oracle_name_
      + " with seed " + std::to_string(seed_)
      + (first.passed() ? " (every oracle held)" : "");
    return std::move(out_);
  }
  out_.reproduced = true;
  first_faults_ = first.faults;
  doc_.reset(YAML::Load(in_.text));
  keep_only_oracle();
  schedule_random_faults();
  // What a workload that does not say has.
  const workload_spec defaults;
  size_t kept = 0;
  do {
    kept = out_.steps.size();
    drop_faults();
    shorten_faults();
    lower("workload", "clients", 1, defaults.clients, "clients");
    lower_duration();
    lower("workload", "keys", 1, defaults.keys, "keys");
    drop_operation_kinds();
    drop_deadline();
  } while (out_.steps.size() > kept && !exhausted_);
  std::string planted;
  for (auto& name : in_.options.planted)
    planted += ", planted defect " + name;
  auto note = "Shrunk by `prism simulate shrink` from " + in_.file + " (seed "
    + std::to_string(in_.seed) + planted + ") in " + std::to_string(out_.runs)
    + " runs: still fails the oracle " + oracle_name_ + " with seed "
    + std::to_string(seed_) + ".";
  out_.text = leading_comments(in_.text) + wrap_comment(note) + body(doc_);
  out_.seed = seed_;
  auto final_scenario = parse_scenario(out_.text, in_.file);
  if (final_scenario.ok())
    out_.after = size_of(*final_scenario.value);
  return std::move(out_);
}

} // namespace

scenario_size size_of(const scenario& s) {
  scenario_size size;
  size.faults = s.schedule.size();
  size.random_faults = s.random && !s.random->rate_per_s.empty();
  size.clients = s.workload.clients;
  size.duration_ms = s.duration_ms;
  size.keys = s.workload.keys;
  auto& m = s.workload.mix;
  for (auto w : {m.get, m.set, m.cas, m.del, m.batch_set, m.scan})
    size.operation_kinds += w > 0 ? 1 : 0;
  size.oracles = s.oracles.size();
  return size;
}

std::string describe_change(const scenario_size& from,
                            const scenario_size& to) {
  std::string out;
  auto add = [&](const std::string& what, int64_t a, int64_t b) {
    if (a != b)
      out += (out.empty() ? "" : ", ") + what + " " + std::to_string(a) + " -> "
        + std::to_string(b);
  };
  if (from.random_faults && !to.random_faults)
    out += "random faults scheduled";
  add("scheduled faults", static_cast<int64_t>(from.faults),
      static_cast<int64_t>(to.faults));
  add("clients", from.clients, to.clients);
  add("duration_ms", from.duration_ms, to.duration_ms);
  add("keys", from.keys, to.keys);
  add("operation kinds", static_cast<int64_t>(from.operation_kinds),
      static_cast<int64_t>(to.operation_kinds));
  add("oracles", static_cast<int64_t>(from.oracles),
      static_cast<int64_t>(to.oracles));
  return out.empty() ? "nothing could be taken away" : out;
}

shrink_result shrink_scenario(const shrink_input& in,
                              const shrink_options& options) {
  return shrinker(in, options).run();
}

} // namespace prism::simulation
