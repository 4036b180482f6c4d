#include "gateway/gateway.hpp"

#include <set>
#include <stdexcept>

#include <caf/scoped_actor.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "middleware/metrics/metrics_stage.hpp"
#include "pool/pool.hpp"
#include "routing/router.hpp"
#include "runtime/admission.hpp"

namespace prism {

namespace {

caf::timespan ms(uint32_t n) { return std::chrono::milliseconds(n); }

supervisor_options supervision_for(const config::supervision_config& c) {
  supervisor_options o;
  switch (c.strategy) {
    case config::supervision_strategy::one_for_all:
      o.strategy = strategy::one_for_all;
      break;
    case config::supervision_strategy::rest_for_one:
      o.strategy = strategy::rest_for_one;
      break;
    default:
      o.strategy = strategy::one_for_one;
  }
  o.intensity_max_restarts = c.max_restarts;
  o.intensity_period = ms(c.period_ms);
  o.backoff.min = ms(c.backoff_min_ms);
  o.backoff.max = ms(c.backoff_max_ms);
  o.backoff.multiplier = c.backoff_multiplier;
  o.backoff.jitter = c.backoff_jitter;
  o.backoff.reset_after = ms(c.backoff_reset_after_ms);
  o.shutdown_timeout = ms(c.shutdown_timeout_ms);
  return o;
}

pool_options options_for(const config::backend& backend) {
  pool_options opts;
  opts.backend = backend.name;
  opts.supervision = supervision_for(backend.supervision);
  opts.probe_after = ms(backend.circuit.probe_after_ms);
  opts.probe_max = ms(backend.circuit.probe_max_ms);
  opts.max_pending = backend.max_pending;
  opts.sweep_interval
    = std::chrono::milliseconds(backend.ttl_sweep_interval_ms);
  // A SQLite connection runs one statement at a time; queueing in the pool
  // instead of behind a busy connection lets a free one take the next call.
  opts.in_flight_per_connection = backend.type == config::backend_type::sqlite
                                    ? 1
                                    : defaults::connection_in_flight_max;
  return opts;
}

std::vector<driver_handoff> open_drivers(const config::backend& backend,
                                         const drivers::driver_factory& make) {
  std::vector<driver_handoff> result;
  for (uint32_t i = 0; i < backend.connections; ++i) {
    try {
      result.push_back(
        std::make_shared<std::unique_ptr<drivers::kv_driver>>(make(backend, i)));
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format(
        "backend \"{}\" ({}:{}): cannot open connection #{}: {}",
        backend.name, backend.where.file, backend.where.line, i, e.what()));
    }
  }
  return result;
}

} // namespace

gateway::gateway(caf::actor_system& sys, const config::gateway_config& cfg,
                 const drivers::driver_factory& factory,
                 std::shared_ptr<audit_sink> audit, inspector* actors)
  : sys_(sys) {
  // Stages: one actor per kind, shared by every namespace that names it.
  std::set<std::string> namespaces;
  for (auto& [name, ns] : cfg.namespaces)
    namespaces.insert(name);
  std::map<std::string, admission_ptr> stage_gates;
  auto add_stage = [&](const std::string& kind,
                       std::unique_ptr<stage_logic> logic) {
    auto gate = std::make_shared<admission>(cfg.server.stage_mailbox_limit);
    stage_gates.emplace(kind, gate);
    stage_by_kind_.emplace(kind, spawn_stage(sys, std::move(logic), actors,
                                             std::move(gate)));
  };
  add_stage("metrics", make_metrics_stage(namespaces));
  add_stage("audit", make_audit_stage(audit));
  for (auto& [kind, actor] : stage_by_kind_)
    stages_.push_back(actor);

  // Pools: one per backend that a keyvalue namespace uses.
  std::map<std::string, admission_ptr> pool_gates;
  std::set<std::string> used;
  for (auto& [name, ns] : cfg.namespaces)
    if (ns.pattern == config::pattern::keyvalue)
      used.insert(ns.backend);
  for (auto& name : used) {
    auto& backend = cfg.backends.at(name);
    auto opts = options_for(backend);
    opts.actors = actors;
    opts.gate = std::make_shared<admission>(backend.mailbox_limit);
    pool_gates.emplace(name, opts.gate);
    opts.reopen = [factory, backend](uint32_t index) {
      return factory(backend, index);
    };
    pools_.emplace(name, sys.spawn(pool, std::move(opts),
                                   open_drivers(backend, factory)));
  }

  // Router and routes.
  namespace_routes routes;
  for (auto& [name, ns] : cfg.namespaces) {
    namespace_route r;
    r.pattern = ns.pattern;
    r.backend = ns.backend;
    r.max_value_bytes = ns.max_value_bytes;
    if (auto i = pools_.find(ns.backend); i != pools_.end()) {
      r.pool = i->second;
      r.pool_gate = pool_gates.at(ns.backend);
    }
    routes.emplace(name, std::move(r));
  }
  auto router_gate
    = std::make_shared<admission>(cfg.server.router_mailbox_limit);
  router_ = sys.spawn(router, std::move(routes), actors, router_gate);

  auto table = std::make_shared<route_table>();
  auto make_route = [&](const std::vector<std::string>& kinds) {
    auto r = std::make_shared<route>();
    for (auto& kind : kinds) {
      r->stages.push_back(stage_by_kind_.at(kind));
      r->stage_gates.push_back(stage_gates.at(kind));
      r->stage_kinds.push_back(kind);
    }
    r->router = router_;
    r->router_gate = router_gate;
    return r;
  };
  for (auto& [name, ns] : cfg.namespaces)
    table->by_namespace.emplace(name, make_route(ns.middleware));
  // Calls for unknown namespaces are still counted and audited.
  table->fallback = make_route({"metrics", "audit"});

  session_options sopts;
  sopts.idle_timeout
    = std::chrono::milliseconds(cfg.server.session_idle_timeout_ms);
  sopts.actors = actors;
  sopts.max_in_flight = cfg.server.session_max_in_flight;
  sopts.mailbox_limit = cfg.server.session_mailbox_limit;
  sessions_ = std::make_shared<session_directory>(sys, sopts, table);
}

gateway::~gateway() {
  stop();
}

void gateway::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  sessions_->stop_all();
  auto reason = caf::exit_reason::user_shutdown;
  caf::anon_send_exit(router_, reason);
  for (auto& [name, p] : pools_)
    caf::anon_send_exit(p, reason);
  for (auto& s : stages_)
    caf::anon_send_exit(s, reason);
}

std::string collect_prometheus(caf::actor_system& sys,
                               const std::vector<stage_actor>& stages,
                               caf::timespan timeout,
                               metric_report extra) {
  metric_report report = std::move(extra);
  caf::scoped_actor self{sys};
  for (auto& stage : stages)
    self->request(stage, timeout, report_atom::value)
      .receive(
        [&](metric_report& part) {
          for (auto& family : part)
            report.push_back(std::move(family));
        },
        [&](caf::error& err) {
          spdlog::warn("a stage did not report its counters: {}",
                       sys.render(err));
        });
  return render_prometheus(report);
}

} // namespace prism
