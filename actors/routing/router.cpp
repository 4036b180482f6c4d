#include "routing/router.hpp"

#include <fmt/format.h>

namespace prism {

namespace {

using self_ptr = router_actor::stateful_pointer<router_state>;

void route_call(self_ptr self, call_ptr call) {
  auto now = self->clock().now();
  call->hops.add(hop_kind::router, self->id(), now);
  auto& ns = call->context.ns;
  auto i = self->state.routes.find(ns);
  if (i == self->state.routes.end()
      || (call->path && !call->path->configured)) {
    fail_call(self, std::move(call), status_code::not_found,
              fmt::format("namespace \"{}\" is not configured on this "
                          "gateway; check the name or add it under "
                          "namespaces: in the config",
                          ns));
    return;
  }
  auto& target = i->second;
  bool pubsub_call = model::is_pubsub(*call->operation);
  if (target.pattern != config::pattern::keyvalue && !pubsub_call) {
    fail_call(self, std::move(call), status_code::failed_precondition,
              fmt::format("namespace \"{}\" is not a keyvalue namespace "
                          "(its pattern is pubsub); use the PubSub API",
                          ns));
    return;
  }
  if (target.pattern != config::pattern::pubsub && pubsub_call) {
    fail_call(self, std::move(call), status_code::failed_precondition,
              fmt::format("namespace \"{}\" is not a pubsub namespace "
                          "(its pattern is keyvalue); use the KeyValue API",
                          ns));
    return;
  }
  auto largest = model::largest_value_bytes(*call->operation);
  if (largest > target.max_value_bytes) {
    fail_call(self, std::move(call), status_code::invalid_argument,
              fmt::format("{} of {} bytes exceeds the max_value_bytes of "
                          "namespace \"{}\" ({} bytes)",
                          pubsub_call ? "payload" : "value", largest, ns,
                          target.max_value_bytes));
    return;
  }
  if (call->expired(now)) {
    fail_call(self, std::move(call), status_code::deadline_exceeded,
              "the request's deadline passed before it reached its backend");
    return;
  }
  call->backend = target.backend;
  if (pubsub_call) {
    if (!target.broker) {
      auto o = model::outcome::failure(
        status_code::unavailable,
        fmt::format("backend \"{}\" is starting (its topics are being "
                    "started again); retry shortly",
                    target.backend));
      o.status.retry_after_ms = defaults::overload_retry_after_ms;
      reply(self, std::move(call), std::move(o));
      return;
    }
    if (target.broker_gate && !target.broker_gate->try_acquire()) {
      reply(self, std::move(call),
            saturated("the topics of backend \"" + target.backend + "\"",
                      target.broker_gate));
      return;
    }
    self->send(target.broker, request_atom::value, std::move(call));
    return;
  }
  if (!target.pool) {
    auto o = model::outcome::failure(
      status_code::unavailable,
      fmt::format("backend \"{}\" is starting (its pool is being started "
                  "again); retry shortly",
                  target.backend));
    o.status.retry_after_ms = defaults::overload_retry_after_ms;
    reply(self, std::move(call), std::move(o));
    return;
  }
  if (target.pool_gate && target.pool_gate->saturated()) {
    target.pool_gate->refuse_ahead();
    reply(self, std::move(call),
          pool_saturated_refusal(target.backend, target.max_pending));
    return;
  }
  if (target.pool_gate && !target.pool_gate->try_acquire()) {
    auto outcome = overload_refusal(
      refusal::mailbox_full,
      fmt::format("the gateway is overloaded: backend \"{}\" has {} requests "
                  "waiting to be taken; retry later",
                  target.backend, target.pool_gate->limit()));
    reply(self, std::move(call), std::move(outcome));
    return;
  }
  self->send(target.pool, request_atom::value, std::move(call));
}

/// Takes the routes of a reloaded config; the pool and broker of each
/// backend come from the routes the router has (a reload that needs a
/// backend not running yet is refused before it gets here).
void reload_routes(self_ptr self, const config::gateway_config& cfg) {
  auto& routes = self->state.routes;
  for (auto& [ns, fresh] : routes_of(cfg)) {
    for (auto& [other, known] : routes) {
      if (known.backend != fresh.backend)
        continue;
      if (known.pool && !fresh.pool) {
        fresh.pool = known.pool;
        fresh.pool_gate = known.pool_gate;
      }
      if (known.broker && !fresh.broker) {
        fresh.broker = known.broker;
        fresh.broker_gate = known.broker_gate;
      }
    }
    routes[ns] = std::move(fresh);
  }
}

} // namespace

namespace_routes routes_of(const config::gateway_config& cfg) {
  namespace_routes routes;
  for (auto& [name, ns] : cfg.namespaces) {
    namespace_route r;
    r.pattern = ns.pattern;
    r.backend = ns.backend;
    r.max_value_bytes = ns.max_value_bytes;
    if (auto b = cfg.backends.find(ns.backend); b != cfg.backends.end())
      r.max_pending = b->second.max_pending;
    routes.emplace(name, std::move(r));
  }
  return routes;
}

router_actor::behavior_type router(
  router_actor::stateful_pointer<router_state> self, namespace_routes routes,
  inspector* actors, admission_ptr gate, uint64_t parent) {
  self->state.routes = std::move(routes);
  self->state.gate = std::move(gate);
  self->state.registration
    = enroll_if(actors, self, "router", "router", parent);
  if (self->state.registration && self->state.gate)
    self->state.registration->set_mailbox_limit(self->state.gate->limit());
  return {
    [=](request_atom, call_ptr& call) {
      auto& st = self->state;
      handling timed{st.registration};
      if (st.gate)
        took_message(*st.gate, st.registration, st.gate_rejections_seen);
      route_call(self, std::move(call));
    },
    [=](pool_up_atom, const std::string& backend, pool_actor& pool,
        admission_ptr& gate) {
      handling timed{self->state.registration};
      for (auto& [ns, target] : self->state.routes)
        if (target.backend == backend) {
          target.pool = pool;
          target.pool_gate = gate;
        }
    },
    [=](broker_up_atom, const std::string& backend, broker_actor& broker,
        admission_ptr& gate) {
      handling timed{self->state.registration};
      for (auto& [ns, target] : self->state.routes)
        if (target.backend == backend) {
          target.broker = broker;
          target.broker_gate = gate;
        }
    },
    [=](reload_atom, const config_ptr& cfg) {
      handling timed{self->state.registration};
      reload_routes(self, *cfg);
    },
  };
}

} // namespace prism
