#include "gateway/gateway.hpp"

#include <condition_variable>
#include <mutex>
#include <set>
#include <stdexcept>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "config/reload.hpp"
#include "middleware/metrics/metrics_stage.hpp"
#include "pool/pool.hpp"
#include "middleware/access/access_stage.hpp"
#include "middleware/rate_limit/rate_limit_stage.hpp"
#include "pubsub/broker.hpp"
#include "pubsub/remote_broker.hpp"
#include "routing/router.hpp"
#include "runtime/actor_metrics.hpp"
#include "runtime/admission.hpp"
#include "runtime/supervisor.hpp"

namespace prism {

namespace {

caf::timespan ms(uint32_t n) { return std::chrono::milliseconds(n); }

supervisor_options supervision_for(const config::supervision_config& c) {
  supervisor_options o;
  switch (c.strategy) {
    case config::supervision_strategy::one_for_all:
      o.strategy = strategy::one_for_all;
      break;
    case config::supervision_strategy::rest_for_one:
      o.strategy = strategy::rest_for_one;
      break;
    default:
      o.strategy = strategy::one_for_one;
  }
  o.intensity_max_restarts = c.max_restarts;
  o.intensity_period = ms(c.period_ms);
  o.backoff.min = ms(c.backoff_min_ms);
  o.backoff.max = ms(c.backoff_max_ms);
  o.backoff.multiplier = c.backoff_multiplier;
  o.backoff.jitter = c.backoff_jitter;
  o.backoff.reset_after = ms(c.backoff_reset_after_ms);
  o.shutdown_timeout = ms(c.shutdown_timeout_ms);
  return o;
}

pool_options options_for(const config::backend& backend) {
  pool_options opts;
  opts.backend = backend.name;
  opts.supervision = supervision_for(backend.supervision);
  opts.probe_after = ms(backend.circuit.probe_after_ms);
  opts.probe_max = ms(backend.circuit.probe_max_ms);
  opts.max_pending = backend.max_pending;
  opts.sweep_interval
    = std::chrono::milliseconds(backend.ttl_sweep_interval_ms);
  // A SQLite or PostgreSQL connection runs one statement at a time; queueing
  // in the pool instead of behind a busy connection lets a free one take the
  // next call, and a connection that breaks holds only the call it ran. The
  // memory driver answers inline, so it may take many.
  opts.in_flight_per_connection = backend.type == config::backend_type::memory
                                    ? defaults::connection_in_flight_max
                                    : 1;
  return opts;
}

std::vector<driver_handoff> open_drivers(const config::backend& backend,
                                         const drivers::driver_factory& make) {
  std::vector<driver_handoff> result;
  for (uint32_t i = 0; i < backend.connections; ++i) {
    try {
      result.push_back(
        std::make_shared<std::unique_ptr<drivers::kv_driver>>(make(backend, i)));
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format(
        "backend \"{}\" ({}:{}): cannot open connection #{}: {}",
        backend.name, backend.where.file, backend.where.line, i, e.what()));
    }
  }
  return result;
}

} // namespace

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
  std::map<std::string, stage_entry> stages;
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
    std::string kind;
    bool decides = false;
  };
  /// Stages per namespace, in order.
  std::map<std::string, std::vector<chain_stage>> chains;
  /// Subscriber stream buffers per pubsub namespace, and whether a full one
  /// disconnects its subscriber.
  std::map<std::string, std::pair<uint32_t, bool>> subscription_buffers;
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
  /// The named PubSub subscriptions' lag, read when /metrics is scraped.
  pubsub_lag_board_ptr lag_board = std::make_shared<pubsub_lag_board>();

  /// Takes the namespaces' stage chains and stream settings from `cfg`;
  /// call with `mutex` held.
  void set_namespaces_locked(const config::gateway_config& cfg) {
    chains.clear();
    subscription_buffers.clear();
    std::set<std::string> names;
    for (auto& [name, ns] : cfg.namespaces)
      names.insert(name);
    // Series of namespaces that stay are found again and keep counting.
    rejections = std::make_shared<const rejection_counters>(metrics, names);
    for (auto& [name, ns] : cfg.namespaces) {
      // With authentication on, every namespace's calls meet the access
      // stage first, whatever its middleware list says; then the rate limit
      // of a namespace that has one (a refused call takes no token).
      // Metrics only counts outcomes; audit refuses calls only where a
      // line is required for each.
      std::vector<chain_stage> chain;
      if (cfg.auth.enabled())
        chain.push_back({"access", true});
      if (ns.namespace_rate.limited() || ns.principal_rate.limited())
        chain.push_back({"rate_limit", true});
      for (auto& kind : ns.middleware)
        chain.push_back({kind, kind == "audit" && ns.audit_required});
      chains.emplace(name, std::move(chain));
      if (ns.pattern == config::pattern::pubsub)
        subscription_buffers.emplace(
          name, std::make_pair(ns.subscription_buffer,
                               ns.disconnect_slow_subscribers));
    }
  }

  /// Call with `mutex` held.
  bool started_locked() const {
    if (routes->version() == 0)
      return false;
    for (auto& name : expected_pools)
      if (pools.count(name) == 0)
        return false;
    for (auto& name : expected_brokers)
      if (brokers.count(name) == 0)
        return false;
    return true;
  }

  /// Builds and publishes the route table; call with `mutex` held. Until
  /// every stage and the router run, the table stays empty (sessions answer
  /// UNAVAILABLE meanwhile).
  void publish_locked() {
    if (!router)
      return;
    for (auto& [ns, chain] : chains)
      for (auto& s : chain)
        if (stages.count(s.kind) == 0)
          return;
    auto table = std::make_shared<route_table>();
    auto make_route = [&](const std::vector<chain_stage>& chain) {
      auto r = std::make_shared<route>();
      for (auto& s : chain) {
        auto& e = stages.at(s.kind);
        auto index = static_cast<uint32_t>(r->stages.size());
        (s.decides ? r->checkpoints : r->observers).push_back(index);
        r->stages.push_back(e.handle);
        r->stage_gates.push_back(e.gate);
        r->stage_kinds.push_back(s.kind);
      }
      r->router = router;
      r->router_gate = router_gate;
      return r;
    };
    for (auto& [ns, chain] : chains) {
      auto r = make_route(chain);
      if (auto i = subscription_buffers.find(ns); i != subscription_buffers.end()) {
        r->subscription_buffer = i->second.first;
        r->disconnect_slow_subscribers = i->second.second;
      }
      table->by_namespace.emplace(ns, std::move(r));
    }
    // Calls for unknown namespaces are still counted and audited.
    auto fallback = make_route({{"metrics", false}, {"audit", false}});
    fallback->configured = false;
    table->fallback = std::move(fallback);
    table->rejections = rejections;
    routes->store(std::move(table));
    published.notify_all();
  }
};

