#pragma once

// A middleware stage is an actor in the chain a namespace's config names.
// Each stage kind implements `stage_logic`; the actor around it is the same
// for every kind: it consults the logic on the way in, forwards or answers,
// and shows it each outcome. New kinds (auth, rate limit) plug in here without
// touching the others.

#include <memory>
#include <string>

#include <caf/actor_system.hpp>

#include "config/stage_kinds.hpp"
#include "runtime/admission.hpp"
#include "runtime/forward.hpp"
#include "runtime/inspector.hpp"
#include "runtime/metrics_registry.hpp"

namespace prism {

class stage_logic {
public:
  virtual ~stage_logic() = default;

  /// The stage's kind (config/stage_kinds.hpp names it).
  virtual config::stage_kind kind() const noexcept = 0;

  /// Decides on a call on its way in: OK lets it pass, anything else answers
  /// the client with that status. A stage may attach what it needs at
  /// completion to the call (the audit stage's reserved line).
  virtual status on_request(kv_call& call) { return {}; }

  /// Sees every call that went through a route containing this stage, after
  /// its client has been answered.
  virtual void on_complete(const kv_call& call) {}

  /// Takes the settings of a reloaded config for the calls that arrive from
  /// now on, keeping what it has counted.
  virtual void reconfigure(const config::gateway_config& cfg) {}
};

struct stage_state {
  static inline const char* name = "stage";
  /// Touched only by the stage actor (shared_ptr only to carry it in).
  std::shared_ptr<stage_logic> logic;
  /// prism_stage_calls_total of this stage by verdict; they live in
  /// `metrics`.
  metrics_registry_ptr metrics;
  prometheus::Counter* passed = nullptr;
  prometheus::Counter* rejected = nullptr;
  prometheus::Counter* expired = nullptr;
  prometheus::Counter* observed = nullptr;
  /// Slots of the mailbox; senders take one per request (forward_call), and
  /// sessions one per batch of outcomes (even past the limit).
  admission_ptr gate;
  uint64_t gate_rejections_seen = 0;
  inspector_registration registration;
};

/// A stage actor around `logic`. Its calls are counted in `metrics` (a
/// registry of its own when null).
stage_actor::behavior_type stage(
  stage_actor::stateful_pointer<stage_state> self,
  std::shared_ptr<stage_logic> logic, inspector* actors, admission_ptr gate,
  uint64_t parent = 0, metrics_registry_ptr metrics = nullptr);

/// Spawns a stage actor around `logic`; it registers with `actors` if set.
/// Requests reach it through `gate` (see forward_call); a null gate means an
/// unbounded mailbox (tests of a lone stage).
stage_actor spawn_stage(caf::actor_system& sys,
                        std::unique_ptr<stage_logic> logic,
                        inspector* actors = nullptr,
                        admission_ptr gate = nullptr);

} // namespace prism
