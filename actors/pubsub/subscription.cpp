#include "pubsub/subscription.hpp"

#include <caf/exit_reason.hpp>
#include <caf/system_messages.hpp>

namespace prism {

namespace {

using self_ptr = subscription_impl::stateful_pointer<subscription_state>;

void pump(self_ptr self) {
  auto& st = self->state;
  if (st.writing || st.buffer.empty())
    return;
  st.writing = true;
  auto m = std::move(st.buffer.front());
  st.writing_tag = m.tag;
  st.buffer.pop_front();
  if (st.registration)
    st.registration->set_mailbox_depth(st.buffer.size());
  subscription_impl me = self;
  st.sink->write(
    m, [me](bool ok) { caf::anon_send(me, written_atom::value, ok); });
}

void deliver(self_ptr self, model::message& m) {
  auto& st = self->state;
  if (st.buffer.size() >= st.options.buffer && st.options.disconnect_when_full
      && !st.options.named) {
    ++st.dropped;
    if (st.registration)
      st.registration->count_rejected();
    st.sink->finish(status::failure(
      status_code::resource_exhausted,
      "the subscriber fell " + std::to_string(st.options.buffer)
        + " messages behind and was disconnected (the namespace says "
          "slow_subscriber: disconnect); read faster or use a named "
          "subscription, which waits for the reader"));
    self->quit(caf::exit_reason::normal);
    return;
  }
  if (st.buffer.size() >= st.options.buffer) {
    // Only an ephemeral subscription gets here (a named one has no credit
    // left): the oldest waiting message goes.
    st.buffer.pop_front();
    ++st.dropped;
    if (st.registration)
      st.registration->count_rejected();
  }
  st.buffer.push_back(std::move(m));
  if (st.registration) {
    st.registration->count_admitted();
    st.registration->set_mailbox_depth(st.buffer.size());
  }
  pump(self);
}

} // namespace

subscription_impl::behavior_type subscription(
  subscription_impl::stateful_pointer<subscription_state> self,
  message_sink_ptr sink, subscription_options options) {
  auto& st = self->state;
  st.sink = std::move(sink);
  st.options = std::move(options);
  st.registration = enroll_if(st.options.actors, self, "subscription",
                              st.options.name, st.options.parent);
  if (st.registration)
    st.registration->set_mailbox_limit(st.options.buffer);
  subscription_actor me = self;
  st.sink->on_cancel([me] { caf::anon_send(me, stop_atom::value); });
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (st.broker && msg.source == st.broker.address()) {
      st.sink->finish(
        status::failure(status_code::unavailable,
                        "the topic's backend was restarted; subscribe again"));
      self->quit(caf::exit_reason::normal);
    }
  });
  // However it ends, the stream is finished (a no-op if it already was).
  self->attach_functor([sink = st.sink](const caf::error&) {
    sink->finish(status::failure(status_code::unavailable,
                                 "the subscription ended in the gateway; "
                                 "subscribe again"));
  });
  return {
    [=](deliver_atom, model::message& m) {
      handling timed{self->state.registration};
      ++self->state.delivered;
      deliver(self, m);
    },
    [=](written_atom, bool ok) {
      auto& st = self->state;
      handling timed{st.registration};
      st.writing = false;
      if (!ok) {
        self->quit(caf::exit_reason::normal);
        return;
      }
      if (st.options.named && st.broker)
        self->send(st.broker, demand_atom::value, uint32_t{1}, st.writing_tag);
      pump(self);
    },
    [=](attached_atom, const broker_actor& broker) {
      auto& st = self->state;
      handling timed{st.registration};
      st.broker = broker;
      self->monitor(broker);
      st.sink->subscribed();
      if (st.options.named)
        self->send(broker, demand_atom::value, st.options.buffer, uint64_t{0});
    },
    [=](ended_atom, status& why) {
      handling timed{self->state.registration};
      self->state.sink->finish(why);
      self->quit(caf::exit_reason::normal);
    },
    [=](stop_atom) {
      handling timed{self->state.registration};
      self->state.sink->finish(
        status::failure(status_code::cancelled, "the client unsubscribed"));
      self->quit(caf::exit_reason::normal);
    },
  };
}

} // namespace prism