namespace {

using wiring_ptr = std::shared_ptr<gateway::wiring>;

using logic_maker
  = std::function<std::unique_ptr<stage_logic>(const config::gateway_config&)>;

/// A stage kind; each (re)start builds its logic from the config serving
/// then.
child_spec stage_spec(wiring_ptr w, std::string kind, logic_maker make,
                      inspector* actors, uint32_t mailbox_limit) {
  child_spec spec;
  spec.name = "stage:" + kind;
  spec.start = [w, kind, make, actors,
                mailbox_limit](caf::local_actor* parent) {
    config_ptr cfg;
    {
      std::lock_guard<std::mutex> guard{w->mutex};
      cfg = w->config;
    }
    auto gate = std::make_shared<admission>(mailbox_limit);
    auto handle
      = parent->spawn(stage, std::shared_ptr<stage_logic>(make(*cfg)), actors,
                      gate, static_cast<uint64_t>(parent->id()), w->metrics);
    std::lock_guard<std::mutex> guard{w->mutex};
    w->stages[kind] = {handle, gate};
    w->publish_locked();
    return caf::actor_cast<caf::actor>(handle);
  };
  return spec;
}

child_spec pool_spec(wiring_ptr w, const config::backend& backend,
                     const drivers::driver_factory& factory,
                     std::vector<driver_handoff> opened, inspector* actors,
                     metrics_registry_ptr metrics) {
  auto opts = options_for(backend);
  opts.actors = actors;
  opts.metrics = std::move(metrics);
  opts.reopen = [factory, backend](uint32_t index) {
    return factory(backend, index);
  };
  auto first = std::make_shared<std::vector<driver_handoff>>(std::move(opened));
  child_spec spec;
  spec.name = "pool:" + backend.name;
  spec.start = [w, opts, first, name = backend.name,
                count = backend.connections,
                limit = backend.mailbox_limit](caf::local_actor* parent) {
    // The first start takes the drivers the gateway opened; a restart
    // leaves every connection to open its own (through its supervisor, so
    // a backend that is down opens the circuit instead of failing here).
    auto drivers = std::move(*first);
    first->clear();
    drivers.resize(count);
    auto o = opts;
    o.gate = std::make_shared<admission>(limit);
    o.parent = parent->id();
    auto gate = o.gate;
    pool_actor handle = parent->spawn(pool, std::move(o), std::move(drivers));
    {
      // Under the lock, so that the router has this pool in its mailbox
      // before anyone sees the gateway as started.
      std::lock_guard<std::mutex> guard{w->mutex};
      w->pools[name] = {handle, gate};
      if (w->router)
        caf::anon_send(w->router, pool_up_atom::value, name, handle, gate);
    }
    w->published.notify_all();
    return caf::actor_cast<caf::actor>(handle);
  };
  return spec;
}

child_spec broker_spec(wiring_ptr w, const config::backend& backend,
                       std::shared_ptr<drivers::wall_clock> clock,
                       inspector* actors) {
  child_spec spec;
  spec.name = "broker:" + backend.name;
  spec.start = [w, clock, actors, name = backend.name,
                limit = backend.mailbox_limit,
                retained = backend.topic_retained_messages,
                retained_bytes = backend.topic_retained_bytes,
                max_topics = backend.max_topics](caf::local_actor* parent) {
    broker_options o;
    o.backend = name;
    o.retained = retained;
    o.retained_bytes = retained_bytes;
    o.max_topics = max_topics;
    o.clock = clock;
    o.actors = actors;
    o.parent = parent->id();
    o.gate = std::make_shared<admission>(limit);
    o.lag_board = w->lag_board;
    auto gate = o.gate;
    auto handle = parent->spawn(broker, std::move(o));
    {
      std::lock_guard<std::mutex> guard{w->mutex};
      w->brokers[name] = {handle, gate};
      if (w->router)
        caf::anon_send(w->router, broker_up_atom::value, name, handle, gate);
    }
    w->published.notify_all();
    return caf::actor_cast<caf::actor>(handle);
  };
  return spec;
}

/// The broker of a Kafka or NATS backend. `first` holds the client made when
/// the gateway started (so a config the client refuses stops the start);
/// each restart makes a new one.
child_spec remote_broker_spec(wiring_ptr w, const config::backend& backend,
                              drivers::pubsub_driver_factory make,
                              pubsub_driver_handoff first, inspector* actors) {
  child_spec spec;
  spec.name = "broker:" + backend.name;
  remote_broker_options o;
  o.backend = backend.name;
  o.kind = std::string{config::to_string(backend.type)};
  o.max_pending = backend.max_pending;
  o.unavailable_after = std::chrono::milliseconds(backend.unavailable_after_ms);
  o.retry_after = std::chrono::milliseconds(backend.circuit.probe_after_ms);
  o.actors = actors;
  o.lag_board = w->lag_board;
  spec.start = [w, backend, make, first, o,
                limit = backend.mailbox_limit](caf::local_actor* parent) {
    auto handoff = std::make_shared<std::unique_ptr<drivers::pubsub_driver>>();
    if (first && *first)
      *handoff = std::move(*first);
    else
      *handoff = make(backend);
    auto options = o;
    options.parent = parent->id();
    options.gate = std::make_shared<admission>(limit);
    auto gate = options.gate;
    broker_actor handle
      = parent->spawn(remote_broker, std::move(handoff), std::move(options));
    {
      std::lock_guard<std::mutex> guard{w->mutex};
      w->brokers[backend.name] = {handle, gate};
      if (w->router)
        caf::anon_send(w->router, broker_up_atom::value, backend.name, handle,
                       gate);
    }
    w->published.notify_all();
    return caf::actor_cast<caf::actor>(handle);
  };
  return spec;
}

child_spec router_spec(wiring_ptr w, inspector* actors,
                       uint32_t mailbox_limit) {
  child_spec spec;
  spec.name = "router";
  spec.start = [w, actors, mailbox_limit](caf::local_actor* parent) {
    auto gate = std::make_shared<admission>(mailbox_limit);
    // Under the lock: a pool restarting meanwhile either is seen here or
    // sees this router and tells it.
    std::lock_guard<std::mutex> guard{w->mutex};
    auto current = routes_of(*w->config);
    for (auto& [ns, r] : current)
      if (auto i = w->pools.find(r.backend); i != w->pools.end()) {
        r.pool = i->second.handle;
        r.pool_gate = i->second.gate;
      }
    for (auto& [ns, r] : current)
      if (auto i = w->brokers.find(r.backend); i != w->brokers.end()) {
        r.broker = i->second.handle;
        r.broker_gate = i->second.gate;
      }
    auto handle = parent->spawn(router, std::move(current), actors, gate,
                                static_cast<uint64_t>(parent->id()));
    w->router = handle;
    w->router_gate = gate;
    w->publish_locked();
    return caf::actor_cast<caf::actor>(handle);
  };
  return spec;
}

} // namespace

