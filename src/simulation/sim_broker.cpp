#include "simulation/sim_broker.hpp"

#include <algorithm>
#include <stdexcept>

#include "config/config.hpp"

namespace prism::simulation {

// --- the clients -----------------------------------------------------------

/// One subscriber's subscription: destroying it takes the member out.
class sim_subscription final : public drivers::pubsub_driver::subscription {
public:
  sim_subscription(std::weak_ptr<sim_broker> broker, uint64_t id)
    : broker_(std::move(broker)), id_(id) {}
  ~sim_subscription() override {
    if (auto b = broker_.lock())
      b->unsubscribe(id_);
  }
  void request(uint32_t n) override {
    if (auto b = broker_.lock())
      b->request(id_, n);
  }
  void ack(uint64_t tag) override {
    if (auto b = broker_.lock())
      b->ack(id_, tag);
  }

private:
  std::weak_ptr<sim_broker> broker_;
  uint64_t id_;
};

/// What one start of the gateway's broker actor owns.
class sim_pubsub_client final : public drivers::pubsub_driver {
public:
  explicit sim_pubsub_client(std::shared_ptr<sim_broker> broker)
    : broker_(std::move(broker)), id_(broker_->add_client()) {}
  ~sim_pubsub_client() override { broker_->remove_client(id_); }

