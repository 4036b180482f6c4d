#pragma once

// Counters that actors report, rendered once in Prometheus text format by the
// admin listener. Families with the same name from several actors merge.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>

namespace prism {

struct metric_sample {
  /// Preformatted label set without braces, e.g. `namespace="cache"`; may be
  /// empty. A histogram sample names its series suffix in `suffix`.
  std::string labels;
  double value = 0;
  std::string suffix;
};

struct metric_family {
  std::string name;
  std::string help;
  /// "counter", "gauge" or "histogram".
  std::string type;
  std::vector<metric_sample> samples;
};

using metric_report = std::vector<metric_family>;

/// Renders families in Prometheus text exposition format 0.0.4.
std::string render_prometheus(const metric_report& report);

/// Escapes a label value (backslash, quote, newline).
std::string escape_label(const std::string& value);

/// A counter family with one sample per namespace.
metric_family counter_by_namespace(std::string name, std::string help,
                                   const std::map<std::string, uint64_t>& counts);

} // namespace prism

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(prism::metric_report)
