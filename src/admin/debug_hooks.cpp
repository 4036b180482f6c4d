#include "admin/debug_hooks.hpp"

#include <chrono>

#include "admin/debug_data.hpp"
#include "gateway/gateway.hpp"

#ifndef PRISM_VERSION
#define PRISM_VERSION "unknown"
#endif

namespace prism::admin {

void wire_debug_hooks(admin_hooks& hooks, gateway& gw, serving_facts facts) {
  using namespace std::chrono;
  auto started_at_ms
    = duration_cast<milliseconds>(system_clock::now().time_since_epoch())
        .count();
  hooks.pools = [&gw](caf::actor_clock::time_point now) {
    return gw.pools(now);
  };
  hooks.namespaces = [&gw] {
    return gw.namespaces();
  };
  hooks.clients = [&gw](caf::actor_clock::time_point now) {
    return gw.sessions().clients(now);
  };
  hooks.subscription_lags = [&gw] {
    return gw.subscription_lags();
  };
  hooks.config = [&gw] {
    return gw.current_config();
  };
  hooks.stats = [&gw, facts = std::move(facts), started_at_ms] {
    gateway_stats s;
    s.version = PRISM_VERSION;
    s.started_at_ms = started_at_ms;
    s.sessions = gw.sessions().size();
    s.requests_in_flight = facts.requests_in_flight ? facts.requests_in_flight()
                                                    : 0;
    s.config_path = facts.config_path;
    s.listen = facts.listen;
    s.admin = facts.admin ? facts.admin() : std::string{};
    return s;
  };
  hooks.warnings_seen = std::make_shared<warning_history>();
}

} // namespace prism::admin
