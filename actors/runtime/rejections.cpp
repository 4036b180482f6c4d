#include "runtime/rejections.hpp"

#include <prometheus/counter.h>

namespace prism {

rejection_counters::rejection_counters(metrics_registry_ptr metrics,
                                       const std::set<std::string>& namespaces)
  : metrics_(std::move(metrics)) {
  auto resolve = [this](const std::string& ns, by_reason& out) {
    for (size_t i = 1; i < refusal_count; ++i)
      out[i] = &metrics_->counter(
        "prism_rejections_total",
        "Calls the gateway refused without running them, by namespace and "
        "reason.",
        {{"namespace", ns},
         {"reason", std::string{to_string(static_cast<refusal>(i))}}});
  };
  for (const auto& ns : namespaces)
    resolve(ns, by_namespace_[ns]);
  resolve(unknown_namespace_label, unknown_);
}

void rejection_counters::count(const std::string& ns,
                               refusal reason) const noexcept {
  auto index = static_cast<size_t>(reason);
  if (reason == refusal::none || index >= refusal_count)
    return;
  auto i = by_namespace_.find(ns);
  const auto& counters = i != by_namespace_.end() ? i->second : unknown_;
  counters[index]->Increment();
}

refusal refusal_of(const status& st) noexcept {
  return st.code == status_code::deadline_exceeded ? refusal::deadline
                                                   : st.reason;
}

} // namespace prism
