#include "gateway/wiring.hpp"

#include <algorithm>

#include "middleware/access/access_stage.hpp"
#include "routing/router.hpp"

namespace prism {

void gateway::wiring::set_namespaces_locked(const config::gateway_config& cfg) {
  chains.clear();
  subscription_buffers.clear();
  readers.clear();
  kv_backends.clear();
  std::set<std::string> names;
  for (auto& [name, ns] : cfg.namespaces)
    names.insert(name);
  // Series of namespaces that stay are found again and keep counting.
  rejections = std::make_shared<const rejection_counters>(metrics, names);
  for (auto& [name, ns] : cfg.namespaces) {
    // With authentication on, every namespace's calls meet the access
    // stage first, whatever its middleware list says; then the rate limit
    // of a namespace that has one (a refused call takes no token).
    // Metrics only counts outcomes; audit refuses calls only where a
    // line is required for each.
    std::vector<chain_stage> chain;
    auto add = [&](config::stage_kind kind) {
      chain.push_back({kind, config::refuses_calls(kind, ns.audit_required)});
    };
    if (cfg.auth.enabled())
      add(config::stage_kind::access);
    if (ns.namespace_rate.limited() || ns.principal_rate.limited())
      add(config::stage_kind::rate_limit);
    for (auto& listed : ns.middleware)
      if (auto kind = config::stage_kind_named(listed))
        add(*kind);
    chains.emplace(name, std::move(chain));
    if (cfg.auth.enabled())
      readers.emplace(
        name,
        std::make_shared<const std::set<std::string>>(readers_of(cfg, ns)));
    if (ns.pattern == config::pattern::pubsub)
      subscription_buffers.emplace(
        name,
        std::make_pair(ns.subscription_buffer, ns.disconnect_slow_subscribers));
    else if (auto b = cfg.backends.find(ns.backend); b != cfg.backends.end())
      kv_backends.emplace(name,
                          std::make_pair(ns.backend, b->second.max_pending));
  }
}

bool gateway::wiring::started_locked() const {
  if (routes->version() == 0)
    return false;
  for (auto& name : expected_pools)
    if (pools.count(name) == 0)
      return false;
  for (auto& name : expected_brokers)
    if (brokers.count(name) == 0)
      return false;
  return true;
}

void gateway::wiring::publish_locked() {
  if (!router)
    return;
  // Calls for unknown namespaces are still counted and audited.
  const std::vector<chain_stage> fallback_chain{
    {config::stage_kind::metrics, false}, {config::stage_kind::audit, false}};
  // Each stage publishes as it starts; only the last one to start finds all
  // the stages every route needs, the fallback's included.
  auto all_started = [&](const std::vector<chain_stage>& chain) {
    return std::all_of(chain.begin(), chain.end(), [&](const chain_stage& s) {
      return stages.count(s.kind) > 0;
    });
  };
  if (!all_started(fallback_chain))
    return;
  for (auto& [ns, chain] : chains)
    if (!all_started(chain))
      return;
  auto table = std::make_shared<route_table>();
  auto make_route = [&](const std::vector<chain_stage>& chain) {
    auto r = std::make_shared<route>();
    for (auto& s : chain) {
      auto& e = stages.at(s.kind);
      auto index = static_cast<uint32_t>(r->stages.size());
      (s.decides ? r->checkpoints : r->observers).push_back(index);
      r->stages.push_back(e.handle);
      r->stage_gates.push_back(e.gate);
      r->stage_kinds.emplace_back(config::to_string(s.kind));
    }
    r->router = router;
    r->router_gate = router_gate;
    return r;
  };
  for (auto& [ns, chain] : chains) {
    auto r = make_route(chain);
    if (auto i = subscription_buffers.find(ns);
        i != subscription_buffers.end()) {
      r->subscription_buffer_messages = i->second.first;
      r->disconnect_slow_subscribers = i->second.second;
    }
    if (auto i = readers.find(ns); i != readers.end())
      r->readers = i->second;
    if (auto i = kv_backends.find(ns); i != kv_backends.end()) {
      r->backend = i->second.first;
      r->max_pending = i->second.second;
      if (auto p = pools.find(r->backend); p != pools.end())
        r->pool_gate = p->second.gate;
    }
    table->by_namespace.emplace(ns, std::move(r));
  }
  auto fallback = make_route(fallback_chain);
  fallback->configured = false;
  table->fallback = std::move(fallback);
  table->rejections = rejections;
  routes->store(std::move(table));
  published.notify_all();
}

} // namespace prism
