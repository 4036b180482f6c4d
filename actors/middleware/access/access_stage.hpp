#pragma once

// The access stage: with auth.mode token it is the first stage of every
// namespace. It lets a call through when its principal may do the call's
// kind of operation on the call's namespace (read: Get, Exists, BatchGet,
// Scan, Subscribe; write: Set, Delete, BatchSet, BatchDelete, Publish; admin
// includes both), and answers PERMISSION_DENIED otherwise, naming the
// operation but not the rules. A namespace with no access rules allows
// nothing. Calls for unknown namespaces pass (the router answers NOT_FOUND
// to an authenticated caller).

#include <map>
#include <memory>
#include <set>
#include <string>

#include "config/config.hpp"
#include "middleware/stage.hpp"

namespace prism {

class access_logic final : public stage_logic {
public:
  /// Refusals are counted in prism_access_denied_total{namespace} of
  /// `metrics`, which it keeps.
  access_logic(const config::gateway_config& cfg, metrics_registry_ptr metrics);

  config::stage_kind kind() const noexcept override {
    return config::stage_kind::access;
  }
  status on_request(kv_call& call) override;
  /// New rules apply to the next call (a revoked principal's next call is
  /// refused).
  void reconfigure(const config::gateway_config& cfg) override;

  /// Whether `principal` may write (else read) namespace `ns`.
  bool allowed(const std::string& principal, const std::string& ns,
               bool write) const;

private:
  struct rules {
    std::set<std::string> readers;
    std::set<std::string> writers;
    prometheus::Counter* denied = nullptr;
  };
  metrics_registry_ptr metrics_;
  std::map<std::string, rules> namespaces_;
};

/// The principals that may read namespace `ns` of `cfg` (its readers,
/// writers and admins, groups expanded).
std::set<std::string> readers_of(const config::gateway_config& cfg,
                                 const config::namespace_config& ns);

std::unique_ptr<stage_logic> make_access_stage(
  const config::gateway_config& cfg, const metrics_registry_ptr& metrics);

} // namespace prism
