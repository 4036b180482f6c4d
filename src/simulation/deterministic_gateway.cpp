#include "simulation/deterministic_gateway.hpp"

#include <algorithm>
#include <stdexcept>

#include <caf/atom.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/type_nr.hpp>

#include "model/validate.hpp"
#include "runtime/call.hpp"

namespace prism::simulation {

namespace {

class recording_completion final : public call_completion {
public:
  recording_completion(std::shared_ptr<std::vector<answer>> answers,
                       std::shared_ptr<std::vector<std::string>> trace,
                       std::string request_id, std::shared_ptr<int64_t> now,
                       std::shared_ptr<bool> alive)
    : answers_(std::move(answers)), trace_(std::move(trace)),
      request_id_(std::move(request_id)), now_(std::move(now)),
      alive_(std::move(alive)), submitted_ms_(*now_) {}

  void complete(model::outcome&& result) override {
    if (!*alive_) {
      trace_->push_back("lost " + request_id_ + " "
                        + std::string(to_string(result.status.code))
                        + " (its gateway crashed)");
      return;
    }
    trace_->push_back("answer " + request_id_ + " "
                      + std::string(to_string(result.status.code)));
    answers_->push_back(
      answer{request_id_, std::move(result), submitted_ms_, *now_});
  }

private:
  std::shared_ptr<std::vector<answer>> answers_;
  std::shared_ptr<std::vector<std::string>> trace_;
  std::string request_id_;
  std::shared_ptr<int64_t> now_;
  std::shared_ptr<bool> alive_;
  int64_t submitted_ms_;
};

std::string describe_operation(const model::operation& op) {
  std::string text{model::operation_name(op)};
  auto key = model::primary_key(op);
  if (!key.empty())
    text.append(" ").append(key);
  return text;
}

/// One element of a message, without anything that differs between runs
/// (actor addresses carry node ids, so system messages give only their type).
std::string describe_element(const caf::type_erased_tuple& content, size_t i) {
  if (content.match_element<caf::atom_value>(i))
    return caf::to_string(content.get_as<caf::atom_value>(i));
  if (content.match_element<call_ptr>(i)) {
    auto& call = content.get_as<call_ptr>(i);
    return call ? call->context.request_id : "null-call";
  }
  if (content.match_element<call_batch>(i)) {
    std::string ids;
    for (auto& call : content.get_as<call_batch>(i).calls)
      ids += (ids.empty() ? "" : ",")
        + (call ? call->context.request_id : std::string("null-call"));
    return ids;
  }
  if (content.match_element<model::outcome>(i))
    return std::string(
      to_string(content.get_as<model::outcome>(i).status.code));
  if (content.match_element<uint64_t>(i))
    return std::to_string(content.get_as<uint64_t>(i));
  if (content.match_element<uint32_t>(i))
    return std::to_string(content.get_as<uint32_t>(i));
  if (content.match_element<std::string>(i))
    return content.get_as<std::string>(i);
  // An actor handle (e.g. a supervisor announcing a restarted child): its
  // address holds ids that differ between runs, so only say what it is.
  if (content.match_element<caf::actor>(i))
    return content.get_as<caf::actor>(i) ? "actor" : "null-actor";
  auto nr = content.type(i).first;
  if (nr != 0)
    return caf::numbered_type_names[nr - 1];
  return "?";
}

drivers::driver_factory observed_sim_factory(
  std::shared_ptr<simulation::sim_backends> backends,
  std::shared_ptr<drivers::manual_clock> clock,
  std::shared_ptr<std::vector<std::string>> trace) {
  auto make = simulation::make_sim_driver_factory(backends, std::move(clock));
  return [make, backends, trace](const config::backend& cfg, uint32_t index) {
    auto driver = make(cfg, index);
    auto& backend = *(*backends)[cfg.name];
    if (!backend.has_observer())
      backend.set_observer(
        [trace, prefix = "sim " + cfg.name + " "](const std::string& event) {
          trace->push_back(prefix + event);
        });
    return driver;
  };
}

} // namespace

void recording_sink::subscribed() {
  is_subscribed = true;
  if (on_subscribed)
    on_subscribed();
}

void recording_sink::write(const model::message& m,
                           std::function<void(bool)> done) {
  received.push_back(m);
  if (on_write)
    on_write(m);
  if (hold) {
    pending_ = std::move(done);
    return;
  }
  done(true);
}

void recording_sink::finish(const status& st) {
  if (finished)
    return;
  finished = st;
  if (on_finish)
    on_finish(st);
}

void recording_sink::on_cancel(std::function<void()> fn) {
  cancel_fn_ = std::move(fn);
  if (cancelled_)
    cancel_fn_();
}

void recording_sink::cancel() {
  cancelled_ = true;
  if (cancel_fn_)
    cancel_fn_();
}

bool recording_sink::release_one() {
  if (!pending_)
    return false;
  auto done = std::move(pending_);
  pending_ = nullptr;
  done(true);
  return true;
}

config::gateway_config parse_config(const std::string& yaml) {
  auto result = config::parse(yaml, "test.yaml");
  if (!result.ok()) {
    std::string text = "test config has problems:";
    for (auto& p : result.problems)
      text += "\n  " + config::format(p);
    throw std::runtime_error(text);
  }
  return *result.config;
}

deterministic_gateway::deterministic_gateway(
  const config::gateway_config& cfg, std::optional<uint64_t> seed,
  drivers::pubsub_driver_factory pubsub)
  : clock_(std::make_shared<drivers::manual_clock>()),
    backends_(std::make_shared<simulation::sim_backends>()),
    brokers_(std::make_shared<simulation::sim_brokers>()),
    audit_(std::make_shared<recording_audit_sink>()),
    answers_(std::make_shared<std::vector<answer>>()),
    pubsub_(std::move(pubsub)), seed_(seed),
    trace_(std::make_shared<std::vector<std::string>>()) {
  if (seed_) {
    rng_.emplace(*seed_);
    trace_->push_back("seed " + std::to_string(*seed_));
  } else {
    trace_->push_back("seed none (fifo)");
  }
  if (!pubsub_)
    pubsub_ = simulation::make_sim_pubsub_factory(
      brokers_, clock_, [trace = trace_](simulation::sim_broker& b) {
        b.set_observer(
          [trace, prefix = "sim " + b.name() + " "](const std::string& event) {
            trace->push_back(prefix + event);
          });
      });
  start(cfg, std::nullopt);
}

void deterministic_gateway::start(
  const config::gateway_config& cfg,
  std::optional<caf::actor_clock::time_point> now) {
  config_backends_.clear();
  for (auto& [name, b] : cfg.backends)
    config_backends_[name] = b.type;
  sys_cfg_ = std::make_unique<caf::actor_system_config>();
  sys_cfg_->set("scheduler.policy", caf::atom("testing"));
  actors_ = std::make_unique<inspector>();
  sys_ = std::make_unique<caf::actor_system>(*sys_cfg_);
  sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
  if (now)
    sched_->clock().current_time = *now;
  gateway_ = std::make_unique<gateway>(
    *sys_, cfg, observed_sim_factory(backends_, clock_, trace_), audit_,
    actors_.get(), clock_, pubsub_);
  run();
}

void deterministic_gateway::crash() {
  if (down())
    throw std::logic_error("the simulated gateway is already down");
  trace_->push_back("crash gateway");
  // Tearing the old tree down fires its timers, which moves the test clock;
  // the next process starts from the moment of the crash.
  down_clock_ = sched_->clock().current_time;
  *alive_ = false;
  alive_ = std::make_shared<bool>(true);
  // Calls an interceptor holds belong to the dying process.
  for (auto& hook : interceptors_)
    hook->gateway_crashed();
  // Nothing the dying process still holds reaches a backend: tearing its
  // actors down must not let a queued write slip through.
  for (auto& [name, backend] : *backends_)
    backend->set_frozen(true);
  stop_actors();
  for (auto& [name, backend] : *backends_) {
    backend->discard_in_flight();
    backend->set_frozen(false);
  }
  for (auto& [name, b] : config_backends_)
    if (b == config::backend_type::memory)
      backends_->erase(name);
  for (auto& [label, depth] : max_mailbox_depths())
    retired_depths_[label] = std::max(retired_depths_[label], depth);
  max_depth_.clear();
  labels_.clear();
  label_counts_.clear();
  sys_.reset();
  sched_ = nullptr;
  actors_ = std::make_unique<inspector>();
  ++crashes_;
  down_ = true;
  between_events();
}

void deterministic_gateway::restart(const config::gateway_config& cfg) {
  if (!down())
    throw std::logic_error("the simulated gateway is running");
  trace_->push_back("restart gateway");
  down_ = false;
  start(cfg, down_clock_);
}

deterministic_gateway::~deterministic_gateway() {
  // Tearing down is not part of the run, and whoever watched it may be gone
  // (a run stopped early still has actors that never ran).
  between_events_ = nullptr;
  new_actor_ = nullptr;
  // What an interceptor still holds goes while the actors can hear of it.
  interceptors_.clear();
  if (!down())
    stop_actors();
}

void deterministic_gateway::stop_actors() {
  gateway_->stop();
  run();
  gateway_.reset();
  // Pending timers (idle ticks, sweeps) would keep actors alive forever under
  // virtual time; fire them until everything has ended.
  for (int i = 0;
       i < 100 && (sched_->has_job() || sched_->has_pending_timeout()); ++i) {
    sched_->trigger_timeouts();
    run();
  }
}

void deterministic_gateway::submit(const std::string& request_id,
                                   const std::string& ns, model::operation op,
                                   std::optional<int64_t> deadline_ms,
                                   const std::string& client,
                                   const std::string& principal) {
  if (down())
    throw std::logic_error("submit while the simulated gateway is down");
  request_context rc;
  rc.request_id = request_id;
  rc.ns = ns;
  rc.peer = client;
  rc.principal = principal;
  if (deadline_ms)
    rc.deadline = sys_->clock().now() + std::chrono::milliseconds(*deadline_ms);
  auto rejection = model::validate_request(ns, op);
  trace_->push_back("submit " + request_id + " " + client + " " + ns + " "
                    + describe_operation(op));
  auto call = make_call(std::move(rc), std::move(op),
                        std::make_unique<recording_completion>(
                          answers_, trace_, request_id, virtual_ms_, alive_));
  call->rejection = std::move(rejection);
  gateway_->sessions().dispatch(client, std::move(call));
  between_events();
}

std::shared_ptr<recording_sink> deterministic_gateway::subscribe(
  const std::string& request_id, const std::string& ns, model::subscribe_op op,
  const std::string& client, const std::string& principal) {
  if (down())
    throw std::logic_error("subscribe while the simulated gateway is down");
  request_context rc;
  rc.request_id = request_id;
  rc.ns = ns;
  rc.peer = client;
  rc.principal = principal;
  model::operation operation{std::move(op)};
  auto rejection = model::validate_request(ns, operation);
  trace_->push_back("subscribe " + request_id + " " + client + " " + ns + " "
                    + describe_operation(operation));
  auto call = make_call(std::move(rc), std::move(operation),
                        std::make_unique<recording_completion>(
                          answers_, trace_, request_id, virtual_ms_, alive_));
  call->rejection = std::move(rejection);
  auto sink = std::make_shared<recording_sink>();
  call->sink = sink;
  gateway_->sessions().dispatch(client, std::move(call));
  between_events();
  return sink;
}

size_t deterministic_gateway::run() {
  size_t ran = 0;
  while (run_one())
    ++ran;
  return ran;
}

bool deterministic_gateway::brokers_have_work() const {
  for (auto& [name, b] : *brokers_)
    if (b->has_work())
      return true;
  return false;
}

bool deterministic_gateway::pump_brokers() {
  bool did = false;
  for (auto& [name, b] : *brokers_)
    if (b->has_work())
      did |= b->pump();
  return did;
}

bool deterministic_gateway::run_one() {
  between_events();
  if (down())
    return false;
  auto& jobs = sched_->jobs;
  // A simulated PubSub backend with work is one more candidate: without a
  // seed it runs once the actors are idle; with one, it is picked like a
  // ready actor (no draw is made while no backend has work).
  bool pump = brokers_have_work();
  if (jobs.empty()) {
    if (!pump)
      return false;
    pump_brokers();
    return true;
  }
  if (pump && rng_ && (*rng_)() % (jobs.size() + 1) == jobs.size()) {
    pump_brokers();
    return true;
  }
  if (rng_ && jobs.size() > 1) {
    // Move the chosen job to the front; the others keep their order.
    auto pick = static_cast<std::ptrdiff_t>((*rng_)() % jobs.size());
    std::rotate(jobs.begin(), jobs.begin() + pick, jobs.begin() + pick + 1);
  }
  auto* actor = dynamic_cast<caf::scheduled_actor*>(jobs.front());
  if (actor == nullptr) {
    trace_->push_back("run job");
    sched_->run_once();
    return true;
  }
  // Keeps the actor alive to look at it after it ran (it may end).
  auto keep = caf::actor_cast<caf::strong_actor_ptr>(actor);
  auto& deepest = max_depth_[actor->id()];
  deepest = std::max(deepest, actor->mailbox().size());
  // An actor registers during its first run, so a new actor's label is
  // filled in afterwards; events during the run still follow its line.
  auto what = describe_next(*actor);
  if (!interceptors_.empty() && intercepted(*actor, what))
    return true;
  auto line = trace_->size();
  trace_->push_back({});
  sched_->run_once();
  auto& label = label_of(*actor);
  (*trace_)[line] = "run " + label + " " + what;
  bool ended = actor->getf(caf::abstract_actor::is_terminated_flag);
  if (ended)
    trace_->push_back("exit " + label + " "
                      + caf::to_string(actor->fail_state()));
  for (auto& hook : interceptors_)
    hook->after(label, ended);
  return true;
}

namespace {

/// The gate whose slot a request to the actor `label` took, when the call's
/// route names it: a stage's (the checkpoint the call was sent to last) or
/// the router's.
admission_ptr request_gate(const std::string& label, const kv_call& call) {
  if (!call.path)
    return nullptr;
  auto& path = *call.path;
  if (label == "router")
    return path.router_gate;
  if (label.compare(0, 6, "stage:") == 0 && call.next_stage > 0
      && call.next_stage <= path.checkpoints.size()) {
    auto i = path.checkpoints[call.next_stage - 1];
    if (i < path.stage_gates.size())
      return path.stage_gates[i];
  }
  return nullptr;
}

/// Takes `next` out of `queue`, where it must be the first message.
template <class Queue>
caf::mailbox_element_ptr take_front(Queue& queue, caf::mailbox_element* next) {
  if (queue.peek() != next || !queue.cache().empty())
    throw std::logic_error("the harness cannot take this message out of the "
                           "mailbox");
  return queue.take_front();
}

/// Takes `next`, the first message of `actor`'s mailbox, out of it.
caf::mailbox_element_ptr take_next(caf::scheduled_actor& actor,
                                   caf::mailbox_element* next) {
  auto& urgent = actor.get_urgent_queue();
  if (urgent.peek() == next)
    return take_front(urgent, next);
  return take_front(actor.get_normal_queue(), next);
}

} // namespace

bool deterministic_gateway::intercepted(caf::scheduled_actor& actor,
                                        const std::string& what) {
  auto* next = actor.mailbox().peek();
  // An actor is labelled after its first run (it registers then); until
  // then its messages go through unseen.
  auto known = labels_.find(actor.id());
  if (next == nullptr || known == labels_.end())
    return false;
  auto& label = known->second;
  interception decision;
  for (auto& hook : interceptors_) {
    decision = hook->before(label, *next);
    if (decision.what != interception::action::deliver)
      break;
  }
  if (decision.what == interception::action::deliver)
    return false;
  auto& content = next->content();
  call_ptr call;
  if (decision.what == interception::action::answer) {
    if (content.size() != 2 || !content.match_element<call_ptr>(1))
      throw std::logic_error("an interceptor answered a message that carries "
                             "no call: "
                             + what);
    call = content.get_as<call_ptr>(1);
  }
  auto taken = take_next(actor, next);
  std::string line = "intercept " + label + " ";
  if (call) {
    if (auto gate = request_gate(label, *call))
      gate->release();
    line += "answered " + what + " "
      + std::string(to_string(decision.outcome.status.code));
    auto session = call->session;
    caf::anon_send(session, reply_atom::value, std::move(call),
                   std::move(decision.outcome));
  } else {
    line += "dropped " + what;
  }
  if (!decision.note.empty())
    line += " (" + decision.note + ")";
  trace_->push_back(std::move(line));
  taken.reset();
  // With nothing left to read, the actor's job blocks its mailbox, so that
  // its next message schedules it again.
  if (actor.mailbox().peek() == nullptr)
    sched_->run_once();
  return true;
}

void deterministic_gateway::on_new_actor(
  std::function<void(const actor_record_ptr&)> fn) {
  new_actor_ = std::move(fn);
  if (!new_actor_)
    return;
  for (auto& [id, label] : labels_)
    if (auto record = actors_->find(id))
      new_actor_(record);
}

const std::string& deterministic_gateway::label_of(
  caf::scheduled_actor& actor) {
  auto i = labels_.find(actor.id());
  if (i != labels_.end())
    return i->second;
  std::string base = actor.name();
  if (auto record = actors_->find(actor.id())) {
    base = record->kind();
    if (record->name() != record->kind())
      base += ":" + record->name();
    if (new_actor_)
      new_actor_(record);
  }
  auto n = ++label_counts_[base];
  if (n > 1)
    base += "#" + std::to_string(n);
  return labels_.emplace(actor.id(), std::move(base)).first->second;
}

std::string deterministic_gateway::describe_next(caf::scheduled_actor& actor) {
  auto* next = actor.mailbox().peek();
  if (next == nullptr)
    return "(start)";
  auto& content = next->content();
  if (content.size() == 0)
    return "()";
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    if (i > 0)
      text += ' ';
    text += describe_element(content, i);
  }
  return text;
}

