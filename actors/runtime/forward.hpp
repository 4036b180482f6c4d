#pragma once

// Sending a call on: to the next stage that may refuse it, to the router, or
// back to its session with an answer. Every actor on the request path uses
// these, so the admission rules and the reply are written once.

#include <string>
#include <utility>

#include "runtime/admission.hpp"
#include "runtime/call.hpp"

namespace prism {

/// Takes a slot of `gate` (null admits); false when the mailbox is full.
bool admit_to(const admission_ptr& gate) noexcept;

/// The refusal for a full mailbox of the actor `what` names.
model::outcome saturated(const std::string& what, const admission_ptr& gate);

/// Sends `call` back to its session with its outcome.
template <class Self>
void reply(Self* self, call_ptr call, model::outcome outcome) {
  auto session = call->session;
  self->send(session, reply_atom::value, std::move(call), std::move(outcome));
}

/// Answers `call` with a failure by sending it back to its session.
template <class Self>
void fail_call(Self* self, call_ptr call, status_code code,
               std::string message) {
  reply(self, std::move(call),
        model::outcome::failure(code, std::move(message)));
}

/// Sends `call` to its next checkpoint stage, or to the router after the last,
/// after taking a slot in that actor's mailbox; when there is none, the call
/// is answered RESOURCE_EXHAUSTED with a retry hint instead.
template <class Self>
void forward_call(Self* self, call_ptr call) {
  const auto& path = *call->path;
  if (call->next_stage < path.checkpoints.size()) {
    auto i = path.checkpoints[call->next_stage++];
    if (i < path.stage_gates.size() && !admit_to(path.stage_gates[i])) {
      auto outcome
        = saturated("middleware stage \"" + path.stage_kinds[i] + "\"",
                    path.stage_gates[i]);
      reply(self, std::move(call), std::move(outcome));
      return;
    }
    auto next = path.stages[i];
    self->send(next, request_atom::value, std::move(call));
  } else {
    if (path.pool_gate && path.pool_gate->saturated()) {
      path.pool_gate->refuse_ahead();
      reply(self, std::move(call),
            pool_saturated_refusal(path.backend, path.max_pending));
      return;
    }
    if (!admit_to(path.router_gate)) {
      auto outcome = saturated("the router", path.router_gate);
      reply(self, std::move(call), std::move(outcome));
      return;
    }
    auto router = path.router;
    self->send(router, request_atom::value, std::move(call));
  }
}

} // namespace prism
