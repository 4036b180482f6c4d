#include "runtime/metric_report.hpp"

#include <map>

#include <fmt/format.h>

namespace prism {

std::string escape_label(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_prometheus(const metric_report& report) {
  // Keep first-seen order of families, merge samples of equal names.
  std::vector<const metric_family*> order;
  std::map<std::string, std::vector<const metric_family*>> by_name;
  for (auto& family : report) {
    auto& parts = by_name[family.name];
    if (parts.empty())
      order.push_back(&family);
    parts.push_back(&family);
  }
  std::string out;
  for (auto* head : order) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", head->name, head->help,
                       head->name, head->type);
    for (auto* family : by_name[head->name])
      for (auto& sample : family->samples) {
        out += head->name;
        out += sample.suffix;
        if (!sample.labels.empty()) {
          out += '{';
          out += sample.labels;
          out += '}';
        }
        out += fmt::format(" {}\n", sample.value);
      }
  }
  return out;
}

metric_family counter_by_namespace(std::string name, std::string help,
                                   const std::map<std::string, uint64_t>& counts) {
  metric_family family{std::move(name), std::move(help), "counter", {}};
  for (const auto& [ns, n] : counts)
    family.samples.push_back(
      {"namespace=\"" + escape_label(ns) + "\"", static_cast<double>(n), ""});
  return family;
}

} // namespace prism
