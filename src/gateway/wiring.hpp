#pragma once

// What the gateway's restartable actors register with as they (re)start,
// and the route table built from it: each namespace's chain of stages and
// the router, with the gate of each mailbox.

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "config/stage_kinds.hpp"
#include "gateway/gateway.hpp"
#include "pool/pool_figures.hpp"
#include "pubsub/client_closer.hpp"
#include "pubsub/lag_board.hpp"
#include "runtime/metrics_registry.hpp"
#include "runtime/rejections.hpp"

namespace prism {

/// The handles of the restartable actors, and the route table built from
/// them. Updated by the supervisors' start functions (on actor threads) and
/// read by the gateway's owner; one mutex, taken only on (re)starts.
struct gateway::wiring {
  std::mutex mutex;
  struct stage_entry {
    stage_actor handle;
    admission_ptr gate;
  };
  struct pool_entry {
    pool_actor handle;
    admission_ptr gate;
  };
  std::map<config::stage_kind, stage_entry> stages;
  router_actor router;
  admission_ptr router_gate;
  std::map<std::string, pool_entry> pools;
  struct broker_entry {
    broker_actor handle;
    admission_ptr gate;
  };
  std::map<std::string, broker_entry> brokers;
  /// A namespace's stage, and whether it may answer calls itself (is
  /// visited on their way in) or only observes their outcomes.
  struct chain_stage {
    config::stage_kind kind;
    bool decides = false;
  };
  /// Stages per namespace, in order.
  std::map<std::string, std::vector<chain_stage>> chains;
  /// Subscriber stream buffers per pubsub namespace, and whether a full one
  /// disconnects its subscriber.
  std::map<std::string, std::pair<uint32_t, bool>> subscription_buffers;
  /// With authentication on, who may read each namespace (none: auth off).
  std::map<std::string, std::shared_ptr<const std::set<std::string>>> readers;
  /// KeyValue namespaces: the backend serving each, and its max_pending.
  std::map<std::string, std::pair<std::string, uint32_t>> kv_backends;
  live_routes_ptr routes = std::make_shared<live_routes>(nullptr);
  std::function<void(const std::string&)> root_failed;
  std::condition_variable published;
  /// The pools and brokers the config asks for: the gateway is started once
  /// every one of them has registered (and the router knows it).
  std::set<std::string> expected_pools;
  std::set<std::string> expected_brokers;
  /// The largest request the gRPC listener takes, fixed when it started.
  uint64_t request_bytes_limit = 0;
  /// The config serving now: restarted stages and routers are built from it.
  config_ptr config;
  /// The gateway's series; prism_rejections_total of the namespaces of
  /// `config`, published with the route table.
  metrics_registry_ptr metrics;
  rejection_counters_ptr rejections;
  /// Each pool's figures for GET /debug/pools, by backend; made when the
  /// gateway is built (before any actor runs), so read without the mutex.
  std::map<std::string, pool_figures_ptr> pool_figures;
  /// The named PubSub subscriptions' lag, read when /metrics is scraped.
  pubsub_lag_board_ptr lag_board = std::make_shared<pubsub_lag_board>();
  /// Closes the Kafka and NATS clients of brokers that ended, off the
  /// scheduler's threads; null when the clients were handed in (tests and
  /// simulations: closed on the spot).
  client_closer_ptr closer;

  /// Takes the namespaces' stage chains and stream settings from `cfg`;
  /// call with `mutex` held.
  void set_namespaces_locked(const config::gateway_config& cfg);

  /// Every pool and broker the config asks for has registered, and a
  /// route table is out. Call with `mutex` held.
  bool started_locked() const;

  /// Builds and publishes the route table; call with `mutex` held. Until
  /// every stage and the router run, the table stays empty (sessions answer
  /// UNAVAILABLE meanwhile).
  void publish_locked();
};

using wiring_ptr = std::shared_ptr<gateway::wiring>;

} // namespace prism
