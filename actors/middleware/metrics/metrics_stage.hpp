#pragma once

// The metrics stage counts requests by namespace, operation and status code,
// and keeps latency histograms by namespace and operation. Latency runs from
// the session receiving a call to the session answering it, on the actor
// clock.

#include <array>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <tuple>

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
  explicit metrics_logic(std::set<std::string> known);

  const char* kind() const noexcept override { return "metrics"; }
  void on_complete(const kv_call& call) override;
  void report(metric_report& out) const override;
  /// Namespaces a reload added get their own series; removed ones keep the
  /// series they have (counters never go back) and count new calls under
  /// "_unknown".
  void reconfigure(const config::gateway_config& cfg) override;

private:
  struct histogram {
    std::array<uint64_t, bucket_bounds_s.size()> buckets{};
    uint64_t count = 0;
    double sum_s = 0;
  };
  using op_key = std::pair<std::string, std::string_view>;
  using code_key = std::tuple<std::string, std::string_view, std::string_view>;

  const std::string& label_for(const std::string& ns) const;

  std::set<std::string> known_;
  std::map<code_key, uint64_t> requests_;
  std::map<op_key, histogram> latency_;
};

std::unique_ptr<stage_logic> make_metrics_stage(std::set<std::string> known);

} // namespace prism
