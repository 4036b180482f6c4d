#include "middleware/metrics/metrics_stage.hpp"

#include <chrono>
#include <variant>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include "config/config.hpp"
#include "runtime/rejections.hpp"

namespace prism {

namespace {

constexpr size_t operation_count = std::variant_size_v<model::operation>;

} // namespace

metrics_logic::metrics_logic(std::set<std::string> known,
                             metrics_registry_ptr metrics)
  : metrics_(std::move(metrics)) {
  for (auto& ns : known)
    known_[ns]
      = namespace_series{ns, std::vector<operation_series>(operation_count)};
  unknown_ = namespace_series{unknown_namespace_label,
                              std::vector<operation_series>(operation_count)};
}

metrics_logic::namespace_series& metrics_logic::series_for(
  const std::string& ns) {
  auto i = known_.find(ns);
  return i != known_.end() ? i->second : unknown_;
}

void metrics_logic::on_complete(const kv_call& call) {
  auto& ns = series_for(call.context.ns);
  auto& op = ns.operations.at(call.operation->index());
  auto code = static_cast<size_t>(call.final_code);
  if (code >= op.requests.size())
    code = static_cast<size_t>(status_code::unknown);
  if (op.requests[code] == nullptr)
    op.requests[code] = &metrics_->counter(
      "prism_requests_total",
      "Requests answered, by namespace, operation and gRPC status code.",
      {{"namespace", ns.label},
       {"operation", std::string{model::operation_name(*call.operation)}},
       {"code", std::string{to_string(static_cast<status_code>(code))}}});
  op.requests[code]->Increment();

  if (op.latency == nullptr)
    op.latency = &metrics_->histogram(
      "prism_request_duration_seconds",
      "Time from a session receiving a request to answering it.",
      {{"namespace", ns.label},
       {"operation", std::string{model::operation_name(*call.operation)}}},
      {bucket_bounds_s.begin(), bucket_bounds_s.end()});
  auto elapsed = call.completed_at - call.context.received_at;
  op.latency->Observe(std::chrono::duration<double>(elapsed).count());
}

void metrics_logic::reconfigure(const config::gateway_config& cfg) {
  std::unordered_map<std::string, namespace_series> known;
  for (const auto& [name, ns] : cfg.namespaces) {
    auto kept = known_.find(name);
    known[name] = kept != known_.end()
      ? std::move(kept->second)
      : namespace_series{name, std::vector<operation_series>(operation_count)};
  }
  known_ = std::move(known);
}

std::unique_ptr<stage_logic> make_metrics_stage(std::set<std::string> known,
                                                metrics_registry_ptr metrics) {
  return std::make_unique<metrics_logic>(std::move(known), std::move(metrics));
}

} // namespace prism
