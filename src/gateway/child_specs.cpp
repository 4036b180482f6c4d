#include "gateway/child_specs.hpp"

#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "middleware/access/access_stage.hpp"
#include "middleware/audit/audit_stage.hpp"
#include "middleware/metrics/metrics_stage.hpp"
#include "middleware/rate_limit/rate_limit_stage.hpp"
#include "pool/pool.hpp"
#include "pubsub/broker.hpp"
#include "routing/router.hpp"
#include "runtime/admission.hpp"

namespace prism {

namespace {

caf::timespan ms(uint32_t n) {
  return std::chrono::milliseconds(n);
}

supervisor_options supervision_for(const config::supervision_config& c) {
  supervisor_options o;
  switch (c.strategy) {
    case config::supervision_strategy::one_for_all:
      o.strategy = strategy::one_for_all;
      break;
    case config::supervision_strategy::rest_for_one:
      o.strategy = strategy::rest_for_one;
      break;
    default: o.strategy = strategy::one_for_one;
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
  // A SQLite or PostgreSQL connection runs one statement at a time; queueing
  // in the pool instead of behind a busy connection lets a free one take the
  // next call, and a connection that breaks holds only the call it ran. The
  // memory driver answers inline, so it may take many.
  opts.in_flight_per_connection = backend.type == config::backend_type::memory
    ? defaults::connection_in_flight_max
    : 1;
  return opts;
}

/// Builds a stage's logic from the config serving when it (re)starts.
using logic_maker
  = std::function<std::unique_ptr<stage_logic>(const config::gateway_config&)>;

/// The logic of each stage kind. A kind added to config::stage_kinds does
/// not build (with warnings as errors) until it has a case here.
logic_maker logic_for(config::stage_kind kind,
                      const std::shared_ptr<audit_sink>& audit,
                      const metrics_registry_ptr& metrics) {
  switch (kind) {
    case config::stage_kind::access:
      return [metrics](const config::gateway_config& c) {
        return make_access_stage(c, metrics);
      };
    case config::stage_kind::rate_limit:
      return [metrics](const config::gateway_config& c) {
        return make_rate_limit_stage(c, metrics);
      };
    case config::stage_kind::metrics:
      return [metrics](const config::gateway_config& c) {
        std::set<std::string> known;
        for (auto& [name, ns] : c.namespaces)
          known.insert(name);
        return make_metrics_stage(std::move(known), metrics);
      };
    case config::stage_kind::audit:
      return [audit, metrics](const config::gateway_config& c) {
        return make_audit_stage(audit, audit_namespaces_of(c), metrics);
      };
  }
  throw std::logic_error("a stage kind without logic");
}

} // namespace

child_spec stage_spec(wiring_ptr w, config::stage_kind kind,
                      std::shared_ptr<audit_sink> audit, inspector* actors,
                      uint32_t mailbox_limit) {
  auto make = logic_for(kind, audit, w->metrics);
  child_spec spec;
  spec.name = "stage:" + std::string{config::to_string(kind)};
  spec.start = [w, kind, make, actors,
                mailbox_limit](caf::local_actor* parent) {
    config_ptr cfg;
    {
      std::lock_guard<std::mutex> guard{w->mutex};
      cfg = w->config;
    }
    auto gate = std::make_shared<admission>(mailbox_limit);
    auto handle
      = parent->spawn(stage, std::shared_ptr<stage_logic>(make(*cfg)), actors,
                      gate, static_cast<uint64_t>(parent->id()), w->metrics);
    std::lock_guard<std::mutex> guard{w->mutex};
    w->stages[kind] = {handle, gate};
    w->publish_locked();
    return caf::actor_cast<caf::actor>(handle);
  };
  return spec;
}

child_spec pool_spec(wiring_ptr w, const config::backend& backend,
                     const drivers::driver_factory& factory,
                     std::vector<driver_handoff> opened, inspector* actors,
                     metrics_registry_ptr metrics) {
  auto opts = options_for(backend);
  opts.actors = actors;
  opts.metrics = std::move(metrics);
  opts.figures = std::make_shared<pool_figures>(
    backend.name, std::string{config::to_string(backend.type)},
    backend.max_pending,
    opts.metrics ? resolve_pool_gauges(*opts.metrics, backend.name)
                 : pool_gauges{});
  w->pool_figures[backend.name] = opts.figures;
  opts.reopen = [factory, backend](uint32_t index) {
    return factory(backend, index);
  };
  auto first = std::make_shared<std::vector<driver_handoff>>(std::move(opened));
  child_spec spec;
  spec.name = "pool:" + backend.name;
  spec.start = [w, opts, first, name = backend.name,
                count = backend.connections,
                limit = backend.mailbox_limit](caf::local_actor* parent) {
    // The first start takes the drivers the gateway opened; a restart
    // leaves every connection to open its own (through its supervisor, so
    // a backend that is down opens the circuit instead of failing here).
    auto drivers = std::move(*first);
    first->clear();
    drivers.resize(count);
    auto o = opts;
    o.gate = std::make_shared<admission>(limit);
    o.parent = parent->id();
    auto gate = o.gate;
    pool_actor handle = parent->spawn(pool, std::move(o), std::move(drivers));
    {
      // Under the lock, so that the router has this pool in its mailbox
      // before anyone sees the gateway as started.
      std::lock_guard<std::mutex> guard{w->mutex};
      w->pools[name] = {handle, gate};
      if (w->router)
        caf::anon_send(w->router, pool_up_atom::value, name, handle, gate);
      // The routes carry the pool's gate (see route::pool_gate).
      w->publish_locked();
    }
    w->published.notify_all();
    return caf::actor_cast<caf::actor>(handle);
  };
  return spec;
}

child_spec broker_spec(wiring_ptr w, const config::backend& backend,
                       std::shared_ptr<drivers::wall_clock> clock,
                       inspector* actors) {
  child_spec spec;
  spec.name = "broker:" + backend.name;
  spec.start = [w, clock, actors, name = backend.name,
                limit = backend.mailbox_limit,
                retained = backend.topic_retained_messages,
                retained_bytes = backend.topic_retained_bytes,
                max_topics = backend.max_topics](caf::local_actor* parent) {
    broker_options o;
    o.backend = name;
    o.retained = retained;
    o.retained_bytes = retained_bytes;
    o.max_topics = max_topics;
    o.clock = clock;
    o.actors = actors;
    o.parent = parent->id();
    o.gate = std::make_shared<admission>(limit);
    o.lag_board = w->lag_board;
    auto gate = o.gate;
    auto handle = parent->spawn(broker, std::move(o));
    {
      std::lock_guard<std::mutex> guard{w->mutex};
      w->brokers[name] = {handle, gate};
      if (w->router)
        caf::anon_send(w->router, broker_up_atom::value, name, handle, gate);
    }
    w->published.notify_all();
    return caf::actor_cast<caf::actor>(handle);
  };
  return spec;
}

child_spec remote_broker_spec(wiring_ptr w, const config::backend& backend,
                              drivers::pubsub_driver_factory make,
                              pubsub_driver_handoff first, inspector* actors) {
  child_spec spec;
  spec.name = "broker:" + backend.name;
  remote_broker_options o;
  o.backend = backend.name;
  o.kind = std::string{config::to_string(backend.type)};
  o.max_pending = backend.max_pending;
  o.unavailable_after = std::chrono::milliseconds(backend.unavailable_after_ms);
  o.retry_after = std::chrono::milliseconds(backend.circuit.probe_after_ms);
  o.actors = actors;
  o.lag_board = w->lag_board;
  o.closer = w->closer;
  spec.start = [w, backend, make, first, o,
                limit = backend.mailbox_limit](caf::local_actor* parent) {
    auto handoff = std::make_shared<std::unique_ptr<drivers::pubsub_driver>>();
    if (first && *first)
      *handoff = std::move(*first);
    else
      *handoff = make(backend);
    auto options = o;
    options.parent = parent->id();
    options.gate = std::make_shared<admission>(limit);
    auto gate = options.gate;
    broker_actor handle
      = parent->spawn(remote_broker, std::move(handoff), std::move(options));
    {
      std::lock_guard<std::mutex> guard{w->mutex};
      w->brokers[backend.name] = {handle, gate};
      if (w->router)
        caf::anon_send(w->router, broker_up_atom::value, backend.name, handle,
                       gate);
    }
    w->published.notify_all();
    return caf::actor_cast<caf::actor>(handle);
  };
  return spec;
}

child_spec router_spec(wiring_ptr w, inspector* actors,
                       uint32_t mailbox_limit) {
  child_spec spec;
  spec.name = "router";
  spec.start = [w, actors, mailbox_limit](caf::local_actor* parent) {
    auto gate = std::make_shared<admission>(mailbox_limit);
    // Under the lock: a pool restarting meanwhile either is seen here or
    // sees this router and tells it.
    std::lock_guard<std::mutex> guard{w->mutex};
    auto current = routes_of(*w->config);
    for (auto& [ns, r] : current)
      if (auto i = w->pools.find(r.backend); i != w->pools.end()) {
        r.pool = i->second.handle;
        r.pool_gate = i->second.gate;
      }
    for (auto& [ns, r] : current)
      if (auto i = w->brokers.find(r.backend); i != w->brokers.end()) {
        r.broker = i->second.handle;
        r.broker_gate = i->second.gate;
      }
    auto handle = parent->spawn(router, std::move(current), actors, gate,
                                static_cast<uint64_t>(parent->id()));
    w->router = handle;
    w->router_gate = gate;
    w->publish_locked();
    return caf::actor_cast<caf::actor>(handle);
  };
  return spec;
}

std::vector<driver_handoff> open_drivers(const config::backend& backend,
                                         const drivers::driver_factory& make) {
  std::vector<driver_handoff> result;
  for (uint32_t i = 0; i < backend.connections; ++i) {
    try {
      result.push_back(std::make_shared<std::unique_ptr<drivers::kv_driver>>(
        make(backend, i)));
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format(
        "backend \"{}\" ({}:{}): cannot open connection #{}: {}", backend.name,
        backend.where.file, backend.where.line, i, e.what()));
    }
  }
  return result;
}

} // namespace prism
