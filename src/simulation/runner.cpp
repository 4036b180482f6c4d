#include "simulation/runner.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

#include "config/stage_kinds.hpp"
#include "runtime/supervision.hpp"
#include "simulation/defects.hpp"
#include "simulation/deterministic_gateway.hpp"
#include "simulation/pubsub_oracles.hpp"
#include "simulation/pubsub_workload.hpp"

namespace prism::simulation {

namespace {

/// After the run's duration, how long in-flight calls may take to be
/// answered before the run gives up on them (answered_once then fails).
constexpr int64_t drain_ms_max = 120000;
/// Each key is read back at most this many times, this far apart.
constexpr int final_read_attempts_max = 20;
constexpr int64_t final_read_retry_ms = 250;
/// Virtual time one final read may wait for its answer.
constexpr int64_t final_read_wait_ms_max = 30000;
/// How long a client_cancel call runs before its client cancels it.
constexpr int64_t client_cancel_after_ms = 1;
/// PubSub: after the drain, how long the subscribers may take to be in
/// place again and to receive what they are owed.
constexpr int64_t pubsub_settle_ms_max = 20000;
/// ... and how far time moves at most while nothing else is due.
constexpr int64_t pubsub_settle_step_ms = 100;

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// A fraction in [0, 1) from 53 random bits: the same on every platform.
double unit(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

struct process {
  int64_t id = 0;
  std::string session;
  int64_t from_ms = 0;
  int64_t until_ms = 0;
  std::mt19937_64 rng;
  bool waiting = false;
  int64_t next_ms = 0;
  uint64_t calls = 0;
  /// The version this client last saw of each key (0: absent).
  std::map<std::string, uint64_t> seen_versions;
};

std::string params_text(const fault_spec& f) {
  std::string text;
  for (auto& [name, value] : f.params) {
    text += " " + name + "=";
    text += value.text.empty() ? std::to_string(value.number) : value.text;
  }
  return text;
}

std::optional<status_code> code_named(const std::string& name) {
  for (int c = 0; c <= 16; ++c)
    if (to_string(static_cast<status_code>(c)) == name)
      return static_cast<status_code>(c);
  return std::nullopt;
}

class simulation_run {
public:
  simulation_run(const scenario& s, uint64_t seed, const run_options& options,
                 const run_watcher& watch)
    : s_(s), seed_(seed), options_(options), watch_(watch),
      g_(s.gateway, child_seed(seed, "scheduler")),
      workload_seed_(child_seed(seed, "workload")), running_config_(s.gateway) {
    if (watch_)
      g_.on_between_events([this] { watch_(g_, false); });
    report_.child_seeds["scheduler"] = child_seed(seed, "scheduler");
    report_.child_seeds["workload"] = workload_seed_;
    auto width = std::to_string(s.workload.keys - 1).size();
    for (uint32_t i = 0; i < s.workload.keys; ++i) {
      auto digits = std::to_string(i);
      keys_.push_back("k" + std::string(width - digits.size(), '0') + digits);
    }
    if (s.workload.distribution == key_distribution::zipf) {
      double total = 0;
      for (uint32_t i = 0; i < s.workload.keys; ++i) {
        total += 1.0 / std::pow(static_cast<double>(i + 1), s.workload.zipf_s);
        zipf_cdf_.push_back(total);
      }
      for (auto& x : zipf_cdf_)
        x /= total;
    }
    auto ns = s.gateway.namespaces.find(s.workload.ns);
    backend_ = ns->second.backend;
    g_.on_new_actor([this](const actor_record_ptr& record) {
      records_.push_back(record);
      if (record->kind() == "supervisor")
        supervisor_records_.push_back(record);
    });
    if (s.workload.pubsub)
      start_pubsub(options);
  }

  run_report execute();

private:
  // PubSub (the rest of them in the PubSub section below).
  void start_pubsub(const run_options& options);
  bool begin_pubsub_fault(planned_fault& f);
  bool end_pubsub_fault(planned_fault& f);
  void apply_broker_state(const std::string& backend);
  void settle_pubsub();
  void judge_pubsub(const oracle_spec& o);

  // Planning.
  void plan_faults();
  void plan_random_faults();
  void add_processes(int64_t count, int64_t from_ms, int64_t until_ms);

  // The workload.
  void submit(process& p);
  /// When a client calls next, by (virtual ms, process id): an entry is
  /// current while the process is not waiting and still due then.
  using due_entry = std::pair<int64_t, int64_t>;
  void schedule(const process& p);
  bool current(const due_entry& e) const;
  model::operation make_operation(process& p, kv_operation& op);
  const std::string& pick_key(process& p);
  void collect();
  void record_answer(const answer& a);

  // Faults.
  void begin_fault(planned_fault& f);
  void end_fault(planned_fault& f);
  void apply_backend_state(const std::string& backend);
  void kill(planned_fault& f);
  void reload(planned_fault& f);
  void crash(planned_fault& f);
  void restart(planned_fault& f);
  void note_fault(const planned_fault& f, const std::string& what);

  // Phases.
  void run_workload();
  void drain();
  void read_back();
  void advance_to(int64_t t);
  void observe_mailboxes();
  void observe_supervisors();
  void observe_supervisor(const actor_record& a);
  std::map<std::string, uint64_t> tree_shape();
  void settle(int64_t settle_ms);
  void judge();

  const scenario& s_;
  uint64_t seed_;
  run_options options_;
  const run_watcher& watch_;
  deterministic_gateway g_;
  uint64_t workload_seed_;
  /// The config a gateway starting now reads (reloads change it).
  config::gateway_config running_config_;
  std::string backend_;
  run_report report_;
  std::vector<std::string> keys_;
  std::vector<double> zipf_cdf_;
  std::vector<process> processes_;
  std::priority_queue<due_entry, std::vector<due_entry>, std::greater<>> due_;
  std::vector<planned_fault> faults_;
  std::vector<bool> began_;
  std::vector<bool> ended_;
  std::unordered_map<std::string, size_t> op_of_;
  size_t answers_seen_ = 0;
  uint64_t next_index_ = 1;
  uint64_t unanswered_ = 0;
  // A deadline storm in progress: calls left, their deadline, its fault.
  uint64_t storm_left_ = 0;
  int64_t storm_deadline_ms_ = 0;
  planned_fault* storm_ = nullptr;
  // Client cancellations in progress: calls left, and their fault.
  uint64_t cancel_left_ = 0;
  planned_fault* cancel_ = nullptr;
  std::map<std::string, mailbox_figures> mailboxes_;
  /// The record of every actor that ran, kept past its end so that its last
  /// figures stay readable; and those of the supervisors (of the running
  /// gateway: a new process reuses actor ids).
  std::vector<actor_record_ptr> records_;
  std::vector<actor_record_ptr> supervisor_records_;
  /// Every supervisor seen, by actor id, with the restart count last seen.
  struct supervisor_seen {
    supervisor_figures figures;
    uint64_t restarts = 0;
  };
  std::map<uint64_t, supervisor_seen> supervisors_;
  /// Supervisors of gateways that crashed (their actor ids are reused).
  std::vector<supervisor_figures> retired_supervisors_;
  std::map<std::string, uint64_t> steady_shape_;
  std::map<std::string, uint64_t> settled_shape_;
  /// What the faults have told each simulated backend to do.
  struct backend_state {
    bool holding = false;
    bool down = false;
    bool crashing = false;
    bool duplicating = false;
    int64_t latency_ms = 0;
    int64_t jitter_ms = 0;
    std::optional<status_code> failing;
  };
  std::map<std::string, backend_state> backend_states_;
  backend_state wanted_state(const std::string& name,
                             const planned_fault*& latency) const;
  std::set<status_code> injected_codes_;
  /// A PubSub workload's streams and calls (declared after the gateway:
  /// it goes first).
  std::unique_ptr<pubsub_workload> pubsub_;
};

// --- planning --------------------------------------------------------------

void simulation_run::add_processes(int64_t count, int64_t from_ms,
                                   int64_t until_ms) {
  auto clients = static_cast<int64_t>(s_.workload.clients);
  for (int64_t i = 0; i < count; ++i) {
    process p;
    p.id = static_cast<int64_t>(processes_.size());
    p.session = "client-" + std::to_string(p.id % clients);
    p.from_ms = from_ms;
    p.until_ms = until_ms;
    p.rng.seed(child_seed(workload_seed_, std::to_string(p.id)));
    if (s_.workload.loop == loop_kind::closed)
      p.next_ms
        = from_ms + static_cast<int64_t>(p.rng() % s_.workload.think_ms);
    else
      p.next_ms = from_ms
        + static_cast<int64_t>(unit(p.rng) * 1000.0 / s_.workload.rate_per_s);
    processes_.push_back(std::move(p));
    schedule(processes_.back());
  }
}

void simulation_run::schedule(const process& p) {
  auto at = std::max(p.next_ms, p.from_ms);
  if (!p.waiting && at < p.until_ms)
    due_.emplace(at, p.id);
}

bool simulation_run::current(const due_entry& e) const {
  auto& p = processes_[static_cast<size_t>(e.second)];
  return !p.waiting && std::max(p.next_ms, p.from_ms) == e.first;
}

void simulation_run::plan_random_faults() {
  auto& r = *s_.random;
  auto swarm_seed = child_seed(seed_, "swarm");
  auto faults_seed = child_seed(seed_, "random-faults");
  report_.child_seeds["swarm"] = swarm_seed;
  report_.child_seeds["random-faults"] = faults_seed;
  std::mt19937_64 swarm(swarm_seed);
  std::vector<fault_kind> listed;
  std::vector<fault_kind> on;
  for (auto& [kind, rate] : r.rate_per_s) {
    listed.push_back(kind);
    if ((swarm() & 1) == 0)
      on.push_back(kind);
  }
  if (on.empty() && !listed.empty())
    on.push_back(listed[swarm() % listed.size()]);
  for (auto kind : listed) {
    bool is_on = std::find(on.begin(), on.end(), kind) != on.end();
    (is_on ? report_.random_kinds_on : report_.random_kinds_off)
      .emplace_back(info_of(kind).name);
  }
  std::mt19937_64 rng(faults_seed);
  static const char* actor_kinds[]
    = {"session", "stage", "router", "pool", "connection"};
  // A PubSub workload has no pools or connections in use: as many kinds of
  // its own, so the draws stay the same.
  static const char* pubsub_actor_kinds[]
    = {"session", "stage", "router", "broker", "subscription"};
  for (auto kind : on) {
    auto rate = r.rate_per_s.at(kind);
    if (rate <= 0)
      continue;
    auto& info = info_of(kind);
    int64_t t = r.from_ms;
    while (true) {
      auto gap = -std::log(1.0 - unit(rng)) * 1000.0 / rate;
      t += std::max<int64_t>(1, static_cast<int64_t>(std::ceil(gap)));
      if (t > r.until_ms)
        break;
      planned_fault f;
      f.random = true;
      f.spec.kind = kind;
      f.spec.at_ms = t;
      f.spec.duration_ms = info.lasts ? r.duration_ms : 0;
      f.spec.where = r.where;
      if (info.target == fault_target::backend)
        f.spec.target = backend_;
      else if (info.target == fault_target::actor)
        f.spec.target
          = (s_.workload.pubsub ? pubsub_actor_kinds : actor_kinds)[rng() % 5];
      for (auto& p : info.params) {
        param_value v;
        v.number = p.default_number.value_or(p.min);
        v.text = std::string(p.default_text);
        f.spec.params[std::string(p.name)] = v;
      }
      if (kind == fault_kind::latency) {
        f.spec.params["latency_ms"].number
          = 20 + static_cast<int64_t>(rng() % 180);
        f.spec.params["jitter_ms"].number = static_cast<int64_t>(rng() % 50);
      } else if (kind == fault_kind::connection_crash) {
        f.spec.params["mode"].text = rng() % 2 ? "throw" : "drop";
      }
      faults_.push_back(std::move(f));
    }
  }
}

void simulation_run::plan_faults() {
  for (auto& spec : s_.schedule) {
    planned_fault f;
    f.spec = spec;
    faults_.push_back(std::move(f));
  }
  if (s_.random && !s_.random->rate_per_s.empty())
    plan_random_faults();
  std::stable_sort(faults_.begin(), faults_.end(), [](auto& a, auto& b) {
    return a.spec.at_ms < b.spec.at_ms;
  });
  for (size_t i = 0; i < faults_.size(); ++i)
    faults_[i].id = "f" + std::to_string(i + 1);
  began_.assign(faults_.size(), false);
  ended_.assign(faults_.size(), false);
  add_processes(s_.workload.clients, 0, s_.duration_ms);
  for (auto& f : faults_) {
    if (f.spec.kind == fault_kind::backend_error)
      if (auto code = code_named(f.spec.text("code")))
        injected_codes_.insert(*code);
    if (f.spec.kind == fault_kind::overload)
      add_processes((f.spec.number("factor") - 1) * s_.workload.clients,
                    f.spec.at_ms, f.spec.end_ms());
  }
}

// --- the workload ----------------------------------------------------------

const std::string& simulation_run::pick_key(process& p) {
  if (zipf_cdf_.empty())
    return keys_[p.rng() % keys_.size()];
  auto u = unit(p.rng);
  auto i = std::upper_bound(zipf_cdf_.begin(), zipf_cdf_.end(), u)
    - zipf_cdf_.begin();
  return keys_[std::min<size_t>(static_cast<size_t>(i), keys_.size() - 1)];
}

model::operation simulation_run::make_operation(process& p, kv_operation& op) {
  if (pubsub_)
    return pubsub_->make_operation(p.rng, op);
  auto& mix = s_.workload.mix;
  auto pick = p.rng() % mix.total();
  const uint32_t weights[]
    = {mix.get, mix.set, mix.cas, mix.del, mix.batch_set, mix.scan};
  const op_function functions[] = {op_function::get,       op_function::set,
                                   op_function::cas,       op_function::del,
                                   op_function::batch_set, op_function::scan};
  size_t which = 0;
  for (; which < 5 && pick >= weights[which]; ++which)
    pick -= weights[which];
  op.f = functions[which];
  switch (op.f) {
    case op_function::get: op.key = pick_key(p); return model::get_op{op.key};
    case op_function::set:
      op.key = pick_key(p);
      op.value = op.request_id;
      return model::set_op{op.key, op.value, s_.workload.ttl_ms, {}};
    case op_function::cas: {
      op.key = pick_key(p);
      op.value = op.request_id;
      auto seen = p.seen_versions.find(op.key);
      op.if_version = seen == p.seen_versions.end() ? 0 : seen->second;
      return model::set_op{op.key, op.value, s_.workload.ttl_ms, op.if_version};
    }
    case op_function::del:
      op.key = pick_key(p);
      return model::delete_op{op.key};
    case op_function::batch_set: {
      auto size = std::min<size_t>(s_.workload.batch_size, keys_.size());
      std::set<std::string> chosen;
      model::batch_set_op batch;
      // Distinct keys; a skewed distribution may need a few draws.
      for (size_t tries = 0; chosen.size() < size && tries < size * 16; ++tries)
        chosen.insert(pick_key(p));
      for (auto& key : chosen) {
        auto value = op.request_id + "." + std::to_string(op.entries.size());
        op.entries.emplace_back(key, value);
        batch.entries.push_back(model::entry{key, value, s_.workload.ttl_ms});
      }
      return batch;
    }
    case op_function::scan: {
      op.key = p.rng() % 2 ? pick_key(p) : std::string{};
      model::scan_op scan;
      scan.prefix = "k";
      scan.start_after = op.key;
      scan.limit = s_.workload.scan_limit;
      return scan;
    }
    case op_function::publish:
    case op_function::subscribe: break; // pubsub_workload picks these
  }
  return model::get_op{op.key};
}

void simulation_run::submit(process& p) {
  kv_operation op;
  op.request_id = "c" + std::to_string(p.id) + "-" + std::to_string(p.calls++);
  op.process = p.id;
  auto operation = make_operation(p, op);
  std::optional<int64_t> deadline;
  if (s_.workload.deadline_ms > 0)
    deadline = s_.workload.deadline_ms;
  if (storm_left_ > 0) {
    deadline = storm_deadline_ms_;
    if (--storm_left_ == 0) {
      storm_->ended_ms = g_.now_ms();
      note_fault(*storm_, "end deadline_storm");
      storm_ = nullptr;
    }
  }
  if (cancel_left_ > 0) {
    op.cancelled = true;
    g_.note("fault " + cancel_->id + " client cancels " + op.request_id);
    if (--cancel_left_ == 0) {
      cancel_->ended_ms = g_.now_ms();
      note_fault(*cancel_, "end client_cancel");
      cancel_ = nullptr;
    }
  }
  op.invoke_index = next_index_++;
  op.invoke_ms = g_.now_ms();
  op_of_[op.request_id] = report_.ops.size();
  report_.ops.push_back(op);
  ++unanswered_;
  if (op.f == op_function::subscribe)
    pubsub_->open(report_.ops.back(), p.session);
  else
    g_.submit(op.request_id, s_.workload.ns, std::move(operation), deadline,
              p.session);
  if (op.cancelled && s_.workload.loop == loop_kind::closed) {
    // The client gives up on the call a millisecond in, thinks, calls again.
    p.next_ms = g_.now_ms() + client_cancel_after_ms + s_.workload.think_ms;
  } else if (s_.workload.loop == loop_kind::closed) {
    p.waiting = true;
  } else {
    auto gap = -std::log(1.0 - unit(p.rng)) * 1000.0 / s_.workload.rate_per_s;
    p.next_ms += std::max<int64_t>(1, static_cast<int64_t>(std::ceil(gap)));
  }
  schedule(p);
}

void simulation_run::record_answer(const answer& a) {
  auto i = op_of_.find(a.request_id);
  if (i == op_of_.end())
    return;
  auto& op = report_.ops[i->second];
  if (op.answered())
    return; // a second answer: answered_once counts it
  --unanswered_;
  op.code = a.outcome.status.code;
  op.message = a.outcome.status.message;
  op.complete_index = next_index_++;
  op.complete_ms = a.answered_ms;
  if (pubsub_)
    pubsub_->on_answer(op);
  if (op.cancelled) {
    // The client dropped it: it learns nothing, and no longer waits.
    op.message = "cancelled by its client (the gateway answered "
      + std::string(to_string(*op.code)) + ": " + op.message + ")";
    return;
  }
  process* p = op.final_read || op.resubscribe ? nullptr
                                               : &processes_[op.process];
  if (p && s_.workload.loop == loop_kind::closed) {
    p->waiting = false;
    auto think = static_cast<int64_t>(s_.workload.think_ms);
    p->next_ms = a.answered_ms + think / 2
      + static_cast<int64_t>(p->rng() % (think + 1));
    schedule(*p);
  }
  if (!a.outcome.status.ok())
    return;
  std::map<std::string, uint64_t> seen;
  std::visit(
    [&](const auto& r) {
      using R = std::decay_t<decltype(r)>;
      if constexpr (std::is_same_v<R, model::get_result>) {
        op.found = r.found;
        op.read_value = r.value;
        op.version = r.version;
        seen[op.key] = r.found ? r.version : 0;
      } else if constexpr (std::is_same_v<R, model::set_result>) {
        op.version = r.version;
        seen[op.key] = r.version;
      } else if constexpr (std::is_same_v<R, model::delete_result>) {
        op.existed = r.existed;
        seen[op.key] = 0;
      } else if constexpr (std::is_same_v<R, model::batch_set_result>) {
        op.versions = r.versions;
        for (size_t k = 0; k < op.entries.size() && k < r.versions.size(); ++k)
          seen[op.entries[k].first] = r.versions[k];
      } else if constexpr (std::is_same_v<R, model::scan_result>) {
        op.items = r.items;
        for (auto& item : r.items)
          seen[item.key] = item.version;
      } else if constexpr (std::is_same_v<R, model::publish_result>) {
        op.read_value = r.message_id;
      }
    },
    a.outcome.value);
  if (p)
    for (auto& [key, version] : seen)
      p->seen_versions[key] = version;
}

void simulation_run::collect() {
  auto& answers = g_.answers();
  for (; answers_seen_ < answers.size(); ++answers_seen_)
    record_answer(answers[answers_seen_]);
  observe_supervisors();
}

void simulation_run::observe_supervisors() {
  // Polled after every step for the time of each restart; the mailboxes'
  // high-water marks are running maxima, read once at the end.
  for (auto& record : supervisor_records_) {
    auto known = supervisors_.find(record->id());
    if (known != supervisors_.end() && known->second.figures.ended)
      continue;
    observe_supervisor(*record);
    if (g_.actors().find(record->id()) != record)
      supervisors_.at(record->id()).figures.ended = true;
  }
}

void simulation_run::observe_mailboxes() {
  for (auto& record : records_) {
    auto limit = record->mailbox_limit();
    if (limit == 0)
      continue;
    auto& m
      = mailboxes_[record->kind()
                   + (record->name() != record->kind() ? ":" + record->name()
                                                       : "")];
    m.limit = std::max<uint64_t>(m.limit, limit);
    m.admitted_high_water
      = std::max<uint64_t>(m.admitted_high_water, record->mailbox_high_water());
  }
}

void simulation_run::observe_supervisor(const actor_record& a) {
  auto [i, added] = supervisors_.try_emplace(a.id());
  auto& seen = i->second;
  if (added) {
    seen.figures.label = "supervisor:" + a.name();
    // A pool's supervisor keeps its backend's intensity; the others the
    // runtime's defaults.
    supervisor_options defaults;
    seen.figures.max_restarts = defaults.intensity_max_restarts;
    seen.figures.period_ms
      = std::chrono::duration_cast<std::chrono::milliseconds>(
          defaults.intensity_period)
          .count();
    if (a.name().compare(0, 5, "pool:") == 0) {
      auto b = s_.gateway.backends.find(a.name().substr(5));
      if (b != s_.gateway.backends.end()) {
        seen.figures.max_restarts = b->second.supervision.max_restarts;
        seen.figures.period_ms = b->second.supervision.period_ms;
      }
    }
  }
  for (auto restarts = a.restarts(); seen.restarts < restarts; ++seen.restarts)
    seen.figures.restart_ms.push_back(g_.now_ms());
}

/// The live actors by kind, sessions and subscriptions left out (they come
/// and go with the clients, their streams and their idle timeout).
std::map<std::string, uint64_t> simulation_run::tree_shape() {
  std::map<std::string, uint64_t> shape;
  if (g_.down())
    return shape;
  for (auto& a : g_.actors().snapshot(g_.system().clock().now()))
    if (a.kind != "session" && a.kind != "subscription")
      ++shape[a.kind];
  return shape;
}

// --- faults ----------------------------------------------------------------

void simulation_run::note_fault(const planned_fault& f,
                                const std::string& what) {
  auto line = "fault " + f.id + " " + what;
  if (!f.spec.target.empty())
    line += " " + f.spec.target;
  g_.note(line);
}

/// What the faults going on want of backend `name` (KeyValue or PubSub);
/// `latency` is the fault whose latency wins, if any.
simulation_run::backend_state simulation_run::wanted_state(
  const std::string& name, const planned_fault*& latency) const {
  backend_state want;
  for (size_t i = 0; i < faults_.size(); ++i) {
    auto& f = faults_[i];
    if (!began_[i] || ended_[i] || f.spec.target != name)
      continue;
    switch (f.spec.kind) {
      case fault_kind::hang: want.holding = true; break;
      case fault_kind::outage: want.down = true; break;
      case fault_kind::restart_storm: want.crashing = true; break;
      case fault_kind::broker_duplicate: want.duplicating = true; break;
      case fault_kind::latency:
        if (f.spec.number("latency_ms") >= want.latency_ms) {
          want.latency_ms = f.spec.number("latency_ms");
          want.jitter_ms = f.spec.number("jitter_ms");
          latency = &f;
        }
        break;
      case fault_kind::backend_error:
        if (f.spec.number("count") == 0)
          want.failing = code_named(f.spec.text("code"));
        break;
      default: break;
    }
  }
  return want;
}

void simulation_run::apply_backend_state(const std::string& name) {
  if (g_.has_broker(name)) {
    apply_broker_state(name);
    return;
  }
  const planned_fault* latency = nullptr;
  auto want = wanted_state(name, latency);
  // Only what changes is told to the backend (and so traced). A memory
  // backend does not exist while the gateway is down; the restart tells the
  // new one.
  if (g_.down() && !g_.has_backend(name))
    return;
  auto& have = backend_states_[name];
  auto& b = g_.backend(name);
  if (want.down != have.down)
    b.set_down(want.down);
  if (want.crashing != have.crashing)
    b.set_crashing(want.crashing);
  if (want.jitter_ms != have.jitter_ms)
    b.set_latency_jitter(
      want.jitter_ms,
      child_seed(seed_, "jitter/" + (latency ? latency->id : name)));
  if (want.latency_ms != have.latency_ms)
    b.set_latency(want.latency_ms);
  if (want.failing != have.failing)
    b.set_failing(want.failing);
  if (want.holding != have.holding) {
    b.set_holding(want.holding);
    if (!want.holding)
      b.release_held();
  }
  have = want;
}

void simulation_run::kill(planned_fault& f) {
  if (g_.down()) {
    f.outcome = "nothing to kill: the gateway is down";
    return;
  }
  auto& target = f.spec.target;
  auto colon = target.find(':');
  auto kind = target.substr(0, colon);
  auto name = colon == std::string::npos ? "" : target.substr(colon + 1);
  std::vector<actor_info> candidates;
  for (auto& a : g_.actors().snapshot(g_.system().clock().now())) {
    if (a.kind != kind)
      continue;
    bool match = name.empty() || a.name == name
      || (kind == "connection" && name.find('#') == std::string::npos
          && a.name.compare(0, name.size() + 1, name + "#") == 0);
    if (match)
      candidates.push_back(a);
  }
  std::stable_sort(candidates.begin(), candidates.end(), [](auto& a, auto& b) {
    return std::tie(a.name, a.id) < std::tie(b.name, b.id);
  });
  if (candidates.empty()) {
    f.outcome = "no " + target + " was running";
    return;
  }
  std::mt19937_64 rng(child_seed(seed_, "kill/" + f.id));
  auto& victim = candidates[rng() % candidates.size()];
  auto label
    = victim.kind + (victim.name != victim.kind ? ":" + victim.name : "");
  f.outcome = g_.actors().kill(victim.id, g_.system())
    ? "killed " + label
    : "could not kill " + label;
}

void simulation_run::reload(planned_fault& f) {
  auto& next = f.spec.params.at("config").config;
  if (g_.down()) {
    running_config_ = *next;
    f.outcome = "config file changed while the gateway is down: its next "
                "start reads it";
    g_.note("fault " + f.id + " reload " + f.outcome);
    return;
  }
  auto refused = g_.gw().reload(*next);
  if (refused.empty()) {
    running_config_ = *next;
    f.outcome = "applied";
  } else {
    f.outcome = "refused:";
    for (auto& why : refused)
      f.outcome += " " + why;
  }
  g_.note("fault " + f.id + " reload " + f.outcome);
}

void simulation_run::crash(planned_fault& f) {
  collect();
  g_.crash();
  // Every call in flight dies with the process: its client sees the
  // connection drop and cannot know whether a write was applied.
  uint64_t lost = 0;
  for (auto& op : report_.ops) {
    if (op.answered() || op.final_read)
      continue;
    ++lost;
    op.connection_lost = true;
    op.code = status_code::unavailable;
    op.message = "connection lost: the gateway crashed (fault " + f.id + ")";
    op.complete_index = next_index_++;
    op.complete_ms = g_.now_ms();
    --unanswered_;
  }
  // Clients reconnect and call again once it is back.
  for (auto& p : processes_) {
    p.waiting = false;
    p.next_ms = std::max(p.next_ms, f.spec.end_ms());
    schedule(p);
  }
  for (auto& [id, seen] : supervisors_) {
    seen.figures.ended = true;
    retired_supervisors_.push_back(seen.figures);
  }
  supervisors_.clear();
  supervisor_records_.clear();
  f.outcome = "crashed with " + std::to_string(lost) + " calls in flight";
}

void simulation_run::restart(planned_fault& f) {
  g_.restart(running_config_);
  // Memory backends came back empty and without faults; tell every backend
  // again what the faults still going on want of it.
  for (auto& [name, b] : running_config_.backends)
    if (b.type == config::backend_type::memory)
      backend_states_.erase(name);
  for (auto& [name, b] : running_config_.backends)
    if (g_.has_backend(name))
      apply_backend_state(name);
  f.outcome += "; restarted at " + std::to_string(g_.now_ms()) + " ms";
  collect();
}

void simulation_run::begin_fault(planned_fault& f) {
  auto index = static_cast<size_t>(&f - faults_.data());
  began_[index] = true;
  ++report_.faults_by_kind[std::string(info_of(f.spec.kind).name)];
  auto& info = info_of(f.spec.kind);
  note_fault(f,
             std::string(info.lasts ? "begin " : "at ") + std::string(info.name)
               + params_text(f.spec) + (f.random ? " (random)" : ""));
  if (begin_pubsub_fault(f))
    return;
  switch (f.spec.kind) {
    case fault_kind::backend_error: {
      auto count = f.spec.number("count");
      if (count > 0)
        g_.backend(f.spec.target)
          .fail_next(
            static_cast<uint32_t>(count),
            code_named(f.spec.text("code")).value_or(status_code::unavailable));
      apply_backend_state(f.spec.target);
      break;
    }
    case fault_kind::latency:
    case fault_kind::hang:
    case fault_kind::outage:
    case fault_kind::restart_storm: apply_backend_state(f.spec.target); break;
    case fault_kind::connection_crash: {
      auto count = static_cast<uint32_t>(f.spec.number("count"));
      auto& b = g_.backend(f.spec.target);
      if (f.spec.text("mode") == "throw")
        b.throw_next(count);
      else
        b.drop_next(count);
      break;
    }
    case fault_kind::commit_unknown:
      g_.backend(f.spec.target)
        .commit_unknown_next(static_cast<uint32_t>(f.spec.number("count")));
      break;
    case fault_kind::clock_jump:
      g_.jump_backend_clock_ms(f.spec.number("ms"));
      break;
    case fault_kind::reload: reload(f); break;
    case fault_kind::gateway_crash: crash(f); break;
    case fault_kind::kill:
      kill(f);
      g_.note("fault " + f.id + " " + f.outcome);
      break;
    case fault_kind::deadline_storm:
      if (storm_) {
        storm_->ended_ms = g_.now_ms();
        note_fault(*storm_, "end deadline_storm (superseded)");
      }
      storm_left_ = static_cast<uint64_t>(f.spec.number("count"));
      storm_deadline_ms_ = f.spec.number("deadline_ms");
      storm_ = &f;
      break;
    case fault_kind::overload: break; // its processes are planned
    case fault_kind::slow_subscriber:
    case fault_kind::broker_duplicate: break; // begin_pubsub_fault
    case fault_kind::client_cancel:
      if (cancel_) {
        cancel_->ended_ms = g_.now_ms();
        note_fault(*cancel_, "end client_cancel (superseded)");
      }
      cancel_left_ = static_cast<uint64_t>(f.spec.number("count"));
      cancel_ = &f;
      if (pubsub_ && f.spec.number("streams") > 0) {
        f.outcome = "cancelled streams "
          + pubsub_->cancel(f.id,
                            static_cast<uint32_t>(f.spec.number("streams")),
                            child_seed(seed_, "cancel/" + f.id));
        g_.note("fault " + f.id + " " + f.outcome);
      }
      break;
  }
  if (!info.lasts && f.spec.kind != fault_kind::deadline_storm
      && f.spec.kind != fault_kind::client_cancel) {
    ended_[index] = true;
    f.ended_ms = g_.now_ms();
  }
}

void simulation_run::end_fault(planned_fault& f) {
  auto index = static_cast<size_t>(&f - faults_.data());
  ended_[index] = true;
  f.ended_ms = g_.now_ms();
  note_fault(f, "end " + std::string(info_of(f.spec.kind).name));
  if (f.spec.kind == fault_kind::gateway_crash)
    restart(f);
  if (end_pubsub_fault(f))
    return;
  if (info_of(f.spec.kind).target == fault_target::backend) {
    if (f.spec.kind == fault_kind::backend_error && f.spec.number("count") > 0)
      g_.backend(f.spec.target).fail_next(0);
    apply_backend_state(f.spec.target);
  }
}

// --- PubSub ----------------------------------------------------------------

void simulation_run::start_pubsub(const run_options& options) {
  pubsub_workload::hooks h;
  h.record_call = [this](kv_operation& op) {
    op.invoke_index = next_index_++;
    op.invoke_ms = g_.now_ms();
    op_of_[op.request_id] = report_.ops.size();
    report_.ops.push_back(op);
    ++unanswered_;
  };
  h.take_indexes = [this](uint64_t count) {
    auto first = next_index_;
    next_index_ += count;
    return first;
  };
  pubsub_ = std::make_unique<pubsub_workload>(s_, g_, std::move(h));
  bool drops = std::find(options.planted.begin(), options.planted.end(),
                         "subscription_drops_on_reconnect")
    != options.planted.end();
  for (auto& [name, b] : s_.gateway.backends)
    if (drops && g_.has_broker(name)) {
      g_.broker(name).plant_drops_on_reconnect(true);
      g_.note("planted subscription_drops_on_reconnect in " + name);
    }
}

bool simulation_run::begin_pubsub_fault(planned_fault& f) {
  if (f.spec.kind == fault_kind::slow_subscriber) {
    f.outcome = pubsub_ ? "held "
        + pubsub_->hold(f.id, static_cast<uint32_t>(f.spec.number("count")),
                        child_seed(seed_, "slow/" + f.id))
                        : "no PubSub workload";
    g_.note("fault " + f.id + " " + f.outcome);
    return true;
  }
  if (f.spec.target.empty() || !g_.has_broker(f.spec.target))
    return false;
  auto& b = g_.broker(f.spec.target);
  switch (f.spec.kind) {
    case fault_kind::backend_error:
      if (auto count = f.spec.number("count"); count > 0)
        b.fail_next(
          static_cast<uint32_t>(count),
          code_named(f.spec.text("code")).value_or(status_code::unavailable));
      apply_broker_state(f.spec.target);
      break;
    case fault_kind::commit_unknown: {
      b.commit_unknown_next(static_cast<uint32_t>(f.spec.number("count")));
      auto index = static_cast<size_t>(&f - faults_.data());
      ended_[index] = true;
      f.ended_ms = g_.now_ms();
      break;
    }
    default: apply_broker_state(f.spec.target); break;
  }
  return true;
}

bool simulation_run::end_pubsub_fault(planned_fault& f) {
  if (f.spec.kind == fault_kind::slow_subscriber) {
    if (pubsub_)
      pubsub_->release(f.id);
    return true;
  }
  if (f.spec.target.empty() || !g_.has_broker(f.spec.target))
    return false;
  if (f.spec.kind == fault_kind::backend_error && f.spec.number("count") > 0)
    g_.broker(f.spec.target).fail_next(0);
  apply_broker_state(f.spec.target);
  return true;
}

void simulation_run::apply_broker_state(const std::string& name) {
  const planned_fault* latency = nullptr;
  auto want = wanted_state(name, latency);
  // Only what changes is told to the backend (and so traced).
  auto& have = backend_states_[name];
  auto& b = g_.broker(name);
  if (want.down != have.down)
    b.set_down(want.down);
  if (want.jitter_ms != have.jitter_ms)
    b.set_latency_jitter(
      want.jitter_ms,
      child_seed(seed_, "jitter/" + (latency ? latency->id : name)));
  if (want.latency_ms != have.latency_ms)
    b.set_latency(want.latency_ms);
  if (want.failing != have.failing)
    b.set_failing(want.failing);
  if (want.holding != have.holding)
    b.set_holding(want.holding);
  if (want.duplicating != have.duplicating)
    b.set_duplicating(want.duplicating);
  have = want;
}

void simulation_run::settle_pubsub() {
  g_.note("phase pubsub-settle");
  auto limit = g_.now_ms() + pubsub_settle_ms_max;
  auto& broker = g_.broker(backend_);
  auto quiet = [&] {
    return pubsub_->settled() && broker.backlog() == 0;
  };
  g_.run();
  collect();
  while (!quiet() && g_.now_ms() < limit) {
    pubsub_->resubscribe_due(g_.now_ms());
    g_.run();
    collect();
    if (quiet())
      break;
    auto next = g_.now_ms() + pubsub_settle_step_ms;
    if (auto timer = g_.next_timer_in_ms())
      next = std::min(next, g_.now_ms() + std::max<int64_t>(*timer, 1));
    if (auto due = pubsub_->next_due_ms())
      next = std::min(next, std::max(*due, g_.now_ms() + 1));
    advance_to(std::min(next, limit));
    collect();
  }
  pubsub_->stop_resubscribing();
  g_.note("pubsub " + std::string(quiet() ? "settled" : "still owes messages")
          + " backlog=" + std::to_string(broker.backlog()));
}

void simulation_run::judge_pubsub(const oracle_spec& o) {
  static const std::vector<subscriber_stream> no_streams;
  static const std::vector<delivery> no_deliveries;
  auto& streams = pubsub_ ? pubsub_->streams() : no_streams;
  auto& deliveries = pubsub_ ? pubsub_->deliveries() : no_deliveries;
  auto model = pubsub_model::kafka;
  uint32_t partitions = 1;
  if (pubsub_) {
    auto& b = s_.gateway.backends.at(backend_);
    model = model_of(b);
    partitions = b.kafka.partitions;
  }
  switch (o.kind) {
    case oracle_kind::no_lost_publish:
      report_.verdicts.push_back(
        check_no_lost_publish(report_.ops, streams, deliveries, model));
      break;
    case oracle_kind::pubsub_order:
      report_.verdicts.push_back(check_pubsub_order(
        report_.ops, streams, deliveries, model, partitions));
      break;
    case oracle_kind::pubsub_duplicates:
      report_.verdicts.push_back(
        check_pubsub_duplicates(streams, deliveries, model));
      break;
    default: break;
  }
}

// --- phases ----------------------------------------------------------------

void simulation_run::advance_to(int64_t t) {
  if (t > g_.now_ms())
    g_.advance_ms(t - g_.now_ms());
}

void simulation_run::run_workload() {
  g_.note("phase workload");
  while (true) {
    collect();
    auto now = g_.now_ms();
    for (size_t i = 0; i < faults_.size(); ++i)
      if (began_[i] && !ended_[i] && info_of(faults_[i].spec.kind).lasts
          && faults_[i].spec.end_ms() <= now)
        end_fault(faults_[i]);
    for (size_t i = 0; i < faults_.size(); ++i)
      if (!began_[i] && faults_[i].spec.at_ms <= now)
        begin_fault(faults_[i]);
    if (now >= s_.duration_ms)
      break;
    // Clients whose time has come call, earliest first (then by number);
    // an open-loop client may call several times in one step.
    while (!g_.down() && !due_.empty() && due_.top().first <= now) {
      auto entry = due_.top();
      due_.pop();
      if (current(entry))
        submit(processes_[static_cast<size_t>(entry.second)]);
    }
    if (pubsub_)
      pubsub_->resubscribe_due(now);
    g_.run();
    collect();
    int64_t next = s_.duration_ms;
    for (size_t i = 0; i < faults_.size(); ++i) {
      auto& f = faults_[i];
      if (!began_[i])
        next = std::min(next, std::max(f.spec.at_ms, now + 1));
      else if (!ended_[i] && info_of(f.spec.kind).lasts)
        next = std::min(next, std::max(f.spec.end_ms(), now + 1));
    }
    while (!due_.empty() && !current(due_.top()))
      due_.pop();
    if (!due_.empty())
      next = std::min(next, std::max(due_.top().first, now + 1));
    if (auto timer = g_.next_timer_in_ms())
      next = std::min(next, now + std::max<int64_t>(*timer, 1));
    if (auto due = pubsub_ ? pubsub_->next_due_ms() : std::nullopt)
      next = std::min(next, std::max(*due, now + 1));
    advance_to(next);
  }
  // A gateway still down when the workload ends starts again for the
  // drain and the final reads.
  for (size_t i = 0; i < faults_.size(); ++i)
    if (began_[i] && !ended_[i]
        && faults_[i].spec.kind == fault_kind::gateway_crash)
      end_fault(faults_[i]);
  if (storm_) {
    storm_->ended_ms = g_.now_ms();
    note_fault(*storm_, "end deadline_storm (run over)");
    storm_ = nullptr;
  }
  if (cancel_) {
    cancel_->ended_ms = g_.now_ms();
    note_fault(*cancel_, "end client_cancel (run over)");
    cancel_ = nullptr;
  }
}

void simulation_run::drain() {
  g_.note("phase drain");
  auto limit = g_.now_ms() + drain_ms_max;
  g_.run();
  collect();
  while (unanswered_ > 0 && g_.now_ms() < limit) {
    auto timer = g_.next_timer_in_ms();
    if (!timer)
      break;
    advance_to(std::min(limit, g_.now_ms() + std::max<int64_t>(*timer, 1)));
    collect();
  }
}

void simulation_run::read_back() {
  g_.note("phase final-reads");
  auto reader = static_cast<int64_t>(processes_.size());
  for (auto& key : keys_) {
    for (int attempt = 0; attempt < final_read_attempts_max; ++attempt) {
      kv_operation op;
      op.request_id = "final-" + key + "-" + std::to_string(attempt);
      op.process = reader;
      op.f = op_function::get;
      op.key = key;
      op.final_read = true;
      op.invoke_index = next_index_++;
      op.invoke_ms = g_.now_ms();
      auto index = report_.ops.size();
      op_of_[op.request_id] = index;
      report_.ops.push_back(op);
      ++unanswered_;
      g_.submit(op.request_id, s_.workload.ns, model::get_op{key}, {},
                "final-reader");
      g_.run();
      collect();
      auto limit = g_.now_ms() + final_read_wait_ms_max;
      while (!report_.ops[index].answered() && g_.now_ms() < limit) {
        auto timer = g_.next_timer_in_ms();
        if (!timer)
          break;
        advance_to(g_.now_ms() + std::max<int64_t>(*timer, 1));
        collect();
      }
      if (report_.ops[index].code == status_code::ok)
        break;
      advance_to(g_.now_ms() + final_read_retry_ms);
      collect();
    }
  }
}

void simulation_run::settle(int64_t settle_ms) {
  g_.note("phase settle");
  auto limit = g_.now_ms() + settle_ms;
  collect();
  settled_shape_ = tree_shape();
  while (settled_shape_ != steady_shape_ && g_.now_ms() < limit) {
    auto timer = g_.next_timer_in_ms();
    if (!timer)
      break;
    advance_to(std::min(limit, g_.now_ms() + std::max<int64_t>(*timer, 1)));
    collect();
    settled_shape_ = tree_shape();
  }
}

void simulation_run::judge() {
  observe_mailboxes();
  std::map<std::string, int> answers;
  for (auto& a : g_.answers())
    ++answers[a.request_id];
  // The mailbox figures: what CAF's own mailboxes held, by the labels the
  // inspector gives (a restarted actor's "#2" folded into the first).
  for (auto& [label, depth] : g_.max_mailbox_depths()) {
    auto base = label;
    while (mailboxes_.count(base) == 0) {
      auto hash = base.rfind('#');
      if (hash == std::string::npos)
        break;
      base = base.substr(0, hash);
    }
    auto i = mailboxes_.find(base);
    if (i != mailboxes_.end())
      i->second.depth_max = std::max<uint64_t>(i->second.depth_max, depth);
  }
  uint64_t window = s_.gateway.server.session_max_in_flight;
  uint64_t in_flight_max = window * s_.workload.clients;
  auto& ns = s_.gateway.namespaces.at(s_.workload.ns);
  for (auto& [label, m] : mailboxes_) {
    bool session = label.compare(0, 8, "session:") == 0;
    m.reply_allowance = session ? window : in_flight_max;
    if (label.compare(0, 6, "stage:") == 0) {
      auto kind = config::stage_kind_named(label.substr(6));
      if (kind && !config::refuses_calls(*kind, ns.audit_required))
        m.admission_allowance = in_flight_max;
    }
  }
  for (auto& o : s_.oracles) {
    switch (o.kind) {
      case oracle_kind::answered_once:
        report_.verdicts.push_back(
          check_answered_once(report_.ops, answers, injected_codes_));
        break;
      case oracle_kind::no_lost_writes:
        report_.verdicts.push_back(
          check_no_lost_writes(report_.ops, s_.durable()));
        break;
      case oracle_kind::linearizable:
        report_.verdicts.push_back(check_linearizable(
          report_.ops, static_cast<uint64_t>(o.threshold("max_states"))));
        break;
      case oracle_kind::mailbox_bounded:
        report_.verdicts.push_back(check_mailbox_bounded(
          mailboxes_, static_cast<uint64_t>(o.threshold("slack_messages"))));
        break;
      case oracle_kind::recovery: {
        recovery_settings settings;
        settings.within_ms = static_cast<int64_t>(o.threshold("within_ms"));
        settings.success_rate = o.threshold("success_rate");
        settings.window_ms = static_cast<int64_t>(o.threshold("window_ms"));
        settings.min_calls = static_cast<uint64_t>(o.threshold("min_calls"));
        report_.verdicts.push_back(
          check_recovery(report_.ops, report_.faults_end_ms, settings));
        break;
      }
      case oracle_kind::supervision: {
        std::vector<supervisor_figures> sups;
        sups = retired_supervisors_;
        for (auto& [id, seen] : supervisors_)
          sups.push_back(seen.figures);
        report_.verdicts.push_back(
          check_supervision(sups, steady_shape_, settled_shape_));
        break;
      }
      case oracle_kind::no_lost_publish:
      case oracle_kind::pubsub_order:
      case oracle_kind::pubsub_duplicates: judge_pubsub(o); break;
    }
  }
}

run_report simulation_run::execute() {
  auto wall_start = std::chrono::steady_clock::now();
  report_.scenario_name = s_.name;
  report_.scenario_file = s_.file;
  report_.scenario_sha256 = s_.sha256;
  report_.seed = seed_;
  report_.planted = options_.planted;
  plan_faults();
  g_.note("scenario " + s_.name + " seed " + std::to_string(seed_));
  for (auto& f : faults_)
    g_.note("plan " + f.id + " " + std::string(info_of(f.spec.kind).name)
            + " at " + std::to_string(f.spec.at_ms) + "ms"
            + (f.spec.duration_ms
                 ? " for " + std::to_string(f.spec.duration_ms) + "ms"
                 : "")
            + (f.spec.target.empty() ? "" : " on " + f.spec.target)
            + (f.random ? " (random)" : ""));
  for (auto& name : options_.planted) {
    g_.note("planted defect " + name);
    if (auto* defect = defect_named(name); defect && defect->plant)
      defect->plant(g_, s_);
  }
  g_.run();
  collect();
  steady_shape_ = tree_shape();
  run_workload();
  drain();
  if (pubsub_)
    settle_pubsub();
  else
    read_back();
  if (auto* o = s_.oracle(oracle_kind::supervision))
    settle(static_cast<int64_t>(o->threshold("settle_ms")));
  // The trace is complete: a watcher sees the end of the run.
  if (watch_)
    watch_(g_, true);
  for (auto& f : faults_)
    report_.faults_end_ms = std::max(report_.faults_end_ms, f.ended_ms);
  for (auto& op : report_.ops) {
    if (op.final_read)
      continue;
    if (op.code)
      ++report_.calls_by_code[std::string(to_string(*op.code))];
    else
      ++report_.calls_unanswered;
  }
  auto judge_start = std::chrono::steady_clock::now();
  report_.wall_simulate_ms
    = std::chrono::duration_cast<std::chrono::milliseconds>(judge_start
                                                            - wall_start)
        .count();
  judge();
  report_.wall_judge_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - judge_start)
                            .count();
  if (pubsub_) {
    report_.streams = pubsub_->streams();
    report_.deliveries = pubsub_->deliveries();
  }
  report_.faults = faults_;
  report_.virtual_ms = g_.now_ms();
  report_.trace = g_.trace();
  for (auto& line : report_.trace)
    if (line.compare(0, 4, "run ") == 0)
      ++report_.actor_messages;
  report_.wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - wall_start)
                      .count();
  return std::move(report_);
}

} // namespace

uint64_t child_seed(uint64_t seed, std::string_view component) {
  // FNV-1a of the name, mixed with the seed.
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : component) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return splitmix64(seed ^ splitmix64(h));
}

bool run_report::passed() const {
  return first_failure() == nullptr;
}

const oracle_result* run_report::first_failure() const {
  for (auto& v : verdicts)
    if (v.outcome == verdict::failed)
      return &v;
  return nullptr;
}

std::string run_report::trace_text() const {
  std::string text;
  for (auto& line : trace)
    text.append(line).append("\n");
  return text;
}

run_report run_scenario(const scenario& s, uint64_t seed) {
  return run_scenario(s, seed, run_options{});
}

run_report run_scenario(const scenario& s, uint64_t seed,
                        const run_options& options) {
  return run_scenario(s, seed, options, run_watcher{});
}

run_report run_scenario(const scenario& s, uint64_t seed,
                        const run_options& options, const run_watcher& watch) {
  if (auto error = check_defect_names(options.planted); !error.empty())
    throw std::invalid_argument(error);
  simulation_run run(s, seed, options, watch);
  return run.execute();
}

} // namespace prism::simulation
