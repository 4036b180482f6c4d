#include "pool/pool_figures.hpp"

#include <chrono>

#include <prometheus/gauge.h>

namespace prism {

namespace {

int64_t millis_since(int64_t ticks, caf::actor_clock::time_point now) {
  auto then
    = caf::actor_clock::time_point{caf::actor_clock::duration_type{ticks}};
  if (now <= then)
    return 0;
  return std::chrono::duration_cast<std::chrono::milliseconds>(now - then)
    .count();
}

const char* circuit_name(uint8_t state) {
  switch (state) {
    case 1: return "open";
    case 2: return "half_open";
    default: return "closed";
  }
}

uint64_t value_of(const prometheus::Gauge* g) {
  if (!g)
    return 0;
  auto v = g->Value();
  return v > 0 ? static_cast<uint64_t>(v) : 0;
}

} // namespace

pool_gauges resolve_pool_gauges(metrics_registry& m,
                                const std::string& backend) {
  metric_labels labels{{"backend", backend}};
  pool_gauges g;
  g.connections = &m.gauge("prism_pool_connections",
                           "Connections a backend's pool has.", labels);
  g.active = &m.gauge("prism_pool_connections_active",
                      "Connections of a backend's pool working on at "
                      "least one request.",
                      labels);
  g.idle = &m.gauge("prism_pool_connections_idle",
                    "Connections of a backend's pool that are up and "
                    "working on nothing.",
                    labels);
  g.waiting = &m.gauge("prism_pool_requests_waiting",
                       "Requests waiting in a backend's pool for a free "
                       "connection (at most max_pending).",
                       labels);
  return g;
}

pool_report pool_figures::report(time_point now) const {
  pool_report r;
  r.backend = backend_;
  r.driver = driver_;
  r.actor = actor_.load(std::memory_order_relaxed);
  r.size = value_of(gauges_.connections);
  r.active = value_of(gauges_.active);
  r.idle = value_of(gauges_.idle);
  // Read apart, the three may disagree for a moment: never below zero.
  r.down = r.size > r.active + r.idle ? r.size - r.active - r.idle : 0;
  r.waiting = value_of(gauges_.waiting);
  r.max_pending = max_pending_;
  auto oldest = oldest_waiting_.load(std::memory_order_relaxed);
  r.max_wait_ms = r.waiting > 0 && oldest != 0 ? millis_since(oldest, now) : 0;
  r.served = served_.load(std::memory_order_relaxed);
  r.errors = errors_.load(std::memory_order_relaxed);
  r.reconnects = reconnects_.load(std::memory_order_relaxed);
  r.circuit = circuit_name(circuit_.load(std::memory_order_relaxed));
  auto at = circuit_at_.load(std::memory_order_relaxed);
  if (at != 0)
    r.circuit_since_ms = millis_since(at, now);
  return r;
}

} // namespace prism
