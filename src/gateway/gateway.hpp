#pragma once

// Builds the actor tree of a gateway from its config: stages, router, one
// pool per backend in use with its connection actors, and the session
// directory the front end dispatches to. The serve path hands it real
// drivers; tests and simulations hand it simulated ones.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>

#include "config/config.hpp"
#include "drivers/driver.hpp"
#include "middleware/audit/audit_stage.hpp"
#include "runtime/call.hpp"
#include "runtime/inspector.hpp"
#include "runtime/metric_report.hpp"
#include "session/session_directory.hpp"

namespace prism {

class gateway {
public:
  /// Spawns the actor tree. Throws std::runtime_error with a message for a
  /// person when a backend or the audit log cannot start.
  /// Every actor registers with `actors` when it is set.
  gateway(caf::actor_system& sys, const config::gateway_config& cfg,
          const drivers::driver_factory& factory,
          std::shared_ptr<audit_sink> audit, inspector* actors = nullptr);
  ~gateway();

  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  session_directory& sessions() { return *sessions_; }

  /// The stage actors, for collecting their counters.
  const std::vector<stage_actor>& stages() const { return stages_; }

  /// Stops every actor of the tree; calls still inside complete with
  /// UNAVAILABLE.
  void stop();

private:
  caf::actor_system& sys_;
  std::shared_ptr<session_directory> sessions_;
  std::map<std::string, stage_actor> stage_by_kind_;
  std::vector<stage_actor> stages_;
  router_actor router_;
  std::map<std::string, pool_actor> pools_;
  bool stopped_ = false;
};

/// Asks every stage for its counters and renders them with `extra`, waiting
/// at most `timeout` (not for use under the test coordinator).
std::string collect_prometheus(caf::actor_system& sys,
                               const std::vector<stage_actor>& stages,
                               caf::timespan timeout,
                               metric_report extra = {});

} // namespace prism
