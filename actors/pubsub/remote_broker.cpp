#include "pubsub/remote_broker.hpp"

#include <algorithm>

#include <caf/system_messages.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "pubsub/broker_intake.hpp"
#include "runtime/forward.hpp"

namespace prism {

namespace {

using self_ptr = remote_broker_impl::stateful_pointer<remote_broker_state>;

int64_t ms_between(caf::actor_clock::time_point from,
                   caf::actor_clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from)
    .count();
}

/// The refusal while the backend has been down too long.
model::outcome outage_refusal(self_ptr self) {
  auto& st = self->state;
  auto o = model::outcome::failure(
    status_code::unavailable,
    fmt::format("{} backend \"{}\" has been unreachable for {} ms ({}); try "
                "again later",
                st.options.kind, st.options.backend,
                ms_between(st.down_since, self->clock().now()),
                st.down_reason));
  o.status.retry_after_ms
    = static_cast<uint32_t>(st.options.retry_after.count());
  o.status.reason = refusal::circuit_open;
  return o;
}

/// The time left until the call's deadline, as the client's timeout.
drivers::op_timeout time_left(self_ptr self, const call_ptr& call) {
  if (call->context.deadline == caf::actor_clock::time_point::max())
    return drivers::no_timeout;
  auto left = call->context.deadline - self->clock().now();
  return std::max(drivers::op_timeout::zero(),
                  std::chrono::duration_cast<drivers::op_timeout>(left));
}

void publish(self_ptr self, call_ptr call, const model::publish_op& op) {
  auto& st = self->state;
  if (st.unavailable) {
    if (st.registration)
      st.registration->count_rejected();
    reply(self, std::move(call), outage_refusal(self));
    return;
  }
  auto waiting = st.in_flight->load(std::memory_order_relaxed);
  if (waiting >= st.options.max_pending) {
    if (st.registration)
      st.registration->count_rejected();
    auto o = model::outcome::failure(
      status_code::resource_exhausted,
      fmt::format("{} publishes to backend \"{}\" are already waiting for "
                  "the backend (max_pending); try again shortly",
                  waiting, st.options.backend));
    o.status.retry_after_ms = defaults::overload_retry_after_ms;
    o.status.reason = refusal::queue_full;
    reply(self, std::move(call), std::move(o));
    return;
  }
  st.in_flight->fetch_add(1, std::memory_order_relaxed);
  auto timeout = time_left(self, call);
  auto ns = call->context.ns;
  // The answer goes straight to the caller's session, from the client's
  // thread: a broker restarted meanwhile loses nothing.
  st.driver->publish(ns, op, timeout,
                     [in_flight = st.in_flight,
                      call = std::move(call)](model::outcome out) mutable {
                       in_flight->fetch_sub(1, std::memory_order_relaxed);
                       auto session = call->session;
                       caf::anon_send(session, reply_atom::value,
                                      std::move(call), std::move(out));
                     });
}

void subscribe(self_ptr self, call_ptr call, const model::subscribe_op& op) {
  auto& st = self->state;
  auto sub = call->subscriber;
  if (!sub) {
    fail_call(self, std::move(call), status_code::internal,
              "a subscribe call arrived without its subscription");
    return;
  }
  if (st.unavailable) {
    if (st.registration)
      st.registration->count_rejected();
    reply(self, std::move(call), outage_refusal(self));
    return;
  }
  self->monitor(sub);
  // The client's threads hold the broker by its address only, so a
  // subscription that outlives the broker does not keep it alive.
  auto me = caf::actor_cast<caf::actor_addr>(self);
  subscription_actor target = sub;
  auto addr = sub.address();
  drivers::pubsub_driver::subscriber_events events;
  events.ready = [target, me] {
    if (auto broker = caf::actor_cast<broker_actor>(me))
      caf::anon_send(target, attached_atom::value, broker);
  };
  events.message = [target](model::message m) {
    caf::anon_send(target, deliver_atom::value, std::move(m));
  };
  events.ended = [me, addr](status why) {
    if (auto broker = caf::actor_cast<remote_broker_impl>(me))
      caf::anon_send(broker, sub_ended_atom::value, addr, std::move(why));
  };
  pubsub_lag_board::entry_ptr lag;
  if (!op.subscription.empty() && st.options.lag_board) {
    lag = st.options.lag_board->track(call->context.ns, op.topic,
                                      op.subscription);
    events.lag
      = [entry = std::weak_ptr<pubsub_lag_board::entry>(lag)](uint64_t n) {
          if (auto e = entry.lock())
            e->set(n);
        };
  }
  auto handle = st.driver->subscribe(call->context.ns, op, std::move(events));
  st.subscribers[addr] = {sub, std::move(handle), std::move(lag)};
  reply(self, std::move(call),
        model::outcome::success(model::subscribe_result{}));
}

/// Ends every subscriber stream with `why` and lets go of their
/// subscriptions in the client.
void end_all(self_ptr self, const status& why) {
  auto& st = self->state;
  for (auto& [addr, s] : st.subscribers)
    self->send(s.actor, ended_atom::value, why);
  st.subscribers.clear();
}

void on_backend_state(self_ptr self, bool up, const std::string& reason) {
  auto& st = self->state;
  auto now = self->clock().now();
  if (!up) {
    st.down_reason = reason;
    if (!st.up)
      return;
    st.up = false;
    st.down_since = now;
    auto outage = ++st.outage;
    spdlog::warn("{} backend \"{}\" is unreachable: {}", st.options.kind,
                 st.options.backend, reason);
    if (st.registration)
      st.registration->set_state(actor_state::restarting);
    self->delayed_send(self, st.options.unavailable_after, outage_atom::value,
                       outage);
    return;
  }
  if (st.up)
    return;
  st.up = true;
  spdlog::info("{} backend \"{}\" is reachable again after {} ms",
               st.options.kind, st.options.backend,
               ms_between(st.down_since, now));
  st.unavailable = false;
  if (st.registration)
    st.registration->set_state(actor_state::running);
}

void on_outage_timer(self_ptr self, uint64_t outage) {
  auto& st = self->state;
  if (st.up || outage != st.outage || st.unavailable)
    return;
  st.unavailable = true;
  if (st.registration)
    st.registration->set_state(actor_state::failed);
  auto text = fmt::format(
    "{} backend \"{}\" has been unreachable for {} ms ({}); subscribe again "
    "once it is back",
    st.options.kind, st.options.backend,
    ms_between(st.down_since, self->clock().now()), st.down_reason);
  spdlog::error("{}: ending {} subscriber streams and refusing publishes", text,
                st.subscribers.size());
  end_all(self, status::failure(status_code::unavailable, text));
}

} // namespace

