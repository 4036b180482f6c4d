#pragma once

// The rate-limit stage: token buckets per namespace and per principal within
// a namespace (`namespaces.<n>.rate_limit`). A call takes one token from its
// namespace's bucket and one from its principal's; with either empty it is
// answered RESOURCE_EXHAUSTED with `x-prism-retry-after-ms` = when the next
// token comes. Time is the call's arrival on the actor clock, so the stage
// runs unchanged (and exactly) on virtual time; buckets live in the one
// stage actor, so there is no lock.

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "config/config.hpp"
#include "middleware/stage.hpp"

namespace prism {

class rate_limit_logic final : public stage_logic {
public:
  /// Refusals are counted in prism_rate_limited_total{namespace} of
  /// `metrics`, which it keeps.
  rate_limit_logic(const config::gateway_config& cfg,
                   metrics_registry_ptr metrics);

  config::stage_kind kind() const noexcept override {
    return config::stage_kind::rate_limit;
  }
  status on_request(kv_call& call) override;
  /// New limits apply to the next call. A bucket whose limit stays keeps its
  /// tokens; one whose limit changes keeps them up to its new burst (a
  /// tightened limit bites at once, a loosened one does not hand out a free
  /// burst); buckets of namespaces no longer limited are dropped.
  void reconfigure(const config::gateway_config& cfg) override;

private:
  struct bucket {
    config::rate_limit limit;
    double tokens = 0;
    caf::actor_clock::time_point last{};
    bool started = false;
    /// Tops up for the time since `last`; returns the tokens there are.
    double refill(caf::actor_clock::time_point now);
  };
  struct limits {
    config::rate_limit per_namespace;
    config::rate_limit per_principal;
    prometheus::Counter* limited = nullptr;
  };
  metrics_registry_ptr metrics_;
  std::map<std::string, limits> limits_;
  std::map<std::string, bucket> namespaces_;
  std::map<std::pair<std::string, std::string>, bucket> principals_;
};

std::unique_ptr<stage_logic> make_rate_limit_stage(
  const config::gateway_config& cfg, const metrics_registry_ptr& metrics);

} // namespace prism
