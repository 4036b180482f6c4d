#include "simulation/pubsub_workload.hpp"

#include <algorithm>
#include <random>

#include "simulation/deterministic_gateway.hpp"

namespace prism::simulation {

pubsub_workload::pubsub_workload(const scenario& s, deterministic_gateway& g,
                                 hooks h)
  : s_(s), g_(g), hooks_(std::move(h)) {
  for (uint32_t i = 0; i < s.workload.topics; ++i)
    topics_.push_back("t" + std::to_string(i));
}

pubsub_workload::~pubsub_workload() {
  // The gateway's actors may finish these streams after this is gone.
  for (auto& st : states_) {
    st.sink->on_write = nullptr;
    st.sink->on_subscribed = nullptr;
    st.sink->on_finish = nullptr;
  }
}

model::operation pubsub_workload::make_operation(std::mt19937_64& rng,
                                                 kv_operation& op) {
  auto& mix = s_.workload.mix;
  auto pick = rng() % (uint64_t{mix.publish} + mix.subscribe);
  auto& topic = topics_[rng() % topics_.size()];
  op.key = topic;
  if (pick < mix.publish || open_streams() >= s_.workload.subscribers_max) {
    op.f = op_function::publish;
    op.value = op.request_id;
    return model::publish_op{topic, op.value, {}};
  }
  op.f = op_function::subscribe;
  auto& kinds = s_.workload.subscriptions;
  auto k = rng() % kinds.total();
  bool shared = false;
  if (k < kinds.durable) {
    op.value = "durable-" + std::to_string(durable_names_++);
  } else if (k < uint64_t{kinds.durable} + kinds.shared) {
    op.value = "shared-" + topic;
    shared = true;
  }
  pending_shared_[op.request_id] = shared;
  return model::subscribe_op{topic, op.value, model::start_position::latest};
}

void pubsub_workload::open(const kv_operation& op, const std::string& session) {
  subscriber_stream s;
  s.process = op.process;
  s.topic = op.key;
  s.subscription = op.value;
  s.request_id = op.request_id;
  auto i = pending_shared_.find(op.request_id);
  if (i != pending_shared_.end()) {
    s.shared = i->second;
    pending_shared_.erase(i);
  }
  open_stream(std::move(s), session);
}

void pubsub_workload::open_stream(subscriber_stream s,
                                  const std::string& session) {
  s.id = static_cast<int64_t>(streams_.size());
  auto index = streams_.size();
  stream_of_request_[s.request_id] = index;
  model::subscribe_op op{s.topic, s.subscription,
                         model::start_position::latest};
  auto request_id = s.request_id;
  streams_.push_back(std::move(s));
  states_.push_back({});
  states_.back().session = session;
  auto sink = g_.subscribe(request_id, s_.workload.ns, std::move(op), session);
  sink->on_subscribed = [this, index] {
    auto& st = streams_[index];
    st.ready_index = hooks_.take_indexes(1);
    st.ready_ms = g_.now_ms();
  };
  sink->on_write = [this, index](const model::message& m) {
    auto& st = streams_[index];
    delivery d;
    d.index = hooks_.take_indexes(2);
    d.time_ms = g_.now_ms();
    d.stream = st.id;
    d.process = st.process;
    d.topic = st.topic;
    d.subscription = st.subscription;
    d.payload = m.payload;
    d.message_id = m.id;
    deliveries_.push_back(std::move(d));
  };
  sink->on_finish = [this, index](const status& why) {
    ended(index, why.code, why.message);
  };
  states_[index].sink = std::move(sink);
}

void pubsub_workload::on_answer(const kv_operation& op) {
  if (op.f != op_function::subscribe || !op.code || *op.code == status_code::ok)
    return;
  auto i = stream_of_request_.find(op.request_id);
  if (i != stream_of_request_.end())
    ended(i->second, *op.code, op.message);
}

void pubsub_workload::ended(size_t index, status_code code,
                            const std::string& message) {
  auto& state = states_[index];
  if (state.ended)
    return;
  state.ended = true;
  auto& st = streams_[index];
  st.end_index = hooks_.take_indexes(1);
  st.end_ms = g_.now_ms();
  st.end_code = code;
  st.end_message = message;
  if (resubscribing_)
    state.resubscribe_at = g_.now_ms() + s_.workload.resubscribe_ms;
}

size_t pubsub_workload::resubscribe_due(int64_t now_ms) {
  if (!resubscribing_)
    return 0;
  size_t made = 0;
  // Streams opened here are appended; the loop sees only the earlier ones.
  for (size_t i = 0, n = streams_.size(); i < n; ++i) {
    auto& state = states_[i];
    if (!state.resubscribe_at || *state.resubscribe_at > now_ms)
      continue;
    state.resubscribe_at.reset();
    auto old = streams_[i];
    kv_operation op;
    op.request_id
      = "c" + std::to_string(old.process) + "-r" + std::to_string(old.id);
    op.process = old.process;
    op.f = op_function::subscribe;
    op.key = old.topic;
    op.value = old.subscription;
    op.resubscribe = true;
    hooks_.record_call(op);
    subscriber_stream next;
    next.process = old.process;
    next.topic = old.topic;
    next.subscription = old.subscription;
    next.shared = old.shared;
    next.request_id = op.request_id;
    g_.note("resubscribe s" + std::to_string(old.id) + " as " + op.request_id);
    auto session = states_[i].session;
    open_stream(std::move(next), session);
    ++made;
  }
  return made;
}

std::optional<int64_t> pubsub_workload::next_due_ms() const {
  std::optional<int64_t> next;
  if (!resubscribing_)
    return next;
  for (auto& st : states_)
    if (st.resubscribe_at && (!next || *st.resubscribe_at < *next))
      next = st.resubscribe_at;
  return next;
}

size_t pubsub_workload::open_streams() const {
  size_t n = 0;
  for (auto& st : states_)
    if (!st.ended || st.resubscribe_at)
      ++n;
  return n;
}

bool pubsub_workload::settled() const {
  std::map<std::pair<std::string, std::string>, bool> in_place;
  for (size_t i = 0; i < streams_.size(); ++i) {
    auto& s = streams_[i];
    if (states_[i].resubscribe_at)
      return false;
    if (!s.named())
      continue;
    auto& ok = in_place[{s.topic, s.subscription}];
    ok = ok || (!states_[i].ended && s.ready_index != 0);
  }
  for (auto& [key, ok] : in_place)
    if (!ok)
      return false;
  return true;
}

std::string pubsub_workload::hold(const std::string& fault_id, uint32_t count,
                                  uint64_t seed) {
  std::vector<size_t> open;
  for (size_t i = 0; i < streams_.size(); ++i)
    if (!states_[i].ended && !states_[i].sink->hold)
      open.push_back(i);
  std::mt19937_64 rng(seed);
  std::string which;
  auto& held = held_[fault_id];
  for (uint32_t k = 0; k < count && !open.empty(); ++k) {
    auto pick = static_cast<size_t>(rng() % open.size());
    auto i = open[pick];
    open.erase(open.begin() + static_cast<std::ptrdiff_t>(pick));
    states_[i].sink->hold = true;
    held.push_back(i);
    which += (which.empty() ? "s" : ",s") + std::to_string(streams_[i].id);
  }
  return which.empty() ? "no open stream" : which;
}

std::string pubsub_workload::cancel(const std::string& fault_id, uint32_t count,
                                    uint64_t seed) {
  std::vector<size_t> open;
  for (size_t i = 0; i < streams_.size(); ++i)
    if (!states_[i].ended)
      open.push_back(i);
  std::mt19937_64 rng(seed);
  std::string which;
  for (uint32_t k = 0; k < count && !open.empty(); ++k) {
    auto pick = static_cast<size_t>(rng() % open.size());
    auto i = open[pick];
    open.erase(open.begin() + static_cast<std::ptrdiff_t>(pick));
    states_[i].sink->cancel();
    ended(i, status_code::cancelled,
          "its client went away mid-stream (fault " + fault_id + ")");
    which += (which.empty() ? "s" : ",s") + std::to_string(streams_[i].id);
  }
  return which.empty() ? "no open stream" : which;
}

void pubsub_workload::release(const std::string& fault_id) {
  auto i = held_.find(fault_id);
  if (i == held_.end())
    return;
  for (auto index : i->second) {
    auto& sink = *states_[index].sink;
    sink.hold = false;
    sink.release_one();
  }
  held_.erase(i);
}

} // namespace prism::simulation
