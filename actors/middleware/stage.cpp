#include "middleware/stage.hpp"

namespace prism {

stage_actor::behavior_type
stage(stage_actor::stateful_pointer<stage_state> self,
      std::shared_ptr<stage_logic> logic, inspector* actors,
      admission_ptr gate, uint64_t parent) {
  self->state.logic = std::move(logic);
  self->state.gate = std::move(gate);
  self->state.registration
    = enroll_if(actors, self, "stage", self->state.logic->kind(), parent);
  if (self->state.registration && self->state.gate)
    self->state.registration->set_mailbox_limit(self->state.gate->limit());
  return {
    [=](request_atom, call_ptr& call) {
      auto& st = self->state;
      count_handled(st.registration);
      if (st.gate)
        took_message(*st.gate, st.registration, st.gate_rejections_seen);
      if (call->expired(self->clock().now())) {
        ++st.expired;
        fail_call(self, std::move(call), status_code::deadline_exceeded,
                  std::string("the request's deadline passed while it waited "
                              "for middleware stage \"")
                    + st.logic->kind() + "\"");
        return;
      }
      auto verdict = st.logic->on_request(*call);
      if (verdict.ok()) {
        ++st.passed;
        forward_call(self, std::move(call));
      } else {
        ++st.rejected;
        if (st.registration)
          st.registration->count_rejected();
        // The whole verdict goes back, retry hint included.
        auto session = call->session;
        self->send(session, reply_atom::value, std::move(call),
                   kv::outcome{std::move(verdict), {}});
      }
    },
    [=](completed_atom, const call_ptr& call) {
      count_handled(self->state.registration);
      self->state.logic->on_complete(*call);
    },
    [=](reload_atom, const config_ptr& cfg) {
      count_handled(self->state.registration);
      self->state.logic->reconfigure(*cfg);
    },
    [=](report_atom) -> metric_report {
      auto& st = self->state;
      metric_report out;
      st.logic->report(out);
      std::string kind = st.logic->kind();
      out.push_back(metric_family{
        "prism_stage_calls_total",
        "Calls a middleware stage let pass or answered itself.",
        "counter",
        {{"stage=\"" + kind + "\",verdict=\"passed\"",
          static_cast<double>(st.passed), ""},
         {"stage=\"" + kind + "\",verdict=\"rejected\"",
          static_cast<double>(st.rejected), ""},
         {"stage=\"" + kind + "\",verdict=\"expired\"",
          static_cast<double>(st.expired), ""}}});
      return out;
    },
  };
}

stage_actor spawn_stage(caf::actor_system& sys,
                        std::unique_ptr<stage_logic> logic,
                        inspector* actors, admission_ptr gate) {
  return sys.spawn(stage, std::shared_ptr<stage_logic>(std::move(logic)),
                   actors, std::move(gate), uint64_t{0});
}

} // namespace prism
