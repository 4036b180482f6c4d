#include "console/recorded_source.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "admin/actor_json.hpp"
#include "simulation/defects.hpp"
#include "simulation/deterministic_gateway.hpp"
#include "simulation/report.hpp"
#include "simulation/runner.hpp"
#include "simulation/scenario.hpp"

namespace prism::console {

namespace {

namespace sim = prism::simulation;
namespace fs = std::filesystem;
using nlohmann::json;

/// One line of trace.jsonl.
struct trace_event {
  /// The line as written, without its newline: what a rerun must reproduce.
  std::string text;
  int64_t t_ms = 0;
  std::string actor;
  std::string event;
  std::string message;
  std::string fault;
};

/// The gateway as of one step: what the console's reads are answered from.
struct step_view {
  /// The last event the view includes.
  size_t step = 0;
  bool gateway_down = false;
  std::vector<actor_info> actors;
  /// Each actor's label as the trace gives it ("connection:disk#0#2").
  std::map<uint64_t, std::string> labels;
  std::map<uint64_t, std::vector<sim::deterministic_gateway::queued_message>>
    mailboxes;
};

/// Thrown by the watcher once a rerun has what it wants.
struct stop_run {};

/// Thrown by the watcher when the rerun's trace leaves the recorded one.
struct divergence {
  size_t step = 0;
  std::string recorded;
  std::string rerun;
};

// --- reading a run directory -------------------------------------------------

std::optional<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The lines of trace.jsonl, parsed; an error names the first bad line.
std::vector<trace_event> parse_trace(const std::string& text,
                                     const std::string& path,
                                     std::string& error) {
  std::vector<trace_event> events;
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    trace_event e;
    e.text = text.substr(start, end - start);
    start = end + 1;
    auto j = json::parse(e.text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("step")
        || !j["t_ms"].is_number_integer()) {
      error = path + " line " + std::to_string(events.size() + 1)
        + " is not an event of a trace (a JSON object with step, t_ms, "
          "actor, event and message)";
      return {};
    }
    e.t_ms = j["t_ms"].get<int64_t>();
    e.actor = j.value("actor", "");
    e.event = j.value("event", "");
    e.message = j.value("message", "");
    e.fault = j.value("fault", "");
    events.push_back(std::move(e));
  }
  if (events.empty())
    error = path + " is empty: a run's trace has at least its first event";
  return events;
}

/// Words of a trace message, split at spaces and commas (a batch names its
/// calls "c1-2,c1-3").
std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    if (c == ' ' || c == ',') {
      if (!word.empty())
        words.push_back(std::move(word));
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty())
    words.push_back(std::move(word));
  return words;
}

json event_json(const trace_event& e, size_t step) {
  json j{{"step", step},
         {"t_ms", e.t_ms},
         {"actor", e.actor},
         {"event", e.event},
         {"message", e.message}};
  if (!e.fault.empty())
    j["fault"] = e.fault;
  return j;
}

// --- answers ----------------------------------------------------------------