void deterministic_gateway::advance_ms(int64_t ms) {
  between_events();
  clock_->advance_ms(ms);
  // Slowed-down simulated backends complete what is due by now.
  for (auto& [name, backend] : *backends_)
    backend->release_due();
  for (auto& [name, broker] : *brokers_)
    broker->clock_moved();
  size_t fired = 0;
  if (down())
    down_clock_ += std::chrono::milliseconds(ms);
  else
    fired = sched_->advance_time(std::chrono::milliseconds(ms));
  *virtual_ms_ += ms;
  trace_->push_back("advance " + std::to_string(ms)
                    + "ms now=" + std::to_string(*virtual_ms_)
                    + "ms timeouts=" + std::to_string(fired));
  between_events();
  run();
}

void deterministic_gateway::jump_backend_clock_ms(int64_t ms) {
  clock_->advance_ms(ms);
  trace_->push_back("clock jump " + std::to_string(ms) + "ms backend_clock="
                    + std::to_string(clock_->now_ms()) + "ms");
  between_events();
}

void deterministic_gateway::between_events() {
  if (!between_events_ || trace_->size() == between_events_seen_)
    return;
  between_events_seen_ = trace_->size();
  between_events_();
}

std::optional<std::vector<deterministic_gateway::queued_message>>
deterministic_gateway::mailbox_of(uint64_t id) {
  if (down())
    return std::nullopt;
  auto record = actors_->find(id);
  if (!record)
    return std::nullopt;
  auto strong = caf::actor_cast<caf::strong_actor_ptr>(record->address());
  auto* actor = strong ? dynamic_cast<caf::scheduled_actor*>(
                  caf::actor_cast<caf::abstract_actor*>(strong))
                       : nullptr;
  if (actor == nullptr)
    return std::nullopt;
  std::vector<queued_message> messages;
  auto describe = [&](const caf::mailbox_element& e) {
    queued_message m;
    if (e.sender)
      m.from = label_of_id(e.sender->id());
    auto& content = e.content();
    for (size_t i = 0; i < content.size(); ++i)
      m.message += (i > 0 ? " " : "") + describe_element(content, i);
    if (content.size() == 0)
      m.message = "()";
    messages.push_back(std::move(m));
  };
  // New messages wait on a stack until the actor (or the harness, as it
  // does before each run) moves them into its queues; a message its
  // behaviour skipped for now waits in the queue's cache, ahead of the rest.
  // The stack of an idle actor is marked blocked (its next message
  // schedules it) and holds nothing: it must be left as it is, or the
  // actor would never be scheduled again.
  auto& box = actor->mailbox();
  if (!box.blocked() && !box.closed())
    box.fetch_more();
  actor->get_urgent_queue().cache().peek_all(describe);
  actor->get_urgent_queue().peek_all(describe);
  actor->get_normal_queue().cache().peek_all(describe);
  actor->get_normal_queue().peek_all(describe);
  return messages;
}