remote_broker_state::~remote_broker_state() {
  // Subscriber streams that are still open end now (their actors may not
  // know this broker yet, if their subscription was not ready).
  for (auto& [addr, s] : subscribers)
    caf::anon_send(s.actor, ended_atom::value,
                   status::failure(status_code::unavailable,
                                   "the topic's backend client stopped; "
                                   "subscribe again"));
  if (!options.closer) {
    subscribers.clear();
    driver.reset();
    return;
  }
  // The subscriptions close before the client that carries them.
  struct retired : closable {
    std::unique_ptr<drivers::pubsub_driver> driver;
    std::vector<std::unique_ptr<drivers::pubsub_driver::subscription>> subs;
    ~retired() override {
      subs.clear();
      driver.reset();
    }
  };
  auto item = std::make_unique<retired>();
  item->driver = std::move(driver);
  for (auto& [addr, s] : subscribers)
    item->subs.push_back(std::move(s.handle));
  subscribers.clear();
  options.closer->close(std::move(item));
}

remote_broker_impl::behavior_type remote_broker(
  remote_broker_impl::stateful_pointer<remote_broker_state> self,
  pubsub_driver_handoff handoff, remote_broker_options options) {
  auto& st = self->state;
  st.options = std::move(options);
  st.driver = std::move(*handoff);
  st.registration = enroll_if(st.options.actors, self, "broker",
                              st.options.backend, st.options.parent);
  if (st.registration && st.options.gate)
    st.registration->set_mailbox_limit(st.options.gate->limit());
  self->set_down_handler(
    [self](caf::down_msg& msg) { self->state.subscribers.erase(msg.source); });
  auto me = caf::actor_cast<caf::actor_addr>(self);
  st.driver->start([me](bool up, const std::string& reason) {
    if (auto broker = caf::actor_cast<remote_broker_impl>(me))
      caf::anon_send(broker, backend_state_atom::value, up, reason);
  });
  return {
    [=](request_atom, call_ptr& call) {
      take_pubsub_call(self, self->state, std::move(call), publish, subscribe);
    },
    [=](demand_atom, uint32_t n, uint64_t acked) {
      auto& st = self->state;
      handling timed{st.registration};
      auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
      auto i = st.subscribers.find(sender);
      if (i == st.subscribers.end() || !i->second.handle)
        return;
      if (acked != 0)
        i->second.handle->ack(acked);
      if (n > 0)
        i->second.handle->request(n);
    },
    [=](sub_ended_atom, const caf::actor_addr& who, status& why) {
      auto& st = self->state;
      handling timed{st.registration};
      auto i = st.subscribers.find(who);
      if (i == st.subscribers.end())
        return;
      self->send(i->second.actor, ended_atom::value, std::move(why));
      st.subscribers.erase(i);
    },
    [=](backend_state_atom, bool up, const std::string& reason) {
      handling timed{self->state.registration};
      on_backend_state(self, up, reason);
    },
    [=](outage_atom, uint64_t outage) {
      handling timed{self->state.registration};
      on_outage_timer(self, outage);
    },
  };
}

} // namespace prism