gateway::gateway(caf::actor_system& sys, const config::gateway_config& cfg,
                 const drivers::driver_factory& factory,
                 std::shared_ptr<audit_sink> audit, inspector* actors,
                 std::shared_ptr<drivers::wall_clock> clock,
                 drivers::pubsub_driver_factory pubsub)
  : sys_(sys),
    wiring_(std::make_shared<wiring>()),
    metrics_(std::make_shared<metrics_registry>()) {
  if (!clock)
    clock = drivers::system_wall_clock();
  if (!pubsub)
    pubsub = [clock](const config::backend& b) {
      return drivers::make_pubsub_driver(b, clock);
    };
  auto w = wiring_;
  w->config = std::make_shared<const config::gateway_config>(cfg);
  w->request_bytes_limit = cfg.max_request_bytes();
  w->metrics = metrics_;
  w->set_namespaces_locked(cfg); // no actor runs yet

  // Middleware: one actor per stage kind, shared by every namespace that
  // names it. The rate-limit stage runs even when no namespace has a limit,
  // so that a reload can add one.
  supervisor_spec middleware;
  middleware.name = "middleware";
  middleware.actors = actors;
  auto metrics = metrics_;
  if (cfg.auth.enabled())
    middleware.children.push_back(stage_spec(
      w, "access",
      [metrics](const config::gateway_config& c) {
        return make_access_stage(c, metrics);
      },
      actors, cfg.server.stage_mailbox_limit));
  middleware.children.push_back(stage_spec(
    w, "rate_limit",
    [metrics](const config::gateway_config& c) {
      return make_rate_limit_stage(c, metrics);
    },
    actors, cfg.server.stage_mailbox_limit));
  middleware.children.push_back(stage_spec(
    w, "metrics",
    [metrics](const config::gateway_config& c) {
      std::set<std::string> known;
      for (auto& [name, ns] : c.namespaces)
        known.insert(name);
      return make_metrics_stage(std::move(known), metrics);
    },
    actors, cfg.server.stage_mailbox_limit));
  middleware.children.push_back(stage_spec(
    w, "audit",
    [audit, metrics](const config::gateway_config& c) {
      return make_audit_stage(audit, audit_namespaces_of(c), metrics);
    },
    actors, cfg.server.stage_mailbox_limit));
  // Values the registry reads when it is scraped: the audit log's, the
  // subscriptions' lag, and the live actors' from the inspector.
  metrics->add_collector([audit] { return audit_sink_report(*audit); });
  metrics->add_collector([board = w->lag_board] { return board->report(); });
  if (actors)
    metrics->add_collector([actors, &sys] {
      return actor_metrics(actors->snapshot(sys.clock().now()));
    });

  // Backends: one pool per backend that a keyvalue namespace uses. Their
  // drivers are opened here, so a backend that cannot be reached fails the
  // start of the gateway with its reason.
  supervisor_spec backends;
  backends.name = "backends";
  backends.actors = actors;
  std::set<std::string> used;
  for (auto& [name, ns] : cfg.namespaces)
    if (ns.pattern == config::pattern::keyvalue)
      used.insert(ns.backend);
  w->expected_pools = used;
  for (auto& name : used) {
    auto& backend = cfg.backends.at(name);
    backends.children.push_back(pool_spec(w, backend, factory,
                                          open_drivers(backend, factory),
                                          actors, metrics));
  }
  // PubSub: one broker per backend that a pubsub namespace uses: the topics
  // themselves for a memory backend, the client of a Kafka or NATS one (made
  // here, so a config its library refuses stops the start with the reason).
  std::set<std::string> pubsub_used;
  for (auto& [name, ns] : cfg.namespaces)
    if (ns.pattern == config::pattern::pubsub)
      pubsub_used.insert(ns.backend);
  w->expected_brokers = pubsub_used;
  for (auto& name : pubsub_used) {
    auto& backend = cfg.backends.at(name);
    if (backend.type == config::backend_type::memory) {
      backends.children.push_back(broker_spec(w, backend, clock, actors));
      continue;
    }
    auto first = std::make_shared<std::unique_ptr<drivers::pubsub_driver>>();
    try {
      *first = pubsub(backend);
    } catch (const std::exception& e) {
      throw std::runtime_error(
        fmt::format("backend \"{}\" ({}): {}", name,
                    config::to_string(backend.type), e.what()));
    }
    backends.children.push_back(
      remote_broker_spec(w, backend, pubsub, std::move(first), actors));
  }

  supervisor_spec root;
  root.name = "gateway";
  root.actors = actors;
  root.children.push_back(supervisor_child(std::move(middleware)));
  root.children.push_back(supervisor_child(std::move(backends)));
  // The router, after the pools so that it finds their handles.
  root.children.push_back(
    router_spec(w, actors, cfg.server.router_mailbox_limit));
  root_ = sys.spawn(supervisor, std::move(root));
  root_->attach_functor([w](const caf::error& reason) {
    if (is_normal_exit(reason))
      return;
    auto text = supervision_error_text(reason);
    if (text.empty())
      text = to_string(reason);
    spdlog::critical("the gateway's root supervisor stopped: {}", text);
    std::function<void(const std::string&)> fn;
    {
      std::lock_guard<std::mutex> guard{w->mutex};
      fn = w->root_failed;
    }
    if (fn)
      fn(text);
  });

  session_options sopts;
  sopts.idle_timeout
    = std::chrono::milliseconds(cfg.server.session_idle_timeout_ms);
  sopts.actors = actors;
  sopts.max_in_flight = cfg.server.session_max_in_flight;
  sopts.mailbox_limit = cfg.server.session_mailbox_limit;
  sessions_ = std::make_shared<session_directory>(sys, sopts, w->routes);
}

