#pragma once

// Builds the actor tree of a gateway from its config and keeps it wired:
//
//   supervisor "gateway" (root)
//   |-- supervisor "middleware": one stage actor per kind (metrics, audit)
//   |-- supervisor "backends":   one pool per backend in use
//   |     `-- pool -- supervisor "pool:<name>" -- its connection actors
//   `-- router
//
// plus the session directory the front end dispatches to (sessions are
// started per client connection and end with it; they are never restarted).
// When a supervisor restarts a stage, the router or a pool, the new actor
// gets a fresh mailbox gate and the gateway rewires it: a new route table for
// the sessions, or the new pool handle for the router. The serve path hands
// it real drivers; tests and simulations hand it simulated ones.
//
// Its metrics registry holds the series its actors update, and collects the
// live actors' gauges (from the inspector) and the audit log's at scrape
// time.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>

#include "config/config.hpp"
#include "drivers/driver.hpp"
#include "drivers/pubsub_driver.hpp"
#include "gateway/debug_reports.hpp"
#include "middleware/audit/audit_stage.hpp"
#include "runtime/call.hpp"
#include "runtime/inspector.hpp"
#include "runtime/metrics_registry.hpp"
#include "session/session_directory.hpp"

namespace prism {

class gateway {
public:
  /// Spawns the actor tree. Throws std::runtime_error with a message for a
  /// person when a backend or the audit log cannot start.
  /// Every actor registers with `actors` when it is set.
  /// `clock` stamps PubSub messages (null: the system clock).
  /// `pubsub` makes the clients of Kafka and NATS backends (null: the real
  /// ones, drivers::make_pubsub_driver).
  gateway(caf::actor_system& sys, const config::gateway_config& cfg,
          const drivers::driver_factory& factory,
          std::shared_ptr<audit_sink> audit, inspector* actors = nullptr,
          std::shared_ptr<drivers::wall_clock> clock = nullptr,
          drivers::pubsub_driver_factory pubsub = nullptr);
  ~gateway();

  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  session_directory& sessions() { return *sessions_; }

  /// The gateway's series, for GET /metrics; add_collector adds values that
  /// only the caller knows (the front end's requests in flight).
  metrics_registry& metrics() { return *metrics_; }

  /// The calls that took longest, with their time per hop (GET
  /// /debug/slowlog).
  slow_log& slow_calls() { return *slow_; }

  // What the /debug endpoints show; thread-safe, nothing asks an actor.
  /// Every pool's figures, ages against `now` (the actor clock), by backend.
  std::vector<pool_report> pools(caf::actor_clock::time_point now) const;
  /// Every namespace of the config serving now, and `_unknown`.
  std::vector<namespace_report> namespaces() const;
  /// The named subscriptions' lag, as last measured.
  std::vector<subscription_lag_report> subscription_lags() const;
  /// The config serving now.
  std::shared_ptr<const config::gateway_config> current_config() const;

  /// Waits until every stage, pool, broker and the router run, the routes
  /// are published and the router knows every pool and broker (actors start
  /// asynchronously); false after `timeout`. Not for use under the test
  /// coordinator, which starts them as it runs.
  bool wait_started(std::chrono::milliseconds timeout) const;

  /// The root supervisor.
  const caf::actor& root() const { return root_; }

  /// Applies a reloaded config to the calls that arrive from now on: new
  /// namespaces are served, removed ones answer NOT_FOUND (calls already
  /// inside finish), middleware, access rules, rate limits and redact_keys
  /// change. Returns why it cannot (settings that need a restart, see
  /// config::restart_needed) and then changes nothing. Thread-safe.
  std::vector<std::string> reload(const config::gateway_config& next);

  /// Called (from an actor thread) if the root supervisor fails: its
  /// restart intensity was exceeded and the tree is gone.
  void on_root_failure(std::function<void(const std::string&)> fn);

  /// Stops every actor of the tree; calls still inside complete with
  /// UNAVAILABLE.
  void stop();

  struct wiring;

private:
  caf::actor_system& sys_;
  std::shared_ptr<wiring> wiring_;
  metrics_registry_ptr metrics_;
  std::shared_ptr<session_directory> sessions_;
  slow_log_ptr slow_ = std::make_shared<slow_log>(
    defaults::slowlog_entries_max,
    std::chrono::milliseconds(defaults::slowlog_threshold_ms));
  caf::actor root_;
  bool stopped_ = false;
};

} // namespace prism