std::string deterministic_gateway::label_of_id(uint64_t id) const {
  auto i = labels_.find(id);
  return i == labels_.end() ? std::string() : i->second;
}

std::optional<int64_t> deterministic_gateway::next_timer_in_ms() {
  std::optional<int64_t> next;
  auto consider = [&](int64_t ms) {
    ms = std::max<int64_t>(ms, 0);
    if (!next || ms < *next)
      next = ms;
  };
  if (!down()) {
    auto& clock = sched_->clock();
    auto& schedule = clock.schedule();
    if (!schedule.empty()) {
      auto wait = schedule.begin()->first - clock.current_time;
      auto ns
        = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
      consider((ns + 999999) / 1000000);
    }
  }
  auto now = clock_->now_ms();
  for (auto& [name, backend] : *backends_)
    if (auto due = backend->next_due_ms())
      consider(*due - now);
  for (auto& [name, broker] : *brokers_)
    if (auto due = broker->next_due_ms())
      consider(*due - now);
  return next;
}

std::map<std::string, size_t> deterministic_gateway::max_mailbox_depths()
  const {
  auto result = retired_depths_;
  for (auto& [id, depth] : max_depth_) {
    auto i = labels_.find(id);
    auto label = i != labels_.end() ? i->second : "actor-" + std::to_string(id);
    result[label] = std::max(result[label], depth);
  }
  return result;
}