  void start(state_listener listener) override {
    broker_->start_client(id_, std::move(listener));
  }
  void publish(const std::string& ns, const model::publish_op& op,
               drivers::op_timeout timeout, completion done) override {
    broker_->publish(id_, ns, op, timeout, std::move(done));
  }
  std::unique_ptr<subscription> subscribe(const std::string& ns,
                                          const model::subscribe_op& op,
                                          subscriber_events events) override {
    auto id = broker_->subscribe(id_, ns, op, std::move(events));
    return std::make_unique<sim_subscription>(broker_, id);
  }
  std::string describe() const override {
    return "simulated " + std::string(to_string(broker_->model())) + " "
      + broker_->name();
  }

private:
  std::shared_ptr<sim_broker> broker_;
  uint64_t id_;
};

// --- the backend -----------------------------------------------------------

pubsub_model model_of(const config::backend& backend) {
  if (backend.type == config::backend_type::kafka)
    return pubsub_model::kafka;
  if (backend.type == config::backend_type::nats)
    return backend.nats.jetstream ? pubsub_model::jetstream
                                  : pubsub_model::nats_core;
  throw std::invalid_argument("backend \"" + backend.name
                              + "\" is not a kafka or nats backend");
}

sim_broker::sim_broker(std::string name, pubsub_model model,
                       std::shared_ptr<drivers::manual_clock> clock)
  : name_(std::move(name)), model_(model), clock_(std::move(clock)) {}

sim_broker::~sim_broker() = default;

drivers::pubsub_driver_ptr sim_broker::make_client() {
  return std::make_unique<sim_pubsub_client>(shared_from_this());
}

uint64_t sim_broker::add_client() {
  auto id = next_client_++;
  clients_[id];
  notify("client " + std::to_string(id) + " made");
  return id;
}

void sim_broker::remove_client(uint64_t id) {
  clients_.erase(id);
  // Its publishes that were not accepted are lost with it: their callers
  // hear it now (the message was never stored).
  std::deque<publish_work> keep;
  std::vector<drivers::pubsub_driver::completion> lost;
  for (auto& w : publishes_)
    if (w.client == id)
      lost.push_back(std::move(w.done));
    else
      keep.push_back(std::move(w));
  publishes_ = std::move(keep);
  notify("client " + std::to_string(id) + " closed, "
         + std::to_string(lost.size()) + " publishes dropped");
  for (auto& done : lost)
    done(model::outcome::failure(
      status_code::unavailable,
      "the backend client stopped before the backend accepted the message; "
      "it was not stored"));
}

void sim_broker::start_client(uint64_t id,
                              drivers::pubsub_driver::state_listener fn) {
  clients_[id].listener = std::move(fn);
  dirty_ = true;
}

void sim_broker::publish(uint64_t client, const std::string& ns,
                         const model::publish_op& op,
                         drivers::op_timeout timeout,
                         drivers::pubsub_driver::completion done) {
  publish_work w;
  w.client = client;
  w.ns = ns;
  w.op = op;
  auto now = clock_->now_ms();
  auto delay = latency_ms_;
  if (jitter_ms_ > 0 && latency_ms_ > 0)
    delay += static_cast<int64_t>(jitter_rng_()
                                  % static_cast<uint64_t>(jitter_ms_ + 1));
  // Accepted in the order published, as an idempotent producer keeps them.
  last_due_ms_ = std::max(last_due_ms_, now + delay);
  w.due_ms = last_due_ms_;
  if (timeout != drivers::no_timeout)
    // Rounded up: a timeout of 0.4 ms has not passed at +0 ms.
    w.deadline_ms
      = now + (std::chrono::ceil<std::chrono::milliseconds>(timeout)).count();
  w.done = std::move(done);
  publishes_.push_back(std::move(w));
  dirty_ = true;
}

uint64_t sim_broker::subscribe(
  uint64_t client, const std::string& ns, const model::subscribe_op& op,
  drivers::pubsub_driver::subscriber_events events) {
  auto id = next_member_++;
  auto& m = members_[id];
  m.client = client;
  m.ns = ns;
  m.op = op;
  m.events = std::move(events);
  notify("subscribe " + std::to_string(id) + " " + op.topic
         + (op.subscription.empty() ? "" : " as " + op.subscription));
  dirty_ = true;
  return id;
}

void sim_broker::unsubscribe(uint64_t id) {
  auto i = members_.find(id);
  if (i == members_.end())
    return;
  auto& m = i->second;
  auto found = groups_.find(group_key{m.ns, m.op.topic, m.op.subscription});
  if (!m.op.subscription.empty() && found != groups_.end()) {
    auto& g = found->second;
    g.members.erase(std::remove(g.members.begin(), g.members.end(), id),
                    g.members.end());
    // What it was sent and never acknowledged goes to the next member.
    std::vector<uint64_t> back;
    for (auto& [offset, who] : g.outstanding)
      if (who == id)
        back.push_back(offset);
    for (auto offset : back) {
      g.outstanding.erase(offset);
      g.redeliver.emplace_back(offset, false);
    }
    std::sort(g.redeliver.begin(), g.redeliver.end());
  }
  members_.erase(i);
  notify("unsubscribe " + std::to_string(id));
  dirty_ = true;
}

void sim_broker::request(uint64_t id, uint32_t n) {
  auto i = members_.find(id);
  if (i == members_.end())
    return;
  i->second.credit += n;
  dirty_ = true;
}

void sim_broker::ack(uint64_t id, uint64_t tag) {
  auto i = members_.find(id);
  if (i == members_.end() || tag == 0 || i->second.op.subscription.empty())
    return;
  auto& m = i->second;
  auto g = groups_.find(group_key{m.ns, m.op.topic, m.op.subscription});
  if (g == groups_.end())
    return;
  // Forgotten for this subscription: it never comes back to a member.
  g->second.outstanding.erase(tag - 1);
}

// --- faults ----------------------------------------------------------------

void sim_broker::set_down(bool down) {
  if (down == down_)
    return;
  down_ = down;
  if (down)
    was_down_ = true;
  notify(down ? "down" : "up");
  dirty_ = true;
}

void sim_broker::set_holding(bool holding) {
  holding_ = holding;
  notify(holding ? "holding on" : "holding off");
  dirty_ = true;
}

void sim_broker::set_latency(int64_t ms) {
  latency_ms_ = ms;
  notify("latency " + std::to_string(ms) + "ms");
}

void sim_broker::set_latency_jitter(int64_t jitter_ms, uint64_t seed) {
  jitter_ms_ = jitter_ms;
  jitter_rng_.seed(seed);
  notify("jitter " + std::to_string(jitter_ms) + "ms");
}

void sim_broker::set_failing(std::optional<status_code> code) {
  failing_ = code;
  notify(code ? "failing " + std::string(to_string(*code)) : "failing off");
}

void sim_broker::fail_next(uint32_t count, status_code code) {
  fail_next_ = count;
  fail_code_ = code;
  notify("fail_next " + std::to_string(count) + " "
         + std::string(to_string(code)));
}

void sim_broker::commit_unknown_next(uint32_t count) {
  commit_unknown_next_ = count;
  notify("commit_unknown_next " + std::to_string(count));
}

void sim_broker::set_duplicating(bool duplicating) {
  duplicating_ = duplicating;
  notify(duplicating ? "duplicating on" : "duplicating off");
  dirty_ = true;
}

// --- pumping ---------------------------------------------------------------

bool sim_broker::has_work() const {
  return dirty_;
}

std::optional<int64_t> sim_broker::next_due_ms() const {
  std::optional<int64_t> next;
  auto consider = [&](int64_t t) {
    if (!next || t < *next)
      next = t;
  };
  for (auto& w : publishes_) {
    if (w.deadline_ms)
      consider(*w.deadline_ms);
    if (!down_ && !holding_)
      consider(w.due_ms);
  }
  return next;
}

bool sim_broker::pump() {
  dirty_ = false;
  bool did = report_states();
  did |= run_publishes();
  if (!down_) {
    did |= make_ready();
    did |= deliver();
  }
  return did;
}

bool sim_broker::report_states() {
  bool did = false;
  if (!down_ && was_down_) {
    was_down_ = false;
    if (drops_on_reconnect_) {
      for (auto& [key, g] : groups_)
        if (g.started && !g.stalled) {
          g.stalled = true;
          notify("planted: subscription " + std::get<2>(key)
                 + " drops on reconnect");
        }
    }
  }
  for (auto& [id, c] : clients_) {
    if (!c.listener || c.reported_up == !down_)
      continue;
    c.reported_up = !down_;
    notify("client " + std::to_string(id)
           + (down_ ? " reports down" : " reports up"));
    c.listener(!down_, down_ ? "simulated outage of " + name_ : "");
    did = true;
  }
  return did;
}

bool sim_broker::run_publishes() {
  bool did = false;
  auto now = clock_->now_ms();
  // Publishes whose timeout passed before the backend took them.
  std::deque<publish_work> keep;
  for (auto& w : publishes_) {
    bool can_run = !down_ && !holding_ && w.due_ms <= now;
    if (!can_run && w.deadline_ms && *w.deadline_ms <= now) {
      notify("timed out " + w.op.topic + " " + w.op.payload);
      w.done(model::outcome::failure(
        status_code::deadline_exceeded,
        "the backend did not accept the message before the deadline; it was "
        "not stored"));
      did = true;
    } else {
      keep.push_back(std::move(w));
    }
  }
  publishes_ = std::move(keep);
  while (!publishes_.empty() && !down_ && !holding_
         && publishes_.front().due_ms <= now) {
    auto w = std::move(publishes_.front());
    publishes_.pop_front();
    did |= answer_publish(w);
  }
  return did;
}

bool sim_broker::answer_publish(publish_work& w) {
  if (fail_next_ > 0 || failing_) {
    auto code = fail_next_ > 0 ? fail_code_ : *failing_;
    if (fail_next_ > 0)
      --fail_next_;
    notify("failed " + w.op.topic + " " + w.op.payload + " "
           + std::string(to_string(code)));
    w.done(model::outcome::failure(
      code, "simulated backend error; the message was not stored"));
    return true;
  }
  auto& log = log_of(w.ns, w.op.topic);
  auto offset = static_cast<uint64_t>(log.size());
  model::message m;
  m.topic = w.op.topic;
  m.payload = w.op.payload;
  m.metadata = w.op.metadata;
  m.id = w.op.topic + "@" + std::to_string(offset);
  m.publish_time_ms = clock_->now_ms();
  log.push_back({m});
  ++stored_;
  notify("stored " + m.id + " " + m.payload);
  if (commit_unknown_next_ > 0) {
    --commit_unknown_next_;
    notify("lost the acknowledgment of " + m.id);
    w.done(model::outcome::failure(
      status_code::unavailable,
      "the connection to the backend broke before it acknowledged the "
      "message; it may or may not have been stored"));
    return true;
  }
  w.done(model::outcome::success(model::publish_result{m.id}));
  return true;
}

std::vector<sim_broker::stored_message>& sim_broker::log_of(
  const std::string& ns, const std::string& topic) {
  return topics_[topic_key{ns, topic}];
}

bool sim_broker::at_least_once(const member& m) const {
  return !m.op.subscription.empty() && model_ != pubsub_model::nats_core;
}

bool sim_broker::make_ready() {
  bool did = false;
  for (auto& [id, m] : members_) {
    if (m.ready)
      continue;
    m.ready = true;
    auto& log = log_of(m.ns, m.op.topic);
    bool retained = model_ == pubsub_model::kafka
      || (model_ == pubsub_model::jetstream && !m.op.subscription.empty());
    bool from_start = retained && m.op.start == model::start_position::earliest;
    if (m.op.subscription.empty()) {
      m.cursor = from_start ? 0 : log.size();
    } else {
      auto& g = groups_[group_key{m.ns, m.op.topic, m.op.subscription}];
      if (!g.started) {
        g.started = true;
        g.cursor = from_start ? 0 : log.size();
      }
      g.members.push_back(id);
    }
    notify("ready " + std::to_string(id));
    if (m.events.ready)
      m.events.ready();
    did = true;
  }
  return did;
}

bool sim_broker::deliver() {
  bool did = false;
  for (auto& [id, m] : members_)
    if (m.op.subscription.empty())
      did |= deliver_ephemeral(id, m);
  for (auto& [key, g] : groups_)
    did |= deliver_group(key, g);
  return did;
}

bool sim_broker::deliver_ephemeral(uint64_t id, member& m) {
  auto& log = log_of(m.ns, m.op.topic);
  bool did = false;
  for (; m.cursor < log.size(); ++m.cursor) {
    auto message = log[m.cursor].message;
    message.tag = 0;
    notify("deliver " + message.id + " to " + std::to_string(id));
    m.events.message(std::move(message));
    did = true;
  }
  return did;
}

bool sim_broker::deliver_group(const group_key& key, group& g) {
  auto& log = log_of(std::get<0>(key), std::get<1>(key));
  if (g.stalled)
    return false;
  bool durable = model_ != pubsub_model::nats_core;
  if (!durable && g.members.empty()) {
    // A queue group without members keeps nothing.
    g.cursor = log.size();
    return false;
  }
  bool did = false;
  while (!g.members.empty()) {
    // The next offset: one handed back first, then the log.
    std::optional<std::pair<uint64_t, bool>> next;
    if (!g.redeliver.empty())
      next = g.redeliver.front();
    else if (g.cursor < log.size())
      next = std::make_pair(g.cursor, false);
    if (!next)
      break;
    // The next member with credit (core NATS pushes regardless).
    std::optional<uint64_t> to;
    for (size_t k = 0; k < g.members.size() && !to; ++k) {
      auto candidate = g.members[(g.turn + k) % g.members.size()];
      auto& m = members_.at(candidate);
      if (m.ready && (!durable || m.credit > 0)) {
        to = candidate;
        g.turn = (g.turn + k + 1) % g.members.size();
      }
    }
    if (!to)
      break;
    if (!g.redeliver.empty())
      g.redeliver.pop_front();
    else
      ++g.cursor;
    auto [offset, is_copy] = *next;
    auto& m = members_.at(*to);
    if (durable) {
      --m.credit;
      g.outstanding[offset] = *to;
    }
    auto message = log[offset].message;
    message.tag = durable ? offset + 1 : 0;
    notify(std::string(is_copy ? "duplicate " : "deliver ") + message.id
           + " to " + std::to_string(*to));
    if (duplicating_ && durable && !is_copy)
      g.redeliver.emplace_back(offset, true);
    m.events.message(std::move(message));
    did = true;
  }
  return did;
}

uint64_t sim_broker::backlog() const {
  uint64_t n = publishes_.size();
  if (model_ == pubsub_model::nats_core)
    return n;
  for (auto& [key, g] : groups_) {
    if (!g.started)
      continue;
    auto log = topics_.find(topic_key{std::get<0>(key), std::get<1>(key)});
    uint64_t size = log == topics_.end() ? 0 : log->second.size();
    n += size - std::min<uint64_t>(size, g.cursor);
    n += g.redeliver.size() + g.outstanding.size();
  }
  return n;
}

drivers::pubsub_driver_factory make_sim_pubsub_factory(
  std::shared_ptr<sim_brokers> brokers,
  std::shared_ptr<drivers::manual_clock> clock,
  std::function<void(sim_broker&)> on_new) {
  return [brokers, clock,
          on_new](const config::backend& b) -> drivers::pubsub_driver_ptr {
    auto& slot = (*brokers)[b.name];
    if (!slot) {
      slot = std::make_shared<sim_broker>(b.name, model_of(b), clock);
      if (on_new)
        on_new(*slot);
    }
    return slot->make_client();
  };
}

} // namespace prism::simulation
