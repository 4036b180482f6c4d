#pragma once

// Values computed when /metrics is scraped (the live actors' gauges, an
// audit log's dropped lines), as plain data. The metrics registry renders
// them together with its own series.

#include <string>
#include <utility>
#include <vector>

namespace prism {

enum class metric_type { counter, gauge };

struct metric_sample {
  /// Label names and values, e.g. {{"namespace", "cache"}}; may be empty.
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

struct metric_family {
  std::string name;
  std::string help;
  metric_type type = metric_type::gauge;
  std::vector<metric_sample> samples;
};

using metric_report = std::vector<metric_family>;

} // namespace prism
