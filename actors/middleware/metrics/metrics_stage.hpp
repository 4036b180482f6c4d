#pragma once

// The metrics stage counts requests by namespace, operation and status code,
// and keeps latency histograms by namespace and operation. Latency runs from
// the session receiving a call to the session answering it, on the actor
// clock.
//
// Each series is resolved in the gateway's registry the first time the stage
// meets its label set and kept in the stage's tables, so counting a request
// takes one hash lookup of its namespace and no lock on the family.

#include <array>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "middleware/stage.hpp"

namespace prism {

class metrics_logic final : public stage_logic {
public:
  /// Upper bounds of the latency buckets, in seconds.
  static constexpr std::array<double, 14> bucket_bounds_s
    = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
       0.01,    0.025,  0.05,    0.1,    0.25,  1.0,    5.0};

  /// Namespaces outside `known` are counted under "_unknown", so clients
  /// cannot grow the series without bound.
  metrics_logic(std::set<std::string> known, metrics_registry_ptr metrics);

  config::stage_kind kind() const noexcept override {
    return config::stage_kind::metrics;
  }
  void on_complete(const kv_call& call) override;
  /// Namespaces a reload added get their own series; removed ones keep the
  /// series they have (counters never go back) and count new calls under
  /// "_unknown".
  void reconfigure(const config::gateway_config& cfg) override;

private:
  /// One namespace's series per operation (by its index in model::operation),
  /// each made on first use.
  struct operation_series {
    prometheus::Histogram* latency = nullptr;
    /// By status code (OK .. UNAUTHENTICATED).
    std::array<prometheus::Counter*, 17> requests{};
  };
  struct namespace_series {
    std::string label;
    std::vector<operation_series> operations;
  };

  namespace_series& series_for(const std::string& ns);

  metrics_registry_ptr metrics_;
  std::unordered_map<std::string, namespace_series> known_;
  namespace_series unknown_;
};

std::unique_ptr<stage_logic> make_metrics_stage(std::set<std::string> known,
                                                metrics_registry_ptr metrics);

} // namespace prism
