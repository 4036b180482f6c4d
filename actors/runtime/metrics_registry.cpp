#include "runtime/metrics_registry.hpp"

#include <algorithm>
#include <iterator>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace prism {

namespace {

prometheus::MetricFamily to_prometheus(const metric_family& family) {
  prometheus::MetricFamily out;
  out.name = family.name;
  out.help = family.help;
  out.type = family.type == metric_type::counter
    ? prometheus::MetricType::Counter
    : prometheus::MetricType::Gauge;
  for (const auto& sample : family.samples) {
    prometheus::ClientMetric metric;
    for (const auto& [name, value] : sample.labels)
      metric.label.push_back({name, value});
    if (family.type == metric_type::counter)
      metric.counter.value = sample.value;
    else
      metric.gauge.value = sample.value;
    out.metric.push_back(std::move(metric));
  }
  return out;
}

void append(std::vector<prometheus::MetricFamily>& out,
            const metric_report& report) {
  for (const auto& family : report)
    if (!family.samples.empty())
      out.push_back(to_prometheus(family));
}

} // namespace

metrics_registry::metrics_registry()
  : registry_(std::make_shared<prometheus::Registry>()) {}

metrics_registry::~metrics_registry() = default;

prometheus::Counter& metrics_registry::counter(const std::string& name,
                                               const std::string& help,
                                               const metric_labels& labels) {
  // Registering a family that exists returns it (the registry merges).
  return prometheus::BuildCounter()
    .Name(name)
    .Help(help)
    .Register(*registry_)
    .Add(labels);
}

prometheus::Gauge& metrics_registry::gauge(const std::string& name,
                                           const std::string& help,
                                           const metric_labels& labels) {
  return prometheus::BuildGauge()
    .Name(name)
    .Help(help)
    .Register(*registry_)
    .Add(labels);
}

prometheus::Histogram& metrics_registry::histogram(
  const std::string& name, const std::string& help, const metric_labels& labels,
  const std::vector<double>& bounds_s) {
  return prometheus::BuildHistogram()
    .Name(name)
    .Help(help)
    .Register(*registry_)
    .Add(labels, bounds_s);
}

void metrics_registry::add_collector(std::function<metric_report()> collect) {
  std::lock_guard<std::mutex> guard{collectors_mutex_};
  collectors_.push_back(std::move(collect));
}

std::string metrics_registry::render() const {
  auto families = registry_->Collect();
  // prometheus-cpp keeps a family's series in a hash map: sort them by
  // labels so that people reading the text find a series where they expect.
  for (auto& family : families)
    std::sort(
      family.metric.begin(), family.metric.end(),
      [](const prometheus::ClientMetric& a, const prometheus::ClientMetric& b) {
        return a.label < b.label;
      });
  std::vector<std::function<metric_report()>> collectors;
  {
    std::lock_guard<std::mutex> guard{collectors_mutex_};
    collectors = collectors_;
  }
  for (const auto& collect : collectors)
    append(families, collect());
  return prometheus::TextSerializer().Serialize(families);
}

std::string render_prometheus(const metric_report& report) {
  std::vector<prometheus::MetricFamily> families;
  append(families, report);
  return prometheus::TextSerializer().Serialize(families);
}

std::map<std::string, namespace_totals> metrics_registry::totals_by_namespace()
  const {
  std::map<std::string, namespace_totals> out;
  auto label = [](const prometheus::ClientMetric& m, const char* name) {
    for (auto& l : m.label)
      if (l.name == name)
        return l.value;
    return std::string{};
  };
  auto count = [](double v) {
    return static_cast<uint64_t>(v < 0 ? 0 : v);
  };
  for (auto& family : registry_->Collect()) {
    if (family.name == "prism_requests_total") {
      for (auto& m : family.metric)
        out[label(m, "namespace")].by_code[label(m, "code")]
          += count(m.counter.value);
    } else if (family.name == "prism_rejections_total") {
      for (auto& m : family.metric)
        out[label(m, "namespace")].rejections[label(m, "reason")]
          += count(m.counter.value);
    } else if (family.name == "prism_request_duration_seconds") {
      for (auto& m : family.metric) {
        auto& buckets = out[label(m, "namespace")].buckets;
        // Every series of the family has the same bounds: add them up.
        if (buckets.empty())
          for (auto& b : m.histogram.bucket)
            buckets.emplace_back(b.upper_bound, 0);
        for (size_t i = 0; i < buckets.size() && i < m.histogram.bucket.size();
             ++i)
          buckets[i].second += m.histogram.bucket[i].cumulative_count;
      }
    }
  }
  // A series with no count (a code never answered) is not "seen".
  for (auto& [ns, t] : out)
    for (auto i = t.by_code.begin(); i != t.by_code.end();)
      i = i->second == 0 ? t.by_code.erase(i) : std::next(i);
  return out;
}

} // namespace prism
