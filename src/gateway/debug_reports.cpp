#include "gateway/gateway.hpp"

#include <mutex>

#include "gateway/wiring.hpp"
#include "runtime/rejections.hpp"

namespace prism {

std::vector<pool_report> gateway::pools(
  caf::actor_clock::time_point now) const {
  std::vector<pool_report> out;
  // Made before any actor ran and never changed since: no lock needed.
  for (auto& [name, figures] : wiring_->pool_figures)
    out.push_back(figures->report(now));
  return out;
}

std::shared_ptr<const config::gateway_config> gateway::current_config() const {
  std::lock_guard<std::mutex> guard{wiring_->mutex};
  return wiring_->config;
}

std::vector<namespace_report> gateway::namespaces() const {
  auto cfg = current_config();
  auto totals = metrics_->totals_by_namespace();
  std::vector<namespace_report> out;
  auto take = [&](const std::string& name) {
    namespace_report r;
    r.name = name;
    if (auto i = totals.find(name); i != totals.end())
      r.totals = std::move(i->second);
    return r;
  };
  for (auto& [name, ns] : cfg->namespaces) {
    auto r = take(name);
    r.backend = ns.backend;
    r.api = std::string{config::to_string(ns.pattern)};
    out.push_back(std::move(r));
  }
  out.push_back(take(unknown_namespace_label));
  return out;
}

std::vector<subscription_lag_report> gateway::subscription_lags() const {
  std::vector<subscription_lag_report> out;
  for (auto& family : wiring_->lag_board->report())
    for (auto& sample : family.samples) {
      subscription_lag_report r;
      auto label = [&](const char* name) {
        for (auto& [key, value] : sample.labels)
          if (key == name)
            return value;
        return std::string{};
      };
      r.ns = label("namespace");
      r.topic = label("topic");
      r.subscription = label("subscription");
      r.lag = sample.value > 0 ? static_cast<uint64_t>(sample.value) : 0;
      out.push_back(std::move(r));
    }
  return out;
}

} // namespace prism
