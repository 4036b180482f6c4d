#pragma once

// prism_rejections_total{namespace, reason}: calls the gateway refused
// without running them, counted where every call ends (its session, or the
// session directory for a session's full mailbox), whatever the namespace's
// middleware. Every series is resolved when the gateway starts (and again on
// a reload, which finds the series of the namespaces that stay), for each
// configured namespace and "_unknown", so counting takes no lock. The
// counters travel with the route table.

#include <array>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "model/status.hpp"
#include "runtime/metrics_registry.hpp"

namespace prism {

/// The namespace label of calls for namespaces the config does not name, so
/// clients cannot grow the series without bound.
inline const std::string unknown_namespace_label = "_unknown";

class rejection_counters {
public:
  rejection_counters(metrics_registry_ptr metrics,
                     const std::set<std::string>& namespaces);

  /// Counts one refusal; does nothing for refusal::none. Thread-safe.
  void count(const std::string& ns, refusal reason) const noexcept;

private:
  using by_reason = std::array<prometheus::Counter*, refusal_count>;
  metrics_registry_ptr metrics_;
  std::unordered_map<std::string, by_reason> by_namespace_;
  by_reason unknown_{};
};

using rejection_counters_ptr = std::shared_ptr<const rejection_counters>;

/// The reason a call that ended with `st` counts under: DEADLINE_EXCEEDED is
/// always `deadline`, whoever answered it.
refusal refusal_of(const status& st) noexcept;

} // namespace prism
