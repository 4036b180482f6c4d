#include "middleware/metrics/metrics_stage.hpp"

#include <chrono>

#include <fmt/format.h>

#include "config/config.hpp"

namespace prism {

namespace {

const std::string unknown_namespace = "_unknown";

} // namespace

metrics_logic::metrics_logic(std::set<std::string> known)
  : known_(std::move(known)) {
}

const std::string& metrics_logic::label_for(const std::string& ns) const {
  auto i = known_.find(ns);
  return i != known_.end() ? *i : unknown_namespace;
}

void metrics_logic::on_complete(const kv_call& call) {
  const auto& ns = label_for(call.context.ns);
  auto op = kv::operation_name(*call.operation);
  ++requests_[code_key{ns, op, to_string(call.final_code)}];
  auto elapsed = call.completed_at - call.context.received_at;
  double seconds = std::chrono::duration<double>(elapsed).count();
  auto& h = latency_[op_key{ns, op}];
  ++h.count;
  h.sum_s += seconds;
  for (size_t i = 0; i < bucket_bounds_s.size(); ++i)
    if (seconds <= bucket_bounds_s[i])
      ++h.buckets[i];
}

void metrics_logic::report(metric_report& out) const {
  metric_family requests{"prism_requests_total",
                         "Requests answered, by namespace, operation and gRPC "
                         "status code.",
                         "counter",
                         {}};
  for (auto& [key, count] : requests_) {
    auto& [ns, op, code] = key;
    requests.samples.push_back(
      {fmt::format("namespace=\"{}\",operation=\"{}\",code=\"{}\"",
                   escape_label(ns), op, code),
       static_cast<double>(count), ""});
  }
  out.push_back(std::move(requests));

  metric_family latency{"prism_request_duration_seconds",
                         "Time from a session receiving a request to "
                         "answering it.",
                         "histogram",
                         {}};
  for (auto& [key, h] : latency_) {
    auto labels = fmt::format("namespace=\"{}\",operation=\"{}\"",
                              escape_label(key.first), key.second);
    // Buckets are stored per interval-inclusive bound: each holds the count
    // of observations at or below its bound, i.e. already cumulative.
    for (size_t i = 0; i < bucket_bounds_s.size(); ++i)
      latency.samples.push_back(
        {fmt::format("{},le=\"{}\"", labels, bucket_bounds_s[i]),
         static_cast<double>(h.buckets[i]), "_bucket"});
    latency.samples.push_back({fmt::format("{},le=\"+Inf\"", labels),
                               static_cast<double>(h.count), "_bucket"});
    latency.samples.push_back({labels, h.sum_s, "_sum"});
    latency.samples.push_back(
      {labels, static_cast<double>(h.count), "_count"});
  }
  out.push_back(std::move(latency));
}

void metrics_logic::reconfigure(const config::gateway_config& cfg) {
  known_.clear();
  for (const auto& [name, ns] : cfg.namespaces)
    known_.insert(name);
}

std::unique_ptr<stage_logic> make_metrics_stage(std::set<std::string> known) {
  return std::make_unique<metrics_logic>(std::move(known));
}

} // namespace prism
