#include "pubsub/broker.hpp"

#include <algorithm>

#include <caf/system_messages.hpp>
#include <fmt/format.h>

#include "pubsub/broker_intake.hpp"

namespace prism {

namespace {

using self_ptr = broker_actor::stateful_pointer<broker_state>;
using topic = broker_state::topic;
using group = broker_state::group;

void send_to(self_ptr self, const subscription_actor& subscriber,
             const model::message& m) {
  self->send(subscriber, deliver_atom::value, m);
}

/// The member to send the next message to: the next with credit in round
/// robin order, or the member count when none has credit.
size_t next_member(group& g) {
  size_t n = g.members.size();
  for (size_t step = 0; step < n; ++step) {
    auto i = (g.next + step) % n;
    if (g.members[i].credit > 0)
      return i;
  }
  return n;
}

/// Puts the group's lag on the board: what it has not consumed.
void measure(const topic& t, const group& g) {
  if (!g.lag)
    return;
  uint64_t lag = g.redeliver.size();
  if (g.cursor < t.end())
    lag += t.end() - std::max(g.cursor, t.first);
  for (const auto& m : g.members)
    lag += m.unacked.size();
  g.lag->set(lag);
}

/// Hands the group the messages it has credit for, one member at a time:
/// first what a departed member left unwritten, then new ones. A message's
/// tag is its offset + 1.
void hand_out(self_ptr self, topic& t, group& g) {
  if (g.cursor < t.first) {
    g.lost += t.first - g.cursor;
    g.cursor = t.first;
  }
  while (!g.members.empty()) {
    while (!g.redeliver.empty() && *g.redeliver.begin() < t.first) {
      ++g.lost;
      g.redeliver.erase(g.redeliver.begin());
    }
    uint64_t offset;
    bool again = !g.redeliver.empty();
    if (again)
      offset = *g.redeliver.begin();
    else if (g.cursor < t.end())
      offset = g.cursor;
    else
      return;
    auto picked = next_member(g);
    if (picked == g.members.size())
      return;
    auto& m = g.members[picked];
    --m.credit;
    m.unacked.insert(offset);
    auto message = t.log[offset - t.first];
    message.tag = offset + 1;
    send_to(self, m.subscriber, message);
    if (again)
      g.redeliver.erase(g.redeliver.begin());
    else
      ++g.cursor;
    g.next = (picked + 1) % g.members.size();
  }
}

void pump(self_ptr self, topic& t, group& g) {
  hand_out(self, t, g);
  measure(t, g);
}

/// The topic, made on first use; null (and the call answered) when the
/// backend already holds as many topics as it may.
topic* find_topic(self_ptr self, call_ptr& call, const std::string& name) {
  auto& st = self->state;
  auto& by_name = st.topics[call->context.ns];
  auto i = by_name.find(name);
  if (i != by_name.end())
    return &i->second;
  if (st.topic_count >= st.options.max_topics) {
    if (st.registration)
      st.registration->count_rejected();
    reply(self, std::move(call),
          model::outcome::failure(
            status_code::resource_exhausted,
            fmt::format("backend \"{}\" already holds {} topics, the "
                        "most it may; use fewer topic names",
                        st.options.backend, st.options.max_topics)));
    return nullptr;
  }
  ++st.topic_count;
  return &by_name[name];
}

void publish(self_ptr self, call_ptr call, const model::publish_op& op) {
  auto& st = self->state;
  auto* found = find_topic(self, call, op.topic);
  if (!found)
    return;
  auto& t = *found;
  auto offset = t.end();
  model::message m;
  m.topic = op.topic;
  m.payload = op.payload;
  m.metadata = op.metadata;
  m.id = fmt::format("{}-{}-{}", st.epoch_ms, op.topic, offset);
  m.publish_time_ms = st.options.clock ? st.options.clock->now_ms() : 0;
  t.bytes += m.payload.size();
  t.log.push_back(m);
  // Keep the last `retained` messages within `retained_bytes` (the newest
  // always stays, whatever its size).
  while (t.log.size() > 1
         && (t.log.size() > st.options.retained
             || t.bytes > st.options.retained_bytes)) {
    t.bytes -= t.log.front().payload.size();
    t.log.pop_front();
    ++t.first;
  }
  ++st.published;
  for (auto& sub : t.ephemeral)
    send_to(self, sub, m);
  for (auto& [name, g] : t.groups)
    pump(self, t, g);
  reply(self, std::move(call),
        model::outcome::success(model::publish_result{m.id}));
}

void subscribe(self_ptr self, call_ptr call, const model::subscribe_op& op) {
  auto sub = call->subscriber;
  if (!sub) {
    fail_call(self, std::move(call), status_code::internal,
              "a subscribe call arrived without its subscription");
    return;
  }
  auto* found = find_topic(self, call, op.topic);
  if (!found)
    return;
  auto& t = *found;
  self->monitor(sub);
  self->send(sub, attached_atom::value, broker_actor{self});
  if (op.subscription.empty()) {
    t.ephemeral.push_back(sub);
    if (op.start == model::start_position::earliest)
      for (auto& m : t.log)
        send_to(self, sub, m);
  } else {
    auto [i, created] = t.groups.try_emplace(op.subscription);
    auto& g = i->second;
    if (created) {
      g.cursor = op.start == model::start_position::earliest ? t.first
                                                             : t.end();
      if (auto& board = self->state.options.lag_board)
        g.lag = board->track(call->context.ns, op.topic, op.subscription);
    }
    g.members.push_back({sub, 0, {}});
    measure(t, g);
  }
  reply(self, std::move(call),
        model::outcome::success(model::subscribe_result{}));
}

void on_demand(self_ptr self, const caf::actor_addr& from, uint32_t n,
               uint64_t tag) {
  for (auto& [ns, topics] : self->state.topics)
    for (auto& [name, t] : topics)
      for (auto& [gname, g] : t.groups)
        for (auto& m : g.members)
          if (m.subscriber.address() == from) {
            if (tag != 0)
              m.unacked.erase(tag - 1);
            m.credit += n;
            pump(self, t, g);
            return;
          }
}

void forget(self_ptr self, const caf::actor_addr& who) {
  for (auto& [ns, topics] : self->state.topics)
    for (auto& [name, t] : topics) {
      auto& e = t.ephemeral;
      e.erase(std::remove_if(e.begin(), e.end(),
                             [&](const subscription_actor& a) {
                               return a.address() == who;
                             }),
              e.end());
      for (auto& [gname, g] : t.groups) {
        auto& ms = g.members;
        auto gone = std::find_if(ms.begin(), ms.end(),
                                 [&](const broker_state::member& m) {
                                   return m.subscriber.address() == who;
                                 });
        if (gone == ms.end())
          continue;
        g.redeliver.insert(gone->unacked.begin(), gone->unacked.end());
        ms.erase(gone);
        if (g.next >= ms.size())
          g.next = 0;
        pump(self, t, g);
      }
    }
}

} // namespace

broker_actor::behavior_type broker(
  broker_actor::stateful_pointer<broker_state> self, broker_options options) {
  auto& st = self->state;
  st.options = std::move(options);
  st.epoch_ms = st.options.clock ? st.options.clock->now_ms() : 0;
  st.registration = enroll_if(st.options.actors, self, "broker",
                              st.options.backend, st.options.parent);
  if (st.registration && st.options.gate)
    st.registration->set_mailbox_limit(st.options.gate->limit());
  self->set_down_handler(
    [self](caf::down_msg& msg) { forget(self, msg.source); });
  return {
    [=](request_atom, call_ptr& call) {
      take_pubsub_call(self, self->state, std::move(call), publish, subscribe);
    },
    [=](demand_atom, uint32_t n, uint64_t tag) {
      handling timed{self->state.registration};
      on_demand(self,
                self->current_sender()
                  ? caf::actor_cast<caf::actor_addr>(self->current_sender())
                  : caf::actor_addr{},
                n, tag);
    },
  };
}

} // namespace prism
