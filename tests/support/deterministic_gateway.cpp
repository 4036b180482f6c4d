#include "deterministic_gateway.hpp"

#include <stdexcept>

#include <caf/scoped_actor.hpp>

#include "kv/validate.hpp"

namespace prism::testing {

namespace {

class recording_completion final : public call_completion {
public:
  recording_completion(std::shared_ptr<std::vector<answer>> answers,
                       std::string request_id)
    : answers_(std::move(answers)), request_id_(std::move(request_id)) {
  }

  void complete(kv::outcome&& result) override {
    answers_->push_back(answer{request_id_, std::move(result)});
  }

private:
  std::shared_ptr<std::vector<answer>> answers_;
  std::string request_id_;
};

} // namespace

config::gateway_config parse_config(const std::string& yaml) {
  auto result = config::parse(yaml, "test.yaml");
  if (!result.ok()) {
    std::string text = "test config has problems:";
    for (auto& p : result.problems)
      text += "\n  " + config::format(p);
    throw std::runtime_error(text);
  }
  return *result.config;
}

deterministic_gateway::deterministic_gateway(const config::gateway_config& cfg)
  : clock_(std::make_shared<drivers::manual_clock>()),
    backends_(std::make_shared<drivers::sim_backends>()),
    audit_(std::make_shared<recording_audit_sink>()),
    answers_(std::make_shared<std::vector<answer>>()) {
  sys_cfg_.set("scheduler.policy", caf::atom("testing"));
  sys_ = std::make_unique<caf::actor_system>(sys_cfg_);
  sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
  gateway_ = std::make_unique<gateway>(
    *sys_, cfg, drivers::make_sim_driver_factory(backends_, clock_), audit_);
  run();
}

deterministic_gateway::~deterministic_gateway() {
  gateway_->stop();
  run();
  gateway_.reset();
  // Pending timers (idle ticks, sweeps) would keep actors alive forever under
  // virtual time; fire them until everything has ended.
  for (int i = 0; i < 100 && (sched_->has_job() || sched_->has_pending_timeout());
       ++i) {
    sched_->trigger_timeouts();
    run();
  }
}

void deterministic_gateway::submit(const std::string& request_id,
                                   const std::string& ns, kv::operation op,
                                   std::optional<int64_t> deadline_ms,
                                   const std::string& client) {
  request_context rc;
  rc.request_id = request_id;
  rc.ns = ns;
  rc.peer = client;
  if (deadline_ms)
    rc.deadline = sys_->clock().now() + std::chrono::milliseconds(*deadline_ms);
  auto rejection = kv::validate_request(ns, op);
  auto call = make_call(
    std::move(rc), std::move(op),
    std::make_unique<recording_completion>(answers_, request_id));
  call->rejection = std::move(rejection);
  gateway_->sessions().dispatch(client, std::move(call));
}

size_t deterministic_gateway::run() {
  size_t ran = 0;
  while (sched_->try_run_once())
    ++ran;
  return ran;
}

void deterministic_gateway::advance_ms(int64_t ms) {
  clock_->advance_ms(ms);
  sched_->advance_time(std::chrono::milliseconds(ms));
  run();
}

kv::outcome deterministic_gateway::call(const std::string& ns,
                                        kv::operation op) {
  auto id = "auto-" + std::to_string(next_id_++);
  submit(id, ns, std::move(op));
  run();
  auto* result = answer_of(id);
  if (!result)
    throw std::runtime_error("call " + id + " got no answer");
  return *result;
}

const kv::outcome*
deterministic_gateway::answer_of(const std::string& request_id) const {
  for (auto& a : *answers_)
    if (a.request_id == request_id)
      return &a.outcome;
  return nullptr;
}

std::string deterministic_gateway::metrics_text() {
  metric_report report;
  caf::scoped_actor self{*sys_};
  for (auto& stage : gateway_->stages())
    self->send(stage, report_atom::value);
  run();
  for (size_t i = 0; i < gateway_->stages().size(); ++i)
    self->receive([&](metric_report& part) {
      for (auto& family : part)
        report.push_back(std::move(family));
    });
  return render_prometheus(report);
}

drivers::sim_backend& deterministic_gateway::backend(const std::string& name) {
  auto i = backends_->find(name);
  if (i == backends_->end())
    throw std::runtime_error("no simulated backend named " + name);
  return *i->second;
}

} // namespace prism::testing