gateway::~gateway() {
  stop();
}

bool gateway::wait_started(std::chrono::milliseconds timeout) const {
  auto until = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock{wiring_->mutex};
  return wiring_->published.wait_until(
    lock, until, [this] { return wiring_->started_locked(); });
}

std::vector<std::string> gateway::reload(const config::gateway_config& next) {
  auto& w = *wiring_;
  std::lock_guard<std::mutex> guard{w.mutex};
  auto blockers = config::restart_needed(*w.config, next, w.expected_pools,
                                         w.expected_brokers,
                                         w.request_bytes_limit);
  if (!blockers.empty())
    return blockers;
  w.config = std::make_shared<const config::gateway_config>(next);
  // The router and the stages have the new config in their mailboxes before
  // the sessions can send them a call routed by the new table; calls routed
  // by the old one finish with the settings they meet.
  if (w.router)
    caf::anon_send(w.router, reload_atom::value, w.config);
  for (auto& [kind, e] : w.stages)
    caf::anon_send(e.handle, reload_atom::value, w.config);
  w.set_namespaces_locked(next);
  w.publish_locked();
  sessions_->announce_reload();
  return {};
}

void gateway::on_root_failure(std::function<void(const std::string&)> fn) {
  std::lock_guard<std::mutex> guard{wiring_->mutex};
  wiring_->root_failed = std::move(fn);
}

void gateway::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  on_root_failure(nullptr);
  sessions_->stop_all();
  // The root stops its children last started first: router, backends
  // (pools, then their connections), middleware.
  caf::anon_send_exit(root_, caf::exit_reason::user_shutdown);
}

} // namespace prism
