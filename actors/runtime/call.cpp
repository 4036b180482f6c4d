#include "runtime/call.hpp"
#include "runtime/forward.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "runtime/admission.hpp"

namespace prism {

kv_call::kv_call(request_context ctx, model::operation op,
                 std::unique_ptr<call_completion> completion)
  : context(std::move(ctx)),
    operation(std::make_shared<const model::operation>(std::move(op))),
    completion_(std::move(completion)) {}

kv_call::~kv_call() {
  if (!completed()) {
    // Reaching this means a message carrying the call was dropped: a bug or
    // an actor that died with work in hand. The client still gets an answer.
    spdlog::warn("request_id={} {} on namespace \"{}\" was dropped before "
                 "completion; answering UNAVAILABLE",
                 context.request_id, model::operation_name(*operation),
                 context.ns);
    complete(model::outcome::failure(
      status_code::unavailable,
      "the gateway stopped working on this request before it completed "
      "(request id "
        + context.request_id
        + "), e.g. because it is shutting down; a write may or may not have "
          "been applied"));
    // Its session counted it in flight and will not see its reply.
    if (session)
      caf::anon_send(session, dropped_atom::value);
  }
}

bool kv_call::complete(model::outcome&& result) {
  return deliver(std::move(result), false);
}

bool kv_call::complete_soon(model::outcome&& result) {
  return deliver(std::move(result), true);
}

bool kv_call::deliver(model::outcome&& result, bool soon) {
  bool expected = false;
  if (!completed_.compare_exchange_strong(expected, true,
                                          std::memory_order_acq_rel))
    return false;
  final_code = result.status.code;
  if (!completion_)
    return true;
  if (soon)
    completion_->complete_soon(std::move(result));
  else
    completion_->complete(std::move(result));
  return true;
}

bool admit_to(const admission_ptr& gate) noexcept {
  return !gate || gate->try_acquire();
}

model::outcome saturated(const std::string& what, const admission_ptr& gate) {
  return overload_refusal(
    refusal::mailbox_full,
    fmt::format(
      "the gateway is overloaded: {} has {} requests waiting to be taken, its "
      "limit; retry later",
      what, gate ? gate->limit() : 0));
}

call_ptr make_call(request_context context, model::operation op,
                   std::unique_ptr<call_completion> completion) {
  return call_ptr{
    new kv_call(std::move(context), std::move(op), std::move(completion)),
    false};
}

std::string to_string(const call_ptr& call) {
  if (!call)
    return "call(none)";
  return fmt::format("call({} {} {})", call->context.request_id,
                     call->context.ns,
                     call->operation ? model::operation_name(*call->operation)
                                     : std::string_view{"?"});
}

} // namespace prism
