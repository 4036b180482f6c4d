#include "middleware/stage.hpp"

#include <prometheus/counter.h>

namespace prism {

namespace {

prometheus::Counter& stage_calls(metrics_registry& metrics,
                                 const std::string& kind, const char* verdict) {
  return metrics.counter(
    "prism_stage_calls_total",
    "Calls a middleware stage let pass on their way in (passed), answered "
    "itself (rejected) or found past their deadline (expired), and the "
    "outcomes it was told of (observed).",
    {{"stage", kind}, {"verdict", verdict}});
}

} // namespace

stage_actor::behavior_type stage(
  stage_actor::stateful_pointer<stage_state> self,
  std::shared_ptr<stage_logic> logic, inspector* actors, admission_ptr gate,
  uint64_t parent, metrics_registry_ptr metrics) {
  auto& st = self->state;
  st.logic = std::move(logic);
  st.gate = std::move(gate);
  st.metrics = metrics ? std::move(metrics)
                       : std::make_shared<metrics_registry>();
  std::string kind{config::to_string(st.logic->kind())};
  st.passed = &stage_calls(*st.metrics, kind, "passed");
  st.rejected = &stage_calls(*st.metrics, kind, "rejected");
  st.expired = &stage_calls(*st.metrics, kind, "expired");
  st.observed = &stage_calls(*st.metrics, kind, "observed");
  st.registration = enroll_if(actors, self, "stage", kind, parent);
  if (st.registration && st.gate)
    st.registration->set_mailbox_limit(st.gate->limit());
  return {
    [=](request_atom, call_ptr& call) {
      auto& st = self->state;
      handling timed{st.registration};
      if (st.gate)
        took_message(*st.gate, st.registration, st.gate_rejections_seen);
      auto now = self->clock().now();
      call->hops.add(hop_kind::stage, self->id(), now,
                     static_cast<uint8_t>(st.logic->kind()));
      if (call->expired(now)) {
        st.expired->Increment();
        fail_call(self, std::move(call), status_code::deadline_exceeded,
                  std::string("the request's deadline passed while it waited "
                              "for middleware stage \"")
                    + std::string{config::to_string(st.logic->kind())} + "\"");
        return;
      }
      auto verdict = st.logic->on_request(*call);
      if (verdict.ok()) {
        st.passed->Increment();
        forward_call(self, std::move(call));
      } else {
        st.rejected->Increment();
        if (st.registration)
          st.registration->count_rejected();
        // The whole verdict goes back, retry hint included.
        reply(self, std::move(call), model::outcome{std::move(verdict), {}});
      }
    },
    [=](completed_atom, const call_batch& batch) {
      auto& st = self->state;
      handling timed{st.registration};
      // Sessions take a slot for each batch they send (forced past the
      // limit: those calls are answered already).
      if (st.gate)
        took_message(*st.gate, st.registration, st.gate_rejections_seen);
      st.observed->Increment(static_cast<double>(batch.calls.size()));
      for (const auto& call : batch.calls)
        st.logic->on_complete(*call);
    },
    [=](reload_atom, const config_ptr& cfg) {
      handling timed{self->state.registration};
      self->state.logic->reconfigure(*cfg);
    },
  };
}

stage_actor spawn_stage(caf::actor_system& sys,
                        std::unique_ptr<stage_logic> logic, inspector* actors,
                        admission_ptr gate) {
  return sys.spawn(stage, std::shared_ptr<stage_logic>(std::move(logic)),
                   actors, std::move(gate), uint64_t{0}, nullptr);
}

} // namespace prism