reply answer(int status, json body) {
  reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

reply bad_request(const std::string& message) {
  return answer(400, {{"error", "bad_request"}, {"message", message}});
}

reply not_found(const std::string& message) {
  return answer(404, {{"error", "not_found"}, {"message", message}});
}

/// A path a recorded run does not serve: no answer, as from a listener
/// without that endpoint.
reply not_available(int status, const std::string& message) {
  reply r = answer(status, {{"error", "not_available"}, {"message", message}});
  r.error = message;
  return r;
}

std::string percent_decoded(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      unsigned value = 0;
      auto [end, ec]
        = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
      if (ec == std::errc{} && end == text.data() + i + 3) {
        out += static_cast<char>(value);
        i += 2;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

/// The path without its query, split at '/', each segment decoded.
std::vector<std::string> segments_of(const std::string& path) {
  auto plain = path.substr(0, path.find('?'));
  std::vector<std::string> segments;
  std::string segment;
  for (char c : plain) {
    if (c == '/') {
      if (!segment.empty())
        segments.push_back(percent_decoded(segment));
      segment.clear();
    } else {
      segment += c;
    }
  }
  if (!segment.empty())
    segments.push_back(percent_decoded(segment));
  return segments;
}

std::optional<uint64_t> whole_number(const std::string& text) {
  uint64_t value = 0;
  auto [end, ec]
    = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
    return std::nullopt;
  return value;
}

// --- the source -------------------------------------------------------------

class recorded_run final : public source {
public:
  recorded_run(std::string dir, sim::scenario s, uint64_t seed,
               sim::run_options options, std::vector<trace_event> events)
    : dir_(std::move(dir)), scenario_(std::move(s)), seed_(seed),
      options_(std::move(options)), events_(std::move(events)) {}

  /// Runs the whole trace once, checking every event, and stands on the
  /// first step. An error says why the run cannot be opened.
  std::optional<std::string> open();

  reply get(const std::string& path) override;
  reply post(const std::string& path) override;
  std::string describe() const override;
  bool recorded() const override { return true; }

private:
  // Moving.
  std::optional<std::string> rerun(std::optional<size_t> landing);
  void capture(sim::deterministic_gateway& g);
  size_t last_step() const { return events_.size() - 1; }
  /// The first step at or after `step` where the run can stop (the end
  /// when there is none).
  size_t stop_at_or_after(size_t step) const;
  /// The last step at or before `step` where the run can stop (the first
  /// one when there is none).
  size_t stop_at_or_before(size_t step) const;
  reply move_to(size_t landing, std::string note);
  reply step(const std::string& count);
  reply back(const std::string& count);
  reply go_to(const std::string& where);

  // Reading.
  int64_t now_ms() const { return events_[view_.step].t_ms; }
  json position(const std::string& note) const;
  reply tree() const;
  reply actors() const;
  reply actor(const std::string& id) const;
  reply mailbox(const std::string& id) const;
  reply follow(const std::string& request_id) const;
  std::optional<uint64_t> actor_id(const std::string& text, reply& error) const;

  std::string dir_;
  sim::scenario scenario_;
  uint64_t seed_;
  sim::run_options options_;
  std::vector<trace_event> events_;
  /// Every step where a rerun can stop, in order (from the first run).
  std::vector<size_t> stops_;
  step_view view_;
  std::string last_note_;
};

std::optional<std::string> recorded_run::open() {
  if (auto error = rerun(std::nullopt))
    return error;
  if (stops_.empty() || stops_.back() != last_step())
    return dir_ + ": the rerun never stopped at the run's last step "
      + std::to_string(last_step());
  if (auto error = rerun(stops_.front()))
    return error;
  return std::nullopt;
}

/// Runs the scenario again from the start, checking each event against the
/// recorded trace. With `landing`, stops there and keeps the gateway's view;
/// without, runs to the end and notes every step where a run can stop.
std::optional<std::string> recorded_run::rerun(std::optional<size_t> landing) {
  sim::trace_jsonl_writer writer;
  size_t checked = 0;
  bool noting = !landing;
  if (noting)
    stops_.clear();
  auto watch = [&](sim::deterministic_gateway& g, bool complete) {
    auto& trace = g.trace();
    for (; checked < trace.size(); ++checked) {
      auto line = writer.next(trace[checked]);
      if (checked >= events_.size())
        throw divergence{checked, "(nothing: the recorded run ends before)",
                         line};
      if (line != events_[checked].text)
        throw divergence{checked, events_[checked].text, line};
    }
    if (complete && trace.size() != events_.size())
      throw divergence{trace.size(), events_[trace.size()].text,
                       "(nothing: the rerun ended before)"};
    auto step = trace.size() - 1;
    if (noting && (stops_.empty() || stops_.back() != step))
      stops_.push_back(step);
    if (landing && step >= *landing) {
      capture(g);
      throw stop_run{};
    }
    if (complete)
      throw stop_run{}; // the oracles' verdicts are in run.json already
  };
  // The gateway's log lines (calls dropped by a kill, supervisors
  // stopping) would run into the console's output.
  auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::off);
  struct restore_level {
    spdlog::level::level_enum level;
    ~restore_level() { spdlog::set_level(level); }
  } restore{level};
  try {
    sim::run_scenario(scenario_, seed_, options_, watch);
  } catch (const stop_run&) {
    return std::nullopt;
  } catch (const divergence& d) {
    return dir_ + "/trace.jsonl: the rerun of this run differs at step "
      + std::to_string(d.step) + "\n  recorded: " + d.recorded
      + "\n  rerun:    " + d.rerun
      + "\n(was the run made by another build of prism, or trace.jsonl "
        "edited?)";
  } catch (const std::exception& e) {
    return dir_ + ": the rerun of this run failed: " + e.what();
  }
  return dir_ + ": the rerun ended without reaching the end of its trace";
}

void recorded_run::capture(sim::deterministic_gateway& g) {
  step_view view;
  view.step = g.trace().size() - 1;
  view.gateway_down = g.down();
  if (!view.gateway_down) {
    view.actors = g.actors().snapshot(g.system().clock().now());
    for (auto& a : view.actors) {
      // Handler times are the wall-clock time of this rerun's handlers: they
      // would differ each time the step is shown, and say nothing of the
      // recorded run.
      a.busy_us = 0;
      a.handler_p50_us = 0;
      a.handler_p99_us = 0;
      a.handler_max_us = 0;
      auto label = g.label_of_id(a.id);
      if (label.empty())
        label = a.kind + (a.name != a.kind ? ":" + a.name : "");
      view.labels[a.id] = label;
      if (auto waiting = g.mailbox_of(a.id))
        view.mailboxes[a.id] = std::move(*waiting);
    }
  }
  view_ = std::move(view);
}

size_t recorded_run::stop_at_or_after(size_t step) const {
  auto i = std::lower_bound(stops_.begin(), stops_.end(), step);
  return i == stops_.end() ? stops_.back() : *i;
}

size_t recorded_run::stop_at_or_before(size_t step) const {
  auto i = std::upper_bound(stops_.begin(), stops_.end(), step);
  return i == stops_.begin() ? stops_.front() : *(i - 1);
}

reply recorded_run::move_to(size_t landing, std::string note) {
  if (landing != view_.step)
    if (auto error = rerun(landing)) {
      reply r;
      r.error = *error;
      return r;
    }
  return answer(200, position(note));
}

/// Says why the console stands on `landing` rather than on `asked`.
std::string landing_note(size_t asked, size_t landing) {
  if (asked == landing)
    return {};
  return "step " + std::to_string(asked)
    + " happened while the run could not stop (within one actor's run, with "
      "the backend calls and answers it made, or within one move of the "
      "clock): shown as of step "
    + std::to_string(landing) + ", the first point after it";
}

reply recorded_run::step(const std::string& count) {
  auto n = whole_number(count);
  if (!n || *n == 0)
    return bad_request("step count \"" + count
                       + "\" is not a whole number of 1 or more");
  if (view_.step == last_step())
    return answer(200,
                  position("already at the end of the run (step "
                           + std::to_string(last_step()) + ")"));
  if (*n > last_step() - view_.step)
    return move_to(last_step(),
                   "stopped at the end of the run (step "
                     + std::to_string(last_step()) + ")");
  auto asked = view_.step + *n;
  auto landing = stop_at_or_after(asked);
  return move_to(landing, landing_note(asked, landing));
}

reply recorded_run::back(const std::string& count) {
  auto n = whole_number(count);
  if (!n || *n == 0)
    return bad_request("back count \"" + count
                       + "\" is not a whole number of 1 or more");
  auto first = stops_.front();
  if (view_.step == first)
    return answer(200, position("already at the first step"));
  auto asked = *n > view_.step ? 0 : view_.step - *n;
  auto landing = stop_at_or_before(asked);
  std::string note;
  if (asked < first)
    note = "steps 0 to " + std::to_string(first)
      + " are the gateway's start, shown as one: stopped at step "
      + std::to_string(first);
  else if (landing != asked)
    note = "step " + std::to_string(asked)
      + " happened while the run could not stop: shown as of step "
      + std::to_string(landing) + ", the last point before it";
  return move_to(landing, note);
}

reply recorded_run::go_to(const std::string& where) {
  auto usage = "goto target \"" + where
    + "\" is neither a step (a whole number) nor a virtual time (1500ms, 2s)";
  if (where.empty())
    return bad_request(usage);
  auto number_end = where.find_first_not_of("0123456789");
  auto unit = number_end == std::string::npos ? "" : where.substr(number_end);
  auto value = whole_number(where.substr(0, number_end));
  if (!value || (unit != "" && unit != "ms" && unit != "s"))
    return bad_request(usage);
  if (unit.empty()) {
    if (*value > last_step())
      return move_to(last_step(),
                     "the run has no step " + std::to_string(*value)
                       + ": stopped at its end (step "
                       + std::to_string(last_step()) + ")");
    auto landing = stop_at_or_after(*value);
    return move_to(landing, landing_note(*value, landing));
  }
  auto t_ms = static_cast<int64_t>(*value) * (unit == "s" ? 1000 : 1);
  auto first = std::find_if(events_.begin(), events_.end(),
                            [t_ms](auto& e) { return e.t_ms >= t_ms; });
  if (first == events_.end())
    return move_to(last_step(),
                   "the run ends at " + std::to_string(events_.back().t_ms)
                     + " ms, before " + std::to_string(t_ms)
                     + " ms: stopped at its end (step "
                     + std::to_string(last_step()) + ")");
  auto asked = static_cast<size_t>(first - events_.begin());
  auto landing = stop_at_or_after(asked);
  auto note = "step " + std::to_string(asked) + " is the first at or after "
    + std::to_string(t_ms) + " ms";
  if (landing != asked)
    note += "; " + landing_note(asked, landing);
  return move_to(landing, note);
}

json recorded_run::position(const std::string& note) const {
  json j{
    {"generated_at_ms", now_ms()},
    {"run", dir_},
    {"step", view_.step},
    {"steps", events_.size()},
    {"t_ms", now_ms()},
    {"event", event_json(events_[view_.step], view_.step)},
    {"gateway", view_.gateway_down ? "down" : "running"},
    {"at_end", view_.step == last_step()},
    {"clock",
     "virtual: generated_at_ms and t_ms are virtual ms since the run began, "
     "and the actors' ages, uptimes and failure times are in virtual ms; "
     "handler times (busy_us, handler_us) are not recorded and read 0"},
  };
  if (!note.empty())
    j["note"] = note;
  return j;
}

reply recorded_run::tree() const {
  auto j = to_json_tree(view_.actors, now_ms());
  j["step"] = view_.step;
  return answer(200, std::move(j));
}

reply recorded_run::actors() const {
  auto j = to_json_list(view_.actors, now_ms());
  j["step"] = view_.step;
  return answer(200, std::move(j));
}

std::optional<uint64_t> recorded_run::actor_id(const std::string& text,
                                               reply& error) const {
  auto id = whole_number(text);
  if (!id)
    error = bad_request("actor id \"" + text
                        + "\" is not a number: use the numeric \"id\" that "
                          "GET /debug/actors lists");
  return id;
}

reply recorded_run::actor(const std::string& text) const {
  reply error;
  auto id = actor_id(text, error);
  if (!id)
    return error;
  auto j = to_json_one(view_.actors, *id, now_ms());
  if (!j)
    return not_found("no actor with id " + text + " at step "
                     + std::to_string(view_.step)
                     + " (GET /debug/actors lists the actors of this step)");
  (*j)["step"] = view_.step;
  return answer(200, std::move(*j));
}

reply recorded_run::mailbox(const std::string& text) const {
  reply error;
  auto id = actor_id(text, error);
  if (!id)
    return error;
  auto box = view_.mailboxes.find(*id);
  if (box == view_.mailboxes.end())
    return not_found("no actor with id " + text + " at step "
                     + std::to_string(view_.step)
                     + " (GET /debug/actors lists the actors of this step)");
  auto messages = json::array();
  for (auto& m : box->second)
    messages.push_back({{"from", m.from.empty() ? json(nullptr) : json(m.from)},
                        {"message", m.message}});
  return answer(200,
                {{"generated_at_ms", now_ms()},
                 {"step", view_.step},
                 {"actor", *id},
                 {"label", view_.labels.at(*id)},
                 {"depth", box->second.size()},
                 {"messages", std::move(messages)}});
}

reply recorded_run::follow(const std::string& request_id) const {
  auto events = json::array();
  std::optional<size_t> submitted;
  std::optional<size_t> answered;
  std::vector<size_t> steps;
  for (size_t i = 0; i < events_.size(); ++i) {
    auto& e = events_[i];
    auto words = words_of(e.message);
    if (std::find(words.begin(), words.end(), request_id) == words.end())
      continue;
    steps.push_back(i);
    bool first_word = words.front() == request_id;
    if ((e.event == "submit" || e.event == "subscribe") && first_word
        && !submitted)
      submitted = i;
    if ((e.event == "answer" || e.event == "lost") && first_word && !answered)
      answered = i;
  }
  if (steps.empty())
    return not_found("no event of this run names request \"" + request_id
                     + "\" (a simulation's request ids are like c5-140: "
                       "client 5's call 140; final reads final-k03-0)");
  json call = nullptr;
  int64_t previous_ms = events_[steps.front()].t_ms;
  auto hops = json::array();
  for (auto i : steps) {
    auto& e = events_[i];
    events.push_back(
      {{"step", i},
       {"at_ms", e.t_ms},
       {"actor", nullptr},
       {"label", e.actor},
       {"event", e.event},
       {"what",
        e.event == "run" || e.event == "exit" ? e.message
                                              : e.event + " " + e.message}});
    if (e.event == "run" && submitted && (!answered || i < *answered)) {
      hops.push_back(
        {{"name", e.actor}, {"us", (e.t_ms - previous_ms) * 1000}});
      previous_ms = e.t_ms;
    }
  }
  if (submitted && answered) {
    auto submit = words_of(events_[*submitted].message);
    auto done = words_of(events_[*answered].message);
    auto word = [](const std::vector<std::string>& w, size_t i) {
      return i < w.size() ? w[i] : std::string();
    };
    call = {
      {"request_id", request_id},
      {"peer", word(submit, 1)},
      {"namespace", word(submit, 2)},
      {"operation", word(submit, 3)},
      {"code", word(done, 1)},
      {"total_us", (events_[*answered].t_ms - events_[*submitted].t_ms) * 1000},
      {"at_ms", events_[*answered].t_ms},
      {"hops", std::move(hops)},
    };
  }
  std::string state = "not_submitted";
  if (answered && *answered <= view_.step)
    state = "done";
  else if (submitted && *submitted <= view_.step)
    state = "in_flight";
  return answer(200,
                {{"generated_at_ms", now_ms()},
                 {"request_id", request_id},
                 {"step", view_.step},
                 {"state", state},
                 {"call", std::move(call)},
                 {"events", std::move(events)}});
}

reply recorded_run::get(const std::string& path) {
  auto s = segments_of(path);
  // Whether the path is `words`, "*" standing for any one segment.
  auto is = [&](std::initializer_list<std::string_view> words) {
    if (s.size() != words.size())
      return false;
    size_t i = 0;
    for (auto w : words)
      if (w != "*" && s[i++] != w)
        return false;
      else if (w == "*")
        ++i;
    return true;
  };
  if (is({"debug", "tree"}))
    return tree();
  if (is({"debug", "actors"}))
    return actors();
  if (is({"debug", "actors", "*"}))
    return actor(s[2]);
  if (is({"debug", "follow", "*"}))
    return follow(s[2]);
  if (is({"run", "position"}))
    return answer(200, position(""));
  if (is({"run", "mailbox", "*"}))
    return mailbox(s[2]);
  return not_available(
    404,
    "not available in a recorded run: GET " + path
      + " (a recorded run answers /debug/tree, /debug/actors, "
        "/debug/actors/{id}, /debug/follow/{request-id}, /run/position "
        "and /run/mailbox/{id})");
}

reply recorded_run::post(const std::string& path) {
  auto s = segments_of(path);
  if (s.size() >= 2 && s.size() <= 3 && s[0] == "run") {
    auto arg = s.size() == 3 ? s[2] : std::string("1");
    if (s[1] == "step")
      return step(arg);
    if (s[1] == "back")
      return back(arg);
    if (s[1] == "goto" && s.size() == 3)
      return go_to(arg);
    if (s[1] == "goto")
      return bad_request("goto needs a step or a virtual time: POST "
                         "/run/goto/{step | Nms}");
  }
  bool mutates = !s.empty() && (s[0] == "debug" || s[0] == "admin");
  if (mutates)
    return not_available(
      405,
      "not available in a recorded run: POST " + path
        + " would change a live gateway; a recorded run shows what "
          "happened, as it happened (step, back and goto move through "
          "it)");
  return not_available(404,
                       "not available in a recorded run: POST " + path
                         + " (a recorded run takes POST /run/step/N, "
                           "/run/back/N and /run/goto/{step | Nms})");
}

std::string recorded_run::describe() const {
  return dir_ + " step " + std::to_string(view_.step) + " of "
    + std::to_string(events_.size()) + " at " + std::to_string(now_ms())
    + " ms";
}

} // namespace

std::unique_ptr<source> open_recorded_run(const std::string& dir,
                                          std::string& error) {
  fs::path root(dir);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    error = dir
      + " is not a directory (a run directory is written by "
        "`prism simulate FILE --seed N --out DIR`)";
    return nullptr;
  }
  auto run_text = read_file(root / "run.json");
  if (!run_text) {
    error = dir
      + " has no run.json: not a run directory (written by "
        "`prism simulate FILE --seed N --out DIR`)";
    return nullptr;
  }
  auto run = json::parse(*run_text, nullptr, false);
  if (run.is_discarded() || !run.is_object() || !run.contains("seed")
      || !run["seed"].is_number_unsigned() || !run.contains("scenario")
      || !run["scenario"].is_object() || !run["scenario"].contains("sha256")) {
    error = (root / "run.json").string()
      + " lacks the seed or the scenario's sha256";
    return nullptr;
  }
  sim::run_options options;
  if (run.contains("planted")) {
    if (!run["planted"].is_array()) {
      error = (root / "run.json").string()
        + ": planted must be a list of defect names";
      return nullptr;
    }
    for (auto& name : run["planted"])
      if (name.is_string())
        options.planted.push_back(name.get<std::string>());
    if (auto problem = sim::check_defect_names(options.planted);
        !problem.empty()) {
      error = (root / "run.json").string() + ": " + problem;
      return nullptr;
    }
  }
  auto trace_path = (root / "trace.jsonl").string();
  auto trace_text = read_file(trace_path);
  if (!trace_text) {
    error = dir + " has no trace.jsonl (cannot read " + trace_path + ")";
    return nullptr;
  }
  auto events = parse_trace(*trace_text, trace_path, error);
  if (!error.empty())
    return nullptr;
  auto scenario_path = (root / "scenario.yaml").string();
  if (!fs::exists(scenario_path, ec)) {
    error = dir + " has no scenario.yaml (cannot read " + scenario_path + ")";
    return nullptr;
  }
  auto loaded = sim::load_scenario(scenario_path);
  if (!loaded.ok()) {
    error = scenario_path + " has problems:\n"
      + sim::format_problems(loaded.problems);
    return nullptr;
  }
  auto want = run["scenario"]["sha256"].get<std::string>();
  if (loaded.value->sha256 != want) {
    error = scenario_path + " is not the scenario of this run (its sha256 is "
      + loaded.value->sha256 + ", run.json says " + want
      + "): it was changed after the run";
    return nullptr;
  }
  auto source = std::make_unique<recorded_run>(
    dir, std::move(*loaded.value), run["seed"].get<uint64_t>(),
    std::move(options), std::move(events));
  if (auto problem = source->open()) {
    error = *problem;
    return nullptr;
  }
  return source;
}

} // namespace prism::console
