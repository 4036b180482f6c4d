#pragma once

// The Prometheus series of one gateway, rendered for GET /metrics with
// prometheus-cpp.
//
// Series that actors update (request counts, latency histograms, refusals,
// pool gauges) live in a prometheus-cpp registry: an update is an atomic add
// or store, and a histogram's observation takes the histogram's own lock,
// which only a scrape shares. Resolving a label set to its series takes the
// family's lock, so an actor resolves each series once and keeps the
// reference (see metrics_stage). The registry keeps every series it handed
// out for as long as it lives, so a restarted actor resolves the same series
// again and counters keep counting across restarts.
//
// Values that are only known at scrape time (the live actors from the
// inspector, an audit log's dropped lines, requests in flight at the front
// end) come from collectors, called on the scraping thread.
//
// Only metrics_registry.cpp and the sources that update series include
// prometheus-cpp's headers.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "runtime/metric_report.hpp"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
} // namespace prometheus

namespace prism {

using metric_labels = std::map<std::string, std::string>;

/// One namespace's requests since the start, summed over its operations,
/// for GET /debug/namespaces.
struct namespace_totals {
  /// prism_requests_total by code (only codes seen).
  std::map<std::string, uint64_t> by_code;
  /// prism_rejections_total by reason.
  std::map<std::string, uint64_t> rejections;
  /// prism_request_duration_seconds: (upper bound in seconds, cumulative
  /// count), ascending, +Inf last; empty before the first request.
  std::vector<std::pair<double, uint64_t>> buckets;
};

class metrics_registry {
public:
  metrics_registry();
  ~metrics_registry();
  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  /// The series of counter family `name` with `labels`, made on first use.
  /// Takes the family's lock: resolve once, keep the reference.
  prometheus::Counter& counter(const std::string& name, const std::string& help,
                               const metric_labels& labels = {});
  prometheus::Gauge& gauge(const std::string& name, const std::string& help,
                           const metric_labels& labels = {});
  /// `bounds_s`: the buckets' upper bounds (the same for every series of a
  /// family).
  prometheus::Histogram& histogram(const std::string& name,
                                   const std::string& help,
                                   const metric_labels& labels,
                                   const std::vector<double>& bounds_s);

  /// Adds families computed at each scrape; `collect` runs on the scraping
  /// thread and must not share names with the registry's own series.
  void add_collector(std::function<metric_report()> collect);

  /// Every series and every collector's families, in Prometheus text
  /// exposition format 0.0.4.
  std::string render() const;

  /// The registry's request, latency and rejection series, by namespace
  /// (read like a scrape: nothing is added on the call path).
  std::map<std::string, namespace_totals> totals_by_namespace() const;

private:
  std::shared_ptr<prometheus::Registry> registry_;
  mutable std::mutex collectors_mutex_;
  std::vector<std::function<metric_report()>> collectors_;
};

using metrics_registry_ptr = std::shared_ptr<metrics_registry>;

/// `report` alone in Prometheus text format.
std::string render_prometheus(const metric_report& report);

} // namespace prism