std::string deterministic_gateway::trace_text() const {
  std::string text;
  for (auto& line : *trace_)
    text.append(line).append("\n");
  return text;
}

model::outcome deterministic_gateway::call(const std::string& ns,
                                           model::operation op) {
  auto id = "auto-" + std::to_string(next_id_++);
  submit(id, ns, std::move(op));
  run();
  auto* result = answer_of(id);
  if (!result)
    throw std::runtime_error("call " + id + " got no answer");
  return *result;
}

const model::outcome* deterministic_gateway::answer_of(
  const std::string& request_id) const {
  for (auto& a : *answers_)
    if (a.request_id == request_id)
      return &a.outcome;
  return nullptr;
}

std::string deterministic_gateway::metrics_text() {
  // The stages count what they have been told of: let them hear it all.
  run();
  return gateway_->metrics().render();
}

simulation::sim_broker& deterministic_gateway::broker(const std::string& name) {
  auto i = brokers_->find(name);
  if (i == brokers_->end())
    throw std::runtime_error("no simulated pubsub backend named " + name);
  return *i->second;
}

simulation::sim_backend& deterministic_gateway::backend(
  const std::string& name) {
  auto i = backends_->find(name);
  if (i == backends_->end())
    throw std::runtime_error("no simulated backend named " + name);
  return *i->second;
}

} // namespace prism::simulation
