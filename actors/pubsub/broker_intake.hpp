#pragma once

// How a broker (memory or Kafka/NATS) takes a call from its mailbox: count
// it, release its admission slot, drop it if its deadline passed, and hand a
// Publish or Subscribe to the broker's own function.

#include <variant>

#include "runtime/admission.hpp"
#include "runtime/forward.hpp"
#include "runtime/inspector.hpp"

namespace prism {

template <class Self, class State, class Publish, class Subscribe>
void take_pubsub_call(Self* self, State& st, call_ptr call, Publish publish,
                      Subscribe subscribe) {
  handling timed{st.registration};
  if (st.options.gate)
    took_message(*st.options.gate, st.registration, st.gate_rejections_seen);
  if (call->expired(self->clock().now())) {
    fail_call(self, std::move(call), status_code::deadline_exceeded,
              "the request's deadline passed before its backend's broker "
              "took it");
    return;
  }
  auto op = call->operation;
  if (auto* p = std::get_if<model::publish_op>(op.get()))
    publish(self, std::move(call), *p);
  else if (auto* s = std::get_if<model::subscribe_op>(op.get()))
    subscribe(self, std::move(call), *s);
  else
    fail_call(self, std::move(call), status_code::internal,
              "a KeyValue operation reached a PubSub backend");
}

} // namespace prism
